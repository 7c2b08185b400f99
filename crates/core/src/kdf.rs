//! Key derivation (HKDF-SHA256) and the AEAD (AES-256-GCM, ring's) primitives the
//! handshake and the session share. Every derived key has its own label
//! naming the protocol, the version and the key's purpose (domain separation);
//! PROTOCOL.md lists them.

use hkdf::Hkdf;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
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

/// An AES-256-GCM key ready to seal and open (ring's assembly AES-GCM).
///
/// ring's expanded key schedule is opaque and ring does not zeroize it on
/// drop; what we control — the raw 32-byte key it was built from (a
/// [`Key`]) — is zeroized on our side as before.
pub struct Cipher(LessSafeKey);

/// An AES-256-GCM instance for `key`.
pub fn cipher(key: &[u8; 32]) -> Cipher {
    // AES-256-GCM takes exactly 32 bytes: construction cannot fail.
    let unbound = UnboundKey::new(&AES_256_GCM, key)
        .unwrap_or_else(|_| unreachable!("AES-256 key is 32 bytes"));
    Cipher(LessSafeKey::new(unbound))
}

/// ring's nonce for `counter`. Every caller uses each (key, counter) pair
/// once: handshake keys seal one body at counter 0, session directions count
/// up and rekey before the counter could repeat.
fn ring_nonce(counter: u64) -> Nonce {
    Nonce::assume_unique_for_key(nonce(counter))
}

/// Encrypts `buf` in place under `cipher` and returns the tag (the caller
/// places it after the ciphertext).
pub fn seal_in_place(cipher: &Cipher, counter: u64, aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
    // Encryption only fails for plaintexts above 2^36 bytes; frames are ≤ 64 KiB.
    let tag = cipher
        .0
        .seal_in_place_separate_tag(ring_nonce(counter), Aad::from(aad), buf)
        .unwrap_or_else(|_| unreachable!("plaintext within AES-GCM limits"));
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Decrypts `buf` (ciphertext ‖ tag) in place; on success returns the
/// plaintext, the front of `buf`.
pub fn open_in_place<'a>(
    cipher: &Cipher,
    counter: u64,
    aad: &[u8],
    buf: &'a mut [u8],
) -> Result<&'a mut [u8], ()> {
    cipher
        .0
        .open_in_place(ring_nonce(counter), Aad::from(aad), buf)
        .map_err(|_| ())
}

/// Encrypts `buf` in place under `cipher`, appending the tag.
pub fn seal(cipher: &Cipher, counter: u64, aad: &[u8], buf: &mut Vec<u8>) {
    let tag = seal_in_place(cipher, counter, aad, buf);
    buf.extend_from_slice(&tag);
}

/// Decrypts `buf` (ciphertext ‖ tag) in place; on success `buf` holds the plaintext.
pub fn open(cipher: &Cipher, counter: u64, aad: &[u8], buf: &mut Vec<u8>) -> Result<(), ()> {
    let len = open_in_place(cipher, counter, aad, buf)?.len();
    buf.truncate(len);
    Ok(())
}
