//! Serde helpers: fixed-size byte arrays as `0x`-prefixed hex strings, the
//! form Ethereum tools (cast, viem) print and read.

use serde::{Deserialize, Deserializer, Serializer};

/// Serializes `[u8; N]` as `"0x…"`.
pub fn serialize<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("0x{}", hex::encode(bytes)))
}

/// Deserializes `"0x…"` with exactly `2N` hex digits into `[u8; N]`.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    let s = String::deserialize(deserializer)?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| serde::de::Error::custom("expected 0x-prefixed hex"))?;
    if digits.len() != 2 * N {
        return Err(serde::de::Error::custom(format!(
            "expected {} hex digits, got {}",
            2 * N,
            digits.len()
        )));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(serde::de::Error::custom)?;
    Ok(out)
}
