//! The sender keeps the session of a delivery for the next one to the same
//! peer: consecutive sends cost one handshake, and a kept session is never
//! a way around what a new handshake would refuse (a block, a revocation)
//! nor a dead end (a receiver that closed it). Real sockets, a real
//! embedded chain and real SQLite stores; handshakes are counted in the
//! receiver's replay cache (one row per accepted T_B1).

mod common;

use std::path::Path;
use std::time::Duration;

use chainmail_node::contacts::Contact;
use chainmail_node::{SendStatus, close_idle_sessions, send};
use common::*;

/// Handshakes `name`'s node has accepted (its replay-cache rows).
fn handshakes(dir: &Path, name: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(format!("{name}.db"))).unwrap();
    conn.query_row("SELECT COUNT(*) FROM replay_cache", [], |r| r.get(0))
        .unwrap()
}

async fn send_ok(from: &Peer, to: &Peer, text: &str) {
    let out = send(&from.node, to.id(), text, TIMEOUT).await.unwrap();
    assert_eq!(
        out.status,
        SendStatus::Delivered,
        "{text}: {:?}",
        out.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_sends_share_one_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;

    for i in 0..5 {
        send_ok(&bob, &alice, &format!("m{i}")).await;
    }
    assert_eq!(handshakes(dir.path(), "alice"), 1);
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    let bodies: Vec<&str> = inbox.iter().map(|e| e.message.body.as_str()).collect();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);

    // Closed on purpose (as the worker does after KEEP_SESSION idle): the
    // next send runs a new handshake.
    close_idle_sessions(&bob.node, Duration::ZERO).await;
    send_ok(&bob, &alice, "m5").await;
    assert_eq!(handshakes(dir.path(), "alice"), 2);

    alice.running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_receiver_closed_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;
    send_ok(&bob, &alice, "before the restart").await;

    // Alice's listener stops (closing every session) and comes back on a
    // new port: Bob's kept session is dead, the next send dials anew.
    alice.running.stop().await;
    let running = listen(&alice.node).await;
    set_endpoint(&reg, &alice.key, &running.addr.to_string()).await;
    let out = send(&bob.node, alice.key.address(), "after the restart", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(handshakes(dir.path(), "alice"), 2);
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 2);

    running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_session_does_not_outlive_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;
    send_ok(&bob, &alice, "welcome").await;

    alice
        .node
        .store()
        .put_contact(&Contact {
            id: bob.id(),
            name: None,
            verified: false,
            blocked: true,
            added_at: now(),
        })
        .unwrap();
    // The kept session is open, but Alice refuses its next `Deliver` as she
    // would refuse a new handshake: nothing stored, the message stays queued.
    let out = send(&bob.node, alice.id(), "unwelcome", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert!(
        out.reason
            .as_deref()
            .unwrap()
            .contains("refused the session"),
        "{:?}",
        out.reason
    );
    let inbox = alice.node.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "welcome");

    alice.running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_session_does_not_outlive_the_senders_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice = peer(&reg, dir.path(), "alice").await;
    let bob = peer(&reg, dir.path(), "bob").await;
    send_ok(&bob, &alice, "while valid").await;

    // Alice's status TTL is zero in these tests: her next look at Bob's
    // status sees the revocation, on the kept session as at a handshake.
    revoke(&reg, &bob.key).await;
    let out = send(&bob.node, alice.id(), "after revocation", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert_eq!(alice.node.store().inbox_after(0, 10).unwrap().len(), 1);
    // Bob's node itself says why: its own ID, checked before the kept
    // session is used.
    let reason = out.reason.unwrap();
    assert!(
        reason.contains(&format!("this ID {}", bob.id())) && reason.contains("revoked"),
        "{reason}"
    );

    alice.running.stop().await;
    bob.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_sessions_make_room_when_connections_run_short() {
    use chainmail_node::NodeOptions;
    use chainmail_node::limits::Limits;

    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    // Alice takes 4 connections at most; idle sessions yield at once when
    // more than 3 are open, and her idle timeout never fires in this test.
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let alice = node_with(
        &reg,
        &alice_key,
        dir.path(),
        "alice",
        NodeOptions {
            limits: Limits {
                max_connections: 4,
                evict_idle_after: Duration::ZERO,
                // Long: only eviction can free the connections in time.
                idle_timeout: Duration::from_secs(600),
                ..test_limits()
            },
            ..NodeOptions::default()
        },
    );
    let running = listen(&alice).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;

    let mut senders = Vec::new();
    for i in 0..5 {
        senders.push(peer(&reg, dir.path(), &format!("sender{i}")).await);
    }
    // Four senders keep a session each: the fourth fills Alice's table, and
    // the three idle ones are closed to make room.
    for s in &senders[..4] {
        let out = send(&s.node, alice_key.address(), "hello", TIMEOUT)
            .await
            .unwrap();
        assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    }
    wait_until("idle sessions evicted", || alice.open_connections() <= 1).await;
    // A fifth sender finds room; the first, whose kept session was closed,
    // handshakes again.
    for s in [&senders[4], &senders[0]] {
        let out = send(&s.node, alice_key.address(), "hello again", TIMEOUT)
            .await
            .unwrap();
        assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    }
    assert_eq!(alice.store().inbox_after(0, 10).unwrap().len(), 6);
    assert_eq!(handshakes(dir.path(), "alice"), 6);

    running.stop().await;
    for s in senders {
        s.running.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_worker_closes_a_kept_session_after_it_idled_keep_session() {
    use chainmail_node::NodeOptions;
    use chainmail_node::limits::Limits;
    use chainmail_node::outbound::KEEP_SESSION;

    // Virtual time on the in-memory network: the minute a kept session
    // lives passes at once.
    let w = common::virt::World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: Limits {
                // Long: only the sender's housekeeping closes the session.
                idle_timeout: KEEP_SESSION * 10,
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
    let serving = w.listen(&bob, "bob:7400", true);
    let send_ok = async |text: &str| {
        let out = send(&bob, alice_key.address(), text, TIMEOUT)
            .await
            .unwrap();
        assert_eq!(
            out.status,
            SendStatus::Delivered,
            "{text}: {:?}",
            out.reason
        );
    };

    send_ok("m0").await;
    assert_eq!(handshakes(w.dir.path(), "alice"), 1);
    // Within KEEP_SESSION the kept session carries the next message (and
    // is idle again from then).
    tokio::time::sleep(KEEP_SESSION - Duration::from_secs(20)).await;
    assert_eq!(alice.open_connections(), 1);
    send_ok("m1").await;
    assert_eq!(handshakes(w.dir.path(), "alice"), 1);
    let last_use = tokio::time::Instant::now();
    // The worker's housekeeping closes it once idle for KEEP_SESSION.
    wait_until("the kept session closed", || alice.open_connections() == 0).await;
    assert!(
        last_use.elapsed() >= KEEP_SESSION,
        "closed before it idled KEEP_SESSION"
    );
    send_ok("m2").await;
    assert_eq!(handshakes(w.dir.path(), "alice"), 2);
    let inbox = alice.store().inbox_after(0, 10).unwrap();
    assert_eq!(inbox.len(), 3);

    serving.stop().await;
    running.stop().await;
}
