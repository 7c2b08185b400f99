//! The outbox worker of `serve`: retries due messages with backoff until
//! the maximum age, several peers at once, and does the housekeeping
//! (expiry, pruning, closing idle kept sessions).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use chainmail_core::Address;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::attempt::deliver;
use super::pool::{KEEP_SESSION, close_idle_sessions};
use crate::node::Node;

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
    let clock = node.clock().clone();
    let mut housekeeping_due = clock.instant();
    loop {
        let now = clock.now_unix();
        if clock.instant() >= housekeeping_due {
            // Why not every turn: the loop turns once per finished attempt.
            housekeeping_due = clock.deadline(WORKER_POLL);
            housekeeping(&node, now).await;
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
            () = node.outbound().woken() => {}
            () = &mut shutdown => return,
        }
    }
}

/// Expires messages older than the maximum age, prunes old dedup and
/// replay rows and events, and closes kept sessions idle for [`KEEP_SESSION`].
async fn housekeeping(node: &Node, now: u64) {
    let max_age = node.options().max_age;
    match node.db(move |s| s.expire(now, max_age)).await {
        Ok(0) => {}
        Ok(n) => warn!(count = n, "messages expired undelivered"),
        Err(e) => warn!(error = %e, "outbox expiry failed"),
    }
    if let Err(e) = node.db(move |s| s.prune(now)).await {
        warn!(error = %e, "pruning failed");
    }
    // Events live as long as an outbox message may: a subscriber away for
    // less than that resumes from its cursor and misses nothing.
    if let Err(e) = node.db(move |s| s.prune_events(now, max_age)).await {
        warn!(error = %e, "pruning events failed");
    }
    close_idle_sessions(node, KEEP_SESSION).await;
}
