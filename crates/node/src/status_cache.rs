//! A short-lived cache of what the chain says about IDs, so that a flood of
//! handshakes naming one ID costs one chain call per TTL, not one per
//! handshake — and so that the RPC provider is never hammered by strangers.
//!
//! Two bounded LRU maps: registered IDs, and a negative cache of IDs the
//! chain does not know. Anyone can make keys for free, so unknown IDs are
//! what a flood brings; keeping them apart means a flood of fresh keys only
//! churns the negative map and never evicts a genuine peer's entry (the
//! registered map grows only with IDs someone paid to register).

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use chainmail_core::{Address, IdStatus, PublicKey};
use lru::LruCache;
use tokio::time::Instant;

/// Bounded TTL cache of [`IdStatus`] by ID.
#[derive(Debug)]
pub struct StatusCache {
    ttl: Duration,
    // Why a std Mutex: shared by every connection task; held only for a map
    // operation, never across an `.await`, so an async lock would only add cost.
    maps: Mutex<Maps>,
}

#[derive(Debug)]
struct Maps {
    /// IDs registered at some point (valid, expired or revoked).
    registered: LruCache<Address, (IdStatus, Instant)>,
    /// IDs the chain did not know, and when it said so.
    unknown: LruCache<Address, Instant>,
    /// Registered keys: no TTL, a key never changes under an ID (an ID
    /// registers once).
    keys: LruCache<Address, PublicKey>,
}

impl StatusCache {
    /// A cache trusting entries for `ttl`, holding at most `max_entries`
    /// registered IDs and as many unknown ones (the least recently used
    /// go first: correctness never depends on a hit).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        let cap = NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN);
        Self {
            ttl,
            maps: Mutex::new(Maps {
                registered: LruCache::new(cap),
                unknown: LruCache::new(cap),
                keys: LruCache::new(cap),
            }),
        }
    }

    /// The cached status of `id` if younger than the TTL at `now` (an
    /// unknown ID's is the default, unregistered status).
    pub fn get(&self, id: &Address, now: Instant) -> Option<IdStatus> {
        let fresh = |at: Instant| now.saturating_duration_since(at) < self.ttl;
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, at)) = maps.registered.get(id) {
            return fresh(*at).then_some(*s);
        }
        match maps.unknown.get(id) {
            Some(at) if fresh(*at) => Some(IdStatus::default()),
            _ => None,
        }
    }

    /// Records what the chain said about `id` at `now`.
    pub fn put(&self, id: Address, status: IdStatus, now: Instant) {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        if status.is_registered() {
            maps.unknown.pop(&id);
            maps.registered.put(id, (status, now));
        } else {
            maps.registered.pop(&id);
            maps.unknown.put(id, now);
        }
    }

    /// Forgets `id` (after a chain answer that contradicts the cache).
    pub fn forget(&self, id: &Address) {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        maps.registered.pop(id);
        maps.unknown.pop(id);
    }

    /// The registered key of `id`, if cached.
    pub fn key(&self, id: &Address) -> Option<PublicKey> {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        maps.keys.get(id).cloned()
    }

    /// Caches `key` as `id`'s registered key (checked by the caller to come
    /// from the chain).
    pub fn put_key(&self, id: Address, key: PublicKey) {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        maps.keys.put(id, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: IdStatus = IdStatus {
        valid_until: 5,
        issued_at: 1,
        revoked_at: 0,
        registered_block: 1,
    };

    fn id(n: u32) -> Address {
        let mut a = [0u8; 20];
        a[..4].copy_from_slice(&n.to_be_bytes());
        Address(a)
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = StatusCache::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        c.put(id(1), LIVE, t0);
        c.put(id(2), IdStatus::default(), t0);
        let later = t0 + Duration::from_secs(9);
        assert_eq!(c.get(&id(1), later), Some(LIVE));
        assert_eq!(c.get(&id(2), later), Some(IdStatus::default()));
        let expired = t0 + Duration::from_secs(10);
        assert_eq!(c.get(&id(1), expired), None);
        assert_eq!(c.get(&id(2), expired), None);
        c.forget(&id(1));
        assert_eq!(c.get(&id(1), t0), None);
    }

    #[test]
    fn a_flood_of_unknown_ids_never_evicts_a_registered_one() {
        let c = StatusCache::new(Duration::from_secs(600), 100);
        let t0 = Instant::now();
        c.put(id(0), LIVE, t0);
        for n in 1..=10_000 {
            c.put(id(n), IdStatus::default(), t0);
        }
        assert_eq!(c.get(&id(0), t0), Some(LIVE));
        // The negative cache is bounded and keeps the most recent.
        assert_eq!(c.get(&id(10_000), t0), Some(IdStatus::default()));
        assert_eq!(c.get(&id(1), t0), None);
        let maps = c.maps.lock().unwrap();
        assert_eq!(maps.unknown.len(), 100);
        assert_eq!(maps.registered.len(), 1);
    }

    #[test]
    fn the_least_recently_used_registered_id_goes_first() {
        let c = StatusCache::new(Duration::from_secs(600), 2);
        let t0 = Instant::now();
        c.put(id(1), LIVE, t0);
        c.put(id(2), LIVE, t0);
        // id(1) is used again, so id(2) is the one to go.
        assert!(c.get(&id(1), t0).is_some());
        c.put(id(3), LIVE, t0);
        assert!(c.get(&id(1), t0).is_some());
        assert_eq!(c.get(&id(2), t0), None);
        assert!(c.get(&id(3), t0).is_some());
    }

    #[test]
    fn an_id_that_registers_leaves_the_negative_cache() {
        let c = StatusCache::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        c.put(id(1), IdStatus::default(), t0);
        c.put(id(1), LIVE, t0);
        assert_eq!(c.get(&id(1), t0), Some(LIVE));
        assert_eq!(c.maps.lock().unwrap().unknown.len(), 0);
    }
}
