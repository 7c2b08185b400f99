//! Messages whose bodies are not UTF-8 text, over real sockets. Receiving
//! side: a foreign sender's genuine, signed `Deliver` mixing text and
//! non-text bodies gets the text stored and acked and the rest refused for
//! good (`Close(NotText)`), not the whole `Deliver` refused (which a sender
//! would retry until it expires). Sending side: a recipient that refuses
//! messages that way gets them marked rejected with the reason, never
//! retried, while what it acked is delivered.

mod common;

use chainmail_core::wire::{Ack, Close, CloseReason, Deliver, Envelope, Wire};
use chainmail_node::handshake;
use chainmail_node::store::OutboxState;
use chainmail_node::{DeliveryOutcome, SendStatus, deliver, send};
use common::*;
use tokio::net::{TcpListener, TcpStream};

fn envelope(id: u8, body: &[u8]) -> Envelope {
    Envelope {
        id: [id; 16],
        sent_at: now(),
        body: body.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_text_bodies_are_refused_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let bob = common::node(&reg, &bob_key, dir.path(), "bob");
    let domain = reg.domain();

    let session = |bob: chainmail_node::Node| {
        let (addr, alice_id, alice_pk) = (alice.running.addr, alice.id(), alice.key.public_key());
        async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            handshake::initiate(
                &bob,
                stream,
                alice_id,
                alice_pk,
                u64::MAX, // Alice's certificate does not bound this test's session
                tokio::time::Instant::now() + TIMEOUT,
            )
            .await
            .unwrap()
        }
    };
    // One genuine batch: text, a body that is not UTF-8, text.
    let batch = Deliver::sign_batch(
        &bob_key,
        &domain,
        alice.id(),
        vec![
            envelope(1, b"first"),
            envelope(2, &[0xff, 0xfe, b'x']),
            envelope(3, "third \u{2603}".as_bytes()),
        ],
    )
    .unwrap();
    for round in 0..2 {
        // The second round is the sender retrying the same batch: the same
        // answer, nothing stored twice.
        let mut s = session(bob.clone()).await;
        s.send(&Wire::Deliver(batch.clone())).await.unwrap();
        assert_eq!(
            s.recv().await.unwrap(),
            Wire::Ack(Ack {
                ids: vec![[1; 16], [3; 16]]
            }),
            "round {round}"
        );
        assert_eq!(
            s.recv().await.unwrap(),
            Wire::Close(Close {
                reason: CloseReason::NotText
            })
        );
    }
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    let bodies: Vec<_> = inbox.iter().map(|e| e.message.body.as_str()).collect();
    assert_eq!(bodies, ["first", "third \u{2603}"]);

    // Only non-text: no ack at all, just the refusal.
    let mut s = session(bob.clone()).await;
    let lone =
        Deliver::sign_batch(&bob_key, &domain, alice.id(), vec![envelope(4, &[0xc3])]).unwrap();
    s.send(&Wire::Deliver(lone)).await.unwrap();
    assert_eq!(
        s.recv().await.unwrap(),
        Wire::Close(Close {
            reason: CloseReason::NotText
        })
    );
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 2);

    // The node still serves: an ordinary message goes through.
    let out = send(&bob, alice.id(), "still there?", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 3);
    alice.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_recipient_gets_messages_rejected_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    // Alice's endpoint is a hand-driven responder (the real handshake, by
    // her node's key): it acks the first message of a `Deliver` and refuses
    // the rest as a foreign node might.
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let alice = common::node(&reg, &alice_key, dir.path(), "alice");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    set_endpoint(
        &reg,
        &alice_key,
        &listener.local_addr().unwrap().to_string(),
    )
    .await;
    let responder = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut s = handshake::accept(&alice, stream, tokio::time::Instant::now() + TIMEOUT)
            .await
            .unwrap();
        let Wire::Deliver(d) = s.recv().await.unwrap() else {
            panic!("expected a Deliver")
        };
        let first = d.messages[0].id;
        s.send(&Wire::Ack(Ack { ids: vec![first] })).await.unwrap();
        s.send(&Wire::Close(Close {
            reason: CloseReason::NotText,
        }))
        .await
        .unwrap();
        d.messages.len()
    });

    let bob_key = new_key();
    register(&reg, &bob_key).await;
    let bob = common::node(&reg, &bob_key, dir.path(), "bob");
    let t = now();
    let msgs: Vec<_> = (0..3)
        .map(|i| queued_message(&bob_key, alice_key.address(), &format!("m{i}"), t))
        .collect();
    for m in &msgs {
        bob.store().enqueue(m, t).unwrap();
    }
    let report = deliver(&bob, alice_key.address(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.delivered, vec![msgs[0].message_id]);
    assert_eq!(responder.await.unwrap(), 3, "all three went in one Deliver");

    let entry = |i: usize| {
        bob.store()
            .outbox_entry(&msgs[i].message_id)
            .unwrap()
            .unwrap()
    };
    assert_eq!(entry(0).state, OutboxState::Delivered);
    for i in 1..3 {
        let e = entry(i);
        assert_eq!(e.state, OutboxState::Rejected);
        assert!(
            e.last_error.as_deref().unwrap().contains("not UTF-8 text"),
            "{:?}",
            e.last_error
        );
    }
    // Nothing is left to retry: no dial happens (the responder is gone).
    let again = deliver(&bob, alice_key.address(), TIMEOUT).await;
    assert_eq!(again.outcome, DeliveryOutcome::NothingQueued);
}
