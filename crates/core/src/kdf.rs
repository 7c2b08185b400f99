//! Key derivation (HKDF-SHA256) and the AEAD (AES-256-GCM) primitives the
//! handshake and the session share. Every derived key has its own label
//! naming the protocol, the version and the key's purpose (domain separation);
//! PROTOCOL.md lists them.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Label of the key that encrypts T_B1's body.
pub const LABEL_T_B1: &[u8] = b"chainmail v1 T_B1 key";
/// Label of the key that encrypts T_A2's body.
pub const LABEL_T_A2: &[u8] = b"chainmail v1 T_A2 key";
/// Label of the session key for frames from the initiator (Bob) to the responder (Alice).
pub const LABEL_INITIATOR_TO_RESPONDER: &[u8] = b"chainmail v1 session initiator->responder";
/// Label of the session key for frames from the responder (Alice) to the initiator (Bob).
pub const LABEL_RESPONDER_TO_INITIATOR: &[u8] = b"chainmail v1 session responder->initiator";
/// Label of a direction key's successor at rekeying.
pub const LABEL_REKEY: &[u8] = b"chainmail v1 rekey";

/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// A 32-byte symmetric key, zeroized on drop.
pub type Key = Zeroizing<[u8; 32]>;

/// HKDF-SHA256(salt, ikm) expanded with `info` to 32 bytes.
pub fn derive(salt: &[u8], ikm: &[u8], info: &[u8]) -> Key {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 255·32 limit: expand cannot fail.
    hk.expand(info, &mut out[..])
        .unwrap_or_else(|_| unreachable!("HKDF output length is valid"));
    out
}

/// The 12-byte GCM nonce for a counter: 4 zero bytes ‖ counter big-endian.
pub fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// Encrypts `buf` in place under `key`, appending the tag.
pub fn seal(cipher: &Aes256Gcm, counter: u64, aad: &[u8], buf: &mut Vec<u8>) {
    let n = nonce(counter);
    // Encryption only fails for plaintexts above 2^36 bytes; frames are ≤ 64 KiB.
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&n), aad, buf)
        .unwrap_or_else(|_| unreachable!("plaintext within AES-GCM limits"));
    buf.extend_from_slice(&tag);
}

/// Decrypts `buf` (ciphertext ‖ tag) in place; on success `buf` holds the plaintext.
pub fn open(cipher: &Aes256Gcm, counter: u64, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), ()> {
    if buf.len() < TAG_LEN {
        return Err(());
    }
    let split = buf.len() - TAG_LEN;
    let tag = Tag::clone_from_slice(&buf[split..]);
    buf.truncate(split);
    let n = nonce(counter);
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(&n), aad, buf, &tag)
        .map_err(|_| ())
}

/// An AES-256-GCM instance for `key`.
pub fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}
