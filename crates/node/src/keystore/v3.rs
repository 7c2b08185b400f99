//! The Web3 Secret Storage v3 JSON itself: the file as written (geth's
//! field order, our scrypt parameters) and as read (`crypto` or `Crypto`,
//! scrypt or pbkdf2), every field bounded before it is used.

use aes::cipher::{KeyIvInit, StreamCipher};
use chainmail_core::SecretKey;
use chainmail_core::hash::keccak256_concat;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{
    KeystoreError, MAX_DKLEN, MAX_FILE_BYTES, MAX_PBKDF2_ROUNDS, MAX_SALT_BYTES, MAX_SCRYPT_MEMORY,
    MAX_SCRYPT_P, WRITE_SCRYPT_P, WRITE_SCRYPT_R, os_random,
};

pub(super) type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

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

/// [`encrypt`](super::encrypt) with another scrypt cost — for tests that write many files.
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
