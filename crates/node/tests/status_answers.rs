//! What each answer of the chain does to a message, on the in-memory network
//! under virtual time: `send` refuses an ID the chain has never seen (a typo
//! must not wait days in the outbox) and queues nothing; an expired recipient
//! keeps its messages queued (expiry is renewable) and gets them once it
//! renews; a queued message whose recipient the chain does not know (yet:
//! a lagging provider) stays queued and is delivered once it is there; only
//! a revocation rejects what is queued.

mod common;

use std::time::Duration;

use chainmail_node::store::OutboxState;
use chainmail_node::{DeliveryOutcome, Node, SendStatus, deliver, send};
use common::virt::World;
use common::*;

fn state(node: &Node, id: &[u8; 16]) -> Option<OutboxState> {
    node.store().outbox_entry(id).unwrap().map(|e| e.state)
}

#[tokio::test(start_paused = true)]
async fn an_unknown_id_is_refused_at_send_with_nothing_queued() {
    let w = World::new().await;
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");

    let typo = new_key().address();
    let out = send(&bob, typo, "hi?", TIMEOUT).await.unwrap();
    assert_eq!(out.status, SendStatus::Rejected);
    let reason = out.reason.unwrap();
    assert!(reason.contains("not registered"), "{reason}");
    assert_eq!(
        state(&bob, &out.message_id),
        None,
        "a refused send queued its message"
    );
    assert!(bob.store().queued_for(&typo, 10).unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_expired_recipient_keeps_its_messages_until_it_renews() {
    let w = World::new().await;
    let alice = w.peer("alice").await;
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");

    // Alice's day runs out; Bob renews his so that only she is expired.
    tokio::time::advance(Duration::from_secs(43_200)).await;
    w.renew(&bob_key).await;
    tokio::time::advance(Duration::from_secs(43_201)).await;
    let out = send(&bob, alice.id(), "still there?", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert!(
        out.reason.as_deref().unwrap().contains("expired"),
        "{:?}",
        out.reason
    );
    assert_eq!(state(&bob, &out.message_id), Some(OutboxState::Queued));
    // A retry while she is still expired leaves it queued too.
    let report = deliver(&bob, alice.id(), TIMEOUT).await;
    assert!(
        matches!(report.outcome, DeliveryOutcome::Pending { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(state(&bob, &out.message_id), Some(OutboxState::Queued));

    w.renew(&alice.key).await;
    let report = deliver(&bob, alice.id(), TIMEOUT).await;
    assert!(
        matches!(report.outcome, DeliveryOutcome::Delivered),
        "{:?}",
        report.outcome
    );
    assert_eq!(state(&bob, &out.message_id), Some(OutboxState::Delivered));
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "still there?");
    alice.running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_queued_message_outlives_an_unknown_answer_but_not_a_revocation() {
    let w = World::new().await;
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");

    // Queued for Carol while she was valid, as far as Bob knew; the chain
    // (a provider behind, or a chain reset) does not know her now.
    let carol_key = new_key();
    let t = w.now();
    let m = queued_message(&bob_key, carol_key.address(), "for carol", t);
    bob.store().enqueue(&m, t).unwrap();
    let report = deliver(&bob, carol_key.address(), TIMEOUT).await;
    assert!(
        matches!(report.outcome, DeliveryOutcome::Pending { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(state(&bob, &m.message_id), Some(OutboxState::Queued));

    // She shows up: it is delivered.
    w.register(&carol_key).await;
    let carol = w.node(&carol_key, "carol");
    let running = w.listen(&carol, "carol:7400", false);
    w.set_endpoint(&carol_key, "carol:7400").await;
    let report = deliver(&bob, carol_key.address(), TIMEOUT).await;
    assert!(
        matches!(report.outcome, DeliveryOutcome::Delivered),
        "{:?}",
        report.outcome
    );
    assert_eq!(state(&bob, &m.message_id), Some(OutboxState::Delivered));

    // A revocation is final: what is queued then is rejected.
    let later = queued_message(&bob_key, carol_key.address(), "too late", w.now());
    bob.store().enqueue(&later, w.now()).unwrap();
    w.revoke(&carol_key).await;
    let report = deliver(&bob, carol_key.address(), TIMEOUT).await;
    assert!(
        matches!(report.outcome, DeliveryOutcome::Rejected { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(state(&bob, &later.message_id), Some(OutboxState::Rejected));
    running.stop().await;
}
