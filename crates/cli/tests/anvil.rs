//! The same commands on a real Ethereum node: a pinned anvil started here on
//! a free loopback port. `deploy` (payer = anvil's first dev account) gives
//! a schema-valid address; two identities with no ether register through
//! the payer (the relayer path), look each other up, and two `serve`
//! processes message each other over loopback with the registry on anvil.

mod common;

use common::{ANVIL_KEY, World, assert_schema, bare_command, one_json, run, start_anvil};

#[test]
fn deploy_register_lookup_and_message_on_anvil() {
    let (_anvil, url) = start_anvil();

    let root = tempfile::tempdir().unwrap();
    let out = run(bare_command(root.path())
        .env("CHAINMAIL_PAYER_KEY", ANVIL_KEY)
        .args(["--json", "--chain", &url, "deploy"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deployed = one_json(&out);
    assert_schema("deploy", &deployed);
    let registry = deployed["address"].as_str().unwrap().to_owned();

    let w = World::rpc(&url, &registry, ANVIL_KEY);
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let found = w.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(
        (found["registered"].as_bool(), found["valid"].as_bool()),
        (Some(true), Some(true))
    );
    let (code, _) = w.send("bob", &alice, "no endpoint yet", "2s");
    assert_eq!(code, Some(75), "queued while Alice has no endpoint");

    let (_a, _) = w.serve("alice", "127.0.0.1:0");
    let (_b, _) = w.serve("bob", "127.0.0.1:0");
    let (code, v) = w.send("alice", &bob, "hello Bob, over anvil", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );
    let inbox = w.json_ok("bob", &["inbox"], "inbox");
    assert_eq!(inbox["messages"][0]["body"], "hello Bob, over anvil");

    // Without a payer and with an identity that has no ether, a write names the problem.
    let out = run(w
        .cmd("carol")
        .env_remove("CHAINMAIL_PAYER_KEY")
        .args(["--json", "init"]));
    assert_eq!(out.status.code(), Some(0));
    let out = run(w
        .cmd("carol")
        .env_remove("CHAINMAIL_PAYER_KEY")
        .args(["--json", "register"]));
    assert_eq!(out.status.code(), Some(1));
    let e = one_json(&out);
    assert_schema("error", &e);
    assert_eq!(e["error"]["kind"], "InsufficientFunds", "{e}");
}
