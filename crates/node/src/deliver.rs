//! The sending side: `send` stores a signed message durably, then tries to
//! deliver it; `deliver` empties the outbox for one peer over one session;
//! the outbox worker retries with backoff until the maximum age, several
//! peers at once.
//!
//! A message leaves the outbox in exactly three ways: `delivered` when the
//! peer acked it (the peer acks only after committing it), `rejected` when
//! the chain says the peer is unknown, revoked or expired (permanent) or the
//! peer refused that message for good (`Close(NotText)`), and `expired` when
//! it was not delivered within the maximum age.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chainmail_chain::ChainError;
use chainmail_core::eip712::{Message, Signed};
use chainmail_core::record::MAX_PAYLOAD;
use chainmail_core::wire::{Auth, Close, CloseReason, Deliver, Envelope, Wire};
use chainmail_core::{Address, IdStatus, Signature, hash};
use rand::TryRngCore;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::node::{Node, NodeError, unix_now};
use crate::session::SecureStream;
use crate::store::{MessageId, OutboxState, OutgoingMessage};

/// Messages per `Deliver` (one batch signature covers them): bounds the
/// work a receiver does before it acks, and our wait for that ack.
const WINDOW: usize = 64;
/// Largest message body in bytes: one message must fit one session frame
/// (64 KiB) with the `Deliver` header, its envelope and a signature.
pub const MAX_BODY: usize = 60 * 1024;
/// Messages loaded from the outbox per delivery round.
const ROUND: u32 = 1000;

/// How long the session of a delivery is kept for the next delivery to the
/// same peer. Below a receiving node's default idle timeout (120 s), so the
/// receiver seldom closes it first; when it does (or restarts), the next
/// delivery sees it and opens a new session.
pub const KEEP_SESSION: Duration = Duration::from_secs(60);
/// Kept sessions at most (one per peer); past this, unused ones are dropped.
const MAX_KEPT_SESSIONS: usize = 256;
/// A kept session is not reused within this many seconds of its end.
const REUSE_MARGIN_SECS: u64 = 30;

/// One peer's delivery lock, holding the session kept from its last delivery.
pub(crate) type PeerSlot = Arc<tokio::sync::Mutex<Option<KeptSession>>>;

/// A session left open after a delivery, for the next one.
pub(crate) struct KeptSession {
    stream: SecureStream,
    idle_since: Instant,
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
    /// Why it is not delivered (None when delivered).
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
        reason: String,
    },
    /// The peer is refused for good; its messages are rejected.
    Rejected {
        /// Why (revoked, unknown, expired).
        reason: String,
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

/// Signs `text` to `to`, stores it in the outbox (durably, before anything
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
    let now = unix_now();
    let payload = Message {
        from: node.address(),
        to,
        id: message_id,
        sent_at: now,
        body_hash: hash::keccak256(text.as_bytes()),
    };
    let signed = Signed::sign(&node.inner.key, &node.inner.domain, payload);
    let msg = OutgoingMessage {
        message_id,
        from: node.address(),
        to,
        body: text.to_owned(),
        sent_at: now,
        signature: signed.signature.to_bytes(),
    };
    node.db(move |s| s.enqueue(&msg, now)).await?;
    info!(to = %to, id = %hex::encode(message_id), "message queued");
    // Wake this process's outbox worker, if it runs (`send` inside `serve`).
    node.inner.outbox_wake.notify_one();

    let report = deliver(node, to, timeout).await;
    if report.delivered.contains(&message_id) {
        // Acked (after the recipient's commit) and marked: nothing to read.
        return Ok(SendOutcome {
            message_id,
            to,
            status: SendStatus::Delivered,
            reason: None,
        });
    }
    let entry = node
        .db(move |s| s.outbox_entry(&message_id))
        .await?
        .ok_or(NodeError::Task("queued message vanished".into()))?;
    let (status, reason) = match entry.state {
        OutboxState::Delivered => (SendStatus::Delivered, None),
        OutboxState::Rejected | OutboxState::Expired => (
            SendStatus::Rejected,
            entry.last_error.or(Some("rejected".into())),
        ),
        OutboxState::Queued => (
            SendStatus::Queued,
            Some(match report.outcome {
                DeliveryOutcome::Pending { reason } => reason,
                _ => entry.last_error.unwrap_or_else(|| "not acked yet".into()),
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

/// Delivers what the outbox holds for `to` within `timeout`: looks up its
/// status, key and endpoint on the chain, refuses it for good if it is
/// unknown, revoked or expired, dials, runs the handshake as initiator (the
/// peer must prove it holds `to`'s key), sends the queued messages and marks
/// each delivered when acked. Failures are recorded in the outbox (backoff).
pub async fn deliver(node: &Node, to: Address, timeout: Duration) -> DeliveryReport {
    let mut report = DeliveryReport {
        to,
        delivered: Vec::new(),
        outcome: DeliveryOutcome::NothingQueued,
    };
    let deadline = Instant::now() + timeout;
    match tokio::time::timeout_at(deadline, deliver_inner(node, to, deadline, &mut report)).await {
        Ok(Ok(outcome)) => report.outcome = outcome,
        Ok(Err(Failure::Permanent(reason))) => {
            warn!(to = %to, %reason, "recipient refused for good; rejecting its messages");
            let r = reason.clone();
            if let Err(e) = node.db(move |s| s.reject_peer(&to, &r, unix_now())).await {
                warn!(error = %e, "could not record the rejection");
            }
            report.outcome = DeliveryOutcome::Rejected { reason };
        }
        Ok(Err(Failure::Temporary(reason) | Failure::SessionLost(reason))) => {
            report.outcome = pending(node, to, reason).await;
        }
        Err(_elapsed) => {
            report.outcome = pending(node, to, "timed out waiting for the recipient".into()).await;
        }
    }
    report
}

async fn pending(node: &Node, to: Address, reason: String) -> DeliveryOutcome {
    debug!(to = %to, %reason, "delivery postponed");
    let r = reason.clone();
    if let Err(e) = node
        .db(move |s| s.record_failure(&to, &r, unix_now()))
        .await
    {
        warn!(error = %e, "could not record the failed attempt");
    }
    DeliveryOutcome::Pending { reason }
}

enum Failure {
    /// Will not get better by retrying.
    Permanent(String),
    /// Retry later.
    Temporary(String),
    /// The session broke (i/o, a bad frame, the peer closed it): retry
    /// later, or at once on a new session if it was a kept one.
    SessionLost(String),
}

fn chain_failure(e: ChainError) -> Failure {
    Failure::Temporary(format!("chain lookup failed: {e}"))
}

fn envelope(m: &OutgoingMessage) -> Envelope {
    Envelope {
        id: m.message_id,
        sent_at: m.sent_at,
        body: m.body.as_bytes().to_vec(),
    }
}

/// Splits the queue into `Deliver`s of at most [`WINDOW`] messages whose
/// encoding fits one session frame.
fn chunks_that_fit(queued: &[crate::store::OutboxEntry]) -> Vec<&[crate::store::OutboxEntry]> {
    // Header (tag, from, to, count, auth) and per-message overhead, generous.
    const HEADER: usize = 1 + 20 + 20 + 4 + 1 + 65 + 4;
    const PER_MESSAGE: usize = 16 + 8 + 4 + 65;
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = HEADER;
    for (i, e) in queued.iter().enumerate() {
        let add = PER_MESSAGE + e.message.body.len();
        if i > start && (i - start == WINDOW || size + add > MAX_PAYLOAD) {
            out.push(&queued[start..i]);
            start = i;
            size = HEADER;
        }
        size += add;
    }
    if start < queued.len() {
        out.push(&queued[start..]);
    }
    out
}

async fn deliver_inner(
    node: &Node,
    to: Address,
    deadline: Instant,
    report: &mut DeliveryReport,
) -> Result<DeliveryOutcome, Failure> {
    let slot = peer_slot(node, to);
    // One delivery to `to` at a time in this process; the session kept by
    // the last one is taken out and put back only after a clean exchange,
    // so a failed or cancelled delivery never leaves a half-used session.
    let mut slot = slot.lock().await;
    let kept = slot.take();
    let queued = node
        .db(move |s| s.queued_for(&to, ROUND))
        .await
        .map_err(|e| Failure::Temporary(e.to_string()))?;
    if queued.is_empty() {
        *slot = kept;
        return Ok(DeliveryOutcome::NothingQueued);
    }
    // The chain first, every time: nothing is sent to an ID that is not
    // valid now, even over a kept session.
    let status = node.fresh_status(to).await.map_err(chain_failure)?;
    if let Err(e) = status.check(unix_now()) {
        return Err(Failure::Permanent(format!("recipient {to}: {e}")));
    }
    let reused = kept
        .filter(|k| k.idle_since.elapsed() < KEEP_SESSION)
        .map(|k| k.stream)
        .filter(|s| s.is_reusable(unix_now(), REUSE_MARGIN_SECS));
    let (mut session, mut fresh) = match reused {
        Some(session) => {
            debug!(to = %to, "reusing the kept session");
            (session, false)
        }
        None => (connect(node, to, &status, deadline).await?, true),
    };
    loop {
        match exchange(node, &mut session, to, &queued, report).await {
            Ok(Exchanged::Open) => {
                *slot = Some(KeptSession {
                    stream: session,
                    idle_since: Instant::now(),
                });
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
            Err(Failure::SessionLost(reason)) if !fresh && report.delivered.is_empty() => {
                debug!(to = %to, %reason, "the kept session failed; opening a new one");
                session = connect(node, to, &status, deadline).await?;
                fresh = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `to`'s delivery slot, made on first use. Past [`MAX_KEPT_SESSIONS`]
/// peers, the slots no delivery is using are dropped with their sessions.
fn peer_slot(node: &Node, to: Address) -> PeerSlot {
    let mut map = node
        .inner
        .kept_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if map.len() >= MAX_KEPT_SESSIONS && !map.contains_key(&to) {
        map.retain(|_, slot| Arc::strong_count(slot) > 1);
    }
    map.entry(to).or_default().clone()
}

/// Closes the sessions kept from deliveries that have been idle for at
/// least `idle_for` (each with a `Close`), and forgets peers with none. The
/// outbox worker calls it with [`KEEP_SESSION`] on every housekeeping turn;
/// a program that calls [`send`] or [`deliver`] without the worker calls it
/// with `Duration::ZERO` before it exits (otherwise a kept session stays
/// open until the next delivery to its peer, the peer's idle timeout, or
/// the process ends).
pub async fn close_idle_sessions(node: &Node, idle_for: Duration) {
    let slots: Vec<PeerSlot> = node
        .inner
        .kept_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for slot in slots {
        // A slot in use is a delivery in progress: not idle.
        let Ok(mut guard) = slot.try_lock() else {
            continue;
        };
        if guard
            .as_ref()
            .is_some_and(|k| k.idle_since.elapsed() >= idle_for)
            && let Some(mut kept) = guard.take()
        {
            drop(guard);
            let close = Wire::Close(Close {
                reason: CloseReason::Normal,
            });
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, kept.stream.send(&close)).await;
        }
    }
    node.inner
        .kept_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|_, slot| {
            Arc::strong_count(slot) > 1 || slot.try_lock().map_or(true, |g| g.is_some())
        });
}

/// How long a parting `Close` on an idle kept session may take to write.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Looks up `to`'s key and endpoint on the chain, dials and runs the
/// handshake as initiator (the peer must prove it holds that key). `status`
/// is `to`'s, read and judged valid by the caller: the key is read from the
/// block it names, and the status is not read or judged again.
async fn connect(
    node: &Node,
    to: Address,
    status: &IdStatus,
    deadline: Instant,
) -> Result<SecureStream, Failure> {
    let key = node
        .registry()
        .public_key_at(to, status.registered_block)
        .await
        .map_err(chain_failure)?;
    let endpoint = node
        .registry()
        .endpoint(to)
        .await
        .map_err(chain_failure)?
        .ok_or_else(|| Failure::Temporary(format!("recipient {to} has published no endpoint")))?;
    debug!(to = %to, endpoint = %endpoint.endpoint, "dialing");
    let stream = TcpStream::connect(endpoint.endpoint.as_str())
        .await
        .map_err(|e| Failure::Temporary(format!("cannot reach {}: {e}", endpoint.endpoint)))?;
    let _ = stream.set_nodelay(true);
    let session = SecureStream::initiate(node, stream, to, key, status.valid_until, deadline)
        .await
        .map_err(|e| match e {
            // A responder that refuses us and an impostor that cannot read
            // our request look the same from here: both just close.
            crate::session::SessionError::Refused => Failure::Temporary(format!(
                "the recipient refused the session: the handshake with {} ended with the \
                 connection closed on our request ({to} may have blocked this ID or accept \
                 contacts only; or whoever is there does not hold {to}'s key)",
                endpoint.endpoint
            )),
            e => Failure::Temporary(format!(
                "handshake with {} failed: the peer there did not prove it holds {to}'s key ({e})",
                endpoint.endpoint
            )),
        })?;
    info!(to = %to, "session established");
    Ok(session)
}

/// How an exchange that delivered everything left the session.
enum Exchanged {
    /// Open and idle: worth keeping for the next delivery.
    Open,
    /// Closed by the recipient (after refusing messages for good).
    Closed,
}

/// Sends the queued messages over `session` in `Deliver`s that fit a frame
/// and marks each delivered as its ack comes.
async fn exchange(
    node: &Node,
    session: &mut SecureStream,
    to: Address,
    queued: &[crate::store::OutboxEntry],
    report: &mut DeliveryReport,
) -> Result<Exchanged, Failure> {
    let chunks = chunks_that_fit(queued);
    let last = chunks.len().saturating_sub(1);
    for (k, chunk) in chunks.into_iter().enumerate() {
        let deliver = if chunk.len() == 1 {
            // One message: its own signature, made when it was queued.
            let m = &chunk[0].message;
            let signature = Signature::from_bytes(&m.signature)
                .map_err(|_| Failure::Temporary("corrupt signature in the outbox".into()))?;
            Deliver {
                from: node.address(),
                to,
                messages: vec![envelope(m)],
                auth: Auth::Each(vec![signature]),
            }
        } else {
            // Many: one MessageBatch signature over their Merkle root; each
            // message stays provable alone with its path.
            let envelopes = chunk.iter().map(|e| envelope(&e.message)).collect();
            Deliver::sign_batch(&node.inner.key, &node.inner.domain, to, envelopes)
                .map_err(|e| Failure::Temporary(format!("cannot sign the batch: {e}")))?
        };
        let mut waiting: Vec<MessageId> = chunk.iter().map(|e| e.message.message_id).collect();
        session
            .send(&Wire::Deliver(deliver))
            .await
            .map_err(|e| Failure::SessionLost(format!("session: {e}")))?;
        while !waiting.is_empty() {
            match session
                .recv()
                .await
                .map_err(|e| Failure::SessionLost(format!("session: {e}")))?
            {
                Wire::Ack(ack) => {
                    let acked: Vec<MessageId> = ack
                        .ids
                        .into_iter()
                        .filter(|id| waiting.contains(id))
                        .collect();
                    waiting.retain(|id| !acked.contains(id));
                    let now = unix_now();
                    let a = acked.clone();
                    node.db(move |s| s.mark_delivered(&a, now))
                        .await
                        .map_err(|e| Failure::Temporary(e.to_string()))?;
                    report.delivered.extend(acked);
                }
                Wire::Close(Close {
                    reason: CloseReason::NotText,
                }) => {
                    // The recipient acked what it stored and refuses the
                    // rest of this `Deliver` for good: reject, never retry.
                    let refused = std::mem::take(&mut waiting);
                    let reason = format!(
                        "recipient {to} refused the message for good: its body is not UTF-8 text"
                    );
                    warn!(to = %to, count = refused.len(), "messages refused by the recipient");
                    let now = unix_now();
                    node.db(move |s| s.reject_messages(&refused, &reason, now))
                        .await
                        .map_err(|e| Failure::Temporary(e.to_string()))?;
                    if k < last {
                        // The session is closed; the rest waits for the next attempt.
                        return Err(Failure::Temporary(
                            "recipient closed the session after refusing messages".into(),
                        ));
                    }
                    return Ok(Exchanged::Closed);
                }
                Wire::Close(close) => {
                    return Err(Failure::SessionLost(format!(
                        "recipient closed the session ({:?})",
                        close.reason
                    )));
                }
                Wire::Deliver(_) => {
                    return Err(Failure::Temporary(
                        "recipient sent messages on a delivery session".into(),
                    ));
                }
            }
        }
    }
    Ok(Exchanged::Open)
}

/// Timeout of one delivery attempt made by the outbox worker.
pub const WORKER_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the worker looks at the store even when not woken: other
/// processes (`chainmail send`) queue messages without waking it.
pub const WORKER_POLL: Duration = Duration::from_secs(5);

/// Peers the outbox worker delivers to at once. Why concurrently: one
/// attempt can take up to [`WORKER_DELIVERY_TIMEOUT`] (a peer that accepts
/// and never answers), and peers served one after another would all wait
/// behind it. Why bounded: each attempt holds a socket, a session and up to
/// a round of messages in memory.
pub const WORKER_CONCURRENCY: usize = 16;

/// The outbox worker of `serve`: delivers due messages to up to
/// [`WORKER_CONCURRENCY`] peers at once (one attempt per peer at a time, so
/// each peer's messages go oldest first and its backoff is recorded by one
/// attempt), expires those older than the maximum age, prunes old dedup and
/// replay records, until `shutdown` completes. State lives in the store, so
/// a restart picks up exactly where the last run stopped; attempts cut short
/// by shutdown lose nothing (only acks change the store).
pub async fn run_outbox(node: Node, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    // Why a JoinSet: the attempts run as tasks; dropping the set (shutdown)
    // aborts them. The map names each task's peer, so a task that panicked
    // still frees its peer.
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, Address> = HashMap::new();
    let mut housekeeping_due = Instant::now();
    loop {
        let now = unix_now();
        if Instant::now() >= housekeeping_due {
            // Why not every turn: the loop turns once per finished attempt.
            housekeeping_due = Instant::now() + WORKER_POLL;
            let max_age = node.options().max_age;
            match node.db(move |s| s.expire(now, max_age)).await {
                Ok(0) => {}
                Ok(n) => warn!(count = n, "messages expired undelivered"),
                Err(e) => warn!(error = %e, "outbox expiry failed"),
            }
            if let Err(e) = node.db(move |s| s.prune(now)).await {
                warn!(error = %e, "pruning failed");
            }
            close_idle_sessions(&node, KEEP_SESSION).await;
        }
        let free = WORKER_CONCURRENCY.saturating_sub(tasks.len());
        if free > 0 {
            let limit = u32::try_from(free + in_flight.len()).unwrap_or(u32::MAX);
            let peers = node
                .db(move |s| s.due_peers(now, limit))
                .await
                .unwrap_or_else(|e| {
                    warn!(error = %e, "outbox scan failed");
                    Vec::new()
                });
            let busy: HashSet<Address> = in_flight.values().copied().collect();
            for peer in peers.into_iter().filter(|p| !busy.contains(p)).take(free) {
                let node = node.clone();
                let handle = tasks.spawn(async move {
                    let r = deliver(&node, peer, WORKER_DELIVERY_TIMEOUT).await;
                    debug!(to = %peer, outcome = ?r.outcome, "outbox round");
                });
                in_flight.insert(handle.id(), peer);
            }
        }
        // Something already due is either in flight or waiting for a free
        // slot: a finished attempt wakes the loop, not the clock.
        let sleep = match node.db(|s| s.next_due()).await {
            Ok(Some(due)) if due > now => Duration::from_secs(due - now).min(WORKER_POLL),
            _ => WORKER_POLL,
        };
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        warn!(error = %e, "a delivery task failed");
                        e.id()
                    }
                };
                in_flight.remove(&id);
            }
            () = tokio::time::sleep(sleep) => {}
            () = node.inner.outbox_wake.notified() => {}
            () = &mut shutdown => return,
        }
    }
}
