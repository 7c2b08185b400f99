//! `init --from-keystore` imports a keystore made by the real `cast wallet
//! new` (the pinned Foundry binary, never the npm wrapper): same ID, and the
//! home's copy is re-encrypted with strong scrypt parameters, mode 0600.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use common::{PASSWORD, World};

fn cast() -> PathBuf {
    common::foundry_binary("cast")
}

#[test]
fn imports_a_keystore_cast_wallet_new_made() {
    let w = World::new();
    let dir = w.dir.path().join("cast");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(cast())
        .args(["wallet", "new"])
        .arg(&dir)
        .args(["--unsafe-password", PASSWORD, "--json"])
        .output()
        .expect("cast runs");
    assert!(
        out.status.success(),
        "cast failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cast --json");
    let path = v[0]["path"].as_str().expect("path").to_owned();
    let address = v[0]["address"].as_str().expect("address").to_owned();

    let init = w.json_ok("alice", &["init", "--from-keystore", &path], "identity");
    assert_eq!(
        init["id"].as_str().unwrap().to_lowercase(),
        address.to_lowercase()
    );
    assert_eq!(w.json_ok("alice", &["id"], "identity")["id"], init["id"]);

    // The home's copy: our own file, strong scrypt, private.
    let ours = w.home("alice").join("keystore.json");
    assert_eq!(init["keystore"], ours.display().to_string());
    let meta = std::fs::metadata(&ours).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ours).unwrap()).unwrap();
    let n = k["crypto"]["kdfparams"]["n"].as_u64().expect("scrypt n");
    assert!(n >= 1 << 17, "weak scrypt n = {n}");

    // And cast opens the imported copy with the same password.
    let out = Command::new(cast())
        .args(["wallet", "address", "--keystore"])
        .arg(&ours)
        .args(["--password", PASSWORD])
        .output()
        .expect("cast runs");
    assert!(
        out.status.success(),
        "cast failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim().to_lowercase(),
        address.to_lowercase()
    );

    // A wrong password on cast's file is refused by name.
    let out = w
        .cmd("bob")
        .env("CHAINMAIL_PASSWORD", "wrong")
        .args(["--json", "init", "--from-keystore", &path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["error"]["kind"], "WrongPassword");
    assert!(!w.home("bob").join("keystore.json").exists());
}
