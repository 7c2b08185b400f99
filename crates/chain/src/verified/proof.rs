//! Merkle-Patricia proofs of `eth_getProof`, checked with alloy-trie: the
//! registry's account against a header's `stateRoot`, each storage slot
//! against the account's `storageRoot` (an absent slot, read as zero, by an
//! exclusion proof).

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::rpc::types::EIP1186AccountProofResponse;
use alloy_trie::proof::verify_proof;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, Nibbles, TrieAccount};

use super::Mismatch;

/// Verifies the account part of `resp` for `address` against `state_root`.
/// `Ok(None)` if the proof shows the account does not exist.
pub fn verify_account(
    state_root: B256,
    address: Address,
    resp: &EIP1186AccountProofResponse,
) -> Result<Option<TrieAccount>, Mismatch> {
    if resp.address != address {
        return Err(Mismatch(format!(
            "asked for the proof of {address}, got one of {}",
            resp.address
        )));
    }
    let account = TrieAccount {
        nonce: resp.nonce,
        balance: resp.balance,
        storage_root: resp.storage_hash,
        code_hash: resp.code_hash,
    };
    let absent = account.nonce == 0
        && account.balance.is_zero()
        && account.storage_root == EMPTY_ROOT_HASH
        && account.code_hash == KECCAK_EMPTY;
    let expected = (!absent).then(|| alloy::rlp::encode(account));
    verify_proof(
        state_root,
        Nibbles::unpack(keccak256(address)),
        expected,
        &resp.account_proof,
    )
    .map_err(|e| {
        Mismatch(format!(
            "the account proof of {address} does not match the block's stateRoot {state_root}: {e}"
        ))
    })?;
    Ok((!absent).then_some(account))
}

/// Verifies the storage proofs in `resp` for each of `slots` against
/// `storage_root`; returns the proven words, in the order of `slots`.
pub fn verify_storage(
    storage_root: B256,
    slots: &[B256],
    resp: &EIP1186AccountProofResponse,
) -> Result<Vec<U256>, Mismatch> {
    slots
        .iter()
        .map(|slot| {
            let p = resp
                .storage_proof
                .iter()
                .find(|p| p.key.as_b256() == *slot)
                .ok_or_else(|| Mismatch(format!("no storage proof for slot {slot}")))?;
            let expected = (!p.value.is_zero()).then(|| alloy::rlp::encode(p.value));
            verify_proof(
                storage_root,
                Nibbles::unpack(keccak256(slot)),
                expected,
                &p.proof,
            )
            .map_err(|e| {
                Mismatch(format!(
                    "the storage proof of slot {slot} (value {:#x}) does not match the account's storageRoot {storage_root}: {e}",
                    p.value
                ))
            })?;
            Ok(p.value)
        })
        .collect()
}
