//! Replay protection for T_B1: an atomic check-and-insert of (ID_B, E_B),
//! done last, after every other check passed (so junk cannot fill it). A
//! request only needs remembering while its T is within the skew window;
//! older ones are refused as stale anyway. The node persists it (SQLite) or
//! uses [`MemoryReplayCache`] with `not_before` = its start time, so a
//! restart cannot open a window for replays.

use std::collections::{BTreeSet, HashSet};

use crate::address::Address;

use super::MAX_SKEW_SECS;

/// Why the cache could not record a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Already seen: a replay.
    #[error("already seen")]
    Seen,
    /// T is before what the cache can vouch for (e.g. before the node started
    /// with an in-memory cache).
    #[error("request time {timestamp} is before the replay cache's horizon {not_before}")]
    BeforeHorizon {
        /// T.
        timestamp: u64,
        /// Oldest T the cache can judge.
        not_before: u64,
    },
    /// The cache is full of live entries (a flood): refuse rather than forget.
    #[error("replay cache full ({capacity} live entries)")]
    Full {
        /// Capacity.
        capacity: usize,
    },
    /// The caller's persistent store failed.
    #[error("replay store unavailable")]
    Store,
}

/// Remembers (initiator, ephemeral key) pairs. Implementations must make
/// `check_and_insert` atomic: two concurrent handshakes with the same pair
/// must not both succeed.
pub trait ReplayCache {
    /// Records the pair, or fails if it was seen (or cannot be judged).
    /// `timestamp` is the request's T; `now` the node's clock.
    fn check_and_insert(
        &mut self,
        initiator: &Address,
        ephemeral_key: &[u8; 33],
        timestamp: u64,
        now: u64,
    ) -> Result<(), ReplayError>;
}

type Entry = (Address, [u8; 33]);

/// A bounded in-memory replay cache. Entries live until their T leaves the
/// skew window; requests with T before `not_before` (set it to the process's
/// start time) are refused, since an earlier run may have accepted them.
#[derive(Debug)]
pub struct MemoryReplayCache {
    not_before: u64,
    capacity: usize,
    seen: HashSet<Entry>,
    // (T, entry), ordered by T, to drop entries whose T fell out of the window.
    by_time: BTreeSet<(u64, Entry)>,
}

impl MemoryReplayCache {
    /// A cache refusing T < `not_before`, holding at most `capacity` live entries.
    pub fn new(not_before: u64, capacity: usize) -> Self {
        MemoryReplayCache {
            not_before,
            capacity,
            seen: HashSet::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether there are no live entries.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn prune(&mut self, now: u64) {
        // A request with T + skew < now is stale and refused before the
        // cache is consulted, so its entry is no longer needed.
        while let Some(first) = self.by_time.first() {
            if first.0.saturating_add(MAX_SKEW_SECS) < now {
                let (_, entry) = self.by_time.pop_first().unwrap_or_else(|| unreachable!());
                self.seen.remove(&entry);
            } else {
                break;
            }
        }
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_insert(
        &mut self,
        initiator: &Address,
        ephemeral_key: &[u8; 33],
        timestamp: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        // An earlier run may have accepted any T before our start. (One whose
        // T ran ahead of that run's clock could still be replayed once; the
        // replayer cannot finish the handshake — no E_B secret, so no
        // confirm frame — so it costs us work, not security. PROTOCOL.md.)
        if timestamp < self.not_before {
            return Err(ReplayError::BeforeHorizon {
                timestamp,
                not_before: self.not_before,
            });
        }
        self.prune(now);
        let entry = (*initiator, *ephemeral_key);
        if self.seen.contains(&entry) {
            return Err(ReplayError::Seen);
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayError::Full {
                capacity: self.capacity,
            });
        }
        self.seen.insert(entry);
        self.by_time.insert((timestamp, entry));
        Ok(())
    }
}
