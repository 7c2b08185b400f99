//! The outbox worker of `serve`, on the in-memory network under virtual
//! time: a peer that accepts and never answers (a blackhole) does not hold
//! up delivery to a healthy peer, because peers are served concurrently,
//! and its attempt gives up at the worker's delivery timeout; a queued
//! message is marked expired, with the reason, once it is older than the
//! maximum age, while a younger one to the same peer stays queued.

mod common;

use std::time::Duration;

use chainmail_core::Address;
use chainmail_node::outbound::WORKER_DELIVERY_TIMEOUT;
use chainmail_node::store::OutboxState;
use chainmail_node::transport::Accept;
use chainmail_node::{Node, NodeOptions};
use common::virt::World;
use common::*;
use tokio::io::AsyncReadExt;

fn state(node: &Node, id: &[u8; 16]) -> OutboxState {
    node.store().outbox_entry(id).unwrap().unwrap().state
}

/// Reads what is buffered on `conn` without waiting; `true` if the other
/// side has closed it.
async fn closed(conn: &mut chainmail_node::transport::BoxLink) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::ZERO, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_would_wait) => return false,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_blackholed_peer_does_not_hold_up_a_healthy_one() {
    let w = World::new().await;

    // The blackhole: a registered ID whose endpoint accepts connections and
    // never says a word. Accepted connections are handed to the test.
    let hole_key = new_key();
    w.register(&hole_key).await;
    let mut hole = w.net.listen("hole:7400");
    w.set_endpoint(&hole_key, "hole:7400").await;
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let hole_task = tokio::spawn(async move {
        while let Ok((s, _)) = hole.accept().await {
            if accepted_tx.send(s).is_err() {
                break;
            }
        }
    });
    let healthy = w.peer("healthy").await;

    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");
    // The blackhole's message is older, so it is first in the due order: a
    // worker serving peers one by one would dial it first and wait out its
    // 30 s delivery timeout before trying the healthy peer.
    let t = w.now();
    let void = queued_message(&bob_key, hole_key.address(), "into the void", t - 10);
    let hello = queued_message(&bob_key, healthy.id(), "hello", t);
    bob.store().enqueue(&void, t - 10).unwrap();
    bob.store().enqueue(&hello, t).unwrap();
    let running = w.listen(&bob, "bob:7400", true);

    // The worker dials the blackhole…
    let mut hole_conn = accepted
        .recv()
        .await
        .expect("the worker never dialed the blackhole");
    // …and delivers to the healthy peer meanwhile.
    wait_until("delivery to the healthy peer", || {
        state(&bob, &hello.message_id) == OutboxState::Delivered
    })
    .await;
    // The blackhole attempt is still open at that point (a sequential worker
    // would have given up on it and closed this connection first).
    assert!(
        !closed(&mut hole_conn).await,
        "the blackhole attempt ended before the healthy peer was served"
    );
    assert_eq!(state(&bob, &void.message_id), OutboxState::Queued);
    let inbox = healthy.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "hello");

    // The blackhole attempt gives up at the delivery timeout: the message
    // stays queued with a failed attempt and a backoff, the connection is
    // dropped.
    wait_until("the blackhole attempt timed out", || {
        bob.store()
            .outbox_entry(&void.message_id)
            .unwrap()
            .unwrap()
            .attempts
            >= 1
    })
    .await;
    assert!(w.now() >= t + WORKER_DELIVERY_TIMEOUT.as_secs());
    let e = bob.store().outbox_entry(&void.message_id).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Queued);
    assert!(e.next_attempt_at > e.created_at, "{e:?}");
    assert!(
        closed(&mut hole_conn).await,
        "the timed-out attempt left its connection open"
    );

    running.stop().await;
    healthy.running.stop().await;
    hole_task.abort();
}

#[tokio::test(start_paused = true)]
async fn the_worker_expires_messages_older_than_the_maximum_age() {
    let w = World::new().await;
    // Alice is registered but down (nobody listens at her endpoint).
    let alice_key = new_key();
    w.register(&alice_key).await;
    w.set_endpoint(&alice_key, "alice:7400").await;

    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node_with(
        &bob_key,
        "bob",
        NodeOptions {
            max_age: Duration::from_secs(60),
            ..w.options()
        },
    );
    let to: Address = alice_key.address();
    let t0 = w.now();
    let old = queued_message(&bob_key, to, "too late", t0);
    bob.store().enqueue(&old, t0).unwrap();
    let running = w.listen(&bob, "bob:7400", true);

    // 40 s later another message is queued; the old one is retried
    // meanwhile and stays queued (it is not 60 s old yet).
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(state(&bob, &old.message_id), OutboxState::Queued);
    let t1 = w.now();
    let fresh = queued_message(&bob_key, to, "still hoping", t1);
    bob.store().enqueue(&fresh, t1).unwrap();

    wait_until("the old message expired", || {
        state(&bob, &old.message_id) == OutboxState::Expired
    })
    .await;
    assert!(w.now() >= t0 + 60, "expired before the maximum age");
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
    assert!(e.attempts >= 2, "retried while young: {e:?}");
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
