//! Keccak-256, the hash Ethereum (and so the registry contract) uses for IDs,
//! EIP-712 digests and everything the handshake binds.

// The cryptogams assembly Keccak (what alloy's `asm-keccak` uses): 1.6–1.7×
// the portable `sha3` crate on this machine (4.5 → 2.7 µs per KiB), and
// keccak is most of the cost of signing and verifying message batches.
use keccak_asm::{Digest, Keccak256};

/// Keccak-256 of `data` (the pre-standard SHA-3 padding Ethereum uses).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Keccak-256 of the concatenation of `parts`, without building it in memory.
pub fn keccak256_concat(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_of_empty_is_the_ethereum_constant() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn concat_equals_hash_of_concatenation() {
        assert_eq!(keccak256_concat(&[b"ab", b"c"]), keccak256(b"abc"));
    }
}
