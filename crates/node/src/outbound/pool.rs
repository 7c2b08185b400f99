//! The kept-session pool: the session of the last delivery to each peer,
//! kept for the next one (no key and endpoint lookups, dial or handshake),
//! and the per-peer lock that makes deliveries to one peer in this process
//! one at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chainmail_core::Address;
use chainmail_core::wire::{Close, CloseReason, Wire};
use tokio::time::Instant;

use crate::node::Node;
use crate::transport::SecureStream;

/// How long the session of a delivery is kept for the next delivery to the
/// same peer. Below a receiving node's default idle timeout (120 s), so the
/// receiver seldom closes it first; when it does (or restarts), the next
/// delivery sees it and opens a new session.
pub const KEEP_SESSION: Duration = Duration::from_secs(60);
/// Kept sessions at most (one per peer); past this, unused ones are dropped.
const MAX_KEPT_SESSIONS: usize = 256;
/// A kept session is not reused within this many seconds of its end.
pub(super) const REUSE_MARGIN_SECS: u64 = 30;
/// How long a parting `Close` on an idle kept session may take to write.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One peer's delivery lock, holding the session kept from its last delivery.
pub(super) type PeerSlot = Arc<tokio::sync::Mutex<Option<KeptSession>>>;

/// A session left open after a delivery, for the next one.
pub(super) struct KeptSession {
    pub(super) stream: SecureStream,
    pub(super) idle_since: Instant,
}

impl KeptSession {
    /// `stream`, idle from `now` (the node's clock).
    pub(super) fn new(stream: SecureStream, now: Instant) -> Self {
        Self {
            stream,
            idle_since: now,
        }
    }

    /// The stream, if it was idle less than [`KEEP_SESSION`] and can carry
    /// another exchange.
    pub(super) fn reusable(self, now: u64) -> Option<SecureStream> {
        let mut stream = self.stream;
        (self.idle_since.elapsed() < KEEP_SESSION && stream.is_reusable(now, REUSE_MARGIN_SECS))
            .then_some(stream)
    }
}

/// The peers' slots.
//
// Why a tokio Mutex per peer: it is held across a whole delivery, which
// makes deliveries to one peer in this process one at a time (the worker and
// a `send` cannot interleave). Why a std Mutex around the map: map
// operations only, never held across an `.await`.
#[derive(Default)]
pub(crate) struct Pool {
    slots: std::sync::Mutex<HashMap<Address, PeerSlot>>,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Address, PeerSlot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `to`'s delivery slot, made on first use. Past [`MAX_KEPT_SESSIONS`]
    /// peers, the slots no delivery is using are dropped with their sessions.
    pub(super) fn slot(&self, to: Address) -> PeerSlot {
        let mut map = self.lock();
        if map.len() >= MAX_KEPT_SESSIONS && !map.contains_key(&to) {
            map.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        map.entry(to).or_default().clone()
    }
}

/// Closes the sessions kept from deliveries that have been idle for at
/// least `idle_for` (each with a `Close`), and forgets peers with none. The
/// outbox worker calls it with [`KEEP_SESSION`] on every housekeeping turn;
/// a program that calls [`send`](crate::send) or [`deliver`](crate::deliver)
/// without the worker calls it with `Duration::ZERO` before it exits
/// (otherwise a kept session stays open until the next delivery to its
/// peer, the peer's idle timeout, or the process ends).
pub async fn close_idle_sessions(node: &Node, idle_for: Duration) {
    let pool = &node.outbound().pool;
    let slots: Vec<PeerSlot> = pool.lock().values().cloned().collect();
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
    pool.lock().retain(|_, slot| {
        Arc::strong_count(slot) > 1 || slot.try_lock().map_or(true, |g| g.is_some())
    });
}
