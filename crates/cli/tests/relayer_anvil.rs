//! The relayer flow on a real Ethereum node (a pinned anvil on a free
//! loopback port): a user with no ether and no payer signs with
//! `--sign-only`; a relayer holding the payer key submits the certificate,
//! a renewal and finally the revocation `init` saved; identical resubmission
//! is success, a different certificate is named.

mod common;

use common::{ANVIL_KEY, World, assert_schema, bare_command, one_json, run, start_anvil};
use std::path::PathBuf;

use serde_json::Value;

/// `chainmail ARGS` for the user: no payer key anywhere.
fn user(w: &World, args: &[&str]) -> std::process::Output {
    run(w.cmd("user").env_remove("CHAINMAIL_PAYER_KEY").args(args))
}

#[test]
fn relayer_submits_for_a_user_without_ether_on_anvil() {
    let (_anvil, url) = start_anvil();
    let root = tempfile::tempdir().unwrap();
    let out = run(bare_command(root.path())
        .env("CHAINMAIL_PAYER_KEY", ANVIL_KEY)
        .args(["--json", "--chain", &url, "deploy"]));
    assert_eq!(out.status.code(), Some(0));
    let registry = one_json(&out)["address"].as_str().unwrap().to_owned();
    let w = World::rpc(&url, &registry, ANVIL_KEY);

    let out = user(&w, &["--json", "init"]);
    assert_eq!(out.status.code(), Some(0));
    let id = one_json(&out)["id"].as_str().unwrap().to_owned();
    let revocation = w.revocation("user");
    let saved: Value = serde_json::from_slice(&std::fs::read(&revocation).unwrap()).unwrap();
    assert_schema("signed_file", &saved);

    // The user signs; nothing is sent (and it has no ether to send with).
    let out = user(
        &w,
        &[
            "register",
            "--valid-for",
            "30d",
            "--endpoint",
            "127.0.0.1:7001",
            "--sign-only",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("signed_file", &signed);
    let cert = w.dir.path().join("cert.json");
    std::fs::write(&cert, &out.stdout).unwrap();
    assert_eq!(
        w.json_ok("relayer", &["lookup", &id], "lookup")["registered"],
        false
    );

    // The relayer pays.
    let r = w.json_ok("relayer", &["submit", cert.to_str().unwrap()], "submit");
    assert_eq!(
        (r["id"].as_str(), r["already_on_chain"].as_bool()),
        (Some(&id[..]), Some(false))
    );
    let l = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert_eq!(
        (l["valid"].as_bool(), l["endpoint"].as_str()),
        (Some(true), Some("127.0.0.1:7001"))
    );
    let r = w.json_ok("relayer", &["submit", cert.to_str().unwrap()], "submit");
    assert_eq!(r["already_on_chain"], true, "{r}");

    // A different certificate for the same ID is named, not sent.
    let out = user(&w, &["register", "--valid-for", "40d", "--sign-only"]);
    let other = w.dir.path().join("other.json");
    std::fs::write(&other, &out.stdout).unwrap();
    let out = run(w
        .cmd("relayer")
        .args(["--json", "submit", other.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(one_json(&out)["error"]["kind"], "DifferentCertificate");

    // Renewal, then the revocation saved at init, both through the relayer.
    let out = user(&w, &["renew", "--valid-for", "60d", "--sign-only"]);
    let renewal = w.dir.path().join("renew.json");
    std::fs::write(&renewal, &out.stdout).unwrap();
    let r = w.json_ok("relayer", &["submit", renewal.to_str().unwrap()], "submit");
    assert_eq!(r["action"], "renew");
    std::fs::remove_dir_all(w.home("user")).unwrap();
    let r = w.json_ok(
        "relayer",
        &[
            "revoke",
            "--yes",
            "--from-file",
            revocation_copy(&w, &saved).to_str().unwrap(),
        ],
        "submit",
    );
    assert_eq!(
        (r["action"].as_str(), r["already_on_chain"].as_bool()),
        (Some("revoke"), Some(false))
    );
    let l = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert!(l["revoked_at"].is_u64(), "{l}");
}

/// The revocation certificate as kept offline (the home is gone).
fn revocation_copy(w: &World, saved: &Value) -> PathBuf {
    let p = w.dir.path().join("offline-revocation.json");
    std::fs::write(&p, serde_json::to_vec_pretty(saved).unwrap()).unwrap();
    p
}

/// Issue 13, High 1: a home initialised on one chain and registered on
/// another holds a revocation for each; with the key lost, the one for the
/// chain the ID is registered on revokes it there, and the other is refused
/// locally (no gas) with a pointer to the right file.
#[test]
fn the_revocation_saved_at_register_is_for_the_chain_registered_on() {
    let (_anvil, url) = start_anvil();
    let root = tempfile::tempdir().unwrap();
    let out = run(bare_command(root.path())
        .env("CHAINMAIL_PAYER_KEY", ANVIL_KEY)
        .args(["--json", "--chain", &url, "deploy"]));
    assert_eq!(out.status.code(), Some(0));
    let registry = one_json(&out)["address"].as_str().unwrap().to_owned();
    let w = World::rpc(&url, &registry, ANVIL_KEY);

    // `init` on the embedded chain (it signs a revocation for that one)…
    let embedded = format!("embedded:{}", w.dir.path().join("other-chain.db").display());
    let out = run(w
        .cmd("alice")
        .env_remove("CHAINMAIL_REGISTRY")
        .args(["--json", "--chain", &embedded, "init"]));
    assert_eq!(out.status.code(), Some(0));
    let id = one_json(&out)["id"].as_str().unwrap().to_owned();
    let before = common::revocations(&w.home("alice"));
    assert_eq!(before.len(), 1, "{before:?}");
    // …`register` on anvil (the payer pays): a second one, for anvil.
    w.json_ok("alice", &["register"], "register");
    let after = common::revocations(&w.home("alice"));
    assert_eq!(after.len(), 2, "{after:?}");
    let for_anvil = after.iter().find(|p| !before.contains(p)).unwrap().clone();
    let for_embedded = before[0].clone();
    let copy = |p: &PathBuf, name: &str| {
        let to = w.dir.path().join(name);
        std::fs::copy(p, &to).unwrap();
        to
    };
    let (for_anvil, for_embedded) = (
        copy(&for_anvil, "anvil.json"),
        copy(&for_embedded, "embedded.json"),
    );

    // The key is lost: the home goes. A relayer home submits.
    std::fs::remove_dir_all(w.home("alice")).unwrap();
    let out = run(w.cmd("relayer").args([
        "--json",
        "revoke",
        "--yes",
        "--from-file",
        for_embedded.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(one_json(&out)["error"]["kind"], "BadCertificate");
    let l = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert!(l["revoked_at"].is_null(), "{l}");

    let r = w.json_ok(
        "relayer",
        &[
            "revoke",
            "--yes",
            "--from-file",
            for_anvil.to_str().unwrap(),
        ],
        "submit",
    );
    assert_eq!(r["already_on_chain"], false);
    let l = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert!(l["revoked_at"].is_u64(), "{l}");
    assert_eq!(l["valid"], false);
}
