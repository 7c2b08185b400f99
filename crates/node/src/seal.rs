//! Encryption at rest for the message store: the [`StoreKey`] and the
//! sealed form of message bodies and contact records.
//!
//! The store key is derived from the identity's secret key (which the
//! keystore holds encrypted under the password): HKDF-SHA256 with the salt
//! `chainmail/store-key/v1` and the ID as context, expanded twice with
//! distinct labels into a 32-byte AES-256-GCM key (`aead`) and a 32-byte
//! HMAC-SHA256 key (`lookup`, for the contact index and the peer tags that
//! stand for peer IDs in a sealed store's rows). So a copied home
//! reveals nothing sealed without the password, the store moves with the
//! keystore (`init --from-keystore` derives the same key), and no second
//! secret has to be kept in sync with the first.
//!
//! Sealed value: `0x01 ‖ nonce (12, random) ‖ AES-256-GCM(padded)`, where
//! `padded = len (u32 LE) ‖ plaintext ‖ zeros` up to a multiple of
//! [`PAD`] bytes (sizes are visible only to that granularity). The AAD
//! binds a value to its row (`chainmail/store/v1 ‖ table ‖ row key`), so a
//! body cannot be moved to another message's row unnoticed.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chainmail_core::{Address, SecretKey};
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Sealed lengths are rounded up to a multiple of this many bytes.
pub const PAD: usize = 256;

/// First byte of a sealed value (the format's version).
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Wrong key, or the bytes were altered or moved to another row.
    #[error(
        "a sealed value does not open with this identity's store key (another identity's store, or damaged)"
    )]
    WrongKeyOrTampered,
    /// Not in the sealed format.
    #[error("a sealed value is malformed")]
    Malformed,
    /// The OS random number generator failed.
    #[error("the OS random number generator failed")]
    Rng,
    /// The store is sealed and was opened without its key.
    #[error("the message store is sealed: open it with the identity's key (unlock the keystore)")]
    NoKey,
}

/// The keys that seal one identity's store. Zeroized on drop; `Debug`
/// prints nothing secret.
pub struct StoreKey {
    aead: Aes256Gcm,
    lookup: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(…)")
    }
}

impl StoreKey {
    /// The store key of the identity `secret` (deterministic: the same key
    /// on every machine the keystore is imported to).
    pub fn derive(secret: &SecretKey) -> Self {
        let id = secret.address();
        let ikm = secret.to_bytes();
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"chainmail/store-key/v1"), &ikm[..]);
        let mut aead = Zeroizing::new([0u8; 32]);
        let mut lookup = Zeroizing::new([0u8; 32]);
        let mut info = Vec::with_capacity(32);
        info.extend_from_slice(b"aead:");
        info.extend_from_slice(&id.0);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit: cannot fail.
        let _ = hk.expand(&info, &mut aead[..]);
        info.clear();
        info.extend_from_slice(b"lookup:");
        info.extend_from_slice(&id.0);
        let _ = hk.expand(&info, &mut lookup[..]);
        StoreKey {
            aead: Aes256Gcm::new((&*aead).into()),
            lookup,
        }
    }

    /// A keyed digest of `id` for the contact index: equal IDs match, but
    /// the file does not say which IDs are contacts.
    pub fn lookup(&self, id: &Address) -> [u8; 32] {
        // HMAC accepts keys of any length: cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup[..])
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"chainmail/contact/v1");
        mac.update(&id.0);
        mac.finalize().into_bytes().into()
    }

    /// The keyed tag that stands for a peer's ID in a sealed store's rows
    /// (outbox recipient, inbox sender, dedup, replay cache): the rows of
    /// one peer still group and match, but the file does not say who the
    /// peer is. 20 bytes, the width of the column it replaces (a collision
    /// needs ~2^80 peers).
    pub fn peer_tag(&self, id: &Address) -> [u8; 20] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup[..])
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"chainmail/peer-tag/v1");
        mac.update(&id.0);
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut tag = [0u8; 20];
        tag.copy_from_slice(&full[..20]);
        tag
    }

    /// Seals `plaintext` for the row named by `table` and `row`.
    pub fn seal(&self, table: &str, row: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let len = u32::try_from(plaintext.len()).map_err(|_| SealError::Malformed)?;
        let padded_len = (4 + plaintext.len()).div_ceil(PAD) * PAD;
        let mut padded = Zeroizing::new(Vec::with_capacity(padded_len));
        padded.extend_from_slice(&len.to_le_bytes());
        padded.extend_from_slice(plaintext);
        padded.resize(padded_len, 0);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|_| SealError::Rng)?;
        let aad = aad(table, row);
        let ct = self
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &padded,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Malformed)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a value sealed by [`StoreKey::seal`] for the same row.
    pub fn open(&self, table: &str, row: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN + 4 || sealed[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let nonce = Nonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        let aad = aad(table, row);
        let padded = Zeroizing::new(
            self.aead
                .decrypt(
                    nonce,
                    Payload {
                        msg: &sealed[1 + NONCE_LEN..],
                        aad: &aad,
                    },
                )
                .map_err(|_| SealError::WrongKeyOrTampered)?,
        );
        let mut len = [0u8; 4];
        len.copy_from_slice(&padded[..4]);
        let len = u32::from_le_bytes(len) as usize;
        padded
            .get(4..4usize.saturating_add(len))
            .map(<[u8]>::to_vec)
            .ok_or(SealError::Malformed)
    }
}

/// Table label of outbox bodies (AAD).
pub const OUTBOX: &str = "outbox";
/// Table label of inbox bodies (AAD).
pub const INBOX: &str = "inbox";

/// Binds a sealed value to its table and row.
fn aad(table: &str, row: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(24 + table.len() + row.len());
    aad.extend_from_slice(b"chainmail/store/v1\0");
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(row);
    aad
}

#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    // Only reachable if HMAC stopped accepting 32-byte keys.
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable_hmac())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> StoreKey {
        StoreKey::derive(&SecretKey::from_bytes(&[b; 32]).unwrap())
    }

    #[test]
    fn round_trip_padding_and_binding() {
        let k = key(7);
        let s = k.seal("inbox", b"row1", b"hello").unwrap();
        assert_eq!(s.len(), 1 + NONCE_LEN + PAD + TAG_LEN);
        assert!(!s.windows(5).any(|w| w == b"hello"));
        assert_eq!(k.open("inbox", b"row1", &s).unwrap(), b"hello");
        // Another row, table or key: refused.
        assert_eq!(
            k.open("inbox", b"row2", &s),
            Err(SealError::WrongKeyOrTampered)
        );
        assert_eq!(
            k.open("outbox", b"row1", &s),
            Err(SealError::WrongKeyOrTampered)
        );
        assert_eq!(
            key(8).open("inbox", b"row1", &s),
            Err(SealError::WrongKeyOrTampered)
        );
        // Tampered, truncated, junk.
        let mut t = s.clone();
        t[20] ^= 1;
        assert_eq!(
            k.open("inbox", b"row1", &t),
            Err(SealError::WrongKeyOrTampered)
        );
        assert_eq!(
            k.open("inbox", b"row1", &s[..10]),
            Err(SealError::Malformed)
        );
        assert_eq!(k.open("inbox", b"row1", &[]), Err(SealError::Malformed));
        // Exactly at the padding edge.
        let big = vec![b'x'; PAD - 4];
        assert_eq!(
            k.seal("t", b"r", &big).unwrap().len(),
            1 + NONCE_LEN + PAD + TAG_LEN
        );
        let s = k.seal("t", b"r", &[]).unwrap();
        assert_eq!(k.open("t", b"r", &s).unwrap(), b"");
    }

    #[test]
    fn derivation_is_per_identity_and_stable() {
        assert_eq!(
            key(7).lookup(&Address([1; 20])),
            key(7).lookup(&Address([1; 20]))
        );
        assert_ne!(
            key(7).lookup(&Address([1; 20])),
            key(8).lookup(&Address([1; 20]))
        );
        assert_ne!(
            key(7).lookup(&Address([1; 20])),
            key(7).lookup(&Address([2; 20]))
        );
        assert_eq!(format!("{:?}", key(7)), "StoreKey(…)");
    }
}
