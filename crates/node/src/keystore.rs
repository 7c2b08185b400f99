//! The identity key at rest: Web3 Secret Storage v3 JSON (the format geth,
//! cast and every Ethereum wallet read), written by us with strong scrypt
//! parameters and file mode 0600, and read from any of those tools.
//!
//! Why our own code rather than the `eth-keystore` crate: it writes weak
//! scrypt parameters (n = 8192) and world-readable files, and rejects the
//! `"Crypto"` spelling some wallets use. The format is small:
//!
//! ```text
//! derived_key = scrypt(password, salt, n, r, p, dklen = 32)   (or pbkdf2-hmac-sha256)
//! ciphertext  = aes-128-ctr(key = derived_key[0..16], iv, secret)
//! mac         = keccak256(derived_key[16..32] ‖ ciphertext)
//! ```
//!
//! Every field read from a file is hostile: the file size, each hex field's
//! length and each KDF parameter are bounded before anything is allocated or
//! derived, so a crafted file cannot make us allocate gigabytes or spin for
//! hours; the MAC is compared in constant time; the decrypted key and the
//! derived key are zeroized.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aes::cipher::{KeyIvInit, StreamCipher};
use chainmail_core::hash::keccak256_concat;
use chainmail_core::{Address, SecretKey};
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// scrypt cost we write: n = 2^17, r = 8, p = 1 (128 MiB, ~0.5 s) — geth's
/// "standard" is 2^18; 2^17 keeps `init` and every `send` prompt bearable on
/// small machines while staying 16 times above `eth-keystore`'s 2^13.
pub const WRITE_SCRYPT_LOG_N: u8 = 17;
/// scrypt `r` we write.
pub const WRITE_SCRYPT_R: u32 = 8;
/// scrypt `p` we write.
pub const WRITE_SCRYPT_P: u32 = 1;

/// Largest keystore file we read: real ones are < 1 KiB; the bound stops a
/// mistaken path (a disk image, /dev/zero) from being read into memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// scrypt memory we accept to spend on reading a file (128·r·n bytes):
/// 256 MiB admits geth's "standard" (2^18, r = 8) and nothing absurd.
pub const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
/// scrypt `p` bound: p multiplies the CPU time linearly; wallets use 1.
pub const MAX_SCRYPT_P: u64 = 16;
/// pbkdf2 iteration bound: geth writes 262144; 2^22 is a few seconds.
pub const MAX_PBKDF2_ROUNDS: u64 = 1 << 22;
/// Salt length bound in bytes (wallets use 32).
pub const MAX_SALT_BYTES: usize = 1024;
/// Largest derived-key length we accept; only the first 32 bytes are used.
pub const MAX_DKLEN: u64 = 64;

/// What can go wrong reading or writing a keystore. No variant carries a
/// password, a key or a derived key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The file could not be read or written.
    #[error("keystore {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Refusing to overwrite an existing keystore.
    #[error("keystore {0} already exists; move it away first or import it")]
    AlreadyExists(PathBuf),
    /// The file is bigger than any keystore.
    #[error("keystore file is larger than {MAX_FILE_BYTES} bytes; is this the right file?")]
    TooLarge,
    /// The JSON is not a Web3 Secret Storage file.
    #[error("not a valid keystore file: {0}")]
    Malformed(String),
    /// Only version 3 exists in the wild.
    #[error("unsupported keystore version {0} (only version 3 is supported)")]
    UnsupportedVersion(u64),
    /// Only aes-128-ctr exists in the wild.
    #[error("unsupported keystore cipher {0:?} (only aes-128-ctr is supported)")]
    UnsupportedCipher(String),
    /// scrypt and pbkdf2 are the two standard KDFs.
    #[error("unsupported keystore kdf {0:?} (scrypt and pbkdf2 are supported)")]
    UnsupportedKdf(String),
    /// A KDF parameter outside the bounds we accept (it would allocate or
    /// compute for far too long, or is not a valid value at all).
    #[error("keystore kdf parameter {name} = {value} is out of bounds ({why})")]
    KdfParamOutOfBounds {
        /// Parameter name as in the file (`n`, `r`, `p`, `dklen`, `c`, `salt`).
        name: &'static str,
        /// The value found.
        value: u64,
        /// The bound it breaks.
        why: &'static str,
    },
    /// The MAC does not match: the password is wrong (or the file damaged).
    #[error("wrong keystore password (or the file is damaged)")]
    WrongPassword,
    /// The decrypted bytes are not a valid secp256k1 secret key.
    #[error("the keystore decrypts to an invalid secp256k1 key")]
    InvalidKey,
    /// The file's `address` field names another key than the one inside.
    #[error("keystore address field {claimed} does not match its key's address {actual}")]
    AddressMismatch {
        /// The file's `address` field.
        claimed: String,
        /// The address of the decrypted key.
        actual: Address,
    },
    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Rng(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file as written (field order is geth's).
#[derive(Serialize)]
struct KeyFileOut<'a> {
    address: String,
    crypto: CryptoOut<'a>,
    id: String,
    version: u8,
}

#[derive(Serialize)]
struct CryptoOut<'a> {
    cipher: &'a str,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: &'a str,
    kdfparams: ScryptParamsOut,
    mac: String,
}

#[derive(Serialize, Deserialize)]
struct CipherParams {
    iv: String,
}

#[derive(Serialize)]
struct ScryptParamsOut {
    dklen: u32,
    n: u64,
    p: u32,
    r: u32,
    salt: String,
}

/// The file as read: `crypto` or `Crypto`, either KDF's parameters.
#[derive(Deserialize)]
struct KeyFileIn {
    #[serde(default)]
    address: Option<String>,
    #[serde(alias = "Crypto")]
    crypto: CryptoIn,
    version: u64,
}

#[derive(Deserialize)]
struct CryptoIn {
    cipher: String,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: String,
    kdfparams: KdfParamsIn,
    mac: String,
}

#[derive(Deserialize)]
struct KdfParamsIn {
    dklen: u64,
    salt: String,
    // scrypt
    n: Option<u64>,
    r: Option<u64>,
    p: Option<u64>,
    // pbkdf2
    c: Option<u64>,
    prf: Option<String>,
}

/// Decodes a hex field of exactly `len` bytes (optional 0x prefix), checking
/// the text length before decoding.
fn hex_exact<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], KeystoreError> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.len() != 2 * N {
        return Err(KeystoreError::Malformed(format!(
            "{field} must be {N} bytes of hex"
        )));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| KeystoreError::Malformed(format!("{field} is not hex")))?;
    Ok(out)
}

fn os_random<const N: usize>() -> Result<[u8; N], KeystoreError> {
    let mut out = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut out)
        .map_err(|e| KeystoreError::Rng(e.to_string()))?;
    Ok(out)
}

/// Encrypts `secret` under `password` into keystore JSON with our scrypt
/// parameters, a fresh salt, IV and UUID.
pub fn encrypt(secret: &SecretKey, password: &[u8]) -> Result<String, KeystoreError> {
    encrypt_with(secret, password, WRITE_SCRYPT_LOG_N)
}

/// [`encrypt`] with another scrypt cost — for tests that write many files.
#[doc(hidden)]
pub fn encrypt_with(
    secret: &SecretKey,
    password: &[u8],
    log_n: u8,
) -> Result<String, KeystoreError> {
    let salt: [u8; 32] = os_random()?;
    let iv: [u8; 16] = os_random()?;
    let uuid_bytes: [u8; 16] = os_random()?;
    let params = scrypt::Params::new(log_n, WRITE_SCRYPT_R, WRITE_SCRYPT_P, 32)
        .map_err(|e| KeystoreError::Malformed(format!("scrypt parameters: {e}")))?;
    let mut derived = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, derived.as_mut())
        .map_err(|e| KeystoreError::Malformed(format!("scrypt: {e}")))?;

    let mut ciphertext = secret.to_bytes();
    let mut cipher = Aes128Ctr::new(derived[..16].into(), (&iv).into());
    cipher.apply_keystream(ciphertext.as_mut());
    let mac = keccak256_concat(&[&derived[16..32], ciphertext.as_ref()]);

    let file = KeyFileOut {
        // geth's spelling: lowercase hex, no 0x.
        address: hex::encode(secret.public_key().address().as_bytes()),
        crypto: CryptoOut {
            cipher: "aes-128-ctr",
            cipherparams: CipherParams {
                iv: hex::encode(iv),
            },
            ciphertext: hex::encode(ciphertext.as_ref()),
            kdf: "scrypt",
            kdfparams: ScryptParamsOut {
                dklen: 32,
                n: 1u64 << log_n,
                p: WRITE_SCRYPT_P,
                r: WRITE_SCRYPT_R,
                salt: hex::encode(salt),
            },
            mac: hex::encode(mac),
        },
        id: uuid::Builder::from_random_bytes(uuid_bytes)
            .into_uuid()
            .to_string(),
        version: 3,
    };
    serde_json::to_string(&file).map_err(|e| KeystoreError::Malformed(e.to_string()))
}

/// Checks one scrypt file's parameters against our bounds and returns them.
fn scrypt_params(k: &KdfParamsIn) -> Result<scrypt::Params, KeystoreError> {
    let oob = |name, value, why| KeystoreError::KdfParamOutOfBounds { name, value, why };
    let missing = |name: &str| KeystoreError::Malformed(format!("scrypt kdfparams lack {name}"));
    let n = k.n.ok_or_else(|| missing("n"))?;
    let r = k.r.ok_or_else(|| missing("r"))?;
    let p = k.p.ok_or_else(|| missing("p"))?;
    if n < 2 || !n.is_power_of_two() {
        return Err(oob("n", n, "must be a power of two ≥ 2"));
    }
    if r == 0 {
        return Err(oob("r", r, "must be ≥ 1"));
    }
    if p == 0 || p > MAX_SCRYPT_P {
        return Err(oob("p", p, "must be between 1 and 16"));
    }
    // 128·r·n bytes of memory; checked with overflow in mind.
    let memory = 128u64.checked_mul(r).and_then(|m| m.checked_mul(n));
    match memory {
        Some(m) if m <= MAX_SCRYPT_MEMORY => {}
        _ if r > 1024 => return Err(oob("r", r, "128·r·n must be at most 256 MiB")),
        _ => return Err(oob("n", n, "128·r·n must be at most 256 MiB")),
    }
    let log_n = n.trailing_zeros() as u8;
    scrypt::Params::new(log_n, r as u32, p as u32, 32)
        .map_err(|e| KeystoreError::Malformed(format!("scrypt parameters: {e}")))
}

/// Decrypts keystore JSON (from us, geth, cast or eth-keystore) with
/// `password`. Returns [`KeystoreError::WrongPassword`] when the MAC does not
/// match.
pub fn decrypt(json: &[u8], password: &[u8]) -> Result<SecretKey, KeystoreError> {
    if json.len() as u64 > MAX_FILE_BYTES {
        return Err(KeystoreError::TooLarge);
    }
    let file: KeyFileIn =
        serde_json::from_slice(json).map_err(|e| KeystoreError::Malformed(e.to_string()))?;
    if file.version != 3 {
        return Err(KeystoreError::UnsupportedVersion(file.version));
    }
    let c = &file.crypto;
    if !c.cipher.eq_ignore_ascii_case("aes-128-ctr") {
        return Err(KeystoreError::UnsupportedCipher(truncated(&c.cipher)));
    }
    let iv: [u8; 16] = hex_exact("cipherparams.iv", &c.cipherparams.iv)?;
    let ciphertext: [u8; 32] = hex_exact("ciphertext", &c.ciphertext)?;
    let mac: [u8; 32] = hex_exact("mac", &c.mac)?;
    let k = &c.kdfparams;
    if k.dklen < 32 || k.dklen > MAX_DKLEN {
        return Err(KeystoreError::KdfParamOutOfBounds {
            name: "dklen",
            value: k.dklen,
            why: "must be between 32 and 64",
        });
    }
    let salt_hex = k.salt.strip_prefix("0x").unwrap_or(&k.salt);
    if salt_hex.is_empty() || salt_hex.len() > 2 * MAX_SALT_BYTES {
        return Err(KeystoreError::KdfParamOutOfBounds {
            name: "salt",
            value: (salt_hex.len() / 2) as u64,
            why: "must be 1 to 1024 bytes",
        });
    }
    let salt =
        hex::decode(salt_hex).map_err(|_| KeystoreError::Malformed("salt is not hex".into()))?;

    // The MAC only covers derived_key[16..32], so deriving 32 bytes is
    // enough whatever dklen says (scrypt/pbkdf2 outputs are prefix-stable).
    let mut derived = Zeroizing::new([0u8; 32]);
    match c.kdf.as_str() {
        "scrypt" => {
            let params = scrypt_params(k)?;
            scrypt::scrypt(password, &salt, &params, derived.as_mut())
                .map_err(|e| KeystoreError::Malformed(format!("scrypt: {e}")))?;
        }
        "pbkdf2" => {
            let rounds =
                k.c.ok_or_else(|| KeystoreError::Malformed("pbkdf2 kdfparams lack c".into()))?;
            if rounds == 0 || rounds > MAX_PBKDF2_ROUNDS {
                return Err(KeystoreError::KdfParamOutOfBounds {
                    name: "c",
                    value: rounds,
                    why: "must be between 1 and 2^22",
                });
            }
            match k.prf.as_deref() {
                Some("hmac-sha256") => {}
                Some(other) => {
                    return Err(KeystoreError::UnsupportedKdf(format!(
                        "pbkdf2 with prf {}",
                        truncated(other)
                    )));
                }
                None => return Err(KeystoreError::Malformed("pbkdf2 kdfparams lack prf".into())),
            }
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, rounds as u32, derived.as_mut());
        }
        other => return Err(KeystoreError::UnsupportedKdf(truncated(other))),
    }

    let expected = keccak256_concat(&[&derived[16..32], &ciphertext]);
    if !bool::from(expected.ct_eq(&mac)) {
        return Err(KeystoreError::WrongPassword);
    }
    let mut plain = Zeroizing::new(ciphertext);
    let mut cipher = Aes128Ctr::new(derived[..16].into(), (&iv).into());
    cipher.apply_keystream(plain.as_mut());
    let secret = SecretKey::from_bytes(&plain).map_err(|_| KeystoreError::InvalidKey)?;

    if let Some(claimed) = file.address.as_deref() {
        let actual = secret.public_key().address();
        let claimed_hex = claimed.strip_prefix("0x").unwrap_or(claimed);
        if !claimed_hex.eq_ignore_ascii_case(&hex::encode(actual.as_bytes())) {
            return Err(KeystoreError::AddressMismatch {
                claimed: truncated(claimed),
                actual,
            });
        }
    }
    Ok(secret)
}

/// Bounds a string from the file before it goes into an error message.
fn truncated(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Reads and decrypts the keystore at `path`.
pub fn load(path: &Path, password: &[u8]) -> Result<SecretKey, KeystoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut json = Vec::new();
    // Read one byte past the bound so an oversized file is detected without
    // reading it all.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(io_err(path))?;
    decrypt(&json, password)
}

/// Encrypts `secret` and writes it to `path`, which must not exist yet.
///
/// Atomic and private: the JSON goes to a temporary file created with mode
/// 0600 in the same directory, is fsynced, then hard-linked to `path` (which
/// fails if `path` exists, so a concurrent `init` cannot clobber a key) and
/// the directory fsynced. A crash leaves either no keystore or a complete one.
pub fn save(path: &Path, secret: &SecretKey, password: &[u8]) -> Result<(), KeystoreError> {
    let json = encrypt(secret, password)?;
    write_new_private(path, json.as_bytes())
}

/// Writes `bytes` to the new file `path` with mode 0600, atomically (temp,
/// fsync, link, fsync directory). Fails with
/// [`KeystoreError::AlreadyExists`] if `path` exists.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
    if path.exists() {
        return Err(KeystoreError::AlreadyExists(path.to_path_buf()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let suffix: [u8; 8] = os_random()?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(suffix)));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeystoreError::AlreadyExists(path.to_path_buf())
            } else {
                io_err(path)(e)
            }
        })?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))
    })();
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
