//! The sending side: [`send`] stores a message durably, then makes one
//! delivery `attempt` (which signs it as it goes); [`deliver`] empties the
//! outbox for one peer over one session (the one kept in the `pool` from
//! the last delivery, or a new one); the outbox `worker` retries with backoff until
//! the maximum age, several peers at once.
//!
//! A message leaves the outbox in exactly three ways: `delivered` when the
//! peer acked it (the peer acks only after committing it), `rejected` when
//! the chain says the peer is unknown, revoked or expired (permanent) or the
//! peer refused that message for good (`Close(NotText)`), and `expired` when
//! it was not delivered within the maximum age.

mod attempt;
mod error;
mod pool;
mod send;
mod worker;

use chainmail_core::Address;
use tokio::sync::Notify;

pub use attempt::deliver;
pub use error::DeliveryError;
pub use pool::{KEEP_SESSION, close_idle_sessions};
pub use send::{MAX_BODY, send};
pub use worker::{WORKER_CONCURRENCY, WORKER_DELIVERY_TIMEOUT, WORKER_POLL, run_outbox};

use crate::store::MessageId;

/// What the sending side keeps in the node.
#[derive(Default)]
pub(crate) struct State {
    /// Kept sessions and per-peer delivery locks.
    pool: pool::Pool,
    // Why a Notify: `send` (in this process) wakes the outbox worker so a
    // message queued while `serve` runs goes out without waiting for the
    // next poll. Other processes' sends are found by the worker's poll.
    wake: Notify,
}

impl State {
    /// Wakes the outbox worker, if one runs in this process.
    fn wake_worker(&self) {
        self.wake.notify_one();
    }

    /// Completes when [`State::wake_worker`] is called.
    async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// The status of a message as `send` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Acked by the recipient.
    Delivered,
    /// In the outbox; `serve` will retry.
    Queued,
    /// Refused for good (recipient revoked, unknown or expired).
    Rejected,
}

impl SendStatus {
    /// `delivered`, `queued` or `rejected` (the CLI's JSON values).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Queued => "queued",
            Self::Rejected => "rejected",
        }
    }
}

/// What `send` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// The new message's id.
    pub message_id: MessageId,
    /// The recipient.
    pub to: Address,
    /// Where it stands.
    pub status: SendStatus,
    /// Why it is not delivered (None when delivered): the outbox's record,
    /// or this attempt's [`DeliveryError`] as text.
    pub reason: Option<String>,
}

/// How one delivery attempt to a peer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Nothing was queued for the peer.
    NothingQueued,
    /// Every message loaded was acked, or refused for good by the
    /// recipient (`Close(NotText)`) and marked rejected in the outbox.
    Delivered,
    /// Some or all messages are still queued; retried later.
    Pending {
        /// Why (unreachable, handshake failed, timeout…).
        reason: DeliveryError,
    },
    /// The peer is refused for good; its messages are rejected.
    Rejected {
        /// Why (revoked, unknown, expired).
        reason: DeliveryError,
    },
}

/// What `deliver` did for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The peer.
    pub to: Address,
    /// Messages acked in this attempt.
    pub delivered: Vec<MessageId>,
    /// How it ended.
    pub outcome: DeliveryOutcome,
}
