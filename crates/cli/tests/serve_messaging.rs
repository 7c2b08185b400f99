//! Real `chainmail serve` processes on loopback (port 0, the bound port read
//! from their first `--json` line) messaging each other through the chain's
//! endpoints: delivered both ways (exit 0), read back with `inbox` and
//! `inbox --follow`; refused for good (exit 69) to revoked and unknown IDs;
//! queued (exit 75) while the recipient is down, then delivered by the
//! sender's `serve` once it is back.

mod common;

use common::{World, assert_schema};

#[test]
fn two_serve_processes_message_each_other() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let (_alice_node, _) = w.serve("alice", "127.0.0.1:0");
    let (_bob_node, _) = w.serve("bob", "127.0.0.1:0");
    let follow = w.spawn("alice", &["inbox", "--follow"]);

    // Bob → Alice, and Alice → Bob while her own `serve` runs (two
    // processes on one home's store).
    let (code, v) = w.send("bob", &alice, "hello Alice", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );
    assert!(v["reason"].is_null());
    let (code, v) = w.send("alice", &bob, "hello Bob", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );

    // Alice's follower sees Bob's message as one bare object.
    let m = follow.next_json();
    assert_schema("message", &m);
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some(&bob[..]), Some(&alice[..]))
    );
    assert_eq!(m["body"], "hello Alice");

    // Bob's inbox holds exactly Alice's message, signed.
    let inbox = w.json_ok("bob", &["inbox"], "inbox");
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{inbox}");
    assert_eq!(msgs[0]["from"], alice.as_str());
    assert_eq!(msgs[0]["body"], "hello Bob");

    // Refused for good: a revoked recipient and an unknown one (exit 69).
    let carol = w.registered("carol");
    w.json_ok("carol", &["revoke", "--yes"], "transaction");
    let (code, v) = w.send("bob", &carol, "are you there?", "60s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(69), Some("rejected")),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains("revoked"), "{v}");
    let (code, v) = w.send(
        "bob",
        "0x000000000000000000000000000000000000dEaD",
        "hi",
        "60s",
    );
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(69), Some("rejected")),
        "{v}"
    );
}

#[test]
fn queued_while_down_then_delivered_by_the_senders_serve() {
    let w = World::new();
    let alice = w.registered("alice");
    w.registered("bob");
    // Alice publishes an endpoint, then goes down.
    let (alice_node, alice_addr) = w.serve("alice", "127.0.0.1:0");
    drop(alice_node);

    let (code, v) = w.send("bob", &alice, "while you were out", "3s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(75), Some("queued")),
        "{v}"
    );
    assert!(v["reason"].is_string());
    let id = v["message_id"].as_str().unwrap().to_owned();

    // Bob's serve keeps retrying; Alice comes back at the same address.
    let (_bob_node, _) = w.serve("bob", "127.0.0.1:0");
    let alice_back = w.spawn("alice", &["serve", "--listen", &alice_addr]);
    assert_eq!(alice_back.next_json()["listen"], alice_addr.as_str());
    let follow = w.spawn("alice", &["inbox", "--follow"]);
    let m = follow.next_json();
    assert_eq!(m["message_id"], id.as_str());
    assert_eq!(m["body"], "while you were out");
}
