//! A flood of T_B1s does not turn into a flood of chain calls: junk is
//! refused by local checks before any lookup, genuine requests hit the
//! status cache, and requests signed by fresh keys (which no cache can
//! answer) spend their source's lookup budget. The registry is the real
//! embedded one, wrapped to count the calls that reach it. Also, on the
//! in-memory network under virtual time: the per-source rate limit, and
//! its bucket refilling.

mod common;

use std::time::Duration;

use chainmail_core::handshake::Initiator;
use chainmail_node::limits::Limits;
use chainmail_node::store::Store;
use chainmail_node::{DeliveryOutcome, Node, NodeOptions, SendStatus, deliver, send};
use common::counting::Counting;
use common::virt::World;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn drain(mut s: impl AsyncRead + Unpin) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 1024];
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(k) = s.read(&mut buf).await {
            if k == 0 {
                break;
            }
            n += k;
        }
    })
    .await;
    assert!(done.is_ok(), "the node never closed the connection");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_b1_flood_costs_at_most_one_lookup_per_id() {
    let dir = tempfile::tempdir().unwrap();
    let real = chain(dir.path()).await;
    let alice_key = new_key();
    let bob_key = new_key();
    register(&real, &alice_key).await;
    register(&real, &bob_key).await;
    let counting = Counting::new(real.clone());
    let alice = Node::new(
        alice_key.clone_key(),
        counting.clone(),
        Store::open(&dir.path().join("alice.db")).unwrap(),
        NodeOptions {
            limits: Limits {
                status_ttl: Duration::from_secs(600),
                handshake_timeout: Duration::from_secs(2),
                per_ip_rate: 1e9,
                per_ip_burst: 1e9,
                ..Limits::default()
            },
            ..NodeOptions::default()
        },
    );
    let running = listen(&alice).await;
    let status = real.status(alice_key.address()).await.unwrap();
    let t_b1 = |n: u8| {
        let (_state, mut record) = Initiator::start(
            &bob_key,
            &real.domain(),
            &alice_key.public_key(),
            &status,
            now(),
            &mut rand::rng(),
        )
        .unwrap();
        if n == 1 {
            // Tampered ciphertext: fails to decrypt, before any lookup.
            let last = record.len() - 1;
            record[last] ^= 1;
        }
        record
    };

    // 40 tampered T_B1s: refused locally, no chain call at all.
    for _ in 0..40 {
        let mut s = TcpStream::connect(running.addr).await.unwrap();
        s.write_all(&t_b1(1)).await.unwrap();
        assert_eq!(drain(s).await, 0);
    }
    assert_eq!(counting.total(), 0);

    // 40 genuine T_B1s (fresh E_B each, never confirmed): every one gets a
    // T_A2, and the chain is asked once about Bob's status, once about his
    // key, and once about Alice.
    for _ in 0..40 {
        let mut s = TcpStream::connect(running.addr).await.unwrap();
        s.write_all(&t_b1(0)).await.unwrap();
        // Half-close: no confirm will come, so the node need not wait for
        // its handshake deadline.
        s.shutdown().await.unwrap();
        assert_eq!(drain(s).await, 4 + chainmail_core::handshake::T_A2_LEN);
    }
    assert_eq!(counting.total(), 3);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn per_source_rate_limit_closes_excess_connections_until_it_refills() {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    // Three connections, then one more every 10 s.
    let refill = Duration::from_secs(10);
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: Limits {
                per_ip_rate: 1.0 / refill.as_secs_f64(),
                per_ip_burst: 3.0,
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    w.set_endpoint(&alice_key, "alice:7400").await;
    let source = w.new_ip();
    for _ in 0..3 {
        let mut s = w.net.connect("alice:7400", source).unwrap();
        s.write_all(b"junk junk junk junk junk").await.unwrap();
        drain(s).await;
    }
    // The bucket for this address is empty: even an honest sender from it
    // is turned away (and its message stays queued)…
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node_with(
        &bob_key,
        "bob",
        NodeOptions {
            dialer: w.net.dialer(source),
            ..w.options()
        },
    );
    let queued = send(&bob, alice_key.address(), "too soon", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(queued.status, SendStatus::Queued, "{:?}", queued.reason);
    assert!(alice.store().inbox_after(0, 10).unwrap().is_empty());
    // …while another address is served.
    let carol = w.peer("carol").await;
    let out = send(&carol.node, alice_key.address(), "hi", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    // Once the bucket has refilled a token, the queued message goes.
    tokio::time::sleep(refill).await;
    let report = deliver(&bob, alice_key.address(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.delivered, vec![queued.message_id]);
    assert_eq!(alice.store().inbox_after(0, 10).unwrap().len(), 2);
    running.stop().await;
    carol.running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn fresh_keys_cost_a_bounded_number_of_lookups_per_source() {
    // Keys are free: a flooder signs each T_B1 with a new one, so no status
    // cache can answer, and each would cost the RPC provider a call. The
    // source's lookup budget bounds them; a genuine peer from elsewhere is
    // not held up.
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let counting = Counting::new(w.reg.clone());
    let burst = 8;
    let alice = Node::new(
        alice_key.clone_key(),
        counting.clone(),
        Store::open(&w.dir.path().join("alice.db")).unwrap(),
        NodeOptions {
            limits: Limits {
                // No refill within the test: the bound is exact.
                lookup_rate: 1.0 / 86_400.0,
                lookup_burst: burst as f64,
                status_ttl: Duration::from_secs(600),
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    w.set_endpoint(&alice_key, "alice:7400").await;
    let alice_status = w.reg.status(alice_key.address()).await.unwrap();
    let flooder = w.new_ip();
    let t_b1 = |key: &chainmail_core::SecretKey| {
        let (_state, record) = Initiator::start(
            key,
            &w.reg.domain(),
            &alice_key.public_key(),
            &alice_status,
            w.now(),
            &mut rand::rng(),
        )
        .unwrap();
        record
    };
    let knock = |record: Vec<u8>| {
        let mut s = w.net.connect("alice:7400", flooder).unwrap();
        async move {
            s.write_all(&record).await.unwrap();
            // Refused: closed without an answer.
            assert_eq!(drain(s).await, 0);
        }
    };

    // One unregistered key, ten times: the negative cache answers after
    // the first lookup (and Alice's own status is read once).
    let stranger = new_key();
    for _ in 0..10 {
        knock(t_b1(&stranger)).await;
    }
    assert_eq!(counting.reads().0, 2);
    // A hundred fresh keys: lookups until the source's budget is spent
    // (the first stranger took one token), then none.
    for _ in 0..100 {
        knock(t_b1(&new_key())).await;
    }
    assert_eq!(counting.reads().0, 1 + burst);

    // Bob, from his own address, still gets his message through.
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node(&bob_key, "bob");
    let out = send(&bob, alice_key.address(), "hello", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    chainmail_node::close_idle_sessions(&bob, Duration::ZERO).await;
    running.stop().await;
}
