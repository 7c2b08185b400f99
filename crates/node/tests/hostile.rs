//! What a hostile network can do to a listening node: a replayed connection
//! (over real sockets, through a recording proxy); garbage, oversized
//! length prefixes, slowloris and half-open handshakes (on the in-memory
//! network under virtual time, so the handshake timeout passes at once) —
//! each ends in a closed connection and a bounded cost, and the node keeps
//! serving honest peers meanwhile. Also, under virtual time: an open
//! session is closed with `PeerRevoked` at the first re-check after the
//! peer is revoked, and a peer sending only acks is closed at the idle
//! timeout.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainmail_core::handshake::Initiator;
use chainmail_core::wire::{Ack, Close, CloseReason, Deliver, Envelope, Wire};
use chainmail_node::handshake;
use chainmail_node::limits::Limits;
use chainmail_node::{NodeOptions, SendStatus, send};
use common::counting::Counting;
use common::virt::World;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads until the server closes the connection; returns what it sent. The
/// timeout is an upper bound against a hang, not a speed assertion.
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the node never closed the connection");
    got
}

/// A TCP proxy to `target` that records every byte the client sent.
async fn recording_proxy(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let rec = recorded.clone();
    tokio::spawn(async move {
        let (mut client, _) = listener.accept().await.unwrap();
        let mut server = TcpStream::connect(target).await.unwrap();
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        let up = async {
            let mut buf = [0u8; 4096];
            loop {
                let n = cr.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    let _ = sw.shutdown().await;
                    break;
                }
                rec.lock().unwrap().extend_from_slice(&buf[..n]);
                if sw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        };
        let down = async {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            let _ = cw.shutdown().await;
        };
        tokio::join!(up, down);
    });
    (addr, recorded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_connection_stores_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;
    let (proxy, recorded) = recording_proxy(alice.running.addr).await;
    set_endpoint(&reg, &alice.key, &proxy.to_string()).await;

    let out = send(&bob.node, alice.id(), "once", TIMEOUT).await.unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    let bytes = recorded.lock().unwrap().clone();
    assert!(bytes.len() > 256, "recorded T_B1, confirm and data");

    // Replay the whole recorded client side to Alice: she refuses the T_B1
    // (its (ID_B, E_B) is in her replay cache) and answers nothing.
    let mut s = TcpStream::connect(alice.running.addr).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    assert!(read_until_closed(&mut s).await.is_empty());
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 1);

    // After a restart (a new node on the same store) the cache still holds.
    alice.running.stop().await;
    let alice2 = common::node(&reg, &alice.key, dir.path(), "alice");
    let running = listen(&alice2).await;
    let mut s = TcpStream::connect(running.addr).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    assert!(read_until_closed(&mut s).await.is_empty());
    assert_eq!(alice2.store().inbox_after(0, 10).unwrap().len(), 1);
    running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn bad_inputs_cost_a_timeout_and_the_node_keeps_serving() {
    let w = World::new().await;
    let alice = w.peer("alice").await;
    let bob = w.peer("bob").await;
    let at = alice.endpoint.clone();
    let connect = || w.net.connect(&at, w.new_ip()).unwrap();

    // Slowloris: many connections that send two bytes of a length prefix
    // and stall (more than the handshake cap of 4), plus half-open
    // handshakes that get T_A2 and never confirm.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = connect();
        s.write_all(&[0, 0]).await.unwrap();
        stalled.push(s);
    }
    let mut half_open = Vec::new();
    for _ in 0..6 {
        let mut s = connect();
        let status = w.reg.status(alice.id()).await.unwrap();
        let (_state, t_b1) = Initiator::start(
            &bob.key,
            &w.reg.domain(),
            &alice.key.public_key(),
            &status,
            w.now(),
            &mut rand::rng(),
        )
        .unwrap();
        s.write_all(&t_b1).await.unwrap();
        half_open.push(s);
    }

    // Meanwhile an honest peer is served.
    let out = send(&bob.node, alice.id(), "still here", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);

    // Each bad connection is closed by the node at the handshake timeout.
    let handshake_timeout = test_limits().handshake_timeout;
    let started = tokio::time::Instant::now();
    for mut s in stalled {
        assert!(read_until_closed(&mut s).await.is_empty());
    }
    for mut s in half_open {
        // T_A2 came back (the T_B1 was genuine), then the close.
        let got = read_until_closed(&mut s).await;
        assert_eq!(got.len(), 4 + chainmail_core::handshake::T_A2_LEN);
    }
    assert!(
        started.elapsed() < handshake_timeout * 2,
        "the bad connections outlived the handshake timeout"
    );

    // Garbage of several shapes: closed at once, nothing stored.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "oversized length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        ),
        ("zero length", vec![0, 0, 0, 0]),
        (
            "random bytes",
            (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("T_B1-sized junk", {
            let mut v = 256u32.to_be_bytes().to_vec();
            v.extend(std::iter::repeat_n(0xab, 256));
            v
        }),
        ("truncated record", {
            let mut v = 256u32.to_be_bytes().to_vec();
            v.extend(std::iter::repeat_n(1, 10));
            v
        }),
        (
            "HTTP request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let mut s = connect();
        s.write_all(&bytes).await.unwrap();
        assert!(read_until_closed(&mut s).await.is_empty(), "{name}");
    }
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 1);

    // And the node still serves.
    let out = send(&bob.node, alice.id(), "after the storm", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 2);
    alice.running.stop().await;
    bob.running.stop().await;
}

/// Opens a session from Bob to Alice, then revokes Bob (`revoke_bob`) or
/// Alice herself: the close Alice's node sends within one re-check.
async fn close_after_a_revocation_on_an_open_session(revoke_bob: bool) -> CloseReason {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    // The default re-check interval (minutes): virtual time passes it at once.
    let recheck_interval = Limits::default().recheck_interval;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: Limits {
                recheck_interval,
                idle_timeout: recheck_interval * 10,
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");

    let stream = w.net.connect("alice:7400", w.new_ip()).unwrap();
    let mut session = handshake::initiate(
        &bob,
        stream,
        alice_key.address(),
        alice_key.public_key(),
        u64::MAX, // Alice's certificate does not bound this test's session
        tokio::time::Instant::now() + TIMEOUT,
    )
    .await
    .unwrap();
    let accepted = tokio::time::Instant::now();
    w.revoke(if revoke_bob { &bob_key } else { &alice_key })
        .await;
    let got = tokio::time::timeout(recheck_interval * 2, session.recv())
        .await
        .expect("closed within the recheck interval")
        .unwrap();
    assert!(
        accepted.elapsed() >= recheck_interval - Duration::from_secs(1),
        "closed before the first re-check"
    );
    running.stop().await;
    match got {
        Wire::Close(c) => c.reason,
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn open_session_closed_when_peer_is_revoked() {
    assert_eq!(
        close_after_a_revocation_on_an_open_session(true).await,
        CloseReason::PeerRevoked
    );
}

#[tokio::test(start_paused = true)]
async fn open_session_closed_when_our_own_id_is_revoked() {
    // A node whose key was stolen and revoked stops talking on the sessions
    // it has, not only at the next handshake.
    assert_eq!(
        close_after_a_revocation_on_an_open_session(false).await,
        CloseReason::Normal
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_session_rides_out_one_failed_recheck_not_two() {
    // The RPC provider failing once must not tear down open sessions (it
    // would tear down all of them at once); failing twice in a row ends
    // them, as a status the node cannot confirm is not trusted for long.
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let counting = Counting::new(w.reg.clone());
    let recheck_interval = Limits::default().recheck_interval;
    let alice = chainmail_node::Node::new(
        alice_key.clone_key(),
        counting.clone(),
        chainmail_node::store::Store::open(&w.dir.path().join("alice.db")).unwrap(),
        NodeOptions {
            limits: Limits {
                recheck_interval,
                idle_timeout: recheck_interval * 10,
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");
    let stream = w.net.connect("alice:7400", w.new_ip()).unwrap();
    let mut session = handshake::initiate(
        &bob,
        stream,
        alice_key.address(),
        alice_key.public_key(),
        u64::MAX,
        tokio::time::Instant::now() + TIMEOUT,
    )
    .await
    .unwrap();
    let deliver = |id: u8| {
        let envelope = Envelope {
            id: [id; 16],
            sent_at: w.now(),
            body: b"still here".to_vec(),
        };
        Wire::Deliver(
            Deliver::sign_batch(
                &bob_key,
                &w.reg.domain(),
                alice_key.address(),
                vec![envelope],
            )
            .unwrap(),
        )
    };

    // The next re-check fails (virtual time reaches it at once)…
    counting.fail_next_status(1);
    counting.failed.notified().await;
    // …and the session carries on: a message on it is stored and acked.
    session.send(&deliver(1)).await.unwrap();
    assert_eq!(
        session.recv().await.unwrap(),
        Wire::Ack(Ack { ids: vec![[1; 16]] })
    );

    // Two failed re-checks in a row (each reads the peer's status and our
    // own): the session ends.
    counting.fail_next_status(4);
    let ended = tokio::time::timeout(recheck_interval * 3, session.recv())
        .await
        .expect("the session ends by the second failed re-check");
    assert!(
        ended.is_err(),
        "expected the connection closed, got {ended:?}"
    );
    assert_eq!(alice.store().inbox_after(0, 10).unwrap().len(), 1);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stray_acks_do_not_keep_a_session_alive() {
    // An authenticated peer that sends nothing but `Ack`s (cheap, and
    // meaningless on a session where the node sent nothing) is idle: the
    // session closes at the idle timeout, however many acks it sends.
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    // The default idle timeout (minutes): virtual time passes it at once.
    let idle_timeout = Limits::default().idle_timeout;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: Limits {
                idle_timeout,
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");
    let stream = w.net.connect("alice:7400", w.new_ip()).unwrap();
    let mut session = handshake::initiate(
        &bob,
        stream,
        alice_key.address(),
        alice_key.public_key(),
        u64::MAX,
        tokio::time::Instant::now() + TIMEOUT,
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    // Acks five times per idle timeout, for ten idle timeouts at most.
    let closed = tokio::time::timeout(idle_timeout * 10, async {
        let mut tick = tokio::time::interval(idle_timeout / 5);
        loop {
            tokio::select! {
                r = session.recv() => break r,
                _ = tick.tick() => {
                    let ack = Wire::Ack(chainmail_core::wire::Ack { ids: vec![[7; 16]] });
                    if session.send(&ack).await.is_err() {
                        break session.recv().await;
                    }
                }
            }
        }
    })
    .await
    .expect("a peer sending only acks kept its session open past the idle timeout");
    match closed {
        Ok(Wire::Close(c)) => assert_eq!(c.reason, CloseReason::Normal),
        Ok(other) => panic!("expected a close, got {other:?}"),
        Err(_) => {} // closed without a parting Close: also closed
    }
    assert!(
        started.elapsed() >= idle_timeout,
        "closed before the idle timeout"
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_initiator_whose_key_is_not_the_registered_one_is_refused() {
    // Bob's key hashes to his ID (the core checks that), but Alice's chain
    // says another key is registered under it: she must not answer. Only a
    // broken or lying registry can show this for a 160-bit hash; it stands
    // for the comparison being made at all.
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let counting = Counting::new(w.reg.clone());
    let alice = chainmail_node::Node::new(
        alice_key.clone_key(),
        counting.clone(),
        chainmail_node::store::Store::open(&w.dir.path().join("alice.db")).unwrap(),
        w.options(),
    );
    let running = w.listen(&alice, "alice:7400", false);
    w.set_endpoint(&alice_key, "alice:7400").await;
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");

    counting.answer_keys_with(new_key().public_key());
    let out = send(&bob, alice_key.address(), "hi", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert!(alice.store().inbox_after(0, 10).unwrap().is_empty());
    assert_eq!(counting.reads().1, 1, "the key was not read");
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_sent_at_outside_the_window_is_refused_for_good() {
    let w = World::new().await;
    let alice = w.peer("alice").await;
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");
    let now = w.now();
    let week = chainmail_core::wire::MAX_MESSAGE_AGE_SECS;
    let deliver = |id: u8, sent_at: u64| {
        let envelope = Envelope {
            id: [id; 16],
            sent_at,
            body: b"when?".to_vec(),
        };
        Wire::Deliver(
            Deliver::sign_batch(&bob_key, &w.reg.domain(), alice.id(), vec![envelope]).unwrap(),
        )
    };
    let session = || async {
        let stream = w.net.connect(&alice.endpoint, w.new_ip()).unwrap();
        handshake::initiate(
            &bob,
            stream,
            alice.id(),
            alice.key.public_key(),
            u64::MAX,
            tokio::time::Instant::now() + TIMEOUT,
        )
        .await
        .unwrap()
    };
    // At both edges of the window: stored and acked.
    let mut s = session().await;
    for (id, sent_at) in [(1, now + 300), (2, now - week - 300)] {
        s.send(&deliver(id, sent_at)).await.unwrap();
        assert_eq!(
            s.recv().await.unwrap(),
            Wire::Ack(Ack {
                ids: vec![[id; 16]]
            })
        );
    }
    // A second past either edge: refused for good, nothing stored.
    for (id, sent_at) in [(3, now + 301), (4, now - week - 301), (5, u64::MAX)] {
        let mut s = session().await;
        s.send(&deliver(id, sent_at)).await.unwrap();
        assert_eq!(
            s.recv().await.unwrap(),
            Wire::Close(Close {
                reason: CloseReason::SentAtOutOfWindow
            }),
            "sentAt {sent_at} at {now}"
        );
    }
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    let ids: Vec<[u8; 16]> = inbox.iter().map(|e| e.message.message_id).collect();
    assert_eq!(ids, vec![[1; 16], [2; 16]]);

    // The sender marks such a message rejected, with a reason about clocks
    // (here: queued longer than a week by a sender retrying for a month).
    let old = queued_message(&bob_key, alice.id(), "from last month", now - 30 * 86_400);
    bob.store().enqueue(&old, now - 30 * 86_400).unwrap();
    let report = chainmail_node::deliver(&bob, alice.id(), TIMEOUT).await;
    assert!(report.delivered.is_empty(), "{report:?}");
    let e = bob.store().outbox_entry(&old.message_id).unwrap().unwrap();
    assert_eq!(e.state, chainmail_node::store::OutboxState::Rejected);
    assert!(e.last_error.as_deref().unwrap().contains("sentAt"), "{e:?}");
    alice.running.stop().await;
}
