//! A TCP connection carrying one chainmail session: the core's handshake
//! state machines driven over the socket (initiator: T_B1 →, ← T_A2,
//! confirm →; responder: ← T_B1, chain status, replay check, T_A2 →,
//! ← confirm), then sealed application payloads both ways.
//!
//! Time comes from the system clock and randomness from the OS here; the
//! core takes both as arguments.

use chainmail_chain::ChainError;
use chainmail_core::codec::{Codec, Malformed};
use chainmail_core::handshake::{HandshakeError, Initiator, MAX_SKEW_SECS, ReplayError, Responder};
use chainmail_core::record::MAX_RECORD_BODY;
use chainmail_core::session::{Opened, OpenedInPlace, Session};
use chainmail_core::wire::Wire;
use chainmail_core::{Address, PublicKey, StatusError, hash};
use rand::TryRngCore;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use crate::frame::{FrameError, RecordReader};
use crate::node::{Node, NodeError, unix_now};

/// How long a replay-cache entry is kept past the request's T: a request is
/// refused as stale once T + skew is past, so T + skew + margin covers every
/// request that could still be accepted.
const REPLAY_MARGIN_SECS: u64 = 60;

/// Why a session could not be set up or went wrong. Detailed for the local
/// log; the peer is never told more than that the handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer closed the connection cleanly.
    #[error("connection closed")]
    Closed,
    /// The handshake did not complete by its deadline.
    #[error("the handshake did not complete in time")]
    Timeout,
    /// Reading records failed (too large, truncated, i/o).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Writing failed.
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake failed (impostor, replay, wrong registry…).
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer's ID is not valid on the chain.
    #[error("peer {id} refused: {reason}")]
    PeerNotValid {
        /// The peer.
        id: Address,
        /// Why (unknown, revoked, expired).
        reason: StatusError,
    },
    /// Our own ID is not valid on the chain (not registered, revoked, expired).
    #[error("our own identity {id} is not valid on the chain: {reason}")]
    SelfNotValid {
        /// Us.
        id: Address,
        /// Why.
        reason: StatusError,
    },
    /// A replayed T_B1 (seen before, in this run or an earlier one).
    #[error("replayed session request from {0}")]
    Replay(Address),
    /// The session cipher refused a frame (tampered, replayed, expired).
    #[error("session: {0}")]
    Cipher(#[from] chainmail_core::session::SessionError),
    /// A payload that does not parse.
    #[error("bad payload: {0}")]
    Wire(#[from] Malformed),
    /// The initiator's first frame was not the key confirmation.
    #[error("the initiator did not confirm the session keys")]
    NotConfirmed,
    /// The chain could not be asked.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The registry's `verifySession` refused the session request that
    /// passed the local checks (only with `NodeOptions::verify_on_chain`).
    #[error("the registry's verifySession refused {id}'s session request: {source}")]
    RefusedOnChain {
        /// The initiator.
        id: Address,
        /// The contract's custom error.
        #[source]
        source: ChainError,
    },
    /// The store failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Responder side: the initiator is blocked (or not a contact while the
    /// node accepts contacts only). It is told nothing; the connection closes.
    #[error("session request from {0} refused: blocked, or not a contact")]
    NotAdmitted(Address),
    /// Initiator side: the responder closed the connection instead of
    /// answering our session request (it refused us: blocked, contacts
    /// only, or it judged our ID not valid).
    #[error("the recipient refused the session")]
    Refused,
}

/// The core's status refusals, named for the local log: the peer's ID or
/// our own. Any other error passes through.
fn status_refusal(e: HandshakeError, own: Address) -> SessionError {
    let (id, reason) = match e {
        HandshakeError::UnknownId { id } => (id, StatusError::Unknown),
        HandshakeError::Revoked { id, revoked_at } => (id, StatusError::Revoked { revoked_at }),
        HandshakeError::Expired { id, valid_until } => (id, StatusError::Expired { valid_until }),
        other => return other.into(),
    };
    if id == own {
        SessionError::SelfNotValid { id, reason }
    } else {
        SessionError::PeerNotValid { id, reason }
    }
}

/// An authenticated, encrypted session over TCP.
pub struct SecureStream {
    stream: TcpStream,
    reader: RecordReader,
    session: Session,
    peer_key: PublicKey,
}

impl std::fmt::Debug for SecureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureStream")
            .field("peer", &self.session.peer())
            .finish_non_exhaustive()
    }
}

fn os_rng() -> rand::rngs::OsRng {
    rand::rngs::OsRng
}

impl SecureStream {
    /// Bob's side: proves who we are to `peer` (whose key `peer_key` comes
    /// from the chain) and checks that whoever answers holds that key. An
    /// impostor at the peer's endpoint cannot produce T_A2, so nothing is
    /// ever sent to it. `peer_valid_until` is from the peer's status, which
    /// the caller read and judged (once per delivery): it is not read or
    /// judged again here. Fails with [`SessionError::Timeout`] at `deadline`.
    pub async fn initiate(
        node: &Node,
        stream: TcpStream,
        peer: Address,
        peer_key: PublicKey,
        peer_valid_until: u64,
        deadline: Instant,
    ) -> Result<Self, SessionError> {
        tokio::time::timeout_at(
            deadline,
            Self::initiate_inner(node, stream, peer, peer_key, peer_valid_until),
        )
        .await
        .map_err(|_| SessionError::Timeout)?
    }

    async fn initiate_inner(
        node: &Node,
        mut stream: TcpStream,
        peer: Address,
        peer_key: PublicKey,
        peer_valid_until: u64,
    ) -> Result<Self, SessionError> {
        if peer_key.address() != peer {
            return Err(HandshakeError::KeyMismatch { id: peer }.into());
        }
        let now = unix_now();
        let ss = node.static_shared(&peer_key);
        let (state, t_b1) = Initiator::start_judged(
            &node.inner.key,
            &ss,
            &node.inner.domain,
            &peer_key,
            peer_valid_until,
            now,
            &mut os_rng().unwrap_err(),
        )?;
        stream.write_all(&t_b1).await?;
        let mut reader = RecordReader::new(MAX_RECORD_BODY);
        let t_a2 = match reader.next(&mut stream).await {
            Err(FrameError::Closed) => return Err(SessionError::Refused),
            r => r?,
        };
        let (session, confirm) = state.read_t_a2(&t_a2)?;
        stream.write_all(&confirm).await?;
        Ok(Self {
            stream,
            reader,
            session,
            peer_key,
        })
    }

    /// Alice's side: reads T_B1, checks it locally (signature first, so no
    /// chain call is made for junk), asks the chain (cached) for both IDs'
    /// status, records (ID_B, E_B) in the persistent replay cache, answers
    /// with T_A2 and waits for the key confirmation. Fails with
    /// [`SessionError::Timeout`] at `deadline` (slowloris, half-open peers).
    pub async fn accept(
        node: &Node,
        stream: TcpStream,
        deadline: Instant,
    ) -> Result<Self, SessionError> {
        tokio::time::timeout_at(deadline, Self::accept_inner(node, stream))
            .await
            .map_err(|_| SessionError::Timeout)?
    }

    async fn accept_inner(node: &Node, mut stream: TcpStream) -> Result<Self, SessionError> {
        let mut reader = RecordReader::new(MAX_RECORD_BODY);
        let t_b1 = reader.next(&mut stream).await?;
        // The permit covers the costly part (ECDH, verify, status, sign), not
        // the wait for T_B1: a slowloris holds a connection slot until the
        // handshake deadline, never a handshake permit. Waiting here (within
        // the caller's deadline) rather than refusing smooths bursts.
        let permit = node
            .inner
            .handshake_permits
            .acquire()
            .await
            .map_err(|_| SessionError::Closed)?;
        let responder = Responder::new(&node.inner.key, node.inner.domain);
        let pending = responder.read_t_b1(&t_b1, unix_now())?;
        let initiator = pending.initiator();
        debug!(from = %initiator, "T_B1 checked locally");
        // Blocked IDs (and strangers in contacts-only mode) are refused
        // before any chain call; they learn only that the handshake failed.
        let contacts_only = node.options().contacts_only;
        if !node
            .db(move |s| s.admits(&initiator, contacts_only))
            .await?
        {
            return Err(SessionError::NotAdmitted(initiator));
        }
        let initiator_status = node.status(initiator).await?;
        let own_status = node.status(node.address()).await?;
        // The one judgment of both statuses (and T's freshness after the
        // lookups) is the core's; only the replay check is left.
        let admissible = pending
            .judge(&initiator_status, &own_status, unix_now())
            .map_err(|e| status_refusal(e, node.address()))?;
        let key = admissible.replay_key();
        let e_hash = hash::keccak256(&key.ephemeral_key);
        let expires_at = key
            .timestamp
            .saturating_add(MAX_SKEW_SECS + REPLAY_MARGIN_SECS);
        // Checked and inserted atomically in the SQLite store (surviving
        // restarts), off the async threads.
        let fresh = node
            .db(move |s| s.check_and_insert_replay(&initiator, &e_hash, expires_at))
            .await?;
        if node.options().verify_on_chain && fresh {
            // After every local check (signature, cached status, replay),
            // never instead of them: junk and replays cost no chain call.
            match node
                .registry()
                .verify_session(admissible.session_request())
                .await
            {
                Ok(()) => debug!(from = %initiator, "verifySession accepted"),
                Err(e @ ChainError::Contract(_)) => {
                    return Err(SessionError::RefusedOnChain {
                        id: initiator,
                        source: e,
                    });
                }
                Err(e) => return Err(SessionError::Chain(e)),
            }
        }
        let peer_key = *admissible.initiator_key();
        // Bob's key hashes to ID_B and signed T_B (checked in read_t_b1),
        // so caching `ss` under ID_B cannot be poisoned by a stranger.
        let ss = node.static_shared(&peer_key);
        let verdict = if fresh {
            Ok(())
        } else {
            Err(ReplayError::Seen)
        };
        let (t_a2, mut session) = admissible
            .answer(&ss, verdict, unix_now(), &mut os_rng().unwrap_err())
            .map_err(|e| match e {
                HandshakeError::Replay { id } => SessionError::Replay(id),
                e => e.into(),
            })?;
        stream.write_all(&t_a2).await?;
        // The costly part is done; a half-open peer that never confirms must
        // not keep the permit.
        drop(permit);
        let confirm = reader.next(&mut stream).await?;
        match session.open(&confirm, unix_now())? {
            Opened::Confirmed => {}
            Opened::Data(_) => return Err(SessionError::NotConfirmed),
        }
        Ok(Self {
            stream,
            reader,
            session,
            peer_key,
        })
    }

    /// The authenticated peer's ID.
    pub fn peer(&self) -> Address {
        self.session.peer()
    }

    /// The authenticated peer's public key.
    pub fn peer_key(&self) -> PublicKey {
        self.peer_key
    }

    /// Whether this session can carry another exchange: it does not end
    /// within `margin_secs` of `now`, nothing unread waits in it, and the
    /// peer has not closed the connection or written to it (a `Close`
    /// after its idle timeout, say). Checked without blocking.
    pub fn is_reusable(&self, now: u64, margin_secs: u64) -> bool {
        if now.saturating_add(margin_secs) >= self.session.expires_at()
            || self.reader.buffered() > 0
        {
            return false;
        }
        // Readable means end of stream or unsolicited bytes: either way
        // this session is over. Only "would block" means idle and open.
        let mut probe = [0u8; 1];
        matches!(
            self.stream.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    /// Seals and sends one payload.
    pub async fn send(&mut self, payload: &Wire) -> Result<(), SessionError> {
        let mut out = Vec::new();
        self.session
            .seal(&payload.to_bytes(), unix_now(), &mut out)?;
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Receives and opens one payload. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Wire, SessionError> {
        let mut record = match self.reader.next(&mut self.stream).await {
            Ok(r) => r,
            Err(FrameError::Closed) => return Err(SessionError::Closed),
            Err(e) => return Err(e.into()),
        };
        // Decrypted where it lies: the record is ours, no copy needed.
        match self.session.open_in_place(&mut record, unix_now())? {
            OpenedInPlace::Data(bytes) => Ok(Wire::decode(bytes)?),
            OpenedInPlace::Confirmed => {
                Err(chainmail_core::session::SessionError::UnexpectedConfirm.into())
            }
        }
    }
}
