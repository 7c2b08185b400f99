//! `Signature`: 65 bytes r‖s‖v as Ethereum (and the contract's `ecrecover`)
//! expects, held to one encoding per signature: v ∈ {27, 28}, 0 < r < n,
//! 0 < s ≤ n/2. Anything else is refused at parse time, so a signature can
//! never be re-encoded into a second valid form (malleability).

use std::fmt;
use std::str::FromStr;

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as DigestMessage, SECP256K1};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keys::PublicKey;

/// secp256k1 group order n, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];
/// ⌊n/2⌋, big-endian: the largest s accepted (EIP-2).
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// A 65-byte recoverable ECDSA signature r‖s‖v (v ∈ {27, 28}, low s).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 65]);

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Not 65 bytes.
    #[error("a signature is 65 bytes (r‖s‖v), got {found}")]
    WrongLength {
        /// Bytes given.
        found: usize,
    },
    /// v is not 27 or 28.
    #[error("signature v must be 27 or 28, got {v}")]
    BadRecoveryId {
        /// The v byte found.
        v: u8,
    },
    /// s is above n/2: the malleable twin of a valid signature.
    #[error("signature s is in the upper half of the curve order (malleable form)")]
    HighS,
    /// r or s is zero or not below the group order.
    #[error("signature r or s is out of range")]
    OutOfRange,
    /// No public key recovers from this signature and digest.
    #[error("no public key recovers from this signature")]
    Unrecoverable,
    /// The signature is not by the expected key.
    #[error("the signature is not by the expected key")]
    Mismatch,
    /// The signature recovers to a different signer than expected.
    #[error("signed by {found}, expected {expected}")]
    WrongSigner {
        /// The ID the caller required.
        expected: crate::Address,
        /// The ID the signature recovers to.
        found: crate::Address,
    },
    /// A hex string did not decode.
    #[error("the signature is not 0x-prefixed hex")]
    InvalidHex,
}

fn in_range(scalar: &[u8], max_inclusive: &[u8; 32]) -> bool {
    scalar.iter().any(|&b| b != 0) && scalar <= &max_inclusive[..]
}

impl Signature {
    /// Parses 65 bytes r‖s‖v, enforcing the one-encoding rules.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let arr: [u8; 65] = bytes
            .try_into()
            .map_err(|_| SignatureError::WrongLength { found: bytes.len() })?;
        let v = arr[64];
        if v != 27 && v != 28 {
            return Err(SignatureError::BadRecoveryId { v });
        }
        let mut order_minus_one = ORDER;
        order_minus_one[31] -= 1;
        if !in_range(&arr[..32], &order_minus_one) {
            return Err(SignatureError::OutOfRange);
        }
        if arr[32..64].iter().all(|&b| b == 0) {
            return Err(SignatureError::OutOfRange);
        }
        if arr[32..64] > HALF_ORDER[..] {
            return Err(SignatureError::HighS);
        }
        Ok(Signature(arr))
    }

    /// Wraps bytes the signer itself produced (already canonical).
    pub(crate) fn from_parts_unchecked(bytes: [u8; 65]) -> Self {
        debug_assert!(Signature::from_bytes(&bytes).is_ok());
        Signature(bytes)
    }

    /// The 65 bytes r‖s‖v.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// The 65 bytes r‖s‖v, copied.
    pub fn to_bytes(&self) -> [u8; 65] {
        self.0
    }

    fn recoverable(&self) -> Result<RecoverableSignature, SignatureError> {
        let recid = RecoveryId::from_u8_masked(self.0[64] - 27);
        RecoverableSignature::from_compact(&self.0[..64], recid)
            .map_err(|_| SignatureError::OutOfRange)
    }

    /// The public key that signed `digest` (what `ecrecover` computes).
    pub fn recover(&self, digest: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        let recoverable = self.recoverable()?;
        let key = SECP256K1
            .recover_ecdsa(DigestMessage::from_digest(*digest), &recoverable)
            .map_err(|_| SignatureError::Unrecoverable)?;
        Ok(PublicKey::from_inner(key))
    }

    /// Checks that `key` signed `digest` with exactly these 65 bytes: the
    /// key `ecrecover` finds from r, s **and v** must be `key`. A plain
    /// ECDSA verification would ignore v, so (r, s, 27) and (r, s, 28)
    /// would both pass here while the contract, cast and any third party
    /// accept only one of them: a sender could hand out proofs chainmail
    /// stores and nobody else accepts. Recovery costs about one
    /// verification plus a square root.
    pub fn verify(&self, digest: &[u8; 32], key: &PublicKey) -> Result<(), SignatureError> {
        match self.recover(digest) {
            Ok(signer) if signer == *key => Ok(()),
            _ => Err(SignatureError::Mismatch),
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.0))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl FromStr for Signature {
    type Err = SignatureError;
    /// `0x` + 130 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").ok_or(SignatureError::InvalidHex)?;
        let bytes = hex::decode(digits).map_err(|_| SignatureError::InvalidHex)?;
        Signature::from_bytes(&bytes)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32]).unwrap()
    }

    #[test]
    fn sign_recover_verify_round_trip() {
        let k = key(3);
        let digest = [9u8; 32];
        let sig = k.sign_digest(&digest);
        assert!(matches!(sig.as_bytes()[64], 27 | 28));
        assert_eq!(Signature::from_bytes(sig.as_bytes()).unwrap(), sig);
        assert_eq!(sig.recover(&digest).unwrap(), k.public_key());
        sig.verify(&digest, &k.public_key()).unwrap();
        assert_eq!(
            sig.verify(&digest, &key(4).public_key()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            sig.verify(&[8u8; 32], &k.public_key()),
            Err(SignatureError::Mismatch)
        );
        assert_ne!(sig.recover(&[8u8; 32]).ok(), Some(k.public_key()));
    }

    #[test]
    fn a_flipped_v_does_not_verify() {
        // ecrecover accepts exactly one v for (r, s): so must verify, or a
        // sender could hand out proofs that only chainmail accepts.
        for n in 1..=16u8 {
            let k = key(n);
            let digest = [n.wrapping_mul(7); 32];
            let sig = k.sign_digest(&digest);
            let mut flipped = sig.to_bytes();
            flipped[64] = if flipped[64] == 27 { 28 } else { 27 };
            let flipped = Signature::from_bytes(&flipped).unwrap();
            assert_ne!(flipped.recover(&digest).ok(), Some(k.public_key()));
            assert_eq!(
                flipped.verify(&digest, &k.public_key()),
                Err(SignatureError::Mismatch)
            );
            sig.verify(&digest, &k.public_key()).unwrap();
        }
    }

    #[test]
    fn signing_is_deterministic() {
        assert_eq!(key(5).sign_digest(&[1; 32]), key(5).sign_digest(&[1; 32]));
    }

    #[test]
    fn length_and_v_are_checked() {
        let sig = key(3).sign_digest(&[9u8; 32]).to_bytes();
        assert_eq!(
            Signature::from_bytes(&sig[..64]),
            Err(SignatureError::WrongLength { found: 64 })
        );
        for v in [0u8, 1, 26, 29, 255] {
            let mut bad = sig;
            bad[64] = v;
            assert_eq!(
                Signature::from_bytes(&bad),
                Err(SignatureError::BadRecoveryId { v })
            );
        }
    }

    #[test]
    fn high_s_twin_is_rejected() {
        // s' = n - s, v flipped: the malleable twin that ecrecover would accept.
        let sig = key(3).sign_digest(&[9u8; 32]).to_bytes();
        let mut twin = sig;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = ORDER[i] as i16 - sig[32 + i] as i16 - borrow;
            twin[32 + i] = d.rem_euclid(256) as u8;
            borrow = if d < 0 { 1 } else { 0 };
        }
        twin[64] = if sig[64] == 27 { 28 } else { 27 };
        assert_eq!(Signature::from_bytes(&twin), Err(SignatureError::HighS));
    }

    #[test]
    fn zero_and_overflowing_scalars_are_rejected() {
        let sig = key(3).sign_digest(&[9u8; 32]).to_bytes();
        let mut zero_r = sig;
        zero_r[..32].fill(0);
        assert_eq!(
            Signature::from_bytes(&zero_r),
            Err(SignatureError::OutOfRange)
        );
        let mut zero_s = sig;
        zero_s[32..64].fill(0);
        assert_eq!(
            Signature::from_bytes(&zero_s),
            Err(SignatureError::OutOfRange)
        );
        let mut big_r = sig;
        big_r[..32].copy_from_slice(&ORDER);
        assert_eq!(
            Signature::from_bytes(&big_r),
            Err(SignatureError::OutOfRange)
        );
    }

    #[test]
    fn serde_and_string_round_trip() {
        let sig = key(3).sign_digest(&[9u8; 32]);
        assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
    }
}
