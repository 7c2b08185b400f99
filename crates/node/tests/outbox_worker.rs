//! The outbox worker of `serve` over real sockets: a peer that accepts and
//! never answers (a blackhole) does not hold up delivery to a healthy peer,
//! because peers are served concurrently; and a queued message older than
//! the maximum age is marked expired, with the reason, while a fresh one to
//! the same peer stays queued.

mod common;

use std::time::Duration;

use chainmail_core::Address;
use chainmail_node::store::OutboxState;
use chainmail_node::{Node, NodeOptions};
use common::*;
use tokio::net::TcpListener;

fn state(node: &Node, id: &[u8; 16]) -> OutboxState {
    node.store().outbox_entry(id).unwrap().unwrap().state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_peer_does_not_hold_up_a_healthy_one() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;

    // The blackhole: a registered ID whose endpoint accepts connections and
    // never says a word. Accepted sockets are handed to the test.
    let hole_key = new_key();
    register(&reg, &hole_key).await;
    let hole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    set_endpoint(&reg, &hole_key, &hole.local_addr().unwrap().to_string()).await;
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let hole_task = tokio::spawn(async move {
        while let Ok((s, _)) = hole.accept().await {
            if accepted_tx.send(s).is_err() {
                break;
            }
        }
    });
    let healthy = peer(&reg, dir.path(), "healthy").await;

    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let bob = common::node(&reg, &bob_key, dir.path(), "bob");
    // The blackhole's message is older, so it is first in the due order: a
    // worker serving peers one by one would dial it first and wait out its
    // 30 s delivery timeout before trying the healthy peer.
    let t = now();
    let void = queued_message(&bob_key, hole_key.address(), "into the void", t - 10);
    let hello = queued_message(&bob_key, healthy.id(), "hello", t);
    bob.store().enqueue(&void, t - 10).unwrap();
    bob.store().enqueue(&hello, t).unwrap();
    let running = serve_node(&bob).await;

    // The worker dials the blackhole…
    let hole_conn = tokio::time::timeout(Duration::from_secs(60), accepted.recv())
        .await
        .expect("the worker never dialed the blackhole")
        .unwrap();
    // …and delivers to the healthy peer meanwhile.
    wait_until("delivery to the healthy peer", || {
        state(&bob, &hello.message_id) == OutboxState::Delivered
    })
    .await;
    // The blackhole attempt is still open at that point (a sequential worker
    // would have given up on it and closed this socket first): drain what it
    // sent (its T_B1) and find no end of stream.
    let mut buf = [0u8; 4096];
    loop {
        match hole_conn.try_read(&mut buf) {
            Ok(0) => panic!("the blackhole attempt ended before the healthy peer was served"),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("blackhole socket: {e}"),
        }
    }
    assert_eq!(state(&bob, &void.message_id), OutboxState::Queued);
    let inbox = healthy.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "hello");

    running.stop().await;
    healthy.running.stop().await;
    hole_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_expires_messages_older_than_the_maximum_age() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    // Alice is registered but down (her endpoint is a closed port).
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    set_endpoint(&reg, &alice_key, &dead.to_string()).await;

    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let bob = Node::new(
        bob_key.clone_key(),
        reg.clone(),
        chainmail_node::store::Store::open(&dir.path().join("bob.db")).unwrap(),
        NodeOptions {
            limits: test_limits(),
            max_age: Duration::from_secs(60),
            ..NodeOptions::default()
        },
    );
    let to: Address = alice_key.address();
    let t = now();
    // One queued two minutes ago (past the 60 s maximum age), one just now.
    let old = queued_message(&bob_key, to, "too late", t - 120);
    let fresh = queued_message(&bob_key, to, "still hoping", t);
    bob.store().enqueue(&old, t - 120).unwrap();
    bob.store().enqueue(&fresh, t).unwrap();

    let running = serve_node(&bob).await;
    wait_until("the old message expired", || {
        state(&bob, &old.message_id) == OutboxState::Expired
    })
    .await;
    let e = bob.store().outbox_entry(&old.message_id).unwrap().unwrap();
    assert!(
        e.last_error
            .as_deref()
            .unwrap()
            .starts_with("not delivered within 60 s"),
        "{:?}",
        e.last_error
    );
    assert!(e.finished_at.is_some());
    // The fresh one is still queued (and being retried: Alice is down).
    wait_until("a failed attempt on the fresh message", || {
        bob.store()
            .outbox_entry(&fresh.message_id)
            .unwrap()
            .unwrap()
            .attempts
            >= 1
    })
    .await;
    assert_eq!(state(&bob, &fresh.message_id), OutboxState::Queued);
    running.stop().await;
}
