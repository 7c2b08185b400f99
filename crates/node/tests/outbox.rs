//! The outbox worker of `serve`: messages queued while the recipient is
//! down are delivered once it is up, across a restart of the sender (state
//! lives in the SQLite store), exactly once.

mod common;

use std::time::Duration;

use chainmail_node::store::OutboxState;
use chainmail_node::{SendStatus, send, serve};
use common::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_while_down_delivered_after_sender_restart() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    // Alice's endpoint points at a closed port: she is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    set_endpoint(&reg, &alice_key, &dead.to_string()).await;

    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let mut ids = Vec::new();
    {
        // First run of Bob: `serve` running, messages sent while Alice is down.
        let bob = common::node(&reg, &bob_key, dir.path(), "bob");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, bob.clone(), async {
            let _ = stopped.await;
        }));
        for i in 0..10 {
            let out = send(
                &bob,
                alice_key.address(),
                &format!("queued {i}"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            assert_eq!(out.status, SendStatus::Queued);
            ids.push(out.message_id);
        }
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    // Alice comes up.
    let alice = common::node(&reg, &alice_key, dir.path(), "alice");
    let running = listen(&alice).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;

    // Bob restarts (a new node on the same store) and only serves: his
    // outbox worker finds the queue (after its backoff) and delivers it.
    let bob = common::node(&reg, &bob_key, dir.path(), "bob");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, bob.clone(), async {
        let _ = stopped.await;
    }));
    // Wait for the condition (the store says delivered), bounded against a hang.
    let all_delivered = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let states: Vec<_> = ids
                .iter()
                .map(|id| bob.store().outbox_entry(id).unwrap().unwrap().state)
                .collect();
            if states.iter().all(|s| *s == OutboxState::Delivered) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(all_delivered.is_ok(), "the outbox worker never delivered");
    let inbox = alice.store().inbox_after(0, 100).unwrap();
    assert_eq!(inbox.len(), 10, "each message exactly once");
    let mut bodies: Vec<_> = inbox.iter().map(|e| e.message.body.clone()).collect();
    bodies.sort();
    let mut expected: Vec<_> = (0..10).map(|i| format!("queued {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    running.stop().await;
}
