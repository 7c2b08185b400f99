//! The export archive: one file holding an identity's keystore and a
//! snapshot of its message store, for moving a home to another machine
//! (`chainmail export --with-messages`, read back by `init --from-keystore`).
//!
//! Format (version 1):
//!
//! ```text
//! "CHAINMAIL-ARCHIVE-1\n"              magic (20 bytes)
//! u32 BE n, n bytes                    the V3 keystore JSON (n ≤ 64 KiB)
//! 12 bytes                             nonce (random)
//! rest                                 AES-256-GCM(archive key, snapshot of store.db),
//!                                      AAD = magic ‖ n ‖ keystore bytes
//! ```
//!
//! The archive key is HKDF-SHA256(identity secret key, salt
//! `chainmail/archive-key/v1`, info = ID): only the keystore's password
//! opens it, and the keystore cannot be swapped (it is in the AAD). Inside,
//! bodies and contacts are still sealed under the store key (derived from
//! the same identity key, so they open on the new machine as they are).
//!
//! Every byte read is hostile: lengths are bounded before anything is
//! allocated, and nothing of the store is returned unless it authenticates.

use std::io::Read;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chainmail_core::SecretKey;
use rand::TryRngCore;
use zeroize::Zeroizing;

use crate::keystore::{self, KeystoreError};

/// First bytes of an archive.
pub const MAGIC: &[u8; 20] = b"CHAINMAIL-ARCHIVE-1\n";
/// Largest keystore inside an archive.
pub const MAX_KEYSTORE: usize = 64 * 1024;
/// Largest archive read (the message store is held in memory once).
pub const MAX_ARCHIVE: u64 = 1 << 30;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why an archive could not be written or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes do not start with [`MAGIC`].
    #[error("not a chainmail archive (no CHAINMAIL-ARCHIVE-1 header)")]
    NotAnArchive,
    /// Larger than [`MAX_ARCHIVE`].
    #[error("larger than 1 GiB")]
    TooLarge,
    /// The keystore length is missing.
    #[error("truncated")]
    Truncated,
    /// The keystore length is above [`MAX_KEYSTORE`].
    #[error("keystore too large")]
    KeystoreTooLarge,
    /// Fewer keystore bytes than its length says.
    #[error("truncated keystore")]
    TruncatedKeystore,
    /// No room for the nonce and the tag after the keystore.
    #[error("truncated store")]
    TruncatedStore,
    /// The keystore inside did not open (wrong password, damaged…).
    #[error("the archive's keystore: {0}")]
    Keystore(#[from] KeystoreError),
    /// The store does not authenticate under the key the keystore holds.
    #[error("the store does not decrypt (altered or truncated)")]
    Undecryptable,
    /// Writing: the keystore to put in is larger than [`MAX_KEYSTORE`].
    #[error("the keystore is larger than 64 KiB")]
    KeystoreTooLargeToSeal,
    /// Writing: the OS random number generator failed.
    #[error("the OS random generator failed: {0}")]
    Rng(String),
    /// Writing: the cipher refused (the snapshot is too large for AES-GCM).
    #[error("cannot encrypt the archive")]
    Encrypt,
}

fn cipher(secret: &SecretKey) -> Aes256Gcm {
    let ikm = secret.to_bytes();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"chainmail/archive-key/v1"), &ikm[..]);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is within HKDF-SHA256's output limit: cannot fail.
    let _ = hk.expand(&secret.address().0, &mut key[..]);
    Aes256Gcm::new((&*key).into())
}

/// magic ‖ u32 BE length ‖ keystore: the archive's header and the AAD.
fn header(keystore: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(MAGIC.len() + 4 + keystore.len());
    a.extend_from_slice(MAGIC);
    // Callers bound the keystore to MAX_KEYSTORE, far below u32::MAX.
    a.extend_from_slice(&(keystore.len() as u32).to_be_bytes());
    a.extend_from_slice(keystore);
    a
}

/// Seals `keystore` (the V3 JSON of `secret`, as stored) and `store` (a
/// snapshot of the message store) into an archive.
pub fn seal(secret: &SecretKey, keystore: &[u8], store: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    if keystore.len() > MAX_KEYSTORE {
        return Err(ArchiveError::KeystoreTooLargeToSeal);
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| ArchiveError::Rng(e.to_string()))?;
    let mut archive = header(keystore);
    let ct = cipher(secret)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: store,
                aad: &archive,
            },
        )
        .map_err(|_| ArchiveError::Encrypt)?;
    archive.extend_from_slice(&nonce);
    archive.extend_from_slice(&ct);
    Ok(archive)
}

/// Whether `head` (a file's first bytes) starts like an archive.
pub fn is_archive(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Whether the file at `path` starts like an archive (false if unreadable).
pub fn file_is_archive(path: &Path) -> bool {
    let mut head = [0u8; MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && is_archive(&head)
}

/// Opens an archive with the keystore's `password`: the identity key and
/// the message store's bytes.
pub fn open(
    bytes: &[u8],
    password: &[u8],
) -> Result<(SecretKey, Zeroizing<Vec<u8>>), ArchiveError> {
    if bytes.len() as u64 > MAX_ARCHIVE {
        return Err(ArchiveError::TooLarge);
    }
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ArchiveError::NotAnArchive)?;
    let len = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(ArchiveError::Truncated)?;
    if len > MAX_KEYSTORE {
        return Err(ArchiveError::KeystoreTooLarge);
    }
    let ks = rest
        .get(4..4 + len)
        .ok_or(ArchiveError::TruncatedKeystore)?;
    let after = &rest[4 + len..];
    if after.len() < NONCE_LEN + TAG_LEN {
        return Err(ArchiveError::TruncatedStore);
    }
    let secret = keystore::decrypt(ks, password)?;
    let db = cipher(&secret)
        .decrypt(
            Nonce::from_slice(&after[..NONCE_LEN]),
            Payload {
                msg: &after[NONCE_LEN..],
                aad: &header(ks),
            },
        )
        .map_err(|_| ArchiveError::Undecryptable)?;
    Ok((secret, Zeroizing::new(db)))
}

/// Reads the archive at `path` (at most [`MAX_ARCHIVE`] bytes) and opens it.
pub fn open_file(
    path: &Path,
    password: &[u8],
) -> Result<(SecretKey, Zeroizing<Vec<u8>>), ArchiveError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_ARCHIVE + 1).read_to_end(&mut bytes))
        .map_err(|source| ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    open(&bytes, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[3u8; 32]).expect("valid scalar")
    }

    fn sealed() -> Vec<u8> {
        let ks = keystore::encrypt_with(&key(), b"pw", 10).unwrap();
        seal(&key(), ks.as_bytes(), b"the store").unwrap()
    }

    #[test]
    fn round_trip() {
        let a = sealed();
        assert!(is_archive(&a));
        let (secret, db) = open(&a, b"pw").unwrap();
        assert_eq!(secret.address(), key().address());
        assert_eq!(&db[..], b"the store");
    }

    #[test]
    fn refusals_are_named() {
        let a = sealed();
        assert!(matches!(
            open(&a, b"px"),
            Err(ArchiveError::Keystore(KeystoreError::WrongPassword))
        ));
        assert!(matches!(
            open(b"{}", b"pw"),
            Err(ArchiveError::NotAnArchive)
        ));
        assert!(matches!(
            open(&a[..MAGIC.len() + 2], b"pw"),
            Err(ArchiveError::Truncated)
        ));
        assert!(matches!(
            open(&a[..MAGIC.len() + 10], b"pw"),
            Err(ArchiveError::TruncatedKeystore)
        ));
        assert!(matches!(
            open(&a[..a.len() - 3 - TAG_LEN - 2], b"pw").err(),
            Some(ArchiveError::Undecryptable | ArchiveError::TruncatedStore)
        ));
        let mut flipped = a.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            open(&flipped, b"pw"),
            Err(ArchiveError::Undecryptable)
        ));
        let mut big = a[..MAGIC.len()].to_vec();
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            open(&big, b"pw"),
            Err(ArchiveError::KeystoreTooLarge)
        ));
        assert!(matches!(
            seal(&key(), &vec![b' '; MAX_KEYSTORE + 1], b""),
            Err(ArchiveError::KeystoreTooLargeToSeal)
        ));
    }
}
