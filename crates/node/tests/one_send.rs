//! What one `send` costs the chain, and how the queue is cut into
//! `Deliver`s: over a new session the recipient's status is read from the
//! chain once (its key is read at the block that status names, its
//! endpoint once), counted by a `Registry` wrapper around the embedded
//! chain; and `Limits::max_batch` bounds the messages per `Deliver`.

mod common;

use std::sync::Arc;

use chainmail_chain::Registry;
use chainmail_node::limits::Limits;
use chainmail_node::{DeliveryOutcome, NodeOptions, SendStatus, deliver, send};
use common::counting::Counting;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_over_a_new_session_reads_the_status_once() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let counting = Counting::new(reg.clone());
    let bob_reg: Arc<dyn Registry> = counting.clone();
    let bob = common::node(&bob_reg, &bob_key, dir.path(), "bob");

    let out = send(&bob, alice.id(), "hello", TIMEOUT).await.unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    // The recipient's status once, and the sender's own (read again each
    // delivery here: these tests' status TTL is zero).
    assert_eq!(
        counting.reads(),
        (2, 1, 1),
        "(status, key, endpoint) reads of one send over a new session"
    );
    // Over the kept session: both statuses again (nothing goes to or from
    // an ID that is not valid now), no key or endpoint.
    let out = send(&bob, alice.id(), "again", TIMEOUT).await.unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(counting.reads(), (4, 1, 1));
    chainmail_node::close_idle_sessions(&bob, std::time::Duration::ZERO).await;
    alice.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_batch_bounds_the_messages_per_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let bob = node_with(
        &reg,
        &bob_key,
        dir.path(),
        "bob",
        NodeOptions {
            limits: Limits {
                max_batch: 2,
                ..test_limits()
            },
            ..NodeOptions::default()
        },
    );
    // Alice has no endpoint yet: five messages queue.
    for i in 0..5 {
        let out = send(&bob, alice_key.address(), &format!("m{i}"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(out.status, SendStatus::Queued);
    }
    let alice = common::node(&reg, &alice_key, dir.path(), "alice");
    let running = listen(&alice).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;

    let report = deliver(&bob, alice_key.address(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    let inbox = alice.store().inbox_after(0, 10).unwrap();
    let counts: Vec<Option<u32>> = inbox
        .iter()
        .map(|e| match &e.message.proof {
            chainmail_node::store::ReceivedProof::Batch { place, .. } => place.map(|p| p.1),
            chainmail_node::store::ReceivedProof::Single { .. } => None,
        })
        .collect();
    // Two batches of two, then the last message alone (its own signature).
    assert_eq!(counts, vec![Some(2), Some(2), Some(2), Some(2), None]);
    chainmail_node::close_idle_sessions(&bob, std::time::Duration::ZERO).await;
    running.stop().await;
}
