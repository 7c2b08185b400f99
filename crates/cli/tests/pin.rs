//! The pinned chain and the one registry address, through the binary on real
//! anvils (issue 14 item 1): `deploy` without `--registry` anywhere places the
//! registry at its CREATE2 address, twice is one deployment; the first use
//! pins the home (one line on stderr); the same home pointed at another anvil
//! with the same chain id 31337 (another genesis) is refused with
//! `ChainMismatch` (exit 1) by every command, nothing signed, sent or queued,
//! until `chain pin --force` re-pins it.

mod common;

use std::process::Command;

use common::{
    ANVIL_KEY, World, assert_schema, foundry_binary, one_json, payer_nonce, run, start_anvil,
    start_anvil_with,
};

/// Runs `--json ARGS` and expects the failure `kind` with exit 1; returns its message.
fn refused(cmd: &mut Command, args: &[&str], kind: &str) -> String {
    let out = run(cmd.arg("--json").args(args));
    let v = one_json(&out);
    assert_eq!(
        (out.status.code(), v["error"]["kind"].as_str()),
        (Some(1), Some(kind)),
        "{args:?}: {v} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    v["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn a_home_pinned_to_one_anvil_refuses_another_until_re_pinned() {
    let (_a, url_a) = start_anvil();
    let (_b, url_b) = start_anvil_with(&["--gas-limit", "40000000"]);
    // No registry anywhere: the default is the one CREATE2 address.
    let a = World::rpc(&url_a, "", ANVIL_KEY);
    let b = World::rpc(&url_b, "", ANVIL_KEY);

    let out = run(a.cmd("alice").args(["--json", "deploy"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployed = one_json(&out);
    assert_schema("deploy", &deployed);
    assert_eq!(deployed["already_deployed"], false);
    let registry = deployed["address"].as_str().unwrap().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("pinned").count(),
        1,
        "one line says so: {stderr}"
    );
    let config = std::fs::read_to_string(a.home("alice").join("config.toml")).unwrap();
    assert!(
        config.contains("[pin]") && config.contains(&registry),
        "{config}"
    );

    // Again: already there, nothing sent, nothing to pin.
    let nonce_a = payer_nonce(&url_a);
    let out = run(a.cmd("alice").args(["--json", "deploy"]));
    let again = one_json(&out);
    assert_schema("deploy", &again);
    assert_eq!(
        (
            again["address"].as_str(),
            &again["already_deployed"],
            &again["tx_hash"]
        ),
        (
            Some(registry.as_str()),
            &serde_json::json!(true),
            &serde_json::Value::Null
        )
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("pinned"));
    assert_eq!(payer_nonce(&url_a), nonce_a);

    let alice = a.registered("alice");
    let shown = a.json_ok("alice", &["chain", "pin"], "pin");
    assert_eq!(
        (shown["status"].as_str(), shown["chain_id"].as_u64()),
        (Some("unchanged"), Some(31337))
    );

    // Anvil B: the same chain id, the registry at the same address, another genesis.
    let on_b = b.json_ok("bob", &["deploy"], "deploy");
    assert_eq!(on_b["address"].as_str(), Some(registry.as_str()));
    let bob = b.registered("bob");
    let nonce_b = payer_nonce(&url_b);

    let to_b = || {
        let mut c = a.cmd("alice");
        c.env("CHAINMAIL_CHAIN", &url_b);
        c
    };
    let message = refused(&mut to_b(), &["lookup", &bob], "ChainMismatch");
    assert!(
        message.contains("genesis block hash") && message.contains("chain pin --force"),
        "{message}"
    );
    refused(
        &mut to_b(),
        &["renew", "--valid-for", "60d"],
        "ChainMismatch",
    );
    refused(
        &mut to_b(),
        &["endpoint", "127.0.0.1:7400"],
        "ChainMismatch",
    );
    refused(&mut to_b(), &["register", "--sign-only"], "ChainMismatch");
    refused(&mut to_b(), &["send", &bob, "hi Bob"], "ChainMismatch");
    refused(&mut to_b(), &["deploy"], "ChainMismatch");
    refused(&mut to_b(), &["chain", "pin"], "ChainMismatch");
    assert_eq!(payer_nonce(&url_b), nonce_b, "nothing was sent to B");
    let outbox = a.json_ok("alice", &["outbox"], "outbox");
    assert_eq!(
        outbox["messages"].as_array().map(Vec::len),
        Some(0),
        "nothing queued: {outbox}"
    );
    let seen = b.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(seen["registered"], false, "Alice is unknown on B");

    // A deliberate move: re-pin, then B works and A is the stranger.
    let repinned = {
        let out = run(to_b().args(["--json", "chain", "pin", "--force"]));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        one_json(&out)
    };
    assert_schema("pin", &repinned);
    assert_eq!(repinned["status"], "replaced");
    assert_ne!(repinned["genesis_hash"], shown["genesis_hash"]);
    let out = run(to_b().args(["--json", "register", "--valid-for", "30d"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let found = b.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(found["registered"], true);
    refused(&mut a.cmd("alice"), &["lookup", &alice], "ChainMismatch");
}

#[test]
fn a_home_that_never_used_a_chain_pins_it_once() {
    let (_a, url) = start_anvil();
    let w = World::rpc(&url, "", ANVIL_KEY);
    let out = run(w.cmd("carol").args(["--json", "deploy"]));
    assert_eq!(out.status.code(), Some(0));
    // `chain pin` in a fresh home: recorded, then unchanged.
    let first = w.json_ok("dave", &["chain", "pin"], "pin");
    assert_eq!(first["status"], "recorded");
    let second = w.json_ok("dave", &["chain", "pin"], "pin");
    assert_eq!(second["status"], "unchanged");
    for field in ["chain_id", "genesis_hash", "registry", "code_hash"] {
        assert_eq!(first[field], second[field], "{field}");
    }
}

/// Runs `--json ARGS` and expects exit 0; returns its JSON line.
fn succeeds(cmd: &mut Command, args: &[&str]) -> serde_json::Value {
    let out = run(cmd.arg("--json").args(args));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    one_json(&out)
}

/// A provider whose latest block is an hour behind this machine's clock
/// (anvil started with its genesis an hour back, every block after keeping
/// that lag) serves a stale view: refused by name (`StaleChainView`),
/// nothing used; a home that raises the bound (config.toml
/// `max_head_age_secs`) for such a chain uses it.
#[test]
fn a_stale_chain_view_is_refused_by_name() {
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let (_anvil, url) = start_anvil_with(&["--timestamp", &hour_ago.to_string()]);
    let w = World::rpc(&url, "", ANVIL_KEY);
    let config = |name: &str, text: &str| {
        std::fs::create_dir_all(w.home(name)).unwrap();
        std::fs::write(w.home(name).join("config.toml"), text).unwrap();
    };
    config("deployer", "max_head_age_secs = 0\n");
    let registry = succeeds(
        w.cmd("deployer").env_remove("CHAINMAIL_REGISTRY"),
        &["deploy"],
    )["address"]
        .as_str()
        .unwrap()
        .to_owned();

    let lookup = |name: &str| {
        let mut c = w.cmd(name);
        c.env("CHAINMAIL_REGISTRY", &registry);
        c
    };
    let id = "0x000000000000000000000000000000000000dEaD";
    let message = refused(&mut lookup("strict"), &["lookup", id], "StaleChainView");
    assert!(
        message.contains("behind this machine's clock (the bound is 600 s)"),
        "{message}"
    );
    config("lenient", "max_head_age_secs = 7200\n");
    assert_schema("lookup", &succeeds(&mut lookup("lenient"), &["lookup", id]));
}

/// A chain whose latest block is dated an hour after this machine's clock
/// (anvil's time moved on with `evm_increaseTime`): one of the two clocks is
/// wrong, and chainmail stamps what it signs with the local one — refused
/// by name (`ClockSkew`), nothing used.
#[test]
fn a_chain_ahead_of_the_local_clock_is_refused_by_name() {
    let (_anvil, url) = start_anvil();
    let w = World::rpc(&url, "", ANVIL_KEY);
    succeeds(
        w.cmd("deployer").env_remove("CHAINMAIL_REGISTRY"),
        &["deploy"],
    );
    let id = "0x000000000000000000000000000000000000dEaD";
    succeeds(
        w.cmd("alice").env_remove("CHAINMAIL_REGISTRY"),
        &["lookup", id],
    );
    for (method, arg) in [("evm_increaseTime", Some("3600")), ("evm_mine", None)] {
        let out = Command::new(foundry_binary("cast"))
            .args(["rpc", "--rpc-url", &url, method])
            .args(arg)
            .output()
            .expect("cast runs");
        assert!(
            out.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let message = refused(
        w.cmd("alice").env_remove("CHAINMAIL_REGISTRY"),
        &["lookup", id],
        "ClockSkew",
    );
    assert!(message.contains("after this machine's clock"), "{message}");
}
