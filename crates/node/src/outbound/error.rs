//! Why a delivery attempt did not deliver: [`DeliveryError`], one variant
//! per cause. Its `Display` is the reason the outbox records and the CLI
//! prints (`reason` in `--json`), word for word what the node always said.

use std::sync::Arc;

use chainmail_chain::ChainError;
use chainmail_core::wire::{CloseReason, MessageError};
use chainmail_core::{Address, StatusError};

use crate::handshake::SessionError;
use crate::node::NodeError;
use crate::transport::TransportError;

/// Why a delivery attempt to one peer did not deliver everything.
///
/// Only [`DeliveryError::RecipientNotValid`] with a revocation is
/// permanent (the peer's messages are rejected); every other cause leaves
/// them queued for a retry, an expired recipient too (expiry is renewable)
/// and one the chain does not know (for a recipient that was valid when
/// the message was queued, that can be a lagging provider; `send` refuses
/// an ID that is unknown when it is typed). Sources that cannot be cloned are shared (`Arc`); two errors are
/// equal when they are the same variant with the same text.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The chain says the recipient is unknown, revoked or expired.
    #[error("recipient {to}: {reason}")]
    RecipientNotValid {
        /// The recipient.
        to: Address,
        /// What the chain says.
        reason: StatusError,
    },
    /// This node's own ID is not valid on the chain (revoked or expired):
    /// no peer accepts a session from it, kept or new, so nothing is sent.
    #[error(
        "this ID {id} is not valid on the chain ({reason}): nothing is sent from it (`chainmail renew` if it expired)"
    )]
    SenderNotValid {
        /// This node's ID.
        id: Address,
        /// What the chain says.
        reason: StatusError,
    },
    /// The chain could not be asked (status, key or endpoint).
    #[error("chain lookup failed: {0}")]
    Chain(Arc<ChainError>),
    /// The recipient has no endpoint on the chain.
    #[error("recipient {to} has published no endpoint")]
    NoEndpoint {
        /// The recipient.
        to: Address,
    },
    /// Dialing the endpoint failed.
    #[error("cannot reach {endpoint}: {source}")]
    Unreachable {
        /// Where we dialed.
        endpoint: String,
        /// Why it failed.
        source: Arc<std::io::Error>,
    },
    /// The responder closed the connection on our session request.
    #[error(
        "the recipient refused the session: the handshake with {endpoint} ended with the \
         connection closed on our request ({to} may have blocked this ID or accept \
         contacts only; or whoever is there does not hold {to}'s key)"
    )]
    SessionRefused {
        /// Where we dialed.
        endpoint: String,
        /// The recipient.
        to: Address,
    },
    /// The handshake failed otherwise (impostor, timeout, bad T_A2…).
    #[error(
        "handshake with {endpoint} failed: the peer there did not prove it holds {to}'s key \
         ({source})"
    )]
    Handshake {
        /// Where we dialed.
        endpoint: String,
        /// The recipient.
        to: Address,
        /// Why.
        source: Arc<SessionError>,
    },
    /// The session broke while delivering (i/o, a bad frame).
    #[error("session: {0}")]
    Session(Arc<TransportError>),
    /// The recipient closed the session before acking everything.
    #[error("recipient closed the session ({0:?})")]
    RecipientClosed(CloseReason),
    /// The recipient holds as many messages from us as it accepts from
    /// someone who is not its contact (`Close(QuotaFull)`): what it did
    /// not ack stays queued and is retried later.
    #[error(
        "recipient {to} holds as many messages from you as it accepts before adding you as a contact; the rest stay queued and are retried"
    )]
    QuotaFull {
        /// The recipient.
        to: Address,
    },
    /// The recipient refused messages for good and closed the session
    /// with more `Deliver`s left to send.
    #[error("recipient closed the session after refusing messages")]
    ClosedAfterRefusal,
    /// The recipient sent messages on our delivery session.
    #[error("recipient sent messages on a delivery session")]
    UnexpectedDeliver,
    /// The messages could not be signed (a queued message the protocol
    /// refuses: see `MessageError`).
    #[error("cannot sign the messages: {0}")]
    Sign(MessageError),
    /// The store failed (loading the queue, marking acks).
    #[error("{0}")]
    Store(Arc<NodeError>),
    /// The attempt did not end within its timeout.
    #[error("timed out waiting for the recipient")]
    TimedOut,
}

impl PartialEq for DeliveryError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
}

impl Eq for DeliveryError {}

impl DeliveryError {
    /// Whether retrying cannot help: the recipient is revoked (nothing
    /// undoes a revocation).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::RecipientNotValid {
                reason: StatusError::Revoked { .. },
                ..
            }
        )
    }

    /// Whether the session broke (i/o, a bad frame, the recipient closed
    /// it): a kept session that did is replaced by a new one at once.
    pub fn is_session_lost(&self) -> bool {
        matches!(self, Self::Session(_) | Self::RecipientClosed(_))
    }
}

impl From<ChainError> for DeliveryError {
    fn from(e: ChainError) -> Self {
        Self::Chain(Arc::new(e))
    }
}

impl From<NodeError> for DeliveryError {
    fn from(e: NodeError) -> Self {
        Self::Store(Arc::new(e))
    }
}

impl From<TransportError> for DeliveryError {
    fn from(e: TransportError) -> Self {
        Self::Session(Arc::new(e))
    }
}
