//! Errors of the chain crate: what went wrong talking to a registry, named so
//! that a user (or the node) can act on it.

use chainmail_core::Address;

/// A revert of the `IdentityRegistry` contract, decoded from its custom error.
///
/// The variants carry the names and arguments of the Solidity custom errors,
/// so `AlreadyRegistered(0x…)` here is `AlreadyRegistered(address)` there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The ID was registered before (possibly revoked since): an ID never comes back.
    #[error(
        "AlreadyRegistered({0}): this ID was registered before and can never be registered again"
    )]
    AlreadyRegistered(Address),
    /// The ID was never registered.
    #[error("UnknownIdentity({0}): this ID is not registered")]
    UnknownIdentity(Address),
    /// The ID is revoked.
    #[error("IdentityRevoked({0}): this ID is revoked")]
    IdentityRevoked(Address),
    /// The ID's certificate has expired (it may be renewed).
    #[error("IdentityExpired({0}): this ID's certificate has expired; renew it")]
    IdentityExpired(Address),
    /// A timestamp outside the allowed skew of the block time.
    #[error(
        "StaleTimestamp(timestamp {timestamp}, block {block_timestamp}): the time is outside the allowed skew; check the clock"
    )]
    StaleTimestamp {
        /// The timestamp in the signed payload.
        timestamp: u64,
        /// The block timestamp it was judged against.
        block_timestamp: u64,
    },
    /// The signature does not recover to the ID, or is malformed (high s, bad v).
    #[error("BadSignature(): the signature is not the ID's over this payload and registry")]
    BadSignature,
    /// The public key is not 64 bytes or not a curve point.
    #[error("InvalidPublicKey(): the public key is not a 64-byte secp256k1 point")]
    InvalidPublicKey,
    /// `validUntil` not in the future or beyond the maximum lifetime.
    #[error(
        "InvalidLifetime(validUntil {valid_until}, issuedAt {issued_at}): choose a validity in the future and within the maximum lifetime"
    )]
    InvalidLifetime {
        /// Requested end of validity.
        valid_until: u64,
        /// Issue time in the payload.
        issued_at: u64,
    },
    /// A renewal not newer than the stored certificate.
    #[error(
        "StaleRenewal(issuedAt {issued_at}, current {current}): a newer certificate is already on the chain"
    )]
    StaleRenewal {
        /// Issue time in the renewal.
        issued_at: u64,
        /// Issue time stored on the chain.
        current: u64,
    },
    /// An endpoint sequence not greater than the stored one.
    #[error(
        "StaleSequence(sequence {sequence}, current {current}): a newer endpoint is already on the chain"
    )]
    StaleSequence {
        /// Sequence in the payload.
        sequence: u64,
        /// Sequence stored on the chain.
        current: u64,
    },
    /// An endpoint sequence (milliseconds since the epoch) further ahead of the
    /// block time than the contract allows: `(block time + 300 s) * 1000`.
    #[error(
        "FutureSequence(sequence {sequence}, limit {limit}): the endpoint's sequence (the signer's clock, in milliseconds) is more than 5 minutes ahead of the chain's time; set the clock right, then sign and publish the endpoint again"
    )]
    FutureSequence {
        /// Sequence in the payload.
        sequence: u64,
        /// The largest sequence the block accepted: `(block timestamp + MAX_FUTURE_SKEW) * 1000`.
        limit: u64,
    },
    /// The endpoint string is too long.
    #[error("EndpointTooLong({length}): an endpoint is at most 255 bytes")]
    EndpointTooLong {
        /// Its length in bytes (saturated at u64::MAX).
        length: u64,
    },
    /// Revert data that matches no known custom error (e.g. a different contract).
    #[error("unknown revert (selector {selector}, {len} bytes): is this the chainmail registry?")]
    Unknown {
        /// First four bytes, hex, or empty.
        selector: String,
        /// Length of the revert data.
        len: usize,
    },
}

/// Everything that can go wrong between a caller and a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The contract refused: a custom error, decoded by name.
    #[error("the registry refused: {0}")]
    Contract(#[from] ContractError),
    /// The RPC node did not answer.
    #[error(
        "cannot reach the Ethereum node at {url}: {reason}; is it running and is the URL right?"
    )]
    Unreachable {
        /// The URL dialled (without credentials).
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The payer cannot pay for gas.
    #[error(
        "the payer {payer} has not enough ether to pay for gas: {reason}; fund it or use another payer key"
    )]
    InsufficientFunds {
        /// The payer's address.
        payer: Address,
        /// What the node said.
        reason: String,
    },
    /// The transaction was mined but failed without a decodable custom error.
    #[error("transaction {tx_hash} reverted in block {block}: {reason}")]
    Reverted {
        /// Hash of the transaction, hex.
        tx_hash: String,
        /// Block it was included in.
        block: u64,
        /// Why, as far as known.
        reason: String,
    },
    /// The transaction was sent but never confirmed.
    #[error(
        "transaction {tx_hash} was not confirmed: {reason}; it may have been dropped — check the node and retry"
    )]
    Dropped {
        /// Hash of the transaction, hex.
        tx_hash: String,
        /// What happened while waiting.
        reason: String,
    },
    /// The node serves another chain than expected.
    #[error("wrong chain: expected chain id {expected}, the node says {got}")]
    WrongChainId {
        /// Chain id expected.
        expected: u64,
        /// Chain id of the node.
        got: u64,
    },
    /// No contract code at the registry address.
    #[error(
        "no contract at the registry address {0}: deploy it (`chainmail deploy`) or fix the configured address"
    )]
    NoContract(Address),
    /// The code at the registry address is not this build's `IdentityRegistry`.
    #[error(
        "the contract at {0} is not the chainmail IdentityRegistry (its code differs from this build's): fix the configured registry address"
    )]
    WrongContract(Address),
    /// The RPC node's answer is refuted by the proofs of the block it named
    /// (a forged header, account or storage proof, or code): it is faulty or lying.
    #[error(
        "the Ethereum node at {provider} gave an answer its own block's proofs refute ({what}); nothing it said was used — it is faulty or lying: switch to another RPC provider"
    )]
    ProofMismatch {
        /// The node, by its URL without path, query or credentials.
        provider: String,
        /// What did not match.
        what: String,
    },
    /// The provider's latest block is older than the freshness bound: its
    /// view could hide a recent revocation, so nothing it says is used.
    #[error(
        "the Ethereum node at {provider} serves a stale view: its latest block ({block}) is {age_secs} s behind this machine's clock (the bound is {max_secs} s); nothing it said was used — use a provider that keeps up, check this machine's clock, or for a local chain that mines only on transactions raise max_head_age_secs in config.toml (0: no bound)"
    )]
    StaleChainView {
        /// The node, by its URL without path, query or credentials.
        provider: String,
        /// Its latest block.
        block: u64,
        /// How far behind the local clock that block is.
        age_secs: u64,
        /// The bound.
        max_secs: u64,
    },
    /// The provider's latest block is dated more than 300 s after this
    /// machine's clock: one of the two is wrong, and chainmail stamps what
    /// it signs with the local clock.
    #[error(
        "the latest block ({block}) the Ethereum node at {provider} serves is dated {ahead_secs} s after this machine's clock (the bound is 300 s); nothing it said was used — set this machine's clock right (NTP), or use another provider"
    )]
    ClockSkew {
        /// The node, by its URL without path, query or credentials.
        provider: String,
        /// Its latest block.
        block: u64,
        /// How far ahead of the local clock that block is.
        ahead_secs: u64,
    },
    /// The providers of a quorum do not agree on the block to trust: fewer
    /// than `k` of them returned the same header hash for `block`, so no
    /// header (and nothing proven against one) was used.
    #[error(
        "the Ethereum nodes do not agree on block {block}: a quorum needs {k} of {n} to return the same header hash, the most that did is {agreeing} ({answers}); nothing they said was used — one or more providers is faulty, lagging or lying: replace it (drop it from `--chain` / config.toml's `chain` list) or lower `--quorum` deliberately"
    )]
    QuorumFailed {
        /// The block number asked for (the k-th highest head, less the margin).
        block: u64,
        /// The quorum.
        k: usize,
        /// The providers asked.
        n: usize,
        /// The largest number of providers that agreed on one hash.
        agreeing: usize,
        /// What each provider answered, by its URL without path, query or
        /// credentials (`http://h:8545: 0xab12…`, `…: unreachable`).
        answers: String,
    },
    /// The chain or registry is not the one this home pinned on first use
    /// (config.toml's `[pin]`): nothing was signed or sent.
    #[error(
        "this is not the chain this home is pinned to: its {what} is {got}, the pin says {expected}; nothing was signed or sent — if the change is deliberate, re-pin with `chainmail chain pin --force`"
    )]
    ChainMismatch {
        /// `chain id`, `genesis block hash`, `registry address` or `registry code hash`.
        what: &'static str,
        /// The pinned value.
        expected: String,
        /// The chain's.
        got: String,
    },
    /// The chain has no deterministic deployment proxy, through which
    /// `deploy` places the registry at its one address.
    #[error(
        "no deterministic deployment proxy at {proxy} on this chain: chainmail deploys the registry through it (CREATE2, a fixed salt) so that it has the same address on every chain; deploy the proxy first (its presigned transaction: github.com/Arachnid/deterministic-deployment-proxy) or use a chain that carries it (anvil and most public chains do)"
    )]
    NoDeployer {
        /// The proxy's address.
        proxy: Address,
    },
    /// A write was attempted without a payer key (rpc backend).
    #[error("this operation sends a transaction and needs a payer key (none configured)")]
    NoPayer,
    /// The embedded chain file is damaged or is not a chainmail chain.
    #[error(
        "the chain file {path} is unusable: {reason}; it was left untouched — move it away or pick another with embedded:PATH"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What check failed.
        reason: String,
    },
    /// SQLite or the file system failed.
    #[error("chain storage error: {0}")]
    Storage(String),
    /// The node or the chain returned data that breaks the protocol (bad log, bad key).
    #[error("the chain returned invalid data: {0}")]
    InvalidData(String),
    /// A bad argument from the caller (URL, chain spec).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The provider's quote for a transaction (its fee per gas, or the gas
    /// it needs) is above the cap: nothing was signed or sent.
    #[error(
        "the provider quotes {quoted} of {what} for this transaction, above the cap of {cap}; nothing was signed or sent"
    )]
    FeeTooHigh {
        /// `fee per gas` or `gas`.
        what: &'static str,
        /// The quote.
        quoted: String,
        /// The cap.
        cap: String,
    },
    /// Any other RPC failure.
    #[error("RPC error: {0}")]
    Rpc(String),
}

impl From<rusqlite::Error> for ChainError {
    fn from(e: rusqlite::Error) -> Self {
        ChainError::Storage(e.to_string())
    }
}
