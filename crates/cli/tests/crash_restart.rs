//! Issue 6's crash test with the real binary: 50 messages queued while the
//! receiver is down arrive exactly once although both `chainmail serve`
//! processes are killed with SIGKILL (`Child::kill`) and restarted in
//! between, at chosen points of the delivery:
//!
//! 1. the sender is killed mid-delivery, after the receiver committed two
//!    messages whose ack the sender never saw (they are resent later);
//! 2. the receiver is killed after acking part of the resumed delivery,
//!    holding two more it stored but whose ack never arrived; the sender is
//!    killed too;
//! 3. both restart and the outbox worker finishes the job.
//!
//! The points are made deterministic by a relay in front of the receiver
//! (its published endpoint) that passes a set number of records from the
//! receiver to the sender on each connection and then holds the rest: the
//! sender waits for an ack that the receiver has sent, with the message
//! committed. Progress is observed in both SQLite stores; nothing sleeps to
//! synchronize. Bodies are 30 KiB so that two fit one `Deliver` (25
//! batch-signed `Deliver`s, each acked after its commit).

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chainmail_node::home::Home;
use chainmail_node::store::{OutboxState, Store};
use common::{Proc, World};

const MESSAGES: usize = 50;
const PAD: usize = 30 * 1024;

/// Forwards 127.0.0.1:<relay> ⇄ `target`. On each connection the first
/// `budget` records (4-byte big-endian length prefix + body) from the
/// target are passed on, later ones held (the connection stays open).
struct Relay {
    addr: SocketAddr,
    budget: Arc<Mutex<usize>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let budget = Arc::new(Mutex::new(usize::MAX));
        let b = budget.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let budget = *b.lock().unwrap();
                std::thread::spawn(move || relay(client, target, budget));
            }
        });
        Relay { addr, budget }
    }

    fn set_budget(&self, records: usize) {
        *self.budget.lock().unwrap() = records;
    }
}

fn relay(client: TcpStream, target: SocketAddr, budget: usize) {
    let Ok(server) = TcpStream::connect(target) else {
        return; // the receiver is down: the client sees the close
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let mut passed = 0usize;
    loop {
        let mut prefix = [0u8; 4];
        if s_read.read_exact(&mut prefix).is_err() {
            let _ = c_write.shutdown(Shutdown::Write);
            return;
        }
        let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
        if s_read.read_exact(&mut body).is_err() {
            let _ = c_write.shutdown(Shutdown::Write);
            return;
        }
        if passed >= budget {
            // Hold this record and everything after it; keep both sockets
            // open so the sender keeps waiting for its ack.
            loop {
                std::thread::park();
            }
        }
        passed += 1;
        if c_write.write_all(&prefix).is_err() || c_write.write_all(&body).is_err() {
            return;
        }
    }
}

/// The identity's store, opened the way the CLI opens it: sealed with the
/// store key derived from the identity key (bodies are encrypted at rest).
fn store(w: &World, name: &str) -> Store {
    let home = Home::at(w.home(name));
    let secret =
        chainmail_node::keystore::load(&home.keystore(), common::PASSWORD.as_bytes()).unwrap();
    Store::open_sealed(
        &home.store(),
        chainmail_node::seal::StoreKey::derive(&secret),
    )
    .unwrap()
}

/// Polls until `done` holds; the bound only stops a hang.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn inbox_count(s: &Store) -> usize {
    s.inbox_after(0, 1000).unwrap().len()
}

fn delivered_count(s: &Store, ids: &[[u8; 16]]) -> usize {
    ids.iter()
        .filter(|id| s.outbox_entry(id).unwrap().unwrap().state == OutboxState::Delivered)
        .count()
}

fn serve_at(w: &World, name: &str, listen: &str) -> Proc {
    let p = w.spawn(name, &["serve", "--listen", listen]);
    let first = p.next_json();
    assert_eq!(first["listen"], listen, "{first}");
    p
}

#[test]
fn fifty_queued_messages_arrive_exactly_once_across_kill_9_of_both_sides() {
    let started = Instant::now();
    let w = World::new();
    let alice = w.registered("alice");
    w.registered("bob");
    // Alice's node address, fixed across her restarts; the chain sends
    // peers to the relay in front of it.
    let alice_node = w.spawn("alice", &["serve", "--listen", "127.0.0.1:0"]);
    let alice_listen = alice_node.next_json()["listen"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(alice_node); // SIGKILL: Alice is down
    let relay = Relay::start(alice_listen.parse().unwrap());
    w.json_ok(
        "alice",
        &["endpoint", &relay.addr.to_string()],
        "transaction",
    );

    // 50 messages queued while Alice is down (two `send` processes at a time).
    let texts: Vec<String> = (0..MESSAGES)
        .map(|i| format!("message {i:02} {}", "x".repeat(PAD)))
        .collect();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .chunks(MESSAGES / 2)
            .map(|part| {
                let (w, alice) = (&w, &alice);
                s.spawn(move || {
                    part.iter()
                        .map(|t| {
                            let (code, v) = w.send("bob", alice, t, "2s");
                            assert_eq!((code, v["status"].as_str()), (Some(75), Some("queued")));
                            v["message_id"].as_str().unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let raw_ids: Vec<[u8; 16]> = ids
        .iter()
        .map(|id| {
            let mut b = [0u8; 16];
            hex::decode_to_slice(&id[2..], &mut b).unwrap();
            b
        })
        .collect();
    let queued_in = started.elapsed();
    let (alice_store, bob_store) = (store(&w, "alice"), store(&w, "bob"));
    assert_eq!(delivered_count(&bob_store, &raw_ids), 0);
    let mut restarts = 0;

    // 1. Alice up; the relay passes T_A2 and 5 acks, then holds the 6th:
    //    Alice has stored 12, Bob has seen 10 acked. Kill -9 Bob there.
    relay.set_budget(1 + 5);
    let alice_node = serve_at(&w, "alice", &alice_listen);
    restarts += 1;
    let bob_node = w.spawn("bob", &["serve", "--listen", "127.0.0.1:0"]);
    bob_node.next_json();
    wait_for("Alice stores 12 and Bob sees 10 acked", || {
        inbox_count(&alice_store) == 12 && delivered_count(&bob_store, &raw_ids) == 10
    });
    drop(bob_node); // SIGKILL mid-delivery
    assert_eq!(inbox_count(&alice_store), 12);
    assert_eq!(delivered_count(&bob_store, &raw_ids), 10);

    // 2. Bob restarts and resends from the first unacked message (two
    //    Alice already has: deduplicated, acked). The relay passes 8 acks and
    //    holds the 9th: Alice has 12 + 14 + 2 = 28, Bob 10 + 16 = 26. Kill -9
    //    Alice, then Bob.
    relay.set_budget(1 + 8);
    let bob_node = w.spawn("bob", &["serve", "--listen", "127.0.0.1:0"]);
    bob_node.next_json();
    restarts += 1;
    wait_for("Alice stores 28 and Bob sees 26 acked", || {
        inbox_count(&alice_store) == 28 && delivered_count(&bob_store, &raw_ids) == 26
    });
    drop(alice_node); // SIGKILL after acking part of them
    drop(bob_node);
    assert_eq!(inbox_count(&alice_store), 28);
    assert_eq!(delivered_count(&bob_store, &raw_ids), 26);

    // 3. Both restart; nothing held. The worker delivers the rest (after
    //    its backoff), the two Alice holds unacked deduplicated again.
    relay.set_budget(usize::MAX);
    let _alice_node = serve_at(&w, "alice", &alice_listen);
    let bob_node = w.spawn("bob", &["serve", "--listen", "127.0.0.1:0"]);
    bob_node.next_json();
    restarts += 2;
    wait_for("all 50 delivered", || {
        delivered_count(&bob_store, &raw_ids) == MESSAGES
    });

    // Exactly once: Alice's inbox (through the CLI) holds the 50 ids, each
    // once, with their bodies; Bob's outbox says all 50 delivered.
    let inbox = w.json_ok("alice", &["inbox"], "inbox");
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), MESSAGES);
    let got: HashSet<&str> = msgs
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    for m in msgs {
        let i = ids
            .iter()
            .position(|id| m["message_id"] == id.as_str())
            .unwrap();
        assert_eq!(m["body"], texts[i].as_str());
    }
    let outbox = w.json_ok("bob", &["outbox"], "outbox");
    let rows = outbox["messages"].as_array().unwrap();
    assert_eq!(rows.len(), MESSAGES);
    assert!(rows.iter().all(|r| r["status"] == "delivered"), "{outbox}");
    eprintln!(
        "crash test: {MESSAGES} messages of {PAD} B, queued in {queued_in:?}; \
         4 SIGKILLs (Bob mid-delivery, Alice after a partial ack, Bob, and Alice before the \
         queue), {restarts} serve restarts; exactly once after {:?} in all",
        started.elapsed()
    );
}
