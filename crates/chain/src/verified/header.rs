//! A block header taken from a node, trusted only once its hash is recomputed
//! from its fields: the `stateRoot` every proof is checked against is then the
//! one of the block the node named.

use alloy::primitives::B256;

use super::Mismatch;

/// The facts of a header whose hash was recomputed and matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedHeader {
    /// Block number.
    pub number: u64,
    /// Block hash, recomputed from the header (`keccak256(rlp(header))`).
    pub hash: B256,
    /// Root of the state trie after the block.
    pub state_root: B256,
    /// Block timestamp (unix seconds).
    pub timestamp: u64,
}

/// Checks a header from a node: its fields hash to the hash it came with and,
/// if `number` is given, it is that block.
pub fn check_header(
    header: &alloy::rpc::types::Header,
    number: Option<u64>,
) -> Result<VerifiedHeader, Mismatch> {
    let inner = &header.inner;
    let computed = inner.hash_slow();
    if computed != header.hash {
        return Err(Mismatch(format!(
            "the header of block {} hashes to {computed}, not to the hash {} it came with",
            inner.number, header.hash
        )));
    }
    if let Some(n) = number
        && n != inner.number
    {
        return Err(Mismatch(format!(
            "asked for block {n}, got the header of block {}",
            inner.number
        )));
    }
    Ok(VerifiedHeader {
        number: inner.number,
        hash: computed,
        state_root: inner.state_root,
        timestamp: inner.timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> alloy::rpc::types::Header {
        let inner = alloy::consensus::Header {
            number: 7,
            timestamp: 1_700_000_000,
            state_root: B256::repeat_byte(3),
            ..Default::default()
        };
        alloy::rpc::types::Header::new(inner)
    }

    #[test]
    fn a_changed_field_or_another_block_is_refused() {
        let h = header();
        let ok = check_header(&h, Some(7)).unwrap();
        assert_eq!((ok.number, ok.state_root), (7, B256::repeat_byte(3)));
        assert!(check_header(&h, Some(8)).is_err());
        let mut forged = h.clone();
        forged.inner.state_root = B256::repeat_byte(4);
        assert!(check_header(&forged, None).is_err());
        let mut forged = h;
        forged.inner.timestamp += 1;
        assert!(check_header(&forged, None).is_err());
    }
}
