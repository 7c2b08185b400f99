//! Row 4, the product path: `chainmail_node::send` from Bob's node to
//! Alice's node (`chainmail_node::run`) on loopback, on an embedded chain.
//! Each `send` signs and stores the message (fsync), looks Alice up on the
//! chain, dials, runs a new handshake, delivers, waits for Alice to verify
//! and commit it (fsync) and ack, and marks it delivered (fsync). The peers
//! have no equivalent (no store), so the row is chainmail's alone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use chainmail_chain::ChainSpec;
use chainmail_core::SecretKey;
use chainmail_core::eip712::{Endpoint, Signed};
use chainmail_node::store::Store;
use chainmail_node::{Node, NodeOptions, SendStatus, send};

use crate::measure::{Plan, quantile};
use crate::table::{Better, Row};

/// Measures `send` → ack of the real nodes; returns (p50, p99) in µs and notes.
pub fn run(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let rounds = plan.pick(300, 5);
    let times = rt.block_on(async {
        let registry = chainmail_chain::open(
            &ChainSpec::Embedded(Some(dir.join("chain-send.db"))),
            None,
            None,
        )
        .await?;
        let alice = SecretKey::generate(&mut rand::rng());
        let bob = SecretKey::generate(&mut rand::rng());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        crate::register(registry.as_ref(), &alice).await?;
        crate::register(registry.as_ref(), &bob).await?;
        let endpoint = Endpoint {
            id: alice.address(),
            endpoint: listener.local_addr()?.to_string(),
            sequence: crate::chainmail::unix_now() * 1000,
        };
        registry
            .set_endpoint(&Signed::sign(&alice, &registry.domain(), endpoint))
            .await?;
        let alice_id = alice.address();
        let alice_node = Node::new(
            alice,
            registry.clone(),
            Store::open(&dir.join("alice-send.db"))?,
            NodeOptions {
                // Every connection comes from 127.0.0.1 here.
                limits: chainmail_node::limits::Limits {
                    per_ip_rate: 1e9,
                    per_ip_burst: 1e9,
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(chainmail_node::run(listener, alice_node, async {
            let _ = stopped.await;
        }));
        let bob_node = Node::new(
            bob,
            registry,
            Store::open(&dir.join("bob-send.db"))?,
            NodeOptions::default(),
        );
        let mut times = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let text = format!("{i:04} {}", "x".repeat(1019));
            let start = Instant::now();
            let out = send(&bob_node, alice_id, &text, Duration::from_secs(10)).await?;
            times.push(start.elapsed().as_secs_f64() * 1e6);
            ensure!(
                out.status == SendStatus::Delivered,
                "send {i}: {:?} {:?}",
                out.status,
                out.reason
            );
        }
        let _ = stop.send(());
        server.await??;
        Ok::<_, anyhow::Error>(times)
    })?;
    let (p50, p99) = (quantile(&times, 0.5), quantile(&times, 0.99));
    notes.push(format!(
        "Row 4, node: {rounds} `chainmail_node::send` calls of a 1 KiB text, each a new session (chain lookups, dial, handshake) and three fsynced SQLite commits (sender enqueue, receiver commit before the ack, sender marks delivered)."
    ));
    Ok(vec![
        Row::new(
            4,
            "send→ack p50, node `send` (new session, durable store both sides)",
            "µs",
            Better::Lower,
        )
        .chainmail(p50)
        .goal(
            format!("≤ 1,000 µs: {}", crate::table::fmt_num(p50)),
            p50 <= 1000.0,
        ),
        Row::new(
            4,
            "send→ack p99, node `send` (new session, durable store both sides)",
            "µs",
            Better::Lower,
        )
        .chainmail(p99),
    ])
}
