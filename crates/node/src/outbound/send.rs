//! `send`: one text to one recipient — checked against the body limit and
//! the chain (an unknown ID is refused, nothing queued), sealed into the
//! outbox once (durably, before anything goes on the wire),
//! then one delivery attempt that carries the message from memory rather
//! than reading it back, and signs it once as it goes.

use std::time::Duration;

use chainmail_core::Address;
use chainmail_core::StatusError;
pub use chainmail_core::wire::MAX_BODY;
use rand::TryRngCore;
use tracing::{debug, info};

use super::attempt::attempt;
use super::{DeliveryError, DeliveryOutcome, SendOutcome, SendStatus};
use crate::node::{Node, NodeError};
use crate::store::{OutboxEntry, OutboxState, OutgoingMessage};

/// Stores it in the outbox (durably, before anything
/// goes on the wire), then tries to deliver everything queued for `to`
/// within `timeout`.
pub async fn send(
    node: &Node,
    to: Address,
    text: &str,
    timeout: Duration,
) -> Result<SendOutcome, NodeError> {
    if to == node.address() {
        return Err(NodeError::SendToSelf);
    }
    if text.len() > MAX_BODY {
        return Err(NodeError::BodyTooLarge {
            len: text.len(),
            max: MAX_BODY,
        });
    }
    let mut message_id = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut message_id)
        .map_err(|e| NodeError::Rng(e.to_string()))?;
    // The chain first: an ID it has never seen is most likely a typo, refused
    // at once with nothing queued rather than retried for days. (The worker
    // later treats "unknown" as lag: the ID was valid when this passed.) An
    // unreachable chain is no answer: the message is queued and retried.
    let started = node.clock().instant();
    let status = match tokio::time::timeout(timeout, node.fresh_status(to)).await {
        Ok(Ok(status)) => {
            if let Err(reason @ StatusError::Unknown) = status.check(node.now()) {
                info!(to = %to, "recipient unknown to the chain; nothing queued");
                return Ok(SendOutcome {
                    message_id,
                    to,
                    status: SendStatus::Rejected,
                    reason: Some(DeliveryError::RecipientNotValid { to, reason }.to_string()),
                });
            }
            Some(status)
        }
        Ok(Err(e)) => {
            debug!(to = %to, error = %e, "status lookup failed; queueing anyway");
            None
        }
        Err(_elapsed) => None,
    };
    let now = node.now();
    let msg = OutgoingMessage {
        message_id,
        from: node.address(),
        to,
        body: text.to_owned(),
        sent_at: now,
    };
    let queued = OutboxEntry {
        message: msg.clone(),
        state: OutboxState::Queued,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        finished_at: None,
    };
    node.db(move |s| s.enqueue(&msg, now)).await?;
    info!(to = %to, id = %hex::encode(message_id), "message queued");
    // Wake this process's outbox worker, if it runs (`send` inside `serve`).
    node.outbound().wake_worker();

    let left = timeout.saturating_sub(node.clock().instant() - started);
    let report = attempt(node, to, left, Some(queued), status).await;
    if report.delivered.contains(&message_id) {
        // Acked (after the recipient's commit) and marked: nothing to read.
        return Ok(SendOutcome {
            message_id,
            to,
            status: SendStatus::Delivered,
            reason: None,
        });
    }
    // Where it stands, without reading its body back.
    let (state, last_error) = node
        .db(move |s| s.outbox_state(&message_id))
        .await?
        .ok_or(NodeError::QueuedMessageMissing(message_id))?;
    let (status, reason) = match state {
        OutboxState::Delivered => (SendStatus::Delivered, None),
        OutboxState::Rejected | OutboxState::Expired => {
            (SendStatus::Rejected, last_error.or(Some("rejected".into())))
        }
        OutboxState::Queued => (
            SendStatus::Queued,
            Some(match report.outcome {
                DeliveryOutcome::Pending { reason } => reason.to_string(),
                _ => last_error.unwrap_or_else(|| "not acked yet".into()),
            }),
        ),
    };
    Ok(SendOutcome {
        message_id,
        to,
        status,
        reason,
    })
}
