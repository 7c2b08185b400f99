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
use chainmail_core::wire::{Ack, CloseReason, Deliver, Envelope, Wire};
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

#[tokio::test(start_paused = true)]
async fn open_session_closed_when_peer_is_revoked() {
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
    w.revoke(&bob_key).await;
    let got = tokio::time::timeout(recheck_interval * 2, session.recv())
        .await
        .expect("closed within the recheck interval")
        .unwrap();
    match got {
        Wire::Close(c) => assert_eq!(c.reason, CloseReason::PeerRevoked),
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(
        accepted.elapsed() >= recheck_interval - Duration::from_secs(1),
        "closed before the first re-check"
    );
    running.stop().await;
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

    // Two failed re-checks in a row: the session ends.
    counting.fail_next_status(2);
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
