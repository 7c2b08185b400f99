//! What a delivery costs end to end on one machine: one signed message over
//! the session kept from the previous send, or over a new session (chain
//! lookups on the embedded chain, T_B1/T_A2, confirm), each with the
//! receiver's fsynced commit and the ack; and a 256-message batch over one
//! session (one batch signature, one transaction).
//!
//! `cargo bench -p chainmail-node --bench delivery`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chainmail_chain::{ChainSpec, Registry};
use chainmail_core::SecretKey;
use chainmail_core::eip712::{Certificate, Endpoint, Signed};
use chainmail_node::store::Store;
use chainmail_node::{DeliveryOutcome, Node, NodeOptions, SendStatus, deliver, send};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tokio::net::TcpListener;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn register(reg: &Arc<dyn Registry>, key: &SecretKey, endpoint: Option<String>) {
    let t = now();
    let cert = Certificate::new(key.public_key(), t + 86_400, t);
    reg.register(&Signed::sign(key, &reg.domain(), cert))
        .await
        .unwrap();
    if let Some(endpoint) = endpoint {
        let e = Endpoint {
            id: key.address(),
            endpoint,
            sequence: t * 1000,
        };
        reg.set_endpoint(&Signed::sign(key, &reg.domain(), e))
            .await
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (bob, alice_id) = rt.block_on(async {
        let reg = chainmail_chain::open(
            &ChainSpec::Embedded(Some(dir.path().join("chain.db"))),
            None,
            None,
        )
        .await
        .unwrap();
        let alice_key = SecretKey::generate(&mut rand::rng());
        let bob_key = SecretKey::generate(&mut rand::rng());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        register(
            &reg,
            &alice_key,
            Some(listener.local_addr().unwrap().to_string()),
        )
        .await;
        register(&reg, &bob_key, None).await;
        let alice_id = alice_key.address();
        let alice = Node::new(
            alice_key,
            reg.clone(),
            Store::open(&dir.path().join("alice.db")).unwrap(),
            // One source address makes every connection here: lift the
            // per-IP rate limit, which would otherwise (rightly) refuse.
            NodeOptions {
                limits: chainmail_node::limits::Limits {
                    per_ip_rate: 1e9,
                    per_ip_burst: 1e9,
                    ..Default::default()
                },
                ..NodeOptions::default()
            },
        );
        tokio::spawn(chainmail_node::run(listener, alice, std::future::pending()));
        let bob = Node::new(
            bob_key,
            reg,
            Store::open(&dir.path().join("bob.db")).unwrap(),
            NodeOptions::default(),
        );
        (bob, alice_id)
    });

    let mut g = c.benchmark_group("delivery");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    let send_one = || {
        rt.block_on(async {
            let out = send(&bob, alice_id, "benchmark message", Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
        })
    };
    g.bench_function("send_kept_session_one_message", |b| b.iter(send_one));
    g.bench_function("send_new_session_one_message", |b| {
        b.iter_batched(
            // The session kept by the previous send is closed outside the timing.
            || rt.block_on(chainmail_node::close_idle_sessions(&bob, Duration::ZERO)),
            |()| send_one(),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("deliver_256_queued_one_session", |b| {
        b.iter_batched(
            || {
                // Queue 256 messages while nothing delivers them.
                for i in 0..256u32 {
                    let mut id = [0u8; 16];
                    rand::Rng::fill(&mut rand::rng(), &mut id);
                    let msg = chainmail_node::store::OutgoingMessage {
                        message_id: id,
                        from: bob.address(),
                        to: alice_id,
                        body: format!("batched {i}"),
                        sent_at: now(),
                    };
                    bob.store().enqueue(&msg, now()).unwrap();
                }
            },
            |()| {
                rt.block_on(async {
                    let r = deliver(&bob, alice_id, Duration::from_secs(30)).await;
                    assert_eq!(r.outcome, DeliveryOutcome::Delivered);
                    assert_eq!(r.delivered.len(), 256);
                })
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
