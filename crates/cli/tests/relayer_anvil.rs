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
    let revocation = w.home("user").join("revocation.json");
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
