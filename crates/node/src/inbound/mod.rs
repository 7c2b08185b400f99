//! The listening side: the `listener` (accept loop, per-source rate
//! limit, connection cap, the `preauth` table of connections not yet
//! authenticated, per source), one `connection` task per socket (responder
//! handshake under a cap and a deadline, then the session loop: idle
//! timeout, status re-checks, eviction under pressure), and `receive`:
//! one `Deliver` admitted, verified, committed, and only then acked.

mod connection;
mod listener;
mod preauth;
mod receive;
mod recheck;

use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

pub use listener::{run, serve};

use crate::limits::{Limits, PeerBudget, RateLimiter};

/// What the listening side keeps in the node.
pub(crate) struct State {
    /// The cap it was made with.
    max_connections: usize,
    // Why a semaphore: each connection holds a socket and a task; past the
    // cap new connections are closed at once instead of piling up.
    connection_permits: Arc<Semaphore>,
    // Why a Notify: when connections run short the accept loop wakes every
    // established session at once; the ones idle for
    // `limits.evict_idle_after` close, the others carry on.
    connection_pressure: Notify,
    // Why a std Mutex: the limiter is touched once per accepted connection,
    // for a map operation, never across an `.await`.
    rate_limiter: std::sync::Mutex<RateLimiter>,
    // The same kind of buckets for chain lookups: a session request whose
    // initiator no status cache holds takes a token from its source's.
    lookup_limiter: std::sync::Mutex<RateLimiter>,
    /// Connections not yet authenticated, per source.
    preauth: Arc<preauth::PreAuth>,
    /// Received messages whose signature was checked (replays are not).
    verified: std::sync::atomic::AtomicU64,
    /// What each peer may have verified (`Limits::verify_rate`).
    verify_budget: std::sync::Mutex<PeerBudget>,
}

impl State {
    /// The state for `limits`.
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            max_connections: limits.max_connections,
            connection_permits: Arc::new(Semaphore::new(limits.max_connections)),
            connection_pressure: Notify::new(),
            rate_limiter: std::sync::Mutex::new(RateLimiter::new(
                limits.per_ip_rate,
                limits.per_ip_burst,
                10_000,
            )),
            lookup_limiter: std::sync::Mutex::new(RateLimiter::new(
                limits.lookup_rate,
                limits.lookup_burst,
                10_000,
            )),
            preauth: Arc::new(preauth::PreAuth::new(limits.max_preauth_per_source)),
            verified: std::sync::atomic::AtomicU64::new(0),
            verify_budget: std::sync::Mutex::new(PeerBudget::new(
                limits.verify_rate,
                limits.verify_burst,
                limits.max_connections.max(1) * 4,
            )),
        }
    }

    /// Charges `messages` to verify to `peer`'s budget at `now`: how long
    /// its session waits first.
    pub(crate) fn verify_wait(
        &self,
        peer: chainmail_core::Address,
        messages: usize,
        now: tokio::time::Instant,
    ) -> std::time::Duration {
        self.verify_budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .charge(peer, messages as f64, now)
    }

    /// Takes a chain-lookup token for `source` at `now`: `false` when its
    /// budget is spent.
    pub(crate) fn allow_lookup(&self, source: std::net::IpAddr, now: tokio::time::Instant) -> bool {
        self.lookup_limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(source, now)
    }

    /// Counts `n` received messages verified.
    pub(crate) fn count_verified(&self, n: usize) {
        self.verified
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Received messages verified so far.
    pub(crate) fn verified(&self) -> u64 {
        self.verified.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Connections held open now (handshaking or established).
    pub(crate) fn open_connections(&self) -> usize {
        self.max_connections
            .saturating_sub(self.connection_permits.available_permits())
    }
}
