//! The same commands on a real Ethereum node: a pinned anvil started here on
//! a free loopback port. `deploy` (payer = anvil's first dev account) gives
//! a schema-valid address; two identities with no ether register through
//! the payer (the relayer path), look each other up, and two `serve`
//! processes message each other over loopback with the registry on anvil.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use common::{Proc, World, assert_schema, bare_command, one_json, run};

/// anvil's first well-known development account (public test key).
const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The platform anvil binary under node_modules (installed by `npm ci`).
fn anvil_binary() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/@foundry-rs");
    std::fs::read_dir(&dir)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("anvil-"))
                })
                .map(|p| p.join("bin/anvil"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("no anvil binary under {}: run npm ci", dir.display()))
}

/// Starts anvil on a free port; returns it once it prints that it listens.
fn start_anvil() -> (Proc, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let anvil = Proc::spawn(Command::new(anvil_binary()).args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]));
    // anvil prints a banner, then "Listening on 127.0.0.1:PORT" when ready.
    loop {
        if anvil.next_line().contains("Listening on") {
            break;
        }
    }
    (anvil, format!("http://127.0.0.1:{port}"))
}

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
