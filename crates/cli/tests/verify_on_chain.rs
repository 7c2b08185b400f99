//! `serve --verify-on-chain` with the real binary: sessions the registry's
//! `verifySession` accepts deliver as usual; once the sender is revoked, its
//! next message is not accepted (it stays queued, exit 75) and Alice's inbox
//! does not grow. (Which check refused — the cached status or the chain
//! call — is pinned down by the node crate's `verify_on_chain` test.)

mod common;

use common::World;

#[test]
fn serve_with_verify_on_chain_accepts_valid_and_refuses_revoked_senders() {
    let w = World::new();
    let alice = w.registered("alice");
    w.registered("bob");
    let alice_node = w.spawn(
        "alice",
        &["serve", "--listen", "127.0.0.1:0", "--verify-on-chain"],
    );
    let listen = alice_node.next_json()["listen"]
        .as_str()
        .unwrap()
        .to_owned();
    w.json_ok("alice", &["endpoint", &listen], "transaction");

    let (code, v) = w.send("bob", &alice, "checked by the contract", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );

    w.json_ok("bob", &["revoke", "--yes"], "transaction");
    let (code, v) = w.send("bob", &alice, "after my revocation", "10s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(75), Some("queued")),
        "{v}"
    );

    let inbox = w.json_ok("alice", &["inbox"], "inbox");
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{inbox}");
    assert_eq!(msgs[0]["body"], "checked by the contract");
}
