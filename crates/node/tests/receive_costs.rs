//! What a registered peer can make a receiver spend, over real sockets:
//! a `Deliver` replayed over and over costs dedup lookups, not signature
//! checks (each distinct (from, id) is verified once, counted by the
//! node), and other peers are served meanwhile; a stranger's messages stop
//! at its inbox quota with `Close(QuotaFull)`, the rest staying queued at
//! the sender until the recipient names it a contact.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chainmail_core::wire::{Ack, Deliver, Envelope, Wire};
use chainmail_node::limits::Limits;
use chainmail_node::store::OutboxState;
use chainmail_node::store::contacts::Contact;
use chainmail_node::{DeliveryOutcome, Node, NodeOptions, SendStatus, deliver, handshake, send};
use common::*;
use tokio::net::TcpStream;

/// A session from `from` to `to` (listening at `to_addr`).
async fn session(from: &Node, to: &Peer) -> chainmail_node::transport::SecureStream {
    let stream = TcpStream::connect(to.running.addr).await.unwrap();
    handshake::initiate(
        from,
        stream,
        to.id(),
        to.key.public_key(),
        u64::MAX,
        tokio::time::Instant::now() + TIMEOUT,
    )
    .await
    .unwrap()
}

fn contact(id: chainmail_core::Address, name: &str) -> Contact {
    Contact {
        id,
        name: Some(name.into()),
        verified: false,
        blocked: false,
        added_at: now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_deliver_is_verified_once_and_others_are_served_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let (bob_key, carol_key) = (new_key(), new_key());
    register(&reg, &bob_key).await;
    register(&reg, &carol_key).await;
    // Bob is a contact: no stranger quota cuts his big `Deliver`.
    alice
        .node
        .store()
        .put_contact(&contact(bob_key.address(), "bob"))
        .unwrap();
    let bob = common::node(&reg, &bob_key, dir.path(), "bob");
    let carol = common::node(&reg, &carol_key, dir.path(), "carol");

    // One frame's worth of individually signed messages.
    const N: usize = 600;
    let envelopes: Vec<Envelope> = (0..N)
        .map(|i| Envelope::new(vec![b'a' + (i % 26) as u8], now(), &mut rand::rng()))
        .collect();
    let flood = Wire::Deliver(
        Deliver::sign_each(&bob_key, &reg.domain(), alice.id(), envelopes.clone()).unwrap(),
    );
    let ack = Wire::Ack(Ack {
        ids: envelopes.iter().map(|e| e.id).collect(),
    });
    let carol_done = Arc::new(AtomicBool::new(false));
    let mut bob_session = session(&bob, &alice).await;
    // The first copy is verified and stored.
    bob_session.send(&flood).await.unwrap();
    assert_eq!(bob_session.recv().await.unwrap(), ack);
    assert_eq!(alice.node.messages_verified(), N as u64);

    // Replays, at least 1000, and until Carol has been served.
    let replays = tokio::spawn({
        let (carol_done, flood, ack) = (carol_done.clone(), flood.clone(), ack.clone());
        async move {
            let mut n = 0u32;
            while n < 1000 || !carol_done.load(Ordering::SeqCst) {
                bob_session.send(&flood).await.unwrap();
                assert_eq!(bob_session.recv().await.unwrap(), ack, "replay {n}");
                n += 1;
            }
            n
        }
    });
    // Carol, on her own session, during the replays: acked.
    let mut carol_session = session(&carol, &alice).await;
    let hers = Envelope::new(b"hi alice".to_vec(), now(), &mut rand::rng());
    carol_session
        .send(&Wire::Deliver(
            Deliver::sign_each(&carol_key, &reg.domain(), alice.id(), vec![hers.clone()]).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(
        carol_session.recv().await.unwrap(),
        Wire::Ack(Ack { ids: vec![hers.id] })
    );
    assert!(
        !replays.is_finished(),
        "Carol was served while Bob replayed"
    );
    carol_done.store(true, Ordering::SeqCst);
    let n = replays.await.unwrap();
    assert!(n >= 1000);
    // Each distinct (from, id) verified once: Bob's N, Carol's one.
    assert_eq!(alice.node.messages_verified(), N as u64 + 1);
    assert_eq!(
        alice
            .node
            .store()
            .inbox_after(0, 2 * N as u32)
            .unwrap()
            .len(),
        N + 1
    );
    alice.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_messages_stop_at_its_quota_and_stay_queued() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let alice_node = node_with(
        &reg,
        &alice_key,
        dir.path(),
        "alice",
        NodeOptions {
            limits: Limits {
                stranger_inbox_quota: 2,
                ..test_limits()
            },
            ..NodeOptions::default()
        },
    );
    let running = listen(&alice_node).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;
    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let bob = common::node(&reg, &bob_key, dir.path(), "bob");
    let alice_id = alice_key.address();

    for text in ["one", "two"] {
        let out = send(&bob, alice_id, text, TIMEOUT).await.unwrap();
        assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    }
    // The third is past the quota of a stranger: not stored, and not lost —
    // queued at Bob's, with the reason.
    let out = send(&bob, alice_id, "three", TIMEOUT).await.unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    let reason = out.reason.unwrap();
    assert!(reason.contains("as a contact"), "{reason}");
    assert_eq!(alice_node.store().inbox_after(0, 10).unwrap().len(), 2);
    let queued = bob.store().outbox_entry(&out.message_id).unwrap().unwrap();
    assert_eq!(queued.state, OutboxState::Queued);

    // Alice accepts the request: the next attempt delivers it.
    alice_node
        .store()
        .put_contact(&contact(bob_key.address(), "bob"))
        .unwrap();
    let report = deliver(&bob, alice_id, TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered, "{report:?}");
    let bodies: Vec<String> = alice_node
        .store()
        .inbox_after(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.message.body)
        .collect();
    assert_eq!(bodies, ["one", "two", "three"]);
    chainmail_node::close_idle_sessions(&bob, std::time::Duration::ZERO).await;
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_peer_past_its_verification_budget_waits_and_nobody_else_does() {
    use chainmail_node::store::OutgoingMessage;

    // Virtual time: Alice verifies 100 messages per second per peer
    // (burst 100). Bob's 300 queued messages cost his session 2 s of
    // waiting; Carol's message, sent meanwhile, goes through at once.
    let w = common::virt::World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: Limits {
                verify_rate: 100.0,
                verify_burst: 100.0,
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    w.set_endpoint(&alice_key, "alice:7400").await;
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");
    let carol_key = new_key();
    w.register(&carol_key).await;
    let carol = w.node(&carol_key, "carol");
    // Bob is a contact: the stranger quota is not what is tested here.
    alice
        .store()
        .put_contact(&contact(bob_key.address(), "bob"))
        .unwrap();
    for i in 0..300u16 {
        let mut message_id = [0u8; 16];
        message_id[..2].copy_from_slice(&i.to_be_bytes());
        let m = OutgoingMessage {
            message_id,
            from: bob_key.address(),
            to: alice_key.address(),
            body: format!("m{i}"),
            sent_at: w.now(),
        };
        bob.store().enqueue(&m, w.now()).unwrap();
    }

    let started = tokio::time::Instant::now();
    let flood = tokio::spawn({
        let (bob, to) = (bob.clone(), alice_key.address());
        async move { deliver(&bob, to, TIMEOUT).await }
    });
    let out = send(&carol, alice_key.address(), "meanwhile", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert!(
        !flood.is_finished(),
        "Bob's 300 messages went through at once"
    );
    let report = flood.await.unwrap();
    assert!(
        matches!(report.outcome, DeliveryOutcome::Delivered),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.delivered.len(), 300);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Bob waited only {:?} of virtual time",
        started.elapsed()
    );
    assert_eq!(alice.store().inbox_after(0, 1000).unwrap().len(), 301);
    running.stop().await;
}
