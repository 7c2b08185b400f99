//! Connections that never authenticate cannot keep a genuine peer out
//! (issue 13, High 2): a cap per source (an IPv4 address or an IPv6 /64)
//! on unauthenticated connections, the oldest one making room at the
//! node's connection cap, a short deadline for the first record, and T_B1
//! read with its exact size. On the in-memory network under virtual time.

mod common;

use std::time::Duration;

use chainmail_node::limits::Limits;
use chainmail_node::{NodeOptions, SendStatus, send};
use common::virt::World;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A node whose silent connections are not timed out during the test, so
/// that only the caps can make room.
fn patient_limits(max_connections: usize) -> Limits {
    Limits {
        max_connections,
        max_preauth_per_source: 4,
        first_record_timeout: Duration::from_secs(3600),
        handshake_timeout: Duration::from_secs(3600),
        ..test_limits()
    }
}

#[tokio::test(start_paused = true)]
async fn idle_sockets_from_three_addresses_do_not_keep_a_genuine_peer_out() {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let max = 16;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: patient_limits(max),
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    w.set_endpoint(&alice_key, "alice:7400").await;

    // max_connections silent sockets from three addresses, and more.
    let sources = [w.new_ip(), w.new_ip(), w.new_ip()];
    let mut held = Vec::new();
    for i in 0..max + 8 {
        held.push(w.net.connect("alice:7400", sources[i % 3]).unwrap());
    }
    // A registered peer from a fourth address still gets through.
    let bob = w.peer("bob").await;
    let out = send(&bob.node, alice_key.address(), "still reachable", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(alice.store().inbox_after(0, 10).unwrap().len(), 1);
    drop(held);
    chainmail_node::close_idle_sessions(&bob.node, Duration::ZERO).await;
    running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn one_source_holds_at_most_its_cap_of_unauthenticated_connections() {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: patient_limits(64),
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    let source = w.new_ip();
    let mut first = w.net.connect("alice:7400", source).unwrap();
    let _others: Vec<_> = (0..4)
        .map(|_| w.net.connect("alice:7400", source).unwrap())
        .collect();
    // The fifth from the source closed the first (its oldest), long before
    // any deadline.
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(first.read(&mut buf).await.unwrap(), 0, "closed by the node");
    assert!(start.elapsed() < Duration::from_secs(60));
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_socket_is_closed_at_the_first_record_deadline_and_a_long_t_b1_at_once() {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let limits = Limits {
        first_record_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(600),
        ..test_limits()
    };
    let first_record = limits.first_record_timeout;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits,
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);

    // Silent: closed at the first-record deadline, not the handshake's.
    let mut silent = w.net.connect("alice:7400", w.new_ip()).unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(silent.read(&mut buf).await.unwrap(), 0);
    let waited = start.elapsed();
    assert!(
        waited >= first_record && waited < first_record * 2,
        "closed after {waited:?}"
    );

    // A prefix announcing more than T_B1's 256 bytes (but far less than a
    // session frame): refused at the prefix, without waiting for the body.
    let mut long = w.net.connect("alice:7400", w.new_ip()).unwrap();
    long.write_all(&(chainmail_core::handshake::T_B1_LEN as u32 + 1).to_be_bytes())
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(long.read(&mut buf).await.unwrap(), 0);
    assert!(start.elapsed() < first_record, "refused at once");
    running.stop().await;
}
