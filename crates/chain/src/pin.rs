//! What identifies an RPC chain and its registry to a home (issue 14, "Pin
//! the chain"): the chain id, the genesis block's hash (every anvil is 31337:
//! the chain id alone does not tell two chains apart), the registry's address
//! and its code hash. A home records them on first use (trust on first use);
//! every later [`crate::RpcRegistry::connect`] and [`crate::rpc::deploy_with`]
//! given the pin in [`crate::RpcOptions::pin`] checks them before anything is
//! signed, and a difference is [`ChainError::ChainMismatch`].

use alloy::eips::BlockNumberOrTag;
use alloy::providers::{DynProvider, Provider};
use chainmail_core::Address;

use crate::error::ChainError;
use crate::rpc::map_rpc;
use crate::verified::check_header;

/// The facts a home pins of an RPC chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPin {
    /// The EIP-155 chain id (also the EIP-712 domain's).
    pub chain_id: u64,
    /// Hash of block 0, recomputed from its header.
    pub genesis_hash: [u8; 32],
    /// The registry contract's address.
    pub registry: Address,
    /// `keccak256` of the registry's runtime code: the one this build's
    /// artifact gives for that address and chain, never the provider's word.
    pub code_hash: [u8; 32],
}

impl ChainPin {
    /// Checks the chain's identity (chain id, genesis hash) against the pin.
    pub fn check_chain(&self, chain_id: u64, genesis_hash: [u8; 32]) -> Result<(), ChainError> {
        if chain_id != self.chain_id {
            return Err(mismatch(
                "chain id",
                self.chain_id.to_string(),
                chain_id.to_string(),
            ));
        }
        if genesis_hash != self.genesis_hash {
            return Err(mismatch(
                "genesis block hash",
                hex32(&self.genesis_hash),
                hex32(&genesis_hash),
            ));
        }
        Ok(())
    }

    /// Checks the registry's address against the pin.
    pub fn check_address(&self, registry: Address) -> Result<(), ChainError> {
        if registry != self.registry {
            return Err(mismatch(
                "registry address",
                self.registry.to_string(),
                registry.to_string(),
            ));
        }
        Ok(())
    }

    /// Checks the registry's address and code hash against the pin.
    pub fn check_registry(&self, registry: Address, code_hash: [u8; 32]) -> Result<(), ChainError> {
        self.check_address(registry)?;
        if code_hash != self.code_hash {
            return Err(mismatch(
                "registry code hash",
                hex32(&self.code_hash),
                hex32(&code_hash),
            ));
        }
        Ok(())
    }

    /// Checks every field of `got` against the pin, the chain's first.
    pub fn check(&self, got: &ChainPin) -> Result<(), ChainError> {
        self.check_chain(got.chain_id, got.genesis_hash)?;
        self.check_registry(got.registry, got.code_hash)
    }
}

fn mismatch(what: &'static str, expected: String, got: String) -> ChainError {
    ChainError::ChainMismatch {
        what,
        expected,
        got,
    }
}

/// `0x` and 64 hex digits.
pub(crate) fn hex32(b: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(b))
}

/// The hash of block 0 as the node at `url` serves it, its header's hash
/// recomputed (a header that does not hash to its hash is a
/// [`ChainError::ProofMismatch`]).
pub(crate) async fn genesis_hash(
    provider: &DynProvider,
    url: &str,
) -> Result<[u8; 32], ChainError> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Number(0))
        .await
        .map_err(|e| map_rpc(e, url, None))?
        .ok_or_else(|| ChainError::InvalidData("the node has no block 0".into()))?;
    let header = check_header(&block.header, Some(0)).map_err(|m| ChainError::ProofMismatch {
        provider: url.to_string(),
        what: m.0,
    })?;
    Ok(header.hash.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_difference_is_named_with_both_values() {
        let pin = ChainPin {
            chain_id: 31337,
            genesis_hash: [1; 32],
            registry: Address([2; 20]),
            code_hash: [3; 32],
        };
        assert!(pin.check(&pin).is_ok());
        let cases = [
            (ChainPin { chain_id: 1, ..pin }, "chain id"),
            (
                ChainPin {
                    genesis_hash: [9; 32],
                    ..pin
                },
                "genesis block hash",
            ),
            (
                ChainPin {
                    registry: Address([9; 20]),
                    ..pin
                },
                "registry address",
            ),
            (
                ChainPin {
                    code_hash: [9; 32],
                    ..pin
                },
                "registry code hash",
            ),
        ];
        for (got, field) in cases {
            match pin.check(&got) {
                Err(ChainError::ChainMismatch {
                    what,
                    expected,
                    got,
                }) => {
                    assert_eq!(what, field);
                    assert_ne!(expected, got);
                }
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
