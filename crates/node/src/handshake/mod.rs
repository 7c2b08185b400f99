//! The handshake over a socket, both sides: the core's state machines
//! driven over a connection (initiator: T_B1 →, ← T_A2, confirm →;
//! responder: ← T_B1, the admission `policy`, T_A2 →,
//! ← confirm), ending in a [`SecureStream`]. The responder's admission
//! order is in `policy`, the errors of both sides in [`SessionError`].
//!
//! Time comes from the node's [`Clock`](crate::Clock) and randomness from the OS here; the
//! core takes both as arguments.

use chainmail_core::handshake::{HandshakeError, Initiator, Responder, T_B1_LEN};
use chainmail_core::session::Opened;
use std::net::IpAddr;

use chainmail_core::{Address, IdStatus, PublicKey};
use rand::TryRngCore;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tracing::debug;

use crate::node::Node;
use crate::transport::{BoxLink, Link, RecordReader, SecureStream, TransportError};

mod error;
pub(crate) mod policy;

pub use error::SessionError;

fn os_rng() -> rand::rngs::OsRng {
    rand::rngs::OsRng
}

/// Bob's side: proves who we are to `peer` (whose key `peer_key` comes
/// from the chain) and checks that whoever answers holds that key. An
/// impostor at the peer's endpoint cannot produce T_A2, so nothing is
/// ever sent to it. `peer_valid_until` is from the peer's status, which
/// the caller read and judged (once per delivery): it is not read or
/// judged again here. Fails with [`SessionError::Timeout`] at `deadline`.
pub async fn initiate(
    node: &Node,
    stream: impl Link,
    peer: Address,
    peer_key: PublicKey,
    peer_valid_until: u64,
    deadline: Instant,
) -> Result<SecureStream, SessionError> {
    let stream: BoxLink = Box::new(stream);
    initiate_boxed(node, stream, peer, peer_key, peer_valid_until, deadline).await
}

/// [`initiate`] over a connection already boxed (the dialer's).
pub(crate) async fn initiate_boxed(
    node: &Node,
    stream: BoxLink,
    peer: Address,
    peer_key: PublicKey,
    peer_valid_until: u64,
    deadline: Instant,
) -> Result<SecureStream, SessionError> {
    tokio::time::timeout_at(
        deadline,
        initiate_inner(node, stream, peer, peer_key, peer_valid_until),
    )
    .await
    .map_err(|_| SessionError::Timeout)?
}

async fn initiate_inner(
    node: &Node,
    mut stream: BoxLink,
    peer: Address,
    peer_key: PublicKey,
    peer_valid_until: u64,
) -> Result<SecureStream, SessionError> {
    if peer_key.address() != peer {
        return Err(HandshakeError::KeyMismatch { id: peer }.into());
    }
    let now = node.now();
    let ss = node.static_shared(&peer_key);
    let (state, t_b1) = Initiator::start_judged(
        node.key(),
        &ss,
        node.domain(),
        &peer_key,
        peer_valid_until,
        now,
        &mut os_rng().unwrap_err(),
    )?;
    stream.write_all(&t_b1).await?;
    let mut reader = RecordReader::new();
    let t_a2 = match reader.next(&mut stream).await {
        Err(TransportError::Closed) => return Err(SessionError::Refused),
        r => r?,
    };
    let (session, confirm) = state.read_t_a2(&t_a2)?;
    stream.write_all(&confirm).await?;
    Ok(SecureStream::new(
        stream,
        reader,
        session,
        peer_key,
        node.clock().clone(),
    ))
}

/// Alice's side: reads T_B1, checks it locally (signature first, so no
/// chain call is made for junk), runs the admission `policy` (block
/// list, statuses, replay row, `verify_on_chain`), answers with T_A2 and
/// waits for the key confirmation. Fails with [`SessionError::Timeout`]
/// at `deadline` (slowloris, half-open peers). The listener also charges
/// the chain lookups of uncached initiators to the connection's source;
/// this entry point, for callers with their own accept loop, does not.
pub async fn accept(
    node: &Node,
    stream: impl Link,
    deadline: Instant,
) -> Result<SecureStream, SessionError> {
    let stream: BoxLink = Box::new(stream);
    let (session, _status) = accept_boxed(node, stream, None, deadline).await?;
    Ok(session)
}

/// [`accept`] over a connection already boxed (the listener's), chain
/// lookups charged to `source` when given; also returns the initiator's
/// status the session was admitted on.
pub(crate) async fn accept_boxed(
    node: &Node,
    stream: BoxLink,
    source: Option<IpAddr>,
    deadline: Instant,
) -> Result<(SecureStream, IdStatus), SessionError> {
    tokio::time::timeout_at(deadline, accept_inner(node, stream, source))
        .await
        .map_err(|_| SessionError::Timeout)?
}

async fn accept_inner(
    node: &Node,
    mut stream: BoxLink,
    source: Option<IpAddr>,
) -> Result<(SecureStream, IdStatus), SessionError> {
    let mut reader = RecordReader::new();
    // T_B1 has one size, and an honest initiator sends it at once: a
    // longer record is refused at its prefix, a silent socket at
    // `first_record_timeout` (not the whole handshake timeout).
    let first = node.options().limits.first_record_timeout;
    let t_b1 = tokio::time::timeout(first, reader.next_bounded(&mut stream, T_B1_LEN))
        .await
        .map_err(|_| SessionError::Timeout)??;
    // The permit covers the CPU (ECDH and the signature check here, ECDH
    // and signing for the answer), never a wait: not for T_B1 (a slowloris
    // holds a connection slot until the deadline, never a permit), not for
    // the chain or the store in the policy (a slow RPC provider must not
    // stall every handshake), not for the confirmation. Waiting for a
    // permit (within the caller's deadline) rather than refusing smooths
    // bursts.
    let responder = Responder::new(node.key(), *node.domain());
    let pending = {
        let _permit = cpu_permit(node).await?;
        responder.read_t_b1(&t_b1, node.now())?
    };
    debug!(from = %pending.initiator(), "T_B1 checked locally");
    let admitted = policy::admit(node, pending, source).await?;
    let peer_key = *admitted.request.initiator_key();
    let (t_a2, mut session) = {
        let _permit = cpu_permit(node).await?;
        // Bob's key hashes to ID_B and signed T_B (checked in read_t_b1),
        // so caching `ss` under ID_B cannot be poisoned by a stranger.
        let ss = node.static_shared(&peer_key);
        admitted
            .request
            .answer(&ss, admitted.replay, node.now(), &mut os_rng().unwrap_err())
            .map_err(|e| match e {
                HandshakeError::Replay { id } => SessionError::Replay(id),
                e => e.into(),
            })?
    };
    stream.write_all(&t_a2).await?;
    let confirm = reader.next(&mut stream).await?;
    match session.open(&confirm, node.now())? {
        Opened::Confirmed => {}
        Opened::Data(_) => return Err(SessionError::NotConfirmed),
    }
    let session = SecureStream::new(stream, reader, session, peer_key, node.clock().clone());
    Ok((session, admitted.status))
}

/// One of the node's handshake permits (the cap on handshake CPU at once).
async fn cpu_permit(node: &Node) -> Result<tokio::sync::SemaphorePermit<'_>, SessionError> {
    node.handshake_permits()
        .acquire()
        .await
        .map_err(|_| TransportError::Closed.into())
}
