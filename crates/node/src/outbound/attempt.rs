//! One delivery attempt to one peer: the recipient's status from the chain
//! (read once), the kept session or a new one (key at the status's block,
//! endpoint, dial, handshake), the queue sent in `Deliver`s that fit a
//! frame, each message marked delivered as its ack comes. Failures are
//! recorded in the outbox (backoff) as a [`DeliveryError`].

use chainmail_core::record::MAX_PAYLOAD;
use chainmail_core::wire::{Close, CloseReason, Deliver, Envelope, Wire};
use chainmail_core::{Address, IdStatus};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::pool::KeptSession;
use super::{DeliveryError, DeliveryOutcome, DeliveryReport};
use crate::handshake::{self, SessionError};
use crate::node::Node;
use crate::store::{MessageId, OutboxEntry};
use crate::transport::SecureStream;

/// Messages loaded from the outbox per delivery round.
const ROUND: u32 = 1000;

/// Delivers what the outbox holds for `to` within `timeout`: looks up its
/// status, key and endpoint on the chain, refuses it for good if it is
/// revoked (and postpones if it is unknown or expired), dials, runs the handshake as initiator (the
/// peer must prove it holds `to`'s key), sends the queued messages and marks
/// each delivered when acked. Failures are recorded in the outbox (backoff).
pub async fn deliver(node: &Node, to: Address, timeout: std::time::Duration) -> DeliveryReport {
    attempt(node, to, timeout, None, None).await
}

/// [`deliver`], with `just_queued` (the message a `send` has just put in
/// the outbox, still in memory) sent after what was queued before it
/// instead of being read back from the store, and `status` (what `send`
/// has just read from the chain) judged instead of a second read.
pub(super) async fn attempt(
    node: &Node,
    to: Address,
    timeout: std::time::Duration,
    just_queued: Option<OutboxEntry>,
    status: Option<IdStatus>,
) -> DeliveryReport {
    let mut report = DeliveryReport {
        to,
        delivered: Vec::new(),
        outcome: DeliveryOutcome::NothingQueued,
    };
    let deadline = node.clock().deadline(timeout);
    let run = attempt_inner(node, to, deadline, just_queued, status, &mut report);
    let error = match tokio::time::timeout_at(deadline, run).await {
        Ok(Ok(outcome)) => {
            report.outcome = outcome;
            return report;
        }
        Ok(Err(e)) => e,
        Err(_elapsed) => DeliveryError::TimedOut,
    };
    let reason = error.to_string();
    let now = node.now();
    if error.is_permanent() {
        warn!(to = %to, %reason, "recipient refused for good; rejecting its messages");
        if let Err(e) = node.db(move |s| s.reject_peer(&to, &reason, now)).await {
            warn!(error = %e, "could not record the rejection");
        }
        report.outcome = DeliveryOutcome::Rejected { reason: error };
    } else {
        debug!(to = %to, %reason, "delivery postponed");
        if let Err(e) = node.db(move |s| s.record_failure(&to, &reason, now)).await {
            warn!(error = %e, "could not record the failed attempt");
        }
        report.outcome = DeliveryOutcome::Pending { reason: error };
    }
    report
}

async fn attempt_inner(
    node: &Node,
    to: Address,
    deadline: Instant,
    just_queued: Option<OutboxEntry>,
    status: Option<IdStatus>,
    report: &mut DeliveryReport,
) -> Result<DeliveryOutcome, DeliveryError> {
    let slot = node.outbound().pool.slot(to);
    // One delivery to `to` at a time in this process; the session kept by
    // the last one is taken out and put back only after a clean exchange,
    // so a failed or cancelled delivery never leaves a half-used session.
    let mut slot = slot.lock().await;
    let kept = slot.take();
    let skip = just_queued.as_ref().map(|e| e.message.message_id);
    let mut queued = node
        .db(move |s| match skip {
            Some(id) => s.queued_for_except(&to, ROUND - 1, &id),
            None => s.queued_for(&to, ROUND),
        })
        .await?;
    queued.extend(just_queued);
    if queued.is_empty() {
        *slot = kept;
        return Ok(DeliveryOutcome::NothingQueued);
    }
    // The chain first, every time, and once: nothing is sent to an ID that
    // is not valid now, even over a kept session; a new session's key is
    // read at the block this status names, and the status is not read or
    // judged again.
    let status = match status {
        Some(s) => s,
        None => node.fresh_status(to).await?,
    };
    if let Err(reason) = status.check(node.now()) {
        return Err(DeliveryError::RecipientNotValid { to, reason });
    }
    // Our own ID too (the cached status will do): a revoked or expired
    // sender would only have its session refused or, kept, closed at the
    // recipient's next re-check — say why here instead.
    let own = node.status(node.address()).await?;
    if let Err(reason) = own.check(node.now()) {
        return Err(DeliveryError::SenderNotValid {
            id: node.address(),
            reason,
        });
    }
    let (mut session, mut fresh) = match kept.and_then(|k| k.reusable(node.now())) {
        Some(session) => {
            debug!(to = %to, "reusing the kept session");
            (session, false)
        }
        None => (connect(node, to, &status, deadline).await?, true),
    };
    loop {
        match exchange(node, &mut session, to, &queued, report).await {
            Ok(Exchanged::Open) => {
                *slot = Some(KeptSession::new(session, node.clock().instant()));
                info!(to = %to, count = report.delivered.len(), "delivered");
                return Ok(DeliveryOutcome::Delivered);
            }
            Ok(Exchanged::Closed) => {
                info!(to = %to, count = report.delivered.len(), "delivered");
                return Ok(DeliveryOutcome::Delivered);
            }
            // A kept session can have died since (the peer's idle timeout,
            // a restart, a revocation or block it sees first): one more try
            // on a new session, whose handshake gives the real answer.
            // Messages it may have stored already are acked again (dedup).
            Err(e) if e.is_session_lost() && !fresh && report.delivered.is_empty() => {
                debug!(to = %to, reason = %e, "the kept session failed; opening a new one");
                session = connect(node, to, &status, deadline).await?;
                fresh = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Looks up `to`'s key and endpoint on the chain, dials and runs the
/// handshake as initiator (the peer must prove it holds that key). `status`
/// is `to`'s, read and judged valid by the caller: the key is read from the
/// block it names, and the status is not read or judged again.
async fn connect(
    node: &Node,
    to: Address,
    status: &IdStatus,
    deadline: Instant,
) -> Result<SecureStream, DeliveryError> {
    let key = node.registered_key(to, status.registered_block).await?;
    let endpoint = node
        .registry()
        .endpoint(to)
        .await?
        .ok_or(DeliveryError::NoEndpoint { to })?
        .endpoint;
    debug!(to = %to, endpoint = %endpoint, "dialing");
    let stream = match node.options().dialer.dial(&endpoint).await {
        Ok(s) => s,
        Err(e) => {
            return Err(DeliveryError::Unreachable {
                endpoint,
                source: e.into(),
            });
        }
    };
    match handshake::initiate_boxed(node, stream, to, key, status.valid_until, deadline).await {
        Ok(session) => {
            info!(to = %to, "session established");
            Ok(session)
        }
        // A responder that refuses us and an impostor that cannot read our
        // request look the same from here: both just close.
        Err(SessionError::Refused) => Err(DeliveryError::SessionRefused { endpoint, to }),
        Err(e) => Err(DeliveryError::Handshake {
            endpoint,
            to,
            source: e.into(),
        }),
    }
}

/// How an exchange that delivered everything left the session.
enum Exchanged {
    /// Open and idle: worth keeping for the next delivery.
    Open,
    /// Closed by the recipient (after refusing messages for good).
    Closed,
}

fn envelope(e: &OutboxEntry) -> Envelope {
    Envelope {
        id: e.message.message_id,
        sent_at: e.message.sent_at,
        body: e.message.body.as_bytes().to_vec(),
    }
}

/// Splits the queue into `Deliver`s of at most `max_batch` messages whose
/// encoding fits one session frame (a chunk of several is batch-signed, so
/// its size is `Deliver::encoded_len(_, false)`; one message alone always
/// fits, its body being within `MAX_BODY`).
fn chunks_that_fit(queued: &[OutboxEntry], max_batch: usize) -> Vec<&[OutboxEntry]> {
    let header = Deliver::encoded_len(&[], false);
    let max_batch = max_batch.clamp(1, chainmail_core::wire::MAX_MESSAGES_PER_DELIVER);
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = header;
    for (i, e) in queued.iter().enumerate() {
        let add = Envelope::encoded_len(e.message.body.len());
        if i > start && (i - start == max_batch || size + add > MAX_PAYLOAD) {
            out.push(&queued[start..i]);
            start = i;
            size = header;
        }
        size += add;
    }
    if start < queued.len() {
        out.push(&queued[start..]);
    }
    out
}

/// The `Deliver` for one chunk, signed here and only here: a message alone
/// under its own `Message` signature; several under one `MessageBatch`
/// signature over their Merkle root (each stays provable alone with its
/// path).
fn signed_deliver(
    node: &Node,
    to: Address,
    chunk: &[OutboxEntry],
) -> Result<Deliver, DeliveryError> {
    let envelopes = chunk.iter().map(envelope).collect();
    if chunk.len() == 1 {
        Deliver::sign_each(node.key(), node.domain(), to, envelopes)
    } else {
        Deliver::sign_batch(node.key(), node.domain(), to, envelopes)
    }
    .map_err(DeliveryError::Sign)
}

/// Sends the queued messages over `session` in `Deliver`s that fit a frame
/// and marks each delivered as its ack comes.
async fn exchange(
    node: &Node,
    session: &mut SecureStream,
    to: Address,
    queued: &[OutboxEntry],
    report: &mut DeliveryReport,
) -> Result<Exchanged, DeliveryError> {
    let chunks = chunks_that_fit(queued, node.options().limits.max_batch);
    let last = chunks.len().saturating_sub(1);
    for (k, chunk) in chunks.into_iter().enumerate() {
        let deliver = signed_deliver(node, to, chunk)?;
        let mut waiting: Vec<MessageId> = chunk.iter().map(|e| e.message.message_id).collect();
        session.send(&Wire::Deliver(deliver)).await?;
        while !waiting.is_empty() {
            match session.recv().await? {
                Wire::Ack(ack) => {
                    let acked: Vec<MessageId> = ack
                        .ids
                        .into_iter()
                        .filter(|id| waiting.contains(id))
                        .collect();
                    waiting.retain(|id| !acked.contains(id));
                    let now = node.now();
                    let a = acked.clone();
                    node.db(move |s| s.mark_delivered(&a, now)).await?;
                    report.delivered.extend(acked);
                }
                Wire::Close(Close {
                    reason: reason @ (CloseReason::NotText | CloseReason::SentAtOutOfWindow),
                }) => {
                    // The recipient acked what it stored and refuses the
                    // rest of this `Deliver` for good: reject, never retry.
                    let refused = std::mem::take(&mut waiting);
                    let why = if reason == CloseReason::NotText {
                        "its body is not UTF-8 text"
                    } else {
                        "its sentAt is outside the recipient's window (more than 300 s ahead of its clock, or older than a week): check this computer's clock"
                    };
                    let reason = format!("recipient {to} refused the message for good: {why}");
                    warn!(to = %to, count = refused.len(), "messages refused by the recipient");
                    let now = node.now();
                    node.db(move |s| s.reject_messages(&refused, &reason, now))
                        .await?;
                    if k < last {
                        // The session is closed; the rest waits for the next attempt.
                        return Err(DeliveryError::ClosedAfterRefusal);
                    }
                    return Ok(Exchanged::Closed);
                }
                Wire::Close(Close {
                    reason: CloseReason::QuotaFull,
                }) => return Err(DeliveryError::QuotaFull { to }),
                Wire::Close(close) => return Err(DeliveryError::RecipientClosed(close.reason)),
                Wire::Deliver(_) => return Err(DeliveryError::UnexpectedDeliver),
            }
        }
    }
    Ok(Exchanged::Open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OutboxState, OutgoingMessage};

    fn entry(len: usize) -> OutboxEntry {
        OutboxEntry {
            message: OutgoingMessage {
                message_id: [0; 16],
                from: Address([1; 20]),
                to: Address([2; 20]),
                body: "x".repeat(len),
                sent_at: 0,
            },
            state: OutboxState::Queued,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            created_at: 0,
            finished_at: None,
        }
    }

    #[test]
    fn chunks_follow_max_batch_and_the_frame() {
        let small: Vec<OutboxEntry> = (0..10).map(|_| entry(10)).collect();
        let sizes = |max| {
            chunks_that_fit(&small, max)
                .iter()
                .map(|c| c.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(4), vec![4, 4, 2]);
        assert_eq!(sizes(64), vec![10]);
        // 0 is read as 1, never as an endless loop or an empty `Deliver`.
        assert_eq!(sizes(0), vec![1; 10]);
        // 1 KiB bodies: the frame bounds a chunk below a large max_batch.
        let big: Vec<OutboxEntry> = (0..100).map(|_| entry(1024)).collect();
        let chunks = chunks_that_fit(&big, 256);
        assert!(chunks.iter().all(|c| c.len() < 64), "{}", chunks[0].len());
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 100);
    }
}
