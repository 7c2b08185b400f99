//! A quorum of RPC providers through the binary (issue 14, item 3): three
//! lying-RPC proxies (the chain crate's harness) in front of ONE real anvil,
//! given as `--chain` three times. With one URL `lookup` says `single-rpc`;
//! with three and one of them (the first, the transactions' provider)
//! serving a forged header, `lookup` works on the other two's header, says
//! `quorum 2/3` and the verified block, and a warning names the liar; with
//! two liars every command is `QuorumFailed` (exit 1) naming them, and
//! nothing is signed or sent. A daemon on the quorum reports `quorum 2/3` as
//! its `status`'s `trust`.

mod common;
#[path = "../../chain/tests/common/lying.rs"]
mod lying;

use common::{ANVIL_KEY, World, one_json, payer_nonce, run, start_anvil};
use lying::LyingRpc;
use serde_json::Value;

/// From now on `proxy` answers every header with another state root under
/// the old hash.
fn swap_state_root(proxy: &LyingRpc) {
    proxy.lie(|method, _, result| {
        if method == "eth_getBlockByNumber" && result.is_object() {
            result["stateRoot"] = Value::String(format!("0x{}", "11".repeat(32)));
        }
    });
}

/// `--chain` once per proxy.
fn chains(proxies: &[LyingRpc]) -> Vec<String> {
    proxies
        .iter()
        .flat_map(|p| ["--chain".to_string(), p.url.clone()])
        .collect()
}

fn host(p: &LyingRpc) -> &str {
    p.url.trim_start_matches("http://")
}

#[test]
fn a_quorum_outvotes_one_liar_and_refuses_two() {
    let (_anvil, url) = start_anvil();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxies: Vec<LyingRpc> = (0..3).map(|_| rt.block_on(LyingRpc::start(&url))).collect();
    let w = World::rpc(&url, "", ANVIL_KEY);
    w.json_ok("alice", &["deploy"], "deploy");
    let alice = w.registered("alice");

    // One URL: the provider's own header.
    let single = w.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(
        (single["registered"].as_bool(), single["trust"].as_str()),
        (Some(true), Some("single-rpc"))
    );
    let head = single["verified_block"].as_u64().expect("a verified block");

    // Three, the first lying: outvoted, named in a warning.
    swap_state_root(&proxies[0]);
    let out = run(w
        .cmd("bob")
        .args(chains(&proxies))
        .args(["--json", "lookup", &alice]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v = one_json(&out);
    common::assert_schema("lookup", &v);
    assert_eq!(
        (
            v["registered"].as_bool(),
            v["trust"].as_str(),
            v["verified_block"].as_u64()
        ),
        (Some(true), Some("quorum 2/3"), Some(head)),
        "{v}"
    );
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains("disagrees")).collect();
    assert!(
        !warned.is_empty() && warned.iter().all(|l| l.contains(host(&proxies[0]))),
        "the liar is named: {stderr}"
    );
    assert!(
        !warned
            .iter()
            .any(|l| l.contains(host(&proxies[1])) || l.contains(host(&proxies[2]))),
        "the honest are not: {stderr}"
    );

    // The same from config.toml's `chain = [...]`; `--quorum 3` of them fails.
    std::fs::create_dir_all(w.home("dave")).unwrap();
    let list: Vec<String> = proxies.iter().map(|p| format!("{:?}", p.url)).collect();
    std::fs::write(
        w.home("dave").join("config.toml"),
        format!("chain = [{}]\n", list.join(", ")),
    )
    .unwrap();
    let dave = || {
        let mut c = w.cmd("dave");
        c.env_remove("CHAINMAIL_CHAIN");
        c
    };
    let v = one_json(&run(dave().args(["--json", "lookup", &alice])));
    assert_eq!(
        (v["trust"].as_str(), v["registered"].as_bool()),
        (Some("quorum 2/3"), Some(true)),
        "{v}"
    );
    let out = run(dave().args(["--json", "--quorum", "3", "lookup", &alice]));
    let v = one_json(&out);
    assert_eq!(
        (out.status.code(), v["error"]["kind"].as_str()),
        (Some(1), Some("QuorumFailed")),
        "{v}"
    );

    // A daemon on the quorum says so in `status`, and a lookup through it too.
    w.registered("bob");
    let serve = common::Proc::spawn(w.cmd("bob").args(chains(&proxies)).args([
        "--json",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    let socket = serve.next_json()["api"].as_str().unwrap().to_owned();
    let status = rt.block_on(async {
        let mut c = chainmail_node::daemon_client::DaemonClient::connect(socket.as_ref())
            .await
            .unwrap();
        c.call("status", serde_json::json!({})).await.unwrap()
    });
    assert_eq!(status["trust"], "quorum 2/3", "{status}");
    let through = run(w
        .cmd("bob")
        .env("RUST_LOG", "chainmail=debug")
        .args(chains(&proxies))
        .args(["--json", "lookup", &alice]));
    assert_eq!(one_json(&through)["trust"], "quorum 2/3");
    assert!(
        String::from_utf8_lossy(&through.stderr).contains("through the daemon"),
        "the same chains and trust: the daemon answered"
    );
    drop(serve);

    // Two liars of three: QuorumFailed, naming them; nothing signed or sent.
    swap_state_root(&proxies[1]);
    let refused = |args: &[&str]| {
        let out = run(w
            .cmd("carol")
            .args(chains(&proxies))
            .arg("--json")
            .args(args));
        let v = one_json(&out);
        assert_eq!(
            (out.status.code(), v["error"]["kind"].as_str()),
            (Some(1), Some("QuorumFailed")),
            "{args:?}: {v} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let message = v["error"]["message"].as_str().unwrap().to_owned();
        for p in &proxies[..2] {
            assert!(message.contains(host(p)), "names {}: {message}", p.url);
        }
        message
    };
    refused(&["lookup", &alice]);
    let carol = w.json_ok("carol", &["init"], "identity")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let config = || std::fs::read_to_string(w.home("carol").join("config.toml")).ok();
    let (before, config_before) = (payer_nonce(&url), config());
    refused(&["register", "--valid-for", "30d"]);
    refused(&["register", "--sign-only"]);
    assert_eq!(payer_nonce(&url), before, "nothing was sent");
    let seen = w.json_ok("bob", &["lookup", &carol], "lookup");
    assert_eq!(seen["registered"], false, "carol is not registered");
    assert_eq!(config(), config_before, "nothing pinned or recorded");
}
