//! Connections not yet authenticated, counted per source (an IPv4 address
//! or an IPv6 /64, [`source_of`]) so that a few addresses cannot hold every
//! connection slot before proving anything: at `max_preauth_per_source`
//! the source's oldest unauthenticated connection is told to close for the
//! new one; at the node's connection cap the oldest unauthenticated
//! connection of any source is. An authenticated session leaves the table.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::limits::source_of;

/// The table of unauthenticated connections.
#[derive(Debug)]
pub(crate) struct PreAuth {
    per_source: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    /// Oldest first, per source.
    by_source: HashMap<IpAddr, VecDeque<u64>>,
    /// Every entry by age: its source and its eviction signal.
    by_age: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Arc<Notify>> {
        let (source, evicted) = self.by_age.remove(&id)?;
        if let Some(q) = self.by_source.get_mut(&source) {
            q.retain(|&x| x != id);
            if q.is_empty() {
                self.by_source.remove(&source);
            }
        }
        Some(evicted)
    }
}

/// One unauthenticated connection's place in the table; leaves it when
/// dropped (the handshake ended, either way).
#[derive(Debug)]
pub(crate) struct Ticket {
    id: u64,
    table: Arc<PreAuth>,
    evicted: Arc<Notify>,
}

impl Ticket {
    /// Completes when this connection was chosen to make room.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.table.lock().remove(self.id);
    }
}

impl PreAuth {
    /// A table allowing `per_source` unauthenticated connections per source
    /// (0 is read as 1).
    pub(crate) fn new(per_source: usize) -> Self {
        Self {
            per_source: per_source.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enters a new connection from `ip`, telling the source's oldest to
    /// close first if the source is at its cap.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Ticket {
        let source = source_of(ip);
        let mut inner = self.lock();
        let held = inner.by_source.get(&source).map_or(0, VecDeque::len);
        if held >= self.per_source
            && let Some(&oldest) = inner.by_source.get(&source).and_then(VecDeque::front)
            && let Some(evicted) = inner.remove(oldest)
        {
            // `notify_one` keeps the signal if the task is not waiting yet.
            evicted.notify_one();
        }
        let id = inner.next;
        inner.next += 1;
        let evicted = Arc::new(Notify::new());
        inner.by_source.entry(source).or_default().push_back(id);
        inner.by_age.insert(id, (source, evicted.clone()));
        Ticket {
            id,
            table: self.clone(),
            evicted,
        }
    }

    /// Tells the oldest unauthenticated connection of any source but
    /// `keep`'s to close (the node is at its connection cap); `false` if
    /// there is none.
    pub(crate) fn evict_oldest_except(&self, keep: &Ticket) -> bool {
        let mut inner = self.lock();
        let Some(&oldest) = inner.by_age.keys().find(|&&id| id != keep.id) else {
            return false;
        };
        if let Some(evicted) = inner.remove(oldest) {
            evicted.notify_one();
        }
        true
    }

    /// Unauthenticated connections now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_age.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_of_a_source_makes_room_and_others_are_untouched() {
        let t = Arc::new(PreAuth::new(2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = t.enter(a);
        let a2 = t.enter(a);
        let b1 = t.enter(b);
        let a3 = t.enter(a); // a1 must go
        a1.evicted().await;
        assert_eq!(t.len(), 3);
        // The others were not signalled.
        for other in [&a2, &b1, &a3] {
            assert!(
                tokio::time::timeout(std::time::Duration::ZERO, other.evicted())
                    .await
                    .is_err()
            );
        }
        // One IPv6 /64 is one source.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        let x1 = t.enter(v6a);
        let _x2 = t.enter(v6b);
        let _x3 = t.enter("2001:db8::2".parse().unwrap());
        x1.evicted().await;
        // At the node's cap the oldest of all goes (a2 now), and a dropped
        // ticket leaves the table.
        assert!(t.evict_oldest_except(&a3));
        a2.evicted().await;
        drop(b1);
        assert_eq!(t.len(), 3);
    }
}
