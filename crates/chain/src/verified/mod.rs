//! Proof-checked reads of the registry on an RPC chain (issue 14): every fact
//! is read with `eth_getProof` at one block and verified against that block
//! header's `stateRoot`, the header's hash recomputed from its fields, so a
//! node cannot hand over a forged status word, endpoint or registry code
//! without being caught. What is *not* verified here: that the block is on
//! the canonical chain (a node may serve a self-consistent fake or stale
//! chain; pinning and a quorum of providers are later slices of issue 14).

pub mod code;
pub mod header;
pub mod proof;
mod read;
pub mod slots;

pub use header::{VerifiedHeader, check_header};
pub use proof::{verify_account, verify_storage};
pub(crate) use read::Verifier;

/// What a node's answer got wrong, as a sentence; it becomes
/// [`crate::ChainError::ProofMismatch`] with the provider named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Verifies a proof of the registry's status slot for `id` against `header`:
/// the account proof against its `stateRoot`, the account's code hash against
/// `code_hash`, the slot's proof against the account's `storageRoot`. The
/// decoded status is the contract's `status(id)` at that block.
pub fn verify_status(
    header: &VerifiedHeader,
    registry: alloy::primitives::Address,
    code_hash: alloy::primitives::B256,
    id: chainmail_core::Address,
    resp: &alloy::rpc::types::EIP1186AccountProofResponse,
) -> Result<chainmail_core::IdStatus, Mismatch> {
    let words =
        verify_registry_slots(header, registry, code_hash, &[slots::status_slot(id)], resp)?;
    Ok(slots::decode_status_word(words[0]))
}

/// The registry's account in `resp` verified against `header` and its code
/// hash against `code_hash`, then each of `slots` against its storage root.
pub fn verify_registry_slots(
    header: &VerifiedHeader,
    registry: alloy::primitives::Address,
    code_hash: alloy::primitives::B256,
    slots: &[alloy::primitives::B256],
    resp: &alloy::rpc::types::EIP1186AccountProofResponse,
) -> Result<Vec<alloy::primitives::U256>, Mismatch> {
    let account = verify_account(header.state_root, registry, resp)?.ok_or_else(|| {
        Mismatch(format!(
            "the proof says the registry {registry} has no account at block {}",
            header.number
        ))
    })?;
    if account.code_hash != code_hash {
        return Err(Mismatch(format!(
            "the registry's code hash at block {} is {}, not {code_hash}",
            header.number, account.code_hash
        )));
    }
    verify_storage(account.storage_root, slots, resp)
}
