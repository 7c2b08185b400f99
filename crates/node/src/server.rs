//! The listening side (mini-redis style): an accept loop that applies the
//! per-source rate limit and the connection cap, one task per connection,
//! the responder handshake under a concurrency cap and a deadline, then the
//! receive loop: verify each message, commit it, and only then ack.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use chainmail_core::wire::{Ack, Close, CloseReason, MessageProof, Wire};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::node::{Node, NodeError, unix_now};
use crate::session::{SecureStream, SessionError};
use crate::store::{ReceivedMessage, Stored};

/// Pause after an accept error (e.g. out of file descriptors) so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` for `node` until `shutdown` completes,
/// then stops accepting, tells every session to close and waits for them.
pub async fn run(
    listener: TcpListener,
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
    info!(id = %node.address(), addr = ?listener.local_addr().ok(), "listening");
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
        let allowed = node
            .inner
            .rate_limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(peer.ip(), std::time::Instant::now());
        if !allowed {
            debug!(%peer, "rate limited");
            continue; // dropping the stream closes it
        }
        let max = node.options().limits.max_connections;
        let Ok(permit) = node.inner.connection_permits.clone().try_acquire_owned() else {
            debug!(%peer, "connection cap reached");
            node.inner.connection_pressure.notify_waiters();
            continue;
        };
        if node.open_connections() > max - max / 4 {
            // Short of connections: idle sessions make room (see
            // `Limits::evict_idle_after`).
            node.inner.connection_pressure.notify_waiters();
        }
        let node = node.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let _permit = permit; // released when the connection ends
            tokio::select! {
                r = handle_connection(&node, stream, peer) => match r {
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
    listener: TcpListener,
    node: Node,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    // Why a watch channel: one shutdown signal fans out to two loops.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let outbox = tokio::spawn(crate::deliver::run_outbox(node.clone(), wait(rx.clone())));
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

/// Why a connection ended badly (for the local log).
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("idle for too long")]
    Idle,
    #[error("closed while idle to make room: the node is short of connections")]
    Evicted,
    #[error("peer {0} is no longer valid on the chain: {1}")]
    PeerRevoked(chainmail_core::Address, String),
    #[error("message refused: {0}")]
    BadMessage(String),
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Best-effort close: bounded in time, errors ignored (we are leaving anyway).
async fn send_close(session: &mut SecureStream, reason: CloseReason) {
    let close = Wire::Close(Close { reason });
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.send(&close)).await;
}

/// How long a parting `Close` may take to write.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

async fn handle_connection(
    node: &Node,
    stream: TcpStream,
    peer: SocketAddr,
) -> Result<(), ConnectionError> {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + node.options().limits.handshake_timeout;
    let mut session = SecureStream::accept(node, stream, deadline).await?;
    let from = session.peer();
    info!(%peer, from = %from, "session accepted");
    let limits = node.options().limits.clone();
    let mut recheck = tokio::time::interval_at(
        Instant::now() + limits.recheck_interval,
        limits.recheck_interval,
    );
    // Idle since the last payload; the deadline does not move when the loop
    // turns for a re-check or a pressure notice (`recv` is cancel-safe).
    let mut idle_since = Instant::now();
    loop {
        let payload = tokio::select! {
            r = tokio::time::timeout_at(idle_since + limits.idle_timeout, session.recv()) => match r {
                Ok(Ok(p)) => p,
                Ok(Err(SessionError::Closed)) => return Ok(()),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => {
                    send_close(&mut session, CloseReason::Normal).await;
                    return Err(ConnectionError::Idle);
                }
            },
            _ = recheck.tick() => {
                // Open sessions re-check the peer on chain: a revocation
                // closes them within one interval.
                let status = node.fresh_status(from).await.map_err(NodeError::from)?;
                if let Err(e) = status.check(unix_now()) {
                    send_close(&mut session, CloseReason::PeerRevoked).await;
                    return Err(ConnectionError::PeerRevoked(from, e.to_string()));
                }
                continue;
            }
            () = node.inner.connection_pressure.notified() => {
                if idle_since.elapsed() >= limits.evict_idle_after {
                    send_close(&mut session, CloseReason::Normal).await;
                    return Err(ConnectionError::Evicted);
                }
                continue;
            }
        };
        match payload {
            Wire::Deliver(deliver) => {
                // A session outlives single deliveries (senders keep it for
                // the next message), so each `Deliver` is admitted as a new
                // handshake would be: the sender still valid on the chain
                // (cached for the status TTL, or fresh with verify_on_chain)
                // here, and not blocked (nor a stranger in contacts-only
                // mode) in the same store call that commits the messages.
                let status = if node.options().verify_on_chain {
                    node.fresh_status(from).await
                } else {
                    node.status(from).await
                }
                .map_err(NodeError::from)?;
                if let Err(e) = status.check(unix_now()) {
                    send_close(&mut session, CloseReason::PeerRevoked).await;
                    return Err(ConnectionError::PeerRevoked(from, e.to_string()));
                }
                // The core checks `from` is the peer this session
                // authenticated, `to` is us, and every signature (each, or
                // the batch's over the Merkle root) is the peer's.
                let verified = match deliver.verify(
                    &node.inner.domain,
                    &session.peer_key(),
                    &node.address(),
                ) {
                    Ok(v) => v,
                    Err(e) => {
                        send_close(&mut session, CloseReason::ProtocolError).await;
                        return Err(ConnectionError::BadMessage(e.to_string()));
                    }
                };
                let mut rows = Vec::with_capacity(verified.len());
                // Bodies are UTF-8 text (chainmail is a text messenger). A
                // signed message that is not text is refused for good, one
                // by one: the others are stored and acked, then
                // `Close(NotText)` tells the sender that whatever it did not
                // get an ack for is refused (so it stops retrying it),
                // rather than refusing the whole `Deliver` and leaving the
                // sender to retry it until it expires.
                let mut not_text = 0usize;
                for v in verified {
                    let Ok(body) = String::from_utf8(v.body) else {
                        not_text += 1;
                        continue;
                    };
                    let (signature, batch) = match v.proof {
                        MessageProof::Single { signature } => (signature, None),
                        MessageProof::Batch {
                            signature,
                            count,
                            index,
                            path,
                        } => {
                            let leaf = chainmail_core::eip712::TypedData::struct_hash(&v.message);
                            let root =
                                chainmail_core::merkle::root_from_path(&leaf, index, count, &path)
                                    .ok_or_else(|| {
                                        ConnectionError::BadMessage("bad batch path".into())
                                    })?;
                            (signature, Some((root, path, index, count)))
                        }
                    };
                    rows.push(ReceivedMessage {
                        message_id: v.message.id,
                        from: v.message.from,
                        to: v.message.to,
                        sent_at: v.message.sent_at,
                        body,
                        signature: signature.to_bytes(),
                        batch_root: batch.as_ref().map(|b| b.0),
                        batch_index: batch.as_ref().map(|b| b.2),
                        batch_count: batch.as_ref().map(|b| b.3),
                        batch_path: batch.map(|b| b.1).unwrap_or_default(),
                    });
                }
                let now = unix_now();
                // Commit first, ack after: an ack means "stored for good".
                let ids: Vec<[u8; 16]> = rows.iter().map(|r| r.message_id).collect();
                let contacts_only = node.options().contacts_only;
                let stored = node
                    .db(move |s| {
                        if !s.admits(&from, contacts_only)? {
                            return Ok(None);
                        }
                        if rows.is_empty() {
                            return Ok(Some(Vec::new()));
                        }
                        s.store_received_all(&rows, now).map(Some)
                    })
                    .await?;
                let Some(stored) = stored else {
                    // Told nothing, as at the handshake: the connection closes.
                    return Err(SessionError::NotAdmitted(from).into());
                };
                if !ids.is_empty() {
                    let new = stored.iter().filter(|s| **s == Stored::New).count();
                    info!(from = %from, new, duplicates = stored.len() - new, "messages stored");
                    // A peer that stops reading must not pin this task on a
                    // full socket buffer: the write gets the idle timeout too.
                    match tokio::time::timeout(
                        limits.idle_timeout,
                        session.send(&Wire::Ack(Ack { ids })),
                    )
                    .await
                    {
                        Ok(r) => r?,
                        Err(_) => return Err(ConnectionError::Idle),
                    }
                }
                if not_text > 0 {
                    send_close(&mut session, CloseReason::NotText).await;
                    return Err(ConnectionError::BadMessage(format!(
                        "{not_text} message(s) from {from} refused for good: body is not UTF-8 text"
                    )));
                }
            }
            Wire::Ack(_) => {
                // We sent nothing on this session; a stray ack is harmless.
            }
            Wire::Close(c) => {
                debug!(from = %from, reason = ?c.reason, "peer closed");
                return Ok(());
            }
        }
        idle_since = Instant::now();
    }
}
