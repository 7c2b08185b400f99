//! End to end over real sockets, a real embedded chain file and real SQLite
//! stores: two nodes exchange messages; the impostor, revoked, unknown and
//! dedup cases of DESIGN.md §5 and the "nothing lost, nothing twice".

mod common;

use chainmail_core::eip712::{Message, TypedData};
use chainmail_core::hash::keccak256;
use chainmail_core::merkle;
use chainmail_core::wire::verify_stored;
use chainmail_node::store::{OutboxState, ReceivedMessage, ReceivedProof};
use chainmail_node::{DeliveryOutcome, SendStatus, deliver, send};
use common::*;

/// The proof stored with a received message convinces a third party (and
/// a batch's stored root is the one its path leads to).
fn assert_provable(
    reg: &std::sync::Arc<dyn chainmail_chain::Registry>,
    m: &ReceivedMessage,
    sender: &chainmail_core::PublicKey,
) {
    let message = Message {
        from: m.from,
        to: m.to,
        id: m.message_id,
        sent_at: m.sent_at,
        body_hash: keccak256(m.body.as_bytes()),
    };
    if let ReceivedProof::Batch {
        root,
        path,
        place: Some((index, count)),
        ..
    } = &m.proof
    {
        assert_eq!(
            merkle::root_from_path(&message.struct_hash(), *index, *count, path),
            Some(*root)
        );
    }
    let proof = m.proof.message_proof().expect("a full proof");
    verify_stored(&reg.domain(), &message, m.body.as_bytes(), &proof, sender).expect("provable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_messages() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;

    // Bob → Alice.
    let out = send(&bob.node, alice.id(), "hello Alice", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(out.reason, None);
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    let m = &inbox[0].message;
    assert_eq!(m.body, "hello Alice");
    assert_eq!(m.from, bob.id());
    assert_eq!(m.to, alice.id());
    assert_eq!(m.message_id, out.message_id);
    assert_provable(&reg, m, &bob.key.public_key());
    assert_eq!(
        bob.node
            .store()
            .outbox_entry(&out.message_id)
            .unwrap()
            .unwrap()
            .state,
        OutboxState::Delivered
    );

    // Alice → Bob.
    let back = send(&alice.node, bob.id(), "hello Bob", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(back.status, SendStatus::Delivered, "{:?}", back.reason);
    let inbox = bob.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "hello Bob");

    alice.running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_go_as_one_signed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let bob = peer(&reg, dir.path(), "bob").await;

    // Alice has not published an endpoint yet: messages queue.
    let mut ids = Vec::new();
    for i in 0..5 {
        let out = send(&bob.node, alice_key.address(), &format!("m{i}"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(out.status, SendStatus::Queued);
        assert!(
            out.reason.as_deref().unwrap().contains("no endpoint"),
            "{:?}",
            out.reason
        );
        ids.push(out.message_id);
    }
    let alice = common::node(&reg, &alice_key, dir.path(), "alice");
    let running = listen(&alice).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;

    let report = deliver(&bob.node, alice_key.address(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.delivered.len(), 5);
    let inbox = alice.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 5);
    for (i, e) in inbox.iter().enumerate() {
        assert_eq!(e.message.body, format!("m{i}"));
        assert!(
            matches!(
                e.message.proof,
                ReceivedProof::Batch {
                    place: Some((_, 5)),
                    ..
                }
            ),
            "{:?}",
            e.message.proof
        );
        assert_provable(&reg, &e.message, &bob.key.public_key());
    }
    running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_unknown_recipients_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;

    // Unknown: a key never registered.
    let stranger = new_key();
    let out = send(&bob.node, stranger.address(), "hi?", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Rejected);
    assert!(
        out.reason.as_deref().unwrap().contains("not registered"),
        "{:?}",
        out.reason
    );

    // Revoked: nothing is sent, the message is rejected with the reason.
    revoke(&reg, &alice.key).await;
    let out = send(&bob.node, alice.id(), "are you there?", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Rejected);
    assert!(
        out.reason.as_deref().unwrap().contains("revoked"),
        "{:?}",
        out.reason
    );
    assert!(alice.node.store().inbox_after(0, 10).unwrap().is_empty());
    let e = bob
        .node
        .store()
        .outbox_entry(&out.message_id)
        .unwrap()
        .unwrap();
    assert_eq!(e.state, OutboxState::Rejected);

    // And a revoked sender is refused by the receiver at the handshake.
    let carol = peer(&reg, dir.path(), "carol").await;
    let out = send(&alice.node, carol.id(), "from a revoked key", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued);
    assert!(carol.node.store().inbox_after(0, 10).unwrap().is_empty());

    alice.running.stop().await;
    bob.running.stop().await;
    carol.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impostor_at_alices_endpoint_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let bob = peer(&reg, dir.path(), "bob").await;
    // Mallory: registered, with her own key, listening where Alice's
    // endpoint points.
    let mallory = peer(&reg, dir.path(), "mallory").await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    set_endpoint(&reg, &alice_key, &mallory.running.addr.to_string()).await;

    let out = send(&bob.node, alice_key.address(), "for Alice only", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert!(
        out.reason.as_deref().unwrap().contains("handshake"),
        "{:?}",
        out.reason
    );
    assert!(mallory.node.store().inbox_after(0, 10).unwrap().is_empty());

    // The real Alice comes up and publishes her endpoint: the queued message
    // reaches her, once.
    let alice = common::node(&reg, &alice_key, dir.path(), "alice");
    let running = listen(&alice).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;
    let report = deliver(&bob.node, alice_key.address(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    let inbox = alice.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "for Alice only");
    assert!(mallory.node.store().inbox_after(0, 10).unwrap().is_empty());

    running.stop().await;
    bob.running.stop().await;
    mallory.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_after_crash_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;
    let out = send(&bob.node, alice.id(), "exactly once", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered);

    // Bob "crashed" after Alice stored and acked but before his outbox
    // recorded the ack: the row is queued again in his store file.
    let conn = rusqlite::Connection::open(dir.path().join("bob.db")).unwrap();
    conn.execute(
        "UPDATE outbox SET state = 'queued', finished_at = NULL WHERE message_id = ?1",
        [&out.message_id[..]],
    )
    .unwrap();
    drop(conn);
    // Restarted Bob (a new node on the same store) resends it.
    let bob2 = common::node(&reg, &bob.key, dir.path(), "bob");
    let report = deliver(&bob2, alice.id(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.delivered, vec![out.message_id]);
    // Alice acked it again but stored it once.
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 1);

    alice.running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_recipient_stays_queued_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let bob = peer(&reg, dir.path(), "bob").await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    // A port nobody listens on: bind, note it, close.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    set_endpoint(&reg, &alice_key, &dead.to_string()).await;
    let out = send(&bob.node, alice_key.address(), "later", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued);
    assert!(
        out.reason.as_deref().unwrap().contains("cannot reach"),
        "{:?}",
        out.reason
    );
    let e = bob
        .node
        .store()
        .outbox_entry(&out.message_id)
        .unwrap()
        .unwrap();
    assert_eq!(e.attempts, 1);
    assert!(e.next_attempt_at > e.created_at);
    bob.running.stop().await;
}

/// The one body limit (`wire::MAX_BODY`): a body at the limit is queued,
/// signed, sealed, delivered and stored; one byte more is refused by `send`
/// before anything is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_is_checked_once_at_send() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;
    let max = chainmail_core::wire::MAX_BODY;

    let out = send(&bob.node, alice.id(), &"x".repeat(max), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body.len(), max);

    let err = send(&bob.node, alice.id(), &"x".repeat(max + 1), TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, chainmail_node::NodeError::BodyTooLarge { len, max: m } if len == max + 1 && m == max),
        "{err:?}"
    );
    assert_eq!(
        bob.node.store().outbox(10).unwrap().len(),
        1,
        "nothing more queued"
    );
    chainmail_node::close_idle_sessions(&bob.node, std::time::Duration::ZERO).await;
    bob.running.stop().await;
    alice.running.stop().await;
}
