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
//!
//! This module: the errors, the bounds, reading and writing files;
//! `v3` parses and produces the JSON format itself.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chainmail_core::{Address, SecretKey};
use rand::TryRngCore;

mod v3;

pub use v3::{decrypt, encrypt_with};

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
mod tests;
