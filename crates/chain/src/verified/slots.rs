//! Where the registry keeps an ID's facts in its storage, and how a slot's
//! word decodes: Solidity's layout of `IdentityRegistry`'s two mappings.
//!
//! `forge inspect IdentityRegistry storageLayout` gives `_status` at slot 0
//! (`mapping(address => uint256)`) and `_endpoints` at slot 1
//! (`mapping(address => EndpointRecord)`, the struct taking two slots:
//! `sequence` (uint64, offset 0) in the first, `endpoint` (string) in the
//! second). A mapping's value for key `k` lives at `keccak256(pad32(k) ‖
//! pad32(slot))`; a string of 32 bytes or more keeps `2·len + 1` in its slot
//! and its bytes from `keccak256(slot)` on, a shorter one keeps them in the
//! slot itself, left-aligned, with `2·len` in the lowest byte.

use alloy::primitives::{B256, U256, keccak256};
use chainmail_core::{Address, IdStatus};

use crate::registry::EndpointRecord;

/// Slot of the `_status` mapping.
pub const STATUS_MAPPING_SLOT: u64 = 0;
/// Slot of the `_endpoints` mapping.
pub const ENDPOINTS_MAPPING_SLOT: u64 = 1;
/// The longest endpoint the contract stores (`MAX_ENDPOINT_LENGTH`).
pub const MAX_ENDPOINT_LENGTH: usize = 255;

/// `keccak256(pad32(id) ‖ pad32(mapping_slot))`: the value slot of `id` in a mapping.
fn mapping_slot(id: Address, mapping_slot: u64) -> B256 {
    let mut pre = [0u8; 64];
    pre[12..32].copy_from_slice(id.as_bytes());
    pre[32..64].copy_from_slice(&U256::from(mapping_slot).to_be_bytes::<32>());
    keccak256(pre)
}

/// The slot of `id`'s packed status word (`_status[id]`).
pub fn status_slot(id: Address) -> B256 {
    mapping_slot(id, STATUS_MAPPING_SLOT)
}

/// The slot of `_endpoints[id].sequence` (the struct's first slot).
pub fn endpoint_sequence_slot(id: Address) -> B256 {
    mapping_slot(id, ENDPOINTS_MAPPING_SLOT)
}

/// The slot of `_endpoints[id].endpoint` (the struct's second slot).
pub fn endpoint_string_slot(id: Address) -> B256 {
    offset(endpoint_sequence_slot(id), 1)
}

/// The `i`-th 32-byte data slot of a long string whose header is at `string_slot`.
pub fn long_string_data_slot(string_slot: B256, i: u64) -> B256 {
    offset(keccak256(string_slot), i)
}

/// `slot + n` as 256-bit numbers (wrapping, as the EVM does).
fn offset(slot: B256, n: u64) -> B256 {
    B256::from(U256::from_be_bytes(slot.0).wrapping_add(U256::from(n)))
}

/// The packed status word decoded field by field, as the contract's
/// `status()` does: `validUntil | issuedAt << 64 | revokedAt << 128 |
/// registeredBlock << 192`. Zero is an unknown ID.
pub fn decode_status_word(word: U256) -> IdStatus {
    let field = |shift: usize| -> u64 { (word >> shift).as_limbs()[0] };
    IdStatus {
        valid_until: field(0),
        issued_at: field(64),
        revoked_at: field(128),
        registered_block: field(192),
    }
}

/// How the endpoint string's bytes are laid out, from its header slot's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringLayout {
    /// Fewer than 32 bytes, held in the header slot itself.
    Short(usize),
    /// `len` bytes in `len.div_ceil(32)` data slots from `keccak256(slot)`.
    Long(usize),
}

/// Reads a string header word; `None` if it is not one Solidity writes for an
/// endpoint (a short string with stray bits, a long one under 32 bytes or
/// over [`MAX_ENDPOINT_LENGTH`]).
pub fn string_layout(header: U256) -> Option<StringLayout> {
    let bytes = header.to_be_bytes::<32>();
    if header.bit(0) {
        let len = usize::try_from((header - U256::from(1)) >> 1).ok()?;
        (32..=MAX_ENDPOINT_LENGTH)
            .contains(&len)
            .then_some(StringLayout::Long(len))
    } else {
        let len = usize::from(bytes[31] >> 1);
        // The bytes past the string, up to the length byte, are zero.
        (len < 32 && bytes[len..31].iter().all(|b| *b == 0)).then_some(StringLayout::Short(len))
    }
}

/// Decodes an endpoint record from its sequence word, its string header word
/// and (for a long string) its data words. `None` for ("", 0), the contract's
/// "never set"; an error text if the words are not a record the contract writes.
pub fn decode_endpoint(
    sequence_word: U256,
    header: U256,
    data: &[U256],
) -> Result<Option<EndpointRecord>, String> {
    if sequence_word >> 64 != U256::ZERO {
        return Err("endpoint sequence slot has bits above 64".into());
    }
    let sequence = sequence_word.as_limbs()[0];
    let layout = string_layout(header).ok_or("endpoint string slot is not a Solidity string")?;
    let bytes: Vec<u8> = match layout {
        StringLayout::Short(len) => header.to_be_bytes::<32>()[..len].to_vec(),
        StringLayout::Long(len) => {
            if data.len() != len.div_ceil(32) {
                return Err(format!(
                    "endpoint of {len} bytes needs {} data slots, got {}",
                    len.div_ceil(32),
                    data.len()
                ));
            }
            let mut all: Vec<u8> = data.iter().flat_map(|w| w.to_be_bytes::<32>()).collect();
            all.truncate(len);
            all
        }
    };
    let endpoint = String::from_utf8(bytes).map_err(|_| "endpoint is not UTF-8".to_string())?;
    if sequence == 0 && endpoint.is_empty() {
        return Ok(None);
    }
    Ok(Some(EndpointRecord { endpoint, sequence }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn status_word_fields_are_the_contracts() {
        let word = U256::from(1u64)
            | (U256::from(2u64) << 64)
            | (U256::from(3u64) << 128)
            | (U256::from(u64::MAX) << 192);
        assert_eq!(
            decode_status_word(word),
            IdStatus {
                valid_until: 1,
                issued_at: 2,
                revoked_at: 3,
                registered_block: u64::MAX
            }
        );
        assert!(!decode_status_word(U256::ZERO).is_registered());
    }

    #[test]
    fn short_and_long_strings_decode() {
        // "ab": bytes left-aligned, 2·2 in the low byte.
        let mut w = [0u8; 32];
        w[0] = b'a';
        w[1] = b'b';
        w[31] = 4;
        let short = U256::from_be_bytes(w);
        assert_eq!(
            decode_endpoint(U256::from(9u64), short, &[]).unwrap(),
            Some(EndpointRecord {
                endpoint: "ab".into(),
                sequence: 9
            })
        );
        // 33 bytes: header 2·33+1, two data slots.
        let long = U256::from(67u64);
        let d0 = U256::from_be_bytes([b'x'; 32]);
        let mut w1 = [0u8; 32];
        w1[0] = b'y';
        let d1 = U256::from_be_bytes(w1);
        let got = decode_endpoint(U256::from(1u64), long, &[d0, d1])
            .unwrap()
            .unwrap();
        assert_eq!(got.endpoint, format!("{}y", "x".repeat(32)));
        assert!(decode_endpoint(U256::from(1u64), long, &[d0]).is_err());
        assert_eq!(decode_endpoint(U256::ZERO, U256::ZERO, &[]).unwrap(), None);
        // Stray bits after a short string; a long string over 255 bytes.
        w[5] = 1;
        assert!(decode_endpoint(U256::ZERO, U256::from_be_bytes(w), &[]).is_err());
        assert!(decode_endpoint(U256::ZERO, U256::from(2 * 256 + 1), &[]).is_err());
        assert!(decode_endpoint(U256::ZERO, U256::from(2 * 31 + 1), &[]).is_err());
    }

    proptest! {
        // Words from a node are hostile: decoding never panics.
        #[test]
        fn endpoint_decoding_never_panics(s in any::<[u8; 32]>(), h in any::<[u8; 32]>(), n in 0usize..10) {
            let data = vec![U256::from_be_bytes(h); n];
            let _ = decode_endpoint(U256::from_be_bytes(s), U256::from_be_bytes(h), &data);
            let _ = string_layout(U256::from_be_bytes(h));
        }
    }
}
