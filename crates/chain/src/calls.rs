//! ABI encoding of the registry calls from the core types, and decoding of
//! their results, shared by both backends.

use alloy::primitives::{Bytes, FixedBytes};
use alloy::sol_types::SolCall;
use chainmail_core::eip712::{Certificate, Endpoint, Renewal, Revocation, SessionRequest, Signed};
use chainmail_core::{Address, IdStatus, PublicKey};

use crate::contract::{IdentityRegistry as R, to_alloy};
use crate::error::ChainError;
use crate::registry::EndpointRecord;

fn sig<T>(s: &Signed<T>) -> Bytes {
    Bytes::copy_from_slice(s.signature.as_bytes())
}

/// `register(publicKey, validUntil, issuedAt, signature)` calldata.
pub fn register(c: &Signed<Certificate>) -> Bytes {
    R::registerCall {
        publicKey: Bytes::copy_from_slice(c.payload.public_key.as_xy()),
        validUntil: c.payload.valid_until,
        issuedAt: c.payload.issued_at,
        signature: sig(c),
    }
    .abi_encode()
    .into()
}

/// `renew(id, validUntil, issuedAt, signature)` calldata.
pub fn renew(r: &Signed<Renewal>) -> Bytes {
    R::renewCall {
        id: to_alloy(r.payload.id),
        validUntil: r.payload.valid_until,
        issuedAt: r.payload.issued_at,
        signature: sig(r),
    }
    .abi_encode()
    .into()
}

/// `revoke(id, revokedAt, signature)` calldata.
pub fn revoke(r: &Signed<Revocation>) -> Bytes {
    R::revokeCall {
        id: to_alloy(r.payload.id),
        revokedAt: r.payload.revoked_at,
        signature: sig(r),
    }
    .abi_encode()
    .into()
}

/// `setEndpoint(id, endpoint, sequence, signature)` calldata.
pub fn set_endpoint(e: &Signed<Endpoint>) -> Bytes {
    R::setEndpointCall {
        id: to_alloy(e.payload.id),
        endpoint: e.payload.endpoint.clone(),
        sequence: e.payload.sequence,
        signature: sig(e),
    }
    .abi_encode()
    .into()
}

/// `verifySession(from, to, timestamp, ephemeralKeyHash, signature)` calldata.
pub fn verify_session(r: &Signed<SessionRequest>) -> Bytes {
    R::verifySessionCall {
        from: to_alloy(r.payload.from),
        to: to_alloy(r.payload.to),
        timestamp: r.payload.timestamp,
        ephemeralKeyHash: FixedBytes(r.payload.ephemeral_key_hash),
        signature: sig(r),
    }
    .abi_encode()
    .into()
}

fn bad(what: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::InvalidData(format!("{what}: {e}"))
}

/// `status(id)` calldata.
pub fn status(id: Address) -> Bytes {
    R::statusCall { id: to_alloy(id) }.abi_encode().into()
}

/// Decodes `status` output.
pub fn decode_status(out: &[u8]) -> Result<IdStatus, ChainError> {
    let r = R::statusCall::abi_decode_returns(out).map_err(|e| bad("status() output", e))?;
    Ok(IdStatus {
        valid_until: r.validUntil,
        issued_at: r.issuedAt,
        revoked_at: r.revokedAt,
        registered_block: r.registeredBlock,
    })
}

/// `isValid(id)` calldata.
pub fn is_valid(id: Address) -> Bytes {
    R::isValidCall { id: to_alloy(id) }.abi_encode().into()
}

/// Decodes `isValid` output.
pub fn decode_is_valid(out: &[u8]) -> Result<bool, ChainError> {
    R::isValidCall::abi_decode_returns(out).map_err(|e| bad("isValid() output", e))
}

/// `endpointOf(id)` calldata.
pub fn endpoint_of(id: Address) -> Bytes {
    R::endpointOfCall { id: to_alloy(id) }.abi_encode().into()
}

/// Decodes `endpointOf` output; `None` when never set (sequence 0).
pub fn decode_endpoint(out: &[u8]) -> Result<Option<EndpointRecord>, ChainError> {
    let r =
        R::endpointOfCall::abi_decode_returns(out).map_err(|e| bad("endpointOf() output", e))?;
    if r.sequence == 0 && r.endpoint.is_empty() {
        return Ok(None);
    }
    if r.endpoint.len() > 255 {
        return Err(bad("endpointOf() output", "endpoint longer than 255 bytes"));
    }
    Ok(Some(EndpointRecord {
        endpoint: r.endpoint,
        sequence: r.sequence,
    }))
}

/// Decodes `verifySession` output (true, else an error).
pub fn decode_verify_session(out: &[u8]) -> Result<(), ChainError> {
    match R::verifySessionCall::abi_decode_returns(out)
        .map_err(|e| bad("verifySession() output", e))?
    {
        true => Ok(()),
        false => Err(bad(
            "verifySession() output",
            "returned false instead of reverting",
        )),
    }
}

/// Decodes the data of a `Registered(id, publicKey)` log and checks the key hashes to `id`.
pub fn decode_registered_key(id: Address, data: &[u8]) -> Result<PublicKey, ChainError> {
    use alloy::sol_types::SolValue;
    // The only non-indexed field is `bytes publicKey`.
    let key: Bytes = <Bytes as SolValue>::abi_decode(data).map_err(|e| bad("Registered log", e))?;
    let key = PublicKey::from_xy(&key).map_err(|e| bad("Registered log public key", e))?;
    if key.address() != id {
        return Err(bad(
            "Registered log",
            format!("public key hashes to {}, not to {id}", key.address()),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::decode_revert;
    use alloy::sol_types::SolError;
    use proptest::prelude::*;

    proptest! {
        // Bytes from a node or a file are hostile: decoding never panics.
        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let id = Address([7; 20]);
            let _ = decode_status(&data);
            let _ = decode_is_valid(&data);
            let _ = decode_endpoint(&data);
            let _ = decode_verify_session(&data);
            let _ = decode_registered_key(id, &data);
            let _ = decode_revert(&data);
        }
    }

    #[test]
    fn revert_data_decodes_by_name_and_unknown_is_named() {
        let e = R::StaleSequence {
            sequence: 4,
            current: 5,
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&e),
            crate::ContractError::StaleSequence {
                sequence: 4,
                current: 5
            }
        );
        let future = R::FutureSequence {
            sequence: u64::MAX,
            limit: 1_750_000_300_000,
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&future),
            crate::ContractError::FutureSequence {
                sequence: u64::MAX,
                limit: 1_750_000_300_000
            }
        );
        let big = R::EndpointTooLong {
            length: alloy::primitives::U256::MAX,
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&big),
            crate::ContractError::EndpointTooLong { length: u64::MAX }
        );
        assert!(matches!(
            decode_revert(&[1, 2, 3, 4, 5]),
            crate::ContractError::Unknown { len: 5, .. }
        ));
        assert!(matches!(
            decode_revert(&[]),
            crate::ContractError::Unknown { len: 0, .. }
        ));
    }

    #[test]
    fn registered_log_with_a_key_of_another_id_is_refused() {
        use alloy::sol_types::SolValue;
        let key = chainmail_core::SecretKey::generate(&mut rand::rng()).public_key();
        let data = Bytes::copy_from_slice(key.as_xy()).abi_encode();
        assert_eq!(decode_registered_key(key.address(), &data).unwrap(), key);
        assert!(matches!(
            decode_registered_key(Address([1; 20]), &data),
            Err(ChainError::InvalidData(_))
        ));
        // 65-byte key (with the 0x04 prefix) is not the contract's format.
        let mut long = vec![4u8];
        long.extend_from_slice(key.as_xy());
        let data = Bytes::from(long).abi_encode();
        assert!(decode_registered_key(key.address(), &data).is_err());
    }

    #[test]
    fn endpoint_longer_than_the_contract_allows_is_refused() {
        use alloy::sol_types::SolCall;
        let out = R::endpointOfCall::abi_encode_returns(&R::endpointOfReturn {
            endpoint: "x".repeat(256),
            sequence: 1,
        });
        assert!(decode_endpoint(&out).is_err());
        let out = R::endpointOfCall::abi_encode_returns(&R::endpointOfReturn {
            endpoint: String::new(),
            sequence: 0,
        });
        assert_eq!(decode_endpoint(&out).unwrap(), None);
    }
}
