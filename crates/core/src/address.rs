//! `Address`: a 20-byte Ethereum address, which is also a chainmail ID
//! (`keccak256(x‖y)[12..32]` of the identity's public key). Shown EIP-55
//! checksummed; parsed strictly so a mistyped ID is caught, not looked up.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::keccak256;

/// A 20-byte Ethereum address; in chainmail, an identity's ID.
///
/// `Display` and `Debug` print the EIP-55 checksummed form (`0xf39F…2266`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 20]);

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressParseError {
    /// The string does not start with `0x`.
    #[error("an address starts with 0x")]
    MissingPrefix,
    /// Not exactly 40 hex digits after `0x`.
    #[error("an address has 40 hex digits after 0x, found {found} characters")]
    WrongLength {
        /// Characters found after the prefix.
        found: usize,
    },
    /// A character is not a hex digit.
    #[error("an address holds only hex digits")]
    InvalidHex,
    /// Mixed case that is not the EIP-55 checksum: probably a typo.
    #[error(
        "the address's upper/lower case does not match its EIP-55 checksum (typo?); write it in all lower case to skip the check"
    )]
    BadChecksum,
}

/// Why a byte slice is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an address is 20 bytes, got {found}")]
pub struct AddressLengthError {
    /// Bytes given.
    pub found: usize,
}

impl Address {
    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// An address from exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AddressLengthError> {
        <[u8; 20]>::try_from(bytes)
            .map(Address)
            .map_err(|_| AddressLengthError { found: bytes.len() })
    }

    /// The EIP-55 mixed-case checksummed form, with `0x`.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl FromStr for Address {
    type Err = AddressParseError;

    /// Strict parse: `0x` + 40 hex digits; all lower case is accepted as is,
    /// any upper-case letter means the whole string must be the EIP-55
    /// checksum (so an all-upper-case string is rejected unless it happens to
    /// be its own checksum).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("0x")
            .ok_or(AddressParseError::MissingPrefix)?;
        if digits.len() != 40 {
            return Err(AddressParseError::WrongLength {
                found: digits.chars().count(),
            });
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressParseError::InvalidHex)?;
        let address = Address(bytes);
        if digits.bytes().any(|b| b.is_ascii_uppercase()) && address.to_checksum() != s {
            return Err(AddressParseError::BadChecksum);
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_checksum())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vectors of EIP-55 itself.
    const EIP55: [&str; 8] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ];

    #[test]
    fn eip55_vectors_round_trip() {
        for s in EIP55 {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
            assert_eq!(format!("{a:?}"), s);
        }
    }

    #[test]
    fn lowercase_is_accepted_without_checksum() {
        for s in EIP55 {
            let lower = format!("0x{}", &s[2..].to_ascii_lowercase());
            assert_eq!(lower.parse::<Address>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn one_flipped_case_is_a_bad_checksum() {
        let s = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let flipped = s.replacen("aA", "AA", 1);
        assert_eq!(
            flipped.parse::<Address>(),
            Err(AddressParseError::BadChecksum)
        );
        // All upper case is not the checksum either.
        let upper = format!("0x{}", s[2..].to_ascii_uppercase());
        assert_eq!(
            upper.parse::<Address>(),
            Err(AddressParseError::BadChecksum)
        );
    }

    #[test]
    fn malformed_strings_have_named_errors() {
        let good = "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        assert_eq!(
            good.parse::<Address>(),
            Err(AddressParseError::MissingPrefix)
        );
        assert_eq!(
            format!("0X{good}").parse::<Address>(),
            Err(AddressParseError::MissingPrefix)
        );
        assert_eq!(
            format!("0x{}", &good[..38]).parse::<Address>(),
            Err(AddressParseError::WrongLength { found: 38 })
        );
        assert_eq!(
            format!("0x{good}00").parse::<Address>(),
            Err(AddressParseError::WrongLength { found: 42 })
        );
        assert_eq!(
            format!("0x{}zz", &good[..38]).parse::<Address>(),
            Err(AddressParseError::InvalidHex)
        );
        // Multi-byte characters must not panic the length/hex checks.
        assert!(format!("0x{}é", &good[..38]).parse::<Address>().is_err());
        assert!("".parse::<Address>().is_err());
    }

    #[test]
    fn from_slice_checks_length() {
        assert_eq!(
            Address::from_slice(&[0u8; 19]),
            Err(AddressLengthError { found: 19 })
        );
        assert_eq!(
            Address::from_slice(&[7u8; 20]).unwrap().as_bytes(),
            &[7u8; 20]
        );
    }

    #[test]
    fn serde_uses_checksummed_string() {
        let a: Address = EIP55[0].parse().unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{}\"", EIP55[0]));
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Address>("\"0x1234\"").is_err());
    }
}
