//! The outbox worker of `serve`: messages queued while the recipient is
//! down are delivered once it is up, across a restart of the sender (state
//! lives in the SQLite store), exactly once — after the backoff the failed
//! attempts recorded, not before. In-memory network, virtual time: the
//! backoff passes in milliseconds of real time.

mod common;

use std::time::Duration;

use chainmail_node::store::OutboxState;
use chainmail_node::{SendStatus, send};
use common::virt::World;
use common::*;

#[tokio::test(start_paused = true)]
async fn queued_while_down_delivered_after_sender_restart() {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    // Alice's endpoint: nobody listens there yet, she is down.
    w.set_endpoint(&alice_key, "alice:7400").await;

    let bob_key = new_key();
    w.register(&bob_key).await;
    let mut ids = Vec::new();
    {
        // First run of Bob: `serve` running, messages sent while Alice is down.
        let bob = w.node(&bob_key, "bob");
        let server = w.listen(&bob, "bob:7400", true);
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
        server.stop().await;
    }
    let state = |bob: &chainmail_node::Node| -> Vec<OutboxState> {
        ids.iter()
            .map(|id| bob.store().outbox_entry(id).unwrap().unwrap().state)
            .collect()
    };
    let first_due = {
        let bob = w.node(&bob_key, "bob");
        let e = bob.store().outbox_entry(&ids[0]).unwrap().unwrap();
        assert!(e.attempts >= 1, "the sends recorded failed attempts");
        e.next_attempt_at
    };

    // Alice comes up.
    let alice = w.node(&alice_key, "alice");
    let running = w.listen(&alice, "alice:7400", false);

    // Bob restarts (a new node on the same store) and only serves: his
    // outbox worker finds the queue once its backoff has passed, and
    // delivers it.
    let bob = w.node(&bob_key, "bob");
    let server = w.listen(&bob, "bob:7400", true);
    // Before the backoff ends nothing goes out (the worker waits for it).
    if w.now() + 1 < first_due {
        tokio::time::sleep(Duration::from_secs(first_due - w.now() - 1)).await;
        assert!(
            state(&bob).iter().all(|s| *s == OutboxState::Queued),
            "delivered before the backoff ended"
        );
        assert!(alice.store().inbox_after(0, 100).unwrap().is_empty());
    }
    wait_until("the outbox worker delivered everything", || {
        state(&bob).iter().all(|s| *s == OutboxState::Delivered)
    })
    .await;
    assert!(w.now() >= first_due, "delivered before the backoff ended");
    let inbox = alice.store().inbox_after(0, 100).unwrap();
    assert_eq!(inbox.len(), 10, "each message exactly once");
    let mut bodies: Vec<_> = inbox.iter().map(|e| e.message.body.clone()).collect();
    bodies.sort();
    let mut expected: Vec<_> = (0..10).map(|i| format!("queued {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);

    server.stop().await;
    running.stop().await;
}
