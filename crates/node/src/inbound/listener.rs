//! The accept loop (mini-redis style): the per-source rate limit and the
//! connection cap, one task per connection, a clean shutdown; and `serve`,
//! the listener beside the outbox worker.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::connection::handle_connection;
use crate::node::{Node, NodeError};
use crate::transport::Accept;

/// Pause after an accept error (e.g. out of file descriptors) so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How long the accept loop waits for the slot of an unauthenticated
/// connection it told to close (its task ends at once; this only bounds a
/// stuck one).
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` (a `TcpListener`, or an in-memory
/// [`MemoryListener`](crate::transport::memory::MemoryListener)) for `node`
/// until `shutdown` completes, then stops accepting, tells every session to
/// close and waits for them.
pub async fn run(
    mut listener: impl Accept,
    node: Node,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    tokio::pin!(shutdown);
    // Why a watch channel: every connection task must learn of shutdown at
    // once to close its session cleanly; a watch is one flag many can await.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Why a JoinSet: shutdown waits for the connection tasks, so an ack in
    // flight is either sent after its commit or not at all.
    let mut tasks = JoinSet::new();
    let state = node.inbound();
    info!(id = %node.address(), addr = ?listener.local_addr(), "listening");
    loop {
        // Reap finished tasks so the set does not grow with history.
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let allowed = state
            .rate_limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(peer.ip(), node.clock().instant());
        if !allowed {
            debug!(%peer, "rate limited");
            continue; // dropping the stream closes it
        }
        let max = state.max_connections;
        // The source's own cap first: its oldest unauthenticated connection
        // makes room for this one.
        let ticket = state.preauth.enter(peer.ip());
        let permit = match state.connection_permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                state.connection_pressure.notify_waiters();
                // At the cap, the oldest unauthenticated connection (of any
                // source) makes room: a flood of silent sockets cannot keep
                // a genuine initiator out.
                let permit = if state.preauth.evict_oldest_except(&ticket) {
                    tokio::time::timeout(
                        EVICTION_WAIT,
                        state.connection_permits.clone().acquire_owned(),
                    )
                    .await
                    .ok()
                    .and_then(Result::ok)
                } else {
                    None
                };
                match permit {
                    Some(p) => p,
                    None => {
                        debug!(%peer, "connection cap reached");
                        continue;
                    }
                }
            }
        };
        if state.open_connections() > max - max / 4 {
            // Short of connections: idle sessions make room (see
            // `Limits::evict_idle_after`).
            state.connection_pressure.notify_waiters();
        }
        let node = node.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let _permit = permit; // released when the connection ends
            tokio::select! {
                r = handle_connection(&node, stream, peer, ticket) => match r {
                    Ok(()) => debug!(%peer, "connection closed"),
                    Err(e) => info!(%peer, error = %e, "connection ended"),
                },
                _ = stop.changed() => debug!(%peer, "closing for shutdown"),
            }
        });
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    info!("listener stopped");
    Ok(())
}

/// `run` plus the outbox worker: what `chainmail serve` runs.
pub async fn serve(
    listener: impl Accept,
    node: Node,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    // Why a watch channel: one shutdown signal fans out to two loops.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let outbox = tokio::spawn(crate::outbound::run_outbox(node.clone(), wait(rx.clone())));
    let listener_task = run(listener, node, wait(rx));
    tokio::pin!(listener_task);
    tokio::select! {
        r = &mut listener_task => { let _ = tx.send(true); let _ = outbox.await; return r; }
        () = shutdown => {}
    }
    let _ = tx.send(true);
    let r = listener_task.await;
    let _ = outbox.await;
    r
}
