//! Keystore interoperability with the real `cast wallet` (Foundry 1.7, the
//! pinned npm package): a file cast writes opens with our reader, and a file
//! we write opens in cast with the same password and the same address.

use std::path::PathBuf;
use std::process::Command;

use chainmail_core::{Address, SecretKey};
use chainmail_node::keystore;

/// The platform cast binary (never the npm wrapper, which always exits 0).
fn cast() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("node_modules/@foundry-rs");
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("cast-"))
            })
            .map(|p| p.join("bin/cast"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("no cast binary under {}: run npm ci", dir.display()))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("cast runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn reads_a_keystore_cast_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(cast())
        .args(["wallet", "new"])
        .arg(dir.path())
        .args(["--unsafe-password", "correct horse", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("cast --json output");
    let path = PathBuf::from(v[0]["path"].as_str().expect("path"));
    let address: Address = v[0]["address"].as_str().expect("address").parse().unwrap();

    let key = keystore::load(&path, b"correct horse").expect("opens cast's keystore");
    assert_eq!(key.address(), address);
    assert!(matches!(
        keystore::load(&path, b"wrong"),
        Err(keystore::KeystoreError::WrongPassword)
    ));
}

#[test]
fn cast_reads_a_keystore_we_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore.json");
    let key = SecretKey::generate(&mut rand::rng());
    keystore::save(&path, &key, b"s3cret pass").unwrap();

    let out = run(Command::new(cast())
        .args(["wallet", "address", "--keystore"])
        .arg(&path)
        .args(["--password", "s3cret pass"]));
    let address: Address = out.trim().parse().expect("cast prints an address");
    assert_eq!(address, key.address());

    // And cast refuses a wrong password on our file (the MAC is real).
    let bad = Command::new(cast())
        .args(["wallet", "address", "--keystore"])
        .arg(&path)
        .args(["--password", "nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
