//! A short-lived cache of what the chain says about IDs, so that a flood of
//! handshakes naming one ID costs one chain call per TTL, not one per
//! handshake — and so that the RPC provider is never hammered by strangers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chainmail_core::{Address, IdStatus};
use tokio::time::Instant;

/// Bounded TTL cache of [`IdStatus`] by ID.
#[derive(Debug)]
pub struct StatusCache {
    ttl: Duration,
    max_entries: usize,
    // Why a std Mutex: shared by every connection task; held only for a map
    // operation, never across an `.await`, so an async lock would only add cost.
    entries: Mutex<HashMap<Address, (IdStatus, Instant)>>,
}

impl StatusCache {
    /// A cache trusting entries for `ttl`, holding at most `max_entries`
    /// (past that, expired entries are dropped, then the whole map is
    /// cleared: correctness never depends on a hit).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached status of `id` if younger than the TTL at `now`.
    pub fn get(&self, id: &Address, now: Instant) -> Option<IdStatus> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(s, _)| *s)
    }

    /// Records what the chain said about `id` at `now`.
    pub fn put(&self, id: Address, status: IdStatus, now: Instant) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_entries && !map.contains_key(&id) {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
            if map.len() >= self.max_entries {
                map.clear();
            }
        }
        map.insert(id, (status, now));
    }

    /// Forgets `id` (after a chain answer that contradicts the cache).
    pub fn forget(&self, id: &Address) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_bound() {
        let c = StatusCache::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        let s = IdStatus {
            valid_until: 5,
            issued_at: 1,
            revoked_at: 0,
            registered_block: 1,
        };
        c.put(Address([1; 20]), s, t0);
        assert_eq!(
            c.get(&Address([1; 20]), t0 + Duration::from_secs(9)),
            Some(s)
        );
        assert_eq!(c.get(&Address([1; 20]), t0 + Duration::from_secs(10)), None);
        c.put(Address([2; 20]), s, t0);
        c.put(Address([3; 20]), s, t0);
        assert!(c.entries.lock().unwrap().len() <= 2);
        c.forget(&Address([3; 20]));
        assert_eq!(c.get(&Address([3; 20]), t0), None);
    }
}
