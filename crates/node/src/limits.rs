//! The node's resource limits, the per-source rate limiter (what a
//! stranger on the network can make the node spend before authenticating)
//! and the per-peer verification budget (what a registered peer can).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use chainmail_core::Address;
use tokio::time::Instant;

/// Tunable limits of a running node. Defaults are for a personal node.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Handshakes in progress at once. Every T_B1 costs an ECDH and a
    /// signature check before anything is authenticated; capping them bounds
    /// CPU and memory under a flood while established sessions keep going.
    pub max_concurrent_handshakes: usize,
    /// Open connections at once (handshaking or established): each holds a
    /// socket and a task; past this, new ones are closed at once.
    pub max_connections: usize,
    /// Time allowed from accept to an authenticated session (slowloris and
    /// half-open handshakes end here).
    pub handshake_timeout: Duration,
    /// Time allowed from accept to the whole first record (T_B1, 260 bytes:
    /// one round trip for any honest initiator). A connection that sends
    /// nothing holds its slot this long, not the whole handshake timeout.
    pub first_record_timeout: Duration,
    /// Connections not yet authenticated from one source at once (an IPv4
    /// address, or an IPv6 /64: one host owns a whole /64). At the cap the
    /// source's oldest such connection is closed for the new one, so a few
    /// addresses cannot hold every slot before authenticating.
    pub max_preauth_per_source: usize,
    /// A session with no frame for this long is closed.
    pub idle_timeout: Duration,
    /// When more than three quarters of `max_connections` are open, an
    /// established session with no frame for this long is closed to make
    /// room. Why: senders keep their session after a delivery for the next
    /// message (up to a minute), and idle kept sessions must not crowd out
    /// new peers; a sender whose session is closed just handshakes again.
    pub evict_idle_after: Duration,
    /// How often an open session re-checks the peer's status on chain
    /// (revocation closes it with `PeerRevoked`).
    pub recheck_interval: Duration,
    /// How long a status read from the chain is trusted (a flood of T_B1s
    /// for one ID causes one chain call per TTL, not one per T_B1).
    pub status_ttl: Duration,
    /// New connections per source (as for `max_preauth_per_source`) per
    /// second (token bucket rate)...
    pub per_ip_rate: f64,
    /// ...and burst.
    pub per_ip_burst: f64,
    /// Chain lookups per source per second for session requests whose
    /// initiator is in neither status cache (token bucket rate)... Anyone
    /// can make a fresh key per T_B1, and each would cost a call to the
    /// RPC provider; past the budget such requests are refused before any
    /// call (IDs cached, positive or negative, cost nothing).
    pub lookup_rate: f64,
    /// ...and burst.
    pub lookup_burst: f64,
    /// Messages the inbox holds from one sender that is not a named
    /// contact (a message request); past it, its messages are not stored
    /// and the sender is told (`Close(QuotaFull)`: it keeps them queued).
    /// Naming the sender a contact lifts the quota.
    pub stranger_inbox_quota: usize,
    /// IDs each status cache holds (registered IDs, and IDs the chain does
    /// not know), least recently used evicted first.
    pub status_cache_entries: usize,
    /// Messages sent per `Deliver` at most (several go under one signature
    /// over their Merkle root): bounds the work a receiver does before it
    /// acks, and the sender's wait for that ack. Fewer go when their
    /// bodies fill a session frame first; 0 is read as 1.
    pub max_batch: usize,
    /// Received messages one peer may have verified per second (a token
    /// bucket per authenticated peer, shared by its sessions); past its
    /// burst, its next `Deliver` waits before it is verified — that
    /// session stalls, nobody else does, nothing is refused.
    pub verify_rate: f64,
    /// ...and burst (a full 700-signature `Deliver` fits).
    pub verify_burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent_handshakes: 64,
            max_connections: 512,
            handshake_timeout: Duration::from_secs(10),
            first_record_timeout: Duration::from_secs(2),
            max_preauth_per_source: 8,
            idle_timeout: Duration::from_secs(120),
            evict_idle_after: Duration::from_secs(5),
            recheck_interval: Duration::from_secs(180),
            status_ttl: Duration::from_secs(30),
            per_ip_rate: 20.0,
            per_ip_burst: 40.0,
            lookup_rate: 0.5,
            lookup_burst: 8.0,
            stranger_inbox_quota: 200,
            status_cache_entries: 10_000,
            max_batch: 64,
            verify_rate: 2_000.0,
            verify_burst: 4_000.0,
        }
    }
}

/// The source a connection is counted against: an IPv4 address, or the /64
/// of an IPv6 address (one host gets a whole /64, so counting addresses
/// would give it 2^64 budgets). IPv4-mapped IPv6 addresses count as IPv4.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::V6(o.into())
            }
        },
    }
}

/// Per-source-IP token buckets with a bounded number of tracked sources.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    // Why bounded: the map is keyed by attacker-chosen source addresses
    // (IPv6 gives them plenty); past this many, idle buckets are dropped and,
    // if still full, new sources are refused rather than the map growing.
    max_sources: usize,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimiter {
    /// A limiter refilling `rate` tokens per second up to `burst`.
    pub fn new(rate: f64, burst: f64, max_sources: usize) -> Self {
        Self {
            rate,
            burst,
            max_sources,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `ip`'s source (its /64 for IPv6) at `now`;
    /// `false` means refuse.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = source_of(ip);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            let (rate, burst) = (self.rate, self.burst);
            // Drop buckets that have refilled completely: they carry no state.
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.rate;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-peer budgets of message verification: token buckets that go into
/// debt, so a peer's concurrent sessions share one budget and each waits
/// its turn. Keyed by authenticated IDs (each costs a registration), and
/// bounded all the same.
#[derive(Debug)]
pub struct PeerBudget {
    rate: f64,
    burst: f64,
    max_peers: usize,
    buckets: HashMap<Address, (f64, Instant)>,
}

impl PeerBudget {
    /// Budgets of `rate` per second up to `burst`, for `max_peers` peers.
    pub fn new(rate: f64, burst: f64, max_peers: usize) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst,
            max_peers,
            buckets: HashMap::new(),
        }
    }

    /// Charges `cost` to `peer` at `now`: how long to wait before doing
    /// the work (zero within its budget).
    pub fn charge(&mut self, peer: Address, cost: f64, now: Instant) -> Duration {
        let (rate, burst) = (self.rate, self.burst);
        if !self.buckets.contains_key(&peer) && self.buckets.len() >= self.max_peers {
            // Refilled buckets carry no state.
            self.buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if self.buckets.len() >= self.max_peers {
                // No room to remember it: as if its bucket were empty.
                return Duration::from_secs_f64(cost / rate);
            }
        }
        let (tokens, at) = self.buckets.entry(peer).or_insert((burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * rate;
        *tokens = (*tokens + refill).min(burst) - cost;
        *at = now;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_past_its_budget_waits_for_its_debt() {
        let mut b = PeerBudget::new(100.0, 200.0, 2);
        let (p, q) = (Address([1; 20]), Address([2; 20]));
        let t0 = Instant::now();
        assert_eq!(b.charge(p, 150.0, t0), Duration::ZERO);
        // 50 left: 150 more is 100 in debt, one second at 100/s.
        assert_eq!(b.charge(p, 150.0, t0), Duration::from_secs(1));
        // Its other session waits behind that debt.
        assert_eq!(b.charge(p, 100.0, t0), Duration::from_secs(2));
        // Another peer has its own budget.
        assert_eq!(b.charge(q, 200.0, t0), Duration::ZERO);
        // Full: a third peer is charged as from an empty bucket.
        let r = Address([3; 20]);
        assert_eq!(b.charge(r, 50.0, t0), Duration::from_millis(500));
        // Later the debts are paid and the buckets refill.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.charge(p, 200.0, later), Duration::ZERO);
        assert_eq!(b.charge(r, 50.0, later), Duration::ZERO);
    }

    #[test]
    fn burst_then_refill() {
        let mut rl = RateLimiter::new(2.0, 3.0, 10);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(rl.allow(ip, t0));
        assert!(rl.allow(ip, t0));
        assert!(rl.allow(ip, t0));
        assert!(!rl.allow(ip, t0));
        // Another source is unaffected.
        assert!(rl.allow("10.0.0.2".parse().unwrap(), t0));
        // Half a second later one token is back.
        let t1 = t0 + Duration::from_millis(500);
        assert!(rl.allow(ip, t1));
        assert!(!rl.allow(ip, t1));
    }

    #[test]
    fn bounded_sources() {
        let mut rl = RateLimiter::new(1.0, 2.0, 2);
        let t0 = Instant::now();
        assert!(rl.allow("10.0.0.1".parse().unwrap(), t0));
        assert!(rl.allow("10.0.0.2".parse().unwrap(), t0));
        // Both buckets are still draining: a third source is refused.
        assert!(!rl.allow("10.0.0.3".parse().unwrap(), t0));
        // Once they refill, their entries are dropped and room is made.
        let later = t0 + Duration::from_secs(10);
        assert!(rl.allow("10.0.0.3".parse().unwrap(), later));
        assert!(rl.buckets.len() <= 2);
    }
}
