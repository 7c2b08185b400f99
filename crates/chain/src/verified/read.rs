//! The async half of the proof-checked reads: fetch a header and an
//! `eth_getProof` answer from the node, verify them, and turn a failed check
//! into [`ChainError::ProofMismatch`] naming the provider.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address as AlloyAddress, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use chainmail_core::eip712::Domain;
use chainmail_core::{Address, IdStatus};

use super::header::{VerifiedHeader, check_header};
use super::slots::{self, StringLayout};
use super::{Mismatch, code, verify_account, verify_registry_slots};
use crate::contract::to_alloy;
use crate::error::ChainError;
use crate::registry::EndpointRecord;
use crate::rpc::{LocalClock, MAX_CLOCK_SKEW, map_rpc};

/// Proof-checked reads of one registry through one node.
pub(crate) struct Verifier {
    registry: AlloyAddress,
    /// The registry's code hash, checked at connect against the code the node
    /// served and against this build's artifact.
    code_hash: B256,
    /// The node, named by its redacted URL.
    url: String,
    /// The oldest head accepted, behind the local clock.
    max_head_age: Option<std::time::Duration>,
    /// The local clock.
    clock: LocalClock,
}

impl Verifier {
    fn mismatch(&self, m: Mismatch) -> ChainError {
        ChainError::ProofMismatch {
            provider: self.url.clone(),
            what: m.0,
        }
    }

    /// Checks the registry at the latest block: its account proven, its code
    /// (as served by `eth_getCode`) hashing to the proven code hash, and that
    /// hash the one of this build's registry for `domain`.
    pub(crate) async fn connect(
        provider: &DynProvider,
        url: &str,
        domain: &Domain,
        max_head_age: Option<std::time::Duration>,
        clock: LocalClock,
    ) -> Result<Verifier, ChainError> {
        let registry = domain.verifying_contract;
        let mut v = Verifier {
            registry: to_alloy(registry),
            code_hash: B256::ZERO,
            url: url.to_string(),
            max_head_age,
            clock,
        };
        let header = v.latest_header(provider).await?;
        let resp = provider
            .get_proof(v.registry, vec![])
            .number(header.number)
            .await
            .map_err(|e| map_rpc(e, url, None))?;
        let account = verify_account(header.state_root, v.registry, &resp)
            .map_err(|m| v.mismatch(m))?
            .ok_or(ChainError::NoContract(registry))?;
        let served = provider
            .get_code_at(v.registry)
            .number(header.number)
            .await
            .map_err(|e| map_rpc(e, url, None))?;
        if served.is_empty() {
            return Err(ChainError::NoContract(registry));
        }
        if keccak256(&served) != account.code_hash {
            return Err(v.mismatch(Mismatch(format!(
                "the registry's code served by eth_getCode hashes to {}, the proven code hash at block {} is {}",
                keccak256(&served),
                header.number,
                account.code_hash
            ))));
        }
        let expected = code::expected_code_hash(domain).map_err(ChainError::InvalidData)?;
        if account.code_hash != expected {
            return Err(ChainError::WrongContract(registry));
        }
        v.code_hash = expected;
        Ok(v)
    }

    /// The local clock the views are judged by.
    pub(crate) fn clock(&self) -> &LocalClock {
        &self.clock
    }

    /// The registry's code hash: this build's, proven at connect.
    pub(crate) fn code_hash(&self) -> B256 {
        self.code_hash
    }

    /// The latest block's header, its hash recomputed.
    pub(crate) async fn latest_header(
        &self,
        provider: &DynProvider,
    ) -> Result<VerifiedHeader, ChainError> {
        let block = provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| map_rpc(e, &self.url, None))?
            .ok_or_else(|| ChainError::InvalidData("the node has no latest block".into()))?;
        let header = check_header(&block.header, None).map_err(|m| self.mismatch(m))?;
        let now = self.clock.now();
        let ahead = header.timestamp.saturating_sub(now);
        if ahead > MAX_CLOCK_SKEW.as_secs() {
            return Err(ChainError::ClockSkew {
                provider: self.url.clone(),
                block: header.number,
                ahead_secs: ahead,
            });
        }
        if let Some(max) = self.max_head_age {
            let age = now.saturating_sub(header.timestamp);
            if age > max.as_secs() {
                return Err(ChainError::StaleChainView {
                    provider: self.url.clone(),
                    block: header.number,
                    age_secs: age,
                    max_secs: max.as_secs(),
                });
            }
        }
        Ok(header)
    }

    /// The words of `slots` in the registry's storage at `header`, proven.
    async fn slots_at(
        &self,
        provider: &DynProvider,
        header: &VerifiedHeader,
        slots: &[B256],
    ) -> Result<Vec<U256>, ChainError> {
        let resp = provider
            .get_proof(self.registry, slots.to_vec())
            .number(header.number)
            .await
            .map_err(|e| map_rpc(e, &self.url, None))?;
        verify_registry_slots(header, self.registry, self.code_hash, slots, &resp)
            .map_err(|m| self.mismatch(m))
    }

    /// `id`'s status at the latest block, proven, and that block's header.
    ///
    /// The header and the proof are asked for at once (one round trip, not
    /// two); both at "latest", so a block landing between them makes the
    /// proof miss the header's state root. Only then is the proof asked for
    /// again at the header's number: a mismatch of that one is the
    /// provider's lie (`ProofMismatch`), never a race.
    pub(crate) async fn status(
        &self,
        provider: &DynProvider,
        id: Address,
    ) -> Result<(IdStatus, VerifiedHeader), ChainError> {
        let slot = [slots::status_slot(id)];
        let (header, resp) = tokio::join!(
            self.latest_header(provider),
            provider.get_proof(self.registry, slot.to_vec()).latest()
        );
        let header = header?;
        if let Ok(resp) = resp
            && let Ok(words) =
                verify_registry_slots(&header, self.registry, self.code_hash, &slot, &resp)
        {
            return Ok((slots::decode_status_word(words[0]), header));
        }
        let words = self.slots_at(provider, &header, &slot).await?;
        Ok((slots::decode_status_word(words[0]), header))
    }

    /// `id`'s endpoint record at the latest block, proven (a long string's
    /// data slots in a second proof at the same block).
    pub(crate) async fn endpoint(
        &self,
        provider: &DynProvider,
        id: Address,
    ) -> Result<Option<EndpointRecord>, ChainError> {
        let header = self.latest_header(provider).await?;
        let string_slot = slots::endpoint_string_slot(id);
        let words = self
            .slots_at(
                provider,
                &header,
                &[slots::endpoint_sequence_slot(id), string_slot],
            )
            .await?;
        let data = match slots::string_layout(words[1]) {
            Some(StringLayout::Long(len)) => {
                let data_slots: Vec<B256> = (0..len.div_ceil(32) as u64)
                    .map(|i| slots::long_string_data_slot(string_slot, i))
                    .collect();
                self.slots_at(provider, &header, &data_slots).await?
            }
            _ => Vec::new(),
        };
        // The words are proven: a record the contract cannot have written is
        // a broken chain, not a lying node.
        slots::decode_endpoint(words[0], words[1], &data)
            .map_err(|e| ChainError::InvalidData(format!("endpoint of {id}: {e}")))
    }
}
