//! One accepted connection: the responder handshake under the handshake
//! deadline, then the session loop — the idle timeout (moved only by a
//! `Deliver`), the periodic status re-check, eviction when connections run
//! short — handing each `Deliver` to [`super::receive`].

use std::net::SocketAddr;
use std::time::Duration;

use chainmail_core::wire::{Close, CloseReason, MessageError, Wire};
use chainmail_core::{Address, StatusError};
use tracing::{debug, info};

use super::preauth::Ticket;
use super::receive::receive;
use super::recheck::{NotValid, SessionStatus};
use crate::handshake::{self, SessionError};
use crate::node::{Node, NodeError};
use crate::transport::{BoxLink, SecureStream, TransportError};

/// How long a parting `Close` may take to write.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a connection ended badly (for the local log).
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectionError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("idle for too long")]
    Idle,
    #[error("closed while idle to make room: the node is short of connections")]
    Evicted,
    #[error(
        "closed before authenticating to make room: its source holds too many such connections, or the node is at its cap"
    )]
    MadeRoom,
    #[error("peer {0} is no longer valid on the chain: {1}")]
    PeerRevoked(Address, StatusError),
    #[error("our own ID {0} is no longer valid on the chain: {1}; its sessions end")]
    SelfNotValid(Address, StatusError),
    #[error("message refused: {0}")]
    BadMessage(#[from] MessageError),
    #[error(
        "message refused: {count} message(s) from {from} refused for good: body is not UTF-8 text"
    )]
    NotText { count: usize, from: Address },
    #[error(
        "message refused: {count} message(s) from {from} refused for good: sentAt more than 300 s ahead of our clock or older than a week"
    )]
    SentAtOutOfWindow { count: usize, from: Address },
    #[error(
        "{count} message(s) from {from} not stored: it is not a contact and its messages fill its inbox quota (name it a contact to lift it)"
    )]
    QuotaFull { count: usize, from: Address },
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Ends the session when `verdict` says an end of it is no longer valid:
/// `Close(PeerRevoked)` for the peer, `Close(Normal)` for our own ID (the
/// peer retries, and a new handshake with us is refused), or when the chain
/// could not be asked twice in a row.
pub(super) async fn ended(
    node: &Node,
    session: &mut SecureStream,
    verdict: Result<Result<(), NotValid>, chainmail_chain::ChainError>,
) -> Result<(), ConnectionError> {
    match verdict.map_err(NodeError::from)? {
        Ok(()) => Ok(()),
        Err(NotValid::Peer(e)) => {
            send_close(session, CloseReason::PeerRevoked).await;
            Err(ConnectionError::PeerRevoked(session.peer(), e))
        }
        Err(NotValid::Own(e)) => {
            send_close(session, CloseReason::Normal).await;
            Err(ConnectionError::SelfNotValid(node.address(), e))
        }
    }
}

/// Best-effort close: bounded in time, errors ignored (we are leaving anyway).
pub(super) async fn send_close(session: &mut SecureStream, reason: CloseReason) {
    let close = Wire::Close(Close { reason });
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.send(&close)).await;
}

pub(super) async fn handle_connection(
    node: &Node,
    stream: BoxLink,
    peer: SocketAddr,
    ticket: Ticket,
) -> Result<(), ConnectionError> {
    let clock = node.clock();
    let deadline = clock.deadline(node.options().limits.handshake_timeout);
    let (mut session, admitted_on) = tokio::select! {
        r = handshake::accept_boxed(node, stream, Some(peer.ip()), deadline) => r?,
        () = ticket.evicted() => return Err(ConnectionError::MadeRoom),
    };
    // Authenticated: no longer counted against the source.
    drop(ticket);
    let from = session.peer();
    info!(%peer, from = %from, "session accepted");
    let mut known = SessionStatus::new(node, from, admitted_on);
    let limits = node.options().limits.clone();
    let mut recheck = tokio::time::interval_at(
        clock.deadline(limits.recheck_interval),
        limits.recheck_interval,
    );
    // Idle since the last `Deliver`; the deadline does not move when the
    // loop turns for a re-check, a pressure notice or a stray `Ack` (a peer
    // must not hold a connection slot with cheap acks; `recv` is
    // cancel-safe).
    let mut idle_since = clock.instant();
    loop {
        let payload = tokio::select! {
            r = tokio::time::timeout_at(idle_since + limits.idle_timeout, session.recv()) => match r {
                Ok(Ok(p)) => p,
                Ok(Err(TransportError::Closed)) => return Ok(()),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => {
                    send_close(&mut session, CloseReason::Normal).await;
                    return Err(ConnectionError::Idle);
                }
            },
            _ = recheck.tick() => {
                // Open sessions re-check the peer on chain, and our own
                // ID: a revocation of either closes them within one
                // interval (one failed re-check is ridden out on the last
                // known status).
                let verdict = known.judge(node, node.fresh_status(from).await).await;
                ended(node, &mut session, verdict).await?;
                continue;
            }
            () = node.inbound().connection_pressure.notified() => {
                if clock.instant().saturating_duration_since(idle_since) >= limits.evict_idle_after {
                    send_close(&mut session, CloseReason::Normal).await;
                    return Err(ConnectionError::Evicted);
                }
                continue;
            }
        };
        match payload {
            Wire::Deliver(deliver) => {
                receive(node, &mut session, &mut known, deliver).await?;
                idle_since = clock.instant();
            }
            Wire::Ack(_) => {
                // We sent nothing on this session: a stray ack is ignored,
                // and is no sign of life (the idle deadline stays).
            }
            Wire::Close(c) => {
                debug!(from = %from, reason = ?c.reason, "peer closed");
                return Ok(());
            }
        }
    }
}
