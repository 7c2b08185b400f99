//! The `Registry` interface every other crate uses, whatever the backend.

use async_trait::async_trait;
use chainmail_core::eip712::{
    Certificate, Domain, Endpoint, Renewal, Revocation, SessionRequest, Signed,
};
use chainmail_core::{Address, IdStatus, PublicKey};

use crate::error::ChainError;

/// What a mined transaction produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOutcome {
    /// Transaction hash (for the embedded chain: keccak256 of its encoding).
    pub tx_hash: [u8; 32],
    /// Block it was included in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
}

/// An ID's endpoint as stored on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// Where to reach the ID (e.g. `203.0.113.7:7400`); at most 255 bytes.
    pub endpoint: String,
    /// Its sequence number (strictly growing; clients use milliseconds).
    pub sequence: u64,
}

/// What a registry's reads rest on (`lookup`'s and the daemon `status`'s
/// `trust`): `embedded` (a local file with its own integrity check),
/// `single-rpc` (every fact proof-checked against a header one provider
/// serves: catches tampered answers, not a provider forging a whole
/// consistent state), `quorum K/n` (against a header K of n providers
/// returned the same hash for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The embedded chain.
    Embedded,
    /// One RPC provider's header.
    SingleRpc,
    /// A header `k` of `n` providers agree on.
    Quorum {
        /// Providers that must agree.
        k: usize,
        /// Providers asked.
        n: usize,
    },
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Embedded => f.write_str("embedded"),
            Trust::SingleRpc => f.write_str("single-rpc"),
            Trust::Quorum { k, n } => write!(f, "quorum {k}/{n}"),
        }
    }
}

/// The identity registry (the `IdentityRegistry` contract), on any backend.
///
/// Writes take payloads signed by the identity's key: anyone may submit them
/// (the relayer path). Reads are of the latest state: on the embedded chain
/// its file's state at the clock's time; on an RPC chain the latest block,
/// proof-checked against that block's state root (`verified`), with expiry
/// judged at the later of the block's time and the local clock.
#[async_trait]
pub trait Registry: Send + Sync {
    /// The EIP-712 domain of this registry: chain id and contract address.
    fn domain(&self) -> Domain;
    /// What its reads rest on.
    fn trust(&self) -> Trust;
    /// The highest block a read was proof-checked at so far (rpc chains);
    /// `None` before the first read, and on the embedded chain.
    fn verified_block(&self) -> Option<u64> {
        None
    }
    /// Registers a certificate (`register`).
    async fn register(&self, c: &Signed<Certificate>) -> Result<TxOutcome, ChainError>;
    /// Renews a certificate (`renew`).
    async fn renew(&self, r: &Signed<Renewal>) -> Result<TxOutcome, ChainError>;
    /// Revokes an ID for good (`revoke`).
    async fn revoke(&self, r: &Signed<Revocation>) -> Result<TxOutcome, ChainError>;
    /// Publishes where the ID can be reached (`setEndpoint`).
    async fn set_endpoint(&self, e: &Signed<Endpoint>) -> Result<TxOutcome, ChainError>;
    /// The ID's status (all zero for an unknown ID), at the latest state.
    async fn status(&self, id: Address) -> Result<IdStatus, ChainError>;
    /// Whether the ID is valid now (the contract's `isValid` rule).
    async fn is_valid(&self, id: Address) -> Result<bool, ChainError>;
    /// The ID's public key, from the `Registered` log of the block named by
    /// `status.registered_block`, checked to hash to `id`. `None` if unknown.
    /// Reads the status once; a caller that already holds it uses
    /// [`Registry::public_key_at`] instead.
    async fn public_key(&self, id: Address) -> Result<Option<PublicKey>, ChainError> {
        let status = self.status(id).await?;
        if !status.is_registered() {
            return Ok(None);
        }
        self.public_key_at(id, status.registered_block)
            .await
            .map(Some)
    }
    /// The ID's public key from the `Registered` log in `registered_block`
    /// (the `registered_block` of a status the caller already read), checked
    /// to hash to `id`. No status read: one delivery reads the status once.
    async fn public_key_at(
        &self,
        id: Address,
        registered_block: u64,
    ) -> Result<PublicKey, ChainError>;
    /// The ID's endpoint, `None` if it never set one.
    async fn endpoint(&self, id: Address) -> Result<Option<EndpointRecord>, ChainError>;
    /// The contract's `verifySession` on a session request (paper §4.1.3 step 2);
    /// a refusal is [`ChainError::Contract`] with the custom error.
    async fn verify_session(&self, r: &Signed<SessionRequest>) -> Result<(), ChainError>;
    /// The time validity is judged at (the chain's, see the trait's doc).
    async fn now(&self) -> Result<u64, ChainError>;
}
