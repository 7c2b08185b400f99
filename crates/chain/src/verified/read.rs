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

    /// The reads of the registry of `domain` (its code hash this build's,
    /// from the artifact), through the node named `url`; nothing asked yet.
    pub(crate) fn new(
        url: &str,
        domain: &Domain,
        max_head_age: Option<std::time::Duration>,
        clock: LocalClock,
    ) -> Result<Verifier, ChainError> {
        Ok(Verifier {
            registry: to_alloy(domain.verifying_contract),
            code_hash: code::expected_code_hash(domain).map_err(ChainError::InvalidData)?,
            url: url.to_string(),
            max_head_age,
            clock,
        })
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
        let v = Verifier::new(url, domain, max_head_age, clock)?;
        let header = v.latest_header(provider).await?;
        v.check_registry(provider, url, &header).await?;
        Ok(v)
    }

    /// Checks the registry at `header` through the node `provider` (named
    /// `url`): its account proven, the code `eth_getCode` serves hashing to
    /// the proven code hash, and that hash this build's.
    pub(crate) async fn check_registry(
        &self,
        provider: &DynProvider,
        url: &str,
        header: &VerifiedHeader,
    ) -> Result<(), ChainError> {
        let registry = crate::contract::to_core(self.registry);
        let mismatch = |m: Mismatch| ChainError::ProofMismatch {
            provider: url.to_string(),
            what: m.0,
        };
        let resp = provider
            .get_proof(self.registry, vec![])
            .number(header.number)
            .await
            .map_err(|e| map_rpc(e, url, None))?;
        let account = verify_account(header.state_root, self.registry, &resp)
            .map_err(mismatch)?
            .ok_or(ChainError::NoContract(registry))?;
        let served = provider
            .get_code_at(self.registry)
            .number(header.number)
            .await
            .map_err(|e| map_rpc(e, url, None))?;
        if served.is_empty() {
            return Err(ChainError::NoContract(registry));
        }
        if keccak256(&served) != account.code_hash {
            return Err(mismatch(Mismatch(format!(
                "the registry's code served by eth_getCode hashes to {}, the proven code hash at block {} is {}",
                keccak256(&served),
                header.number,
                account.code_hash
            ))));
        }
        if account.code_hash != self.code_hash {
            return Err(ChainError::WrongContract(registry));
        }
        Ok(())
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
        self.check_fresh(&header, &self.url)?;
        Ok(header)
    }

    /// The bounds on a trusted header's time, by the local clock: at most
    /// [`MAX_CLOCK_SKEW`] ahead ([`ChainError::ClockSkew`]) and, if set, at
    /// most `max_head_age` behind ([`ChainError::StaleChainView`]); `shown`
    /// names who served it.
    pub(crate) fn check_fresh(
        &self,
        header: &VerifiedHeader,
        shown: &str,
    ) -> Result<(), ChainError> {
        let now = self.clock.now();
        let ahead = header.timestamp.saturating_sub(now);
        if ahead > MAX_CLOCK_SKEW.as_secs() {
            return Err(ChainError::ClockSkew {
                provider: shown.to_string(),
                block: header.number,
                ahead_secs: ahead,
            });
        }
        if let Some(max) = self.max_head_age {
            let age = now.saturating_sub(header.timestamp);
            if age > max.as_secs() {
                return Err(ChainError::StaleChainView {
                    provider: shown.to_string(),
                    block: header.number,
                    age_secs: age,
                    max_secs: max.as_secs(),
                });
            }
        }
        Ok(())
    }

    /// The words of `slots` in the registry's storage at `header`, proven.
    /// (`provider` is named `url` in errors: in a quorum, one of several.)
    async fn slots_at(
        &self,
        provider: &DynProvider,
        url: &str,
        header: &VerifiedHeader,
        slots: &[B256],
    ) -> Result<Vec<U256>, ChainError> {
        let resp = provider
            .get_proof(self.registry, slots.to_vec())
            .number(header.number)
            .await
            .map_err(|e| map_rpc(e, url, None))?;
        verify_registry_slots(header, self.registry, self.code_hash, slots, &resp).map_err(|m| {
            ChainError::ProofMismatch {
                provider: url.to_string(),
                what: m.0,
            }
        })
    }

    /// `id`'s status at `header` (trusted by a quorum), proven through
    /// `provider`, named `url`.
    pub(crate) async fn status_at(
        &self,
        provider: &DynProvider,
        url: &str,
        header: &VerifiedHeader,
        id: Address,
    ) -> Result<IdStatus, ChainError> {
        let words = self
            .slots_at(provider, url, header, &[slots::status_slot(id)])
            .await?;
        Ok(slots::decode_status_word(words[0]))
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
        let words = self.slots_at(provider, &self.url, &header, &slot).await?;
        Ok((slots::decode_status_word(words[0]), header))
    }

    /// `id`'s endpoint record at the latest block, proven (a long string's
    /// data slots in a second proof at the same block).
    pub(crate) async fn endpoint(
        &self,
        provider: &DynProvider,
        id: Address,
    ) -> Result<(Option<EndpointRecord>, VerifiedHeader), ChainError> {
        let header = self.latest_header(provider).await?;
        let record = self.endpoint_at(provider, &self.url, &header, id).await?;
        Ok((record, header))
    }

    /// `id`'s endpoint record at `header`, proven through `provider`
    /// (named `url`).
    pub(crate) async fn endpoint_at(
        &self,
        provider: &DynProvider,
        url: &str,
        header: &VerifiedHeader,
        id: Address,
    ) -> Result<Option<EndpointRecord>, ChainError> {
        let string_slot = slots::endpoint_string_slot(id);
        let words = self
            .slots_at(
                provider,
                url,
                header,
                &[slots::endpoint_sequence_slot(id), string_slot],
            )
            .await?;
        let data = match slots::string_layout(words[1]) {
            Some(StringLayout::Long(len)) => {
                let data_slots: Vec<B256> = (0..len.div_ceil(32) as u64)
                    .map(|i| slots::long_string_data_slot(string_slot, i))
                    .collect();
                self.slots_at(provider, url, header, &data_slots).await?
            }
            _ => Vec::new(),
        };
        // The words are proven: a record the contract cannot have written is
        // a broken chain, not a lying node.
        slots::decode_endpoint(words[0], words[1], &data)
            .map_err(|e| ChainError::InvalidData(format!("endpoint of {id}: {e}")))
    }
}
