//! Tests of the keystore: round trips, the formats other tools write,
//! hostile files refused before any large allocation.

use super::v3::Aes128Ctr;
use super::*;
use aes::cipher::{KeyIvInit, StreamCipher};
use chainmail_core::hash::keccak256_concat;
use std::os::unix::fs::PermissionsExt;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).expect("valid scalar")
}

// A cheap cost for unit tests that only check structure.
const TEST_LOG_N: u8 = 10;

#[test]
fn round_trip_and_wrong_password() {
    let json = encrypt_with(&key(7), b"pw", TEST_LOG_N).unwrap();
    let back = decrypt(json.as_bytes(), b"pw").unwrap();
    assert_eq!(back.to_bytes(), key(7).to_bytes());
    assert!(matches!(
        decrypt(json.as_bytes(), b"pX"),
        Err(KeystoreError::WrongPassword)
    ));
}

#[test]
fn written_with_strong_parameters_and_geth_address() {
    let json = encrypt(&key(9), b"pw").unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["crypto"]["kdfparams"]["n"], 1 << 17);
    assert_eq!(v["crypto"]["kdfparams"]["r"], 8);
    assert_eq!(v["crypto"]["kdfparams"]["p"], 1);
    assert_eq!(v["crypto"]["kdfparams"]["dklen"], 32);
    assert_eq!(v["crypto"]["cipher"], "aes-128-ctr");
    assert_eq!(v["version"], 3);
    let addr = v["address"].as_str().unwrap();
    assert_eq!(addr, hex::encode(key(9).public_key().address().as_bytes()));
    assert!(!addr.starts_with("0x"));
    uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    assert!(decrypt(json.as_bytes(), b"pw").is_ok());
}

fn tamper(json: &str, f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn capitalised_crypto_accepted() {
    let json = encrypt_with(&key(3), b"pw", TEST_LOG_N).unwrap();
    let renamed = json.replace("\"crypto\"", "\"Crypto\"");
    assert_eq!(
        decrypt(renamed.as_bytes(), b"pw").unwrap().to_bytes(),
        key(3).to_bytes()
    );
}

#[test]
fn absurd_parameters_rejected_before_deriving() {
    let json = encrypt_with(&key(3), b"pw", TEST_LOG_N).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("n", serde_json::json!(1u64 << 40), "n"),
        ("n", serde_json::json!(1000), "n"),
        ("n", serde_json::json!(0), "n"),
        ("r", serde_json::json!(1u64 << 30), "r"),
        ("r", serde_json::json!(0), "r"),
        ("p", serde_json::json!(1u64 << 20), "p"),
        ("dklen", serde_json::json!(1u64 << 33), "dklen"),
        ("dklen", serde_json::json!(16), "dklen"),
    ];
    for (field, value, name) in cases {
        let bad = tamper(&json, |v| v["crypto"]["kdfparams"][field] = value.clone());
        match decrypt(&bad, b"pw") {
            Err(KeystoreError::KdfParamOutOfBounds { name: got, .. }) => {
                assert_eq!(got, name, "{field}={value}")
            }
            other => panic!("{field}={value}: {:?}", other.map(|_| ())),
        }
    }
    let long_salt = tamper(&json, |v| {
        v["crypto"]["kdfparams"]["salt"] = "00".repeat(5000).into()
    });
    assert!(matches!(
        decrypt(&long_salt, b"pw"),
        Err(KeystoreError::KdfParamOutOfBounds { name: "salt", .. })
    ));
}

#[test]
fn malformed_files_named() {
    let json = encrypt_with(&key(3), b"pw", TEST_LOG_N).unwrap();
    let v4 = tamper(&json, |v| v["version"] = 4.into());
    assert!(matches!(
        decrypt(&v4, b"pw"),
        Err(KeystoreError::UnsupportedVersion(4))
    ));
    let cbc = tamper(&json, |v| v["crypto"]["cipher"] = "aes-128-cbc".into());
    assert!(matches!(
        decrypt(&cbc, b"pw"),
        Err(KeystoreError::UnsupportedCipher(_))
    ));
    let argon = tamper(&json, |v| v["crypto"]["kdf"] = "argon2".into());
    assert!(matches!(
        decrypt(&argon, b"pw"),
        Err(KeystoreError::UnsupportedKdf(_))
    ));
    let short_ct = tamper(&json, |v| v["crypto"]["ciphertext"] = "abcd".into());
    assert!(matches!(
        decrypt(&short_ct, b"pw"),
        Err(KeystoreError::Malformed(_))
    ));
    let other_addr = tamper(&json, |v| {
        v["address"] = hex::encode(key(4).public_key().address().as_bytes()).into()
    });
    assert!(matches!(
        decrypt(&other_addr, b"pw"),
        Err(KeystoreError::AddressMismatch { .. })
    ));
    assert!(matches!(
        decrypt(b"not json", b"pw"),
        Err(KeystoreError::Malformed(_))
    ));
    let huge = vec![b' '; (MAX_FILE_BYTES + 1) as usize];
    assert!(matches!(
        decrypt(&huge, b"pw"),
        Err(KeystoreError::TooLarge)
    ));
}

#[test]
fn pbkdf2_file_read() {
    // Build a pbkdf2 file by hand, as geth's `--lightkdf`-less pbkdf2 mode
    // and older wallets write it.
    let secret = key(5);
    let salt = [1u8; 32];
    let iv = [2u8; 16];
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"pw", &salt, 1000, &mut derived);
    let mut ct = *secret.to_bytes();
    Aes128Ctr::new(derived[..16].into(), (&iv).into()).apply_keystream(&mut ct);
    let mac = keccak256_concat(&[&derived[16..32], &ct]);
    let json = serde_json::json!({
        "Crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": hex::encode(iv)},
            "ciphertext": hex::encode(ct),
            "kdf": "pbkdf2",
            "kdfparams": {"c": 1000, "dklen": 32, "prf": "hmac-sha256", "salt": hex::encode(salt)},
            "mac": hex::encode(mac),
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3,
    });
    let bytes = serde_json::to_vec(&json).unwrap();
    assert_eq!(
        decrypt(&bytes, b"pw").unwrap().to_bytes(),
        secret.to_bytes()
    );
    assert!(matches!(
        decrypt(&bytes, b"no"),
        Err(KeystoreError::WrongPassword)
    ));
    let many_rounds = tamper(std::str::from_utf8(&bytes).unwrap(), |v| {
        v["Crypto"]["kdfparams"]["c"] = (1u64 << 40).into()
    });
    assert!(matches!(
        decrypt(&many_rounds, b"pw"),
        Err(KeystoreError::KdfParamOutOfBounds { name: "c", .. })
    ));
}

#[test]
fn save_is_private_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore.json");
    save(&path, &key(1), b"pw").unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(matches!(
        save(&path, &key(2), b"pw"),
        Err(KeystoreError::AlreadyExists(_))
    ));
    assert_eq!(load(&path, b"pw").unwrap().to_bytes(), key(1).to_bytes());
    // No temporary file left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}
