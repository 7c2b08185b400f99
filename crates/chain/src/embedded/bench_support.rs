//! Test-only state writes for the 1M-ID lookup benchmark: status slots written
//! straight into the registry's storage, bypassing signatures, recorded in a
//! block of their own so that the file still verifies. Compiled only for tests
//! and with the `bench-internals` feature.

use alloy::primitives::{B256, U256, keccak256};
use chainmail_core::eip712::{Certificate, Domain, Signed};
use chainmail_core::{Address, IdStatus, SecretKey};

use super::engine::Engine;
use super::state::write_slot;
use crate::calls;
use crate::contract::to_alloy;
use crate::error::ChainError;

/// Storage key of `mapping(address => uint256)` at `base` for `id` (Solidity layout).
fn mapping_key(id: Address, base: u64) -> U256 {
    let mut buf = [0u8; 64];
    buf[12..32].copy_from_slice(&id.0);
    buf[56..64].copy_from_slice(&base.to_be_bytes());
    U256::from_be_bytes(keccak256(buf).0)
}

/// The packed slot value: validUntil | issuedAt << 64 | revokedAt << 128 | registeredBlock << 192.
fn packed(s: &IdStatus) -> U256 {
    U256::from(s.valid_until)
        | (U256::from(s.issued_at) << 64)
        | (U256::from(s.revoked_at) << 128)
        | (U256::from(s.registered_block) << 192)
}

/// Registers one real identity to learn where the contract keeps statuses
/// (the base slot of its status mapping, and the packing, checked against
/// `status()`), then writes `status` for every ID in `ids` in one block.
pub fn write_statuses(
    engine: &Engine,
    ids: &[Address],
    status: IdStatus,
) -> Result<(), ChainError> {
    let key = SecretKey::generate(&mut rand::rng());
    let now = engine.now()?;
    let domain = Domain {
        chain_id: engine.chain_id(),
        verifying_contract: Address(engine.registry().into_array()),
    };
    let cert = Signed::sign(
        &key,
        &domain,
        Certificate::new(key.public_key(), now + 86_400, now),
    );
    engine.transact(calls::register(&cert))?;
    let probe = key.address();
    let probe_status = calls::decode_status(&engine.call(calls::status(probe))?)?;
    let base = (0u64..64)
        .find(|b| {
            engine
                .registry_slot(mapping_key(probe, *b))
                .map(|v| v == packed(&probe_status))
                .unwrap_or(false)
        })
        .ok_or_else(|| {
            ChainError::InvalidData("status mapping not found in the first 64 slots".into())
        })?;
    let registry = engine.registry();
    let value = packed(&status);
    engine.append_direct_write(
        &format!(
            "bench-internals: {} status slots written directly",
            ids.len()
        ),
        |conn, mut root| {
            for id in ids {
                let slot = mapping_key(*id, base);
                let old = super::state::read_slot(conn, registry, slot)?;
                root = write_slot(conn, root, registry, slot, old, value)?;
            }
            Ok(root)
        },
    )?;
    let _ = (to_alloy, B256::ZERO);
    Ok(())
}
