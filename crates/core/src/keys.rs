//! Identity keys on secp256k1 (the paper's curve and Ethereum's): `PublicKey`
//! (64-byte x‖y, hashes to the ID), `SecretKey` (zeroized, never printed, not
//! `Clone`) and the raw-x-coordinate ECDH every handshake secret comes from.

use std::fmt;
use std::str::FromStr;

use rand::CryptoRng;
use secp256k1::{Message as DigestMessage, SECP256K1};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::address::Address;
use crate::hash::keccak256;
use crate::signature::Signature;

/// Why bytes are not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A public key had the wrong number of bytes.
    #[error("a public key is {expected} bytes, got {found}")]
    WrongLength {
        /// Bytes required by the encoding.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// The bytes do not name a point on secp256k1.
    #[error("the public key is not a point on secp256k1")]
    NotOnCurve,
    /// The secret key is zero or not below the group order.
    #[error("the secret key is out of range (zero or not below the curve order)")]
    InvalidSecretKey,
    /// A hex string did not decode.
    #[error("the key is not 0x-prefixed hex")]
    InvalidHex,
}

/// A secp256k1 public key. Its canonical form is the 64 bytes x‖y (big-endian
/// coordinates, no `0x04` prefix) — the bytes the ID hashes and the contract's
/// `Certificate.publicKey` carries.
#[derive(Clone, Copy)]
pub struct PublicKey {
    inner: secp256k1::PublicKey,
    // Kept beside the parsed point so equality, hashing and the ID never
    // re-serialize (one field normalization per use otherwise).
    xy: [u8; 64],
}

impl PublicKey {
    /// Parses 64 bytes x‖y, checking the point is on the curve.
    pub fn from_xy(bytes: &[u8]) -> Result<Self, KeyError> {
        let xy: [u8; 64] = bytes.try_into().map_err(|_| KeyError::WrongLength {
            expected: 64,
            found: bytes.len(),
        })?;
        let mut uncompressed = [0u8; 65];
        uncompressed[0] = 0x04;
        uncompressed[1..].copy_from_slice(&xy);
        let inner = secp256k1::PublicKey::from_byte_array_uncompressed(uncompressed)
            .map_err(|_| KeyError::NotOnCurve)?;
        Ok(PublicKey { inner, xy })
    }

    /// Parses a 33-byte compressed point (`0x02`/`0x03` ‖ x), checking it is on
    /// the curve. Ephemeral keys travel in this form.
    pub fn from_compressed(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 33] = bytes.try_into().map_err(|_| KeyError::WrongLength {
            expected: 33,
            found: bytes.len(),
        })?;
        let inner = secp256k1::PublicKey::from_byte_array_compressed(arr)
            .map_err(|_| KeyError::NotOnCurve)?;
        Ok(Self::from_inner(inner))
    }

    pub(crate) fn from_inner(inner: secp256k1::PublicKey) -> Self {
        let mut xy = [0u8; 64];
        xy.copy_from_slice(&inner.serialize_uncompressed()[1..]);
        PublicKey { inner, xy }
    }

    pub(crate) fn inner(&self) -> &secp256k1::PublicKey {
        &self.inner
    }

    /// The 64 bytes x‖y.
    pub fn to_xy(&self) -> [u8; 64] {
        self.xy
    }

    /// The 64 bytes x‖y, borrowed.
    pub fn as_xy(&self) -> &[u8; 64] {
        &self.xy
    }

    /// The 33-byte compressed form (`0x02`/`0x03` ‖ x).
    pub fn compressed(&self) -> [u8; 33] {
        self.inner.serialize()
    }

    /// The ID this key commits to: `keccak256(x‖y)[12..32]`.
    pub fn address(&self) -> Address {
        let hash = keccak256(&self.xy);
        let mut id = [0u8; 20];
        id.copy_from_slice(&hash[12..]);
        Address(id)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.xy == other.xy
    }
}
impl Eq for PublicKey {}
impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.xy.hash(state)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(0x{})", hex::encode(self.xy))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.xy))
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    /// `0x` + 128 hex digits (x‖y).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").ok_or(KeyError::InvalidHex)?;
        let bytes = hex::decode(digits).map_err(|_| KeyError::InvalidHex)?;
        PublicKey::from_xy(&bytes)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A secp256k1 secret key: an identity key or an ephemeral handshake key.
///
/// Not `Clone` (copies of a secret are made on purpose, not by accident), its
/// bytes are overwritten on drop, and `Debug` prints only the public ID.
pub struct SecretKey {
    inner: secp256k1::SecretKey,
    // Derived once: computing it costs a fixed-base multiplication.
    public: PublicKey,
}

impl SecretKey {
    /// A key from its 32 big-endian bytes; fails if zero or ≥ the group order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let inner = secp256k1::SecretKey::from_byte_array(*bytes)
            .map_err(|_| KeyError::InvalidSecretKey)?;
        let public = PublicKey::from_inner(secp256k1::PublicKey::from_secret_key_global(&inner));
        Ok(SecretKey { inner, public })
    }

    /// A fresh random key. Draws 32 bytes from `rng` per attempt (a second
    /// attempt happens with probability ~2^-128).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut bytes[..]);
            if let Ok(key) = SecretKey::from_bytes(&bytes) {
                return key;
            }
        }
    }

    /// The 32 secret bytes, for export to a keystore. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.secret_bytes())
    }

    /// An explicit copy (there is no `Clone`).
    pub fn clone_key(&self) -> SecretKey {
        SecretKey {
            inner: self.inner,
            public: self.public,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The ID (Ethereum address) of this key.
    pub fn address(&self) -> Address {
        self.public.address()
    }

    /// Signs a 32-byte digest (RFC 6979 deterministic nonce, low s, v ∈ {27, 28}).
    /// Byte-identical to what Ethereum wallets (`cast wallet sign`) produce.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Signature {
        let message = DigestMessage::from_digest(*digest);
        let mut recoverable = SECP256K1.sign_ecdsa_recoverable(message, &self.inner);
        let mut counter = 0u32;
        loop {
            let (recid, rs) = recoverable.serialize_compact();
            let recid = i32::from(recid);
            // Recovery ids 2 and 3 mean r overflowed the group order
            // (probability ~2^-127); Ethereum's v cannot express them, so
            // re-sign with extra nonce data rather than emit an unusable
            // signature.
            if recid == 0 || recid == 1 {
                let mut bytes = [0u8; 65];
                bytes[..64].copy_from_slice(&rs);
                bytes[64] = 27 + recid as u8;
                return Signature::from_parts_unchecked(bytes);
            }
            counter += 1;
            let mut extra = [0u8; 32];
            extra[..4].copy_from_slice(&counter.to_be_bytes());
            recoverable =
                SECP256K1.sign_ecdsa_recoverable_with_noncedata(message, &self.inner, &extra);
        }
    }

    /// ECDH: the raw 32-byte x-coordinate of `self · peer` (not hashed — the
    /// handshake feeds it to HKDF itself). Zeroized when dropped.
    pub fn diffie_hellman(&self, peer: &PublicKey) -> Zeroizing<[u8; 32]> {
        let mut point = Zeroizing::new(secp256k1::ecdh::shared_secret_point(
            peer.inner(),
            &self.inner,
        ));
        let mut x = Zeroizing::new([0u8; 32]);
        x.copy_from_slice(&point[..32]);
        zeroize::Zeroize::zeroize(&mut *point);
        x
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.inner.non_secure_erase();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<elided>, id {})", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // anvil's (and hardhat's) well-known account #0.
    fn anvil0() -> SecretKey {
        let full = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let bytes: [u8; 32] = hex::decode(full).unwrap().try_into().unwrap();
        SecretKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn anvil_key_gives_anvil_address() {
        assert_eq!(
            anvil0().address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }

    #[test]
    fn public_key_encodings_round_trip() {
        let key = anvil0().public_key();
        assert_eq!(PublicKey::from_xy(&key.to_xy()).unwrap(), key);
        assert_eq!(PublicKey::from_compressed(&key.compressed()).unwrap(), key);
        let s = key.to_string();
        assert_eq!(s.parse::<PublicKey>().unwrap(), key);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), key);
    }

    #[test]
    fn off_curve_and_wrong_length_keys_are_rejected() {
        let mut xy = anvil0().public_key().to_xy();
        xy[63] ^= 1;
        assert_eq!(PublicKey::from_xy(&xy), Err(KeyError::NotOnCurve));
        assert_eq!(
            PublicKey::from_xy(&xy[..63]),
            Err(KeyError::WrongLength {
                expected: 64,
                found: 63
            })
        );
        assert_eq!(PublicKey::from_xy(&[0u8; 64]), Err(KeyError::NotOnCurve));
        let mut c = anvil0().public_key().compressed();
        c[0] = 0x05;
        assert_eq!(PublicKey::from_compressed(&c), Err(KeyError::NotOnCurve));
    }

    #[test]
    fn secret_key_range_is_checked() {
        assert_eq!(
            SecretKey::from_bytes(&[0u8; 32]).unwrap_err(),
            KeyError::InvalidSecretKey
        );
        assert_eq!(
            SecretKey::from_bytes(&[0xffu8; 32]).unwrap_err(),
            KeyError::InvalidSecretKey
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let key = anvil0();
        let shown = format!("{key:?}");
        assert!(!shown.contains("ac0974"));
        assert!(shown.contains("elided"));
        assert_eq!(&key.to_bytes()[..2], &[0xac, 0x09]);
    }

    #[test]
    fn ecdh_agrees_and_is_the_raw_x_coordinate() {
        let a = SecretKey::from_bytes(&[1u8; 32]).unwrap();
        let b = SecretKey::from_bytes(&[2u8; 32]).unwrap();
        let ab = a.diffie_hellman(&b.public_key());
        assert_eq!(*ab, *b.diffie_hellman(&a.public_key()));
        // With the scalar 1, ECDH returns the peer's own x-coordinate: proof
        // that no hash is applied.
        let mut one = [0u8; 32];
        one[31] = 1;
        let one = SecretKey::from_bytes(&one).unwrap();
        assert_eq!(
            &*one.diffie_hellman(&b.public_key()),
            &b.public_key().to_xy()[..32]
        );
    }

    #[test]
    fn generate_uses_the_rng() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = SecretKey::generate(&mut rng);
        let b = SecretKey::generate(&mut rng);
        assert_ne!(a.address(), b.address());
    }
}
