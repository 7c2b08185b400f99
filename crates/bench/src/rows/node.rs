//! Row 4, the product path: `chainmail_node::send` from Bob's node to
//! Alice's node (`chainmail_node::run`) on loopback, on an embedded chain.
//! Each `send` signs and stores the message (fsync), checks Alice's status
//! on the chain, delivers over the session kept from the previous send — or
//! over a new one (key and endpoint lookups, dial, handshake), both are
//! measured —, waits for Alice to verify and commit it (fsync) and ack, and
//! marks it delivered. Bob is Alice's contact (a stranger's messages are
//! capped). The peers have no equivalent (no store), so the rows are
//! chainmail's alone.

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
        // Bob is Alice's contact: a stranger's messages are capped at the
        // receiver (issue 13), and this row sends hundreds.
        let alice_store = Store::open(&dir.join("alice-send.db"))?;
        alice_store.put_contact(&chainmail_node::contacts::Contact {
            id: bob.address(),
            name: Some("bob".into()),
            verified: false,
            blocked: false,
            added_at: crate::chainmail::unix_now(),
        })?;
        let alice_node = Node::new(
            alice,
            registry.clone(),
            alice_store,
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
        // Interleaved: even rounds on the session kept from the previous
        // send, odd rounds on a new one (the kept session closed first,
        // outside the timing), so drift hits both alike.
        let mut kept = Vec::with_capacity(rounds);
        let mut fresh = Vec::with_capacity(rounds);
        for i in 0..2 * rounds + 1 {
            let reuse = i % 2 == 0;
            if !reuse {
                chainmail_node::close_idle_sessions(&bob_node, Duration::ZERO).await;
            }
            let text = format!("{i:04} {}", "x".repeat(1019));
            let start = Instant::now();
            let out = send(&bob_node, alice_id, &text, Duration::from_secs(10)).await?;
            let micros = start.elapsed().as_secs_f64() * 1e6;
            ensure!(
                out.status == SendStatus::Delivered,
                "send {i}: {:?} {:?}",
                out.status,
                out.reason
            );
            // Round 0 has no session to keep yet: not counted.
            match (i, reuse) {
                (0, _) => {}
                (_, true) => kept.push(micros),
                (_, false) => fresh.push(micros),
            }
        }
        let _ = stop.send(());
        server.await??;
        Ok::<_, anyhow::Error>((kept, fresh))
    })?;
    let (kept, fresh) = times;
    notes.push(format!(
        "Row 4, node: {n} `chainmail_node::send` calls of a 1 KiB text on the session kept from the previous send, interleaved with {n} on a new session (chain key and endpoint lookups, dial, handshake). Each: the recipient's status from the chain, the sender's fsynced enqueue, the receiver's fsynced commit before the ack, and the delivered mark (committed without its own fsync: losing it to a power cut only resends the message, which the receiver's dedup acks again).",
        n = kept.len()
    ));
    let mut rows = Vec::new();
    for (what, times) in [("kept session", &kept), ("new session", &fresh)] {
        let (p50, p99) = (quantile(times, 0.5), quantile(times, 0.99));
        rows.push(
            Row::new(
                4,
                format!("send→ack p50, node `send` ({what}, durable store both sides)"),
                "µs",
                Better::Lower,
            )
            .chainmail(p50)
            .goal(
                format!("≤ 1,000 µs: {}", crate::table::fmt_num(p50)),
                p50 <= 1000.0,
            ),
        );
        rows.push(
            Row::new(
                4,
                format!("send→ack p99, node `send` ({what}, durable store both sides)"),
                "µs",
                Better::Lower,
            )
            .chainmail(p99),
        );
    }
    Ok(rows)
}
