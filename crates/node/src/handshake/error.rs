//! Why a session could not be set up, on either side of the handshake.

use chainmail_chain::ChainError;
use chainmail_core::handshake::HandshakeError;
use chainmail_core::{Address, StatusError};

use crate::node::NodeError;
use crate::transport::TransportError;

/// Why a session could not be set up. Detailed for the local log; the peer
/// is never told more than that the handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The handshake did not complete by its deadline.
    #[error("the handshake did not complete in time")]
    Timeout,
    /// Moving records failed (closed, too large, truncated, i/o).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The handshake failed (impostor, replay, wrong registry…).
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer's ID is not valid on the chain.
    #[error("peer {id} refused: {reason}")]
    PeerNotValid {
        /// The peer.
        id: Address,
        /// Why (unknown, revoked, expired).
        reason: StatusError,
    },
    /// Our own ID is not valid on the chain (not registered, revoked, expired).
    #[error("our own identity {id} is not valid on the chain: {reason}")]
    SelfNotValid {
        /// Us.
        id: Address,
        /// Why.
        reason: StatusError,
    },
    /// A replayed T_B1 (seen before, in this run or an earlier one).
    #[error("replayed session request from {0}")]
    Replay(Address),
    /// The initiator's first frame was not the key confirmation.
    #[error("the initiator did not confirm the session keys")]
    NotConfirmed,
    /// The chain could not be asked.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The registry's `verifySession` refused the session request that
    /// passed the local checks (only with `NodeOptions::verify_on_chain`).
    #[error("the registry's verifySession refused {id}'s session request: {source}")]
    RefusedOnChain {
        /// The initiator.
        id: Address,
        /// The contract's custom error.
        #[source]
        source: ChainError,
    },
    /// The store failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Responder side: the initiator is blocked (or not a contact while the
    /// node accepts contacts only). It is told nothing; the connection closes.
    #[error("session request from {0} refused: blocked, or not a contact")]
    NotAdmitted(Address),
    /// Responder side: the initiator's status was in no cache, and its
    /// source has spent its budget of chain lookups (a flood of fresh
    /// keys). It is told nothing; the connection closes.
    #[error(
        "session request from {0} refused: its source spent its budget of chain lookups for uncached IDs"
    )]
    LookupBudget(Address),
    /// Responder side: the initiator's key hashes to its ID but is not the
    /// key the chain registered for it (for a 160-bit hash only a broken or
    /// lying registry can show this). It is told nothing; the connection
    /// closes.
    #[error("session request from {0} refused: its key is not the one registered for it")]
    KeyMismatch(Address),
    /// Initiator side: the responder closed the connection instead of
    /// answering our session request (it refused us: blocked, contacts
    /// only, or it judged our ID not valid).
    #[error("the recipient refused the session")]
    Refused,
}

impl From<chainmail_core::session::SessionError> for SessionError {
    fn from(e: chainmail_core::session::SessionError) -> Self {
        Self::Transport(e.into())
    }
}

impl From<std::io::Error> for SessionError {
    fn from(e: std::io::Error) -> Self {
        Self::Transport(e.into())
    }
}
