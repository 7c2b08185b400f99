//! The handshake admission policy: what a session request that passed the
//! core's local checks (T_B1 parsed, T_B's signature verified) must still
//! pass before this node answers it, in this order — admission (the block
//! list, and contacts only when the node says so), both IDs' statuses (the
//! core's one judgment), the initiator's key against the registered one,
//! the persistent replay row, and, with
//! [`NodeOptions::verify_on_chain`](crate::NodeOptions::verify_on_chain),
//! the registry's `verifySession`. Also the admission of each `Deliver` on
//! an open session, which is judged as a new handshake would be.
//!
//! Nothing here touches a socket; [`crate::handshake`] drives the bytes.

use std::net::IpAddr;

use chainmail_chain::ChainError;
use chainmail_core::handshake::{
    AdmissibleT_B1, HandshakeError, MAX_SKEW_SECS, PendingT_B1, ReplayError,
};
use chainmail_core::{Address, IdStatus, StatusError, hash};
use tracing::debug;

use super::error::SessionError;
use crate::node::Node;

/// How long a replay-cache entry is kept past the request's T: a request is
/// refused as stale once T + skew is past, so T + skew + margin covers every
/// request that could still be accepted.
const REPLAY_MARGIN_SECS: u64 = 60;

/// A session request that passed every check but the replay verdict, which
/// travels with it to the core's `answer`.
pub(crate) struct Admitted<'k> {
    /// The request, judged.
    pub(crate) request: AdmissibleT_B1<'k>,
    /// `Ok` when its (ID_B, E_B) was new; the core refuses it otherwise.
    pub(crate) replay: Result<(), ReplayError>,
    /// The initiator's status it was judged on.
    pub(crate) status: IdStatus,
}

/// Runs the policy on a T_B1 the core checked locally.
///
/// The initiator's status comes from the status cache (positive or
/// negative) when it can; a lookup the cache cannot answer first takes a
/// token from `source`'s lookup budget, so fresh keys (free to make) cost
/// the RPC provider a bounded number of calls per source.
pub(crate) async fn admit<'k>(
    node: &Node,
    pending: PendingT_B1<'k>,
    source: Option<IpAddr>,
) -> Result<Admitted<'k>, SessionError> {
    let initiator = pending.initiator();
    // Blocked IDs (and strangers in contacts-only mode) are refused before
    // any chain call; they learn only that the handshake failed.
    let contacts_only = node.options().contacts_only;
    if !node
        .db(move |s| s.admits(&initiator, contacts_only))
        .await?
    {
        return Err(SessionError::NotAdmitted(initiator));
    }
    let initiator_status = match node.cached_status(initiator) {
        Some(s) => s,
        None => {
            if let Some(source) = source
                && !node.inbound().allow_lookup(source, node.clock().instant())
            {
                return Err(SessionError::LookupBudget(initiator));
            }
            node.fresh_status(initiator).await?
        }
    };
    let own_status = node.status(node.address()).await?;
    // The one judgment of both statuses (and T's freshness after the
    // lookups) is the core's; only the replay check is left.
    let request = pending
        .judge(&initiator_status, &own_status, node.now())
        .map_err(|e| status_refusal(e, node.address()))?;
    // The key that signed T_B hashes to ID_B (the core checked); it must
    // also be the key the chain registered under ID_B (read once per ID).
    let registered = node
        .registered_key(initiator, initiator_status.registered_block)
        .await?;
    if registered != *request.initiator_key() {
        return Err(SessionError::KeyMismatch(initiator));
    }
    let fresh = record_replay(node, &request).await?;
    if node.options().verify_on_chain && fresh {
        // After every local check (signature, cached status, replay),
        // never instead of them: junk and replays cost no chain call.
        verify_on_chain(node, &request).await?;
    }
    let replay = if fresh {
        Ok(())
    } else {
        Err(ReplayError::Seen)
    };
    Ok(Admitted {
        request,
        replay,
        status: initiator_status,
    })
}

/// Checks and inserts the request's (ID_B, keccak(E_B)) row atomically in
/// the SQLite store (surviving restarts), off the async threads: `true`
/// when it was new.
async fn record_replay(node: &Node, request: &AdmissibleT_B1<'_>) -> Result<bool, SessionError> {
    let initiator = request.initiator();
    let key = request.replay_key();
    let e_hash = hash::keccak256(&key.ephemeral_key);
    let expires_at = key
        .timestamp
        .saturating_add(MAX_SKEW_SECS + REPLAY_MARGIN_SECS);
    Ok(node
        .db(move |s| s.check_and_insert_replay(&initiator, &e_hash, expires_at))
        .await?)
}

/// The registry's `verifySession` on the request (fails closed).
async fn verify_on_chain(node: &Node, request: &AdmissibleT_B1<'_>) -> Result<(), SessionError> {
    let initiator = request.initiator();
    match node
        .registry()
        .verify_session(request.session_request())
        .await
    {
        Ok(()) => {
            debug!(from = %initiator, "verifySession accepted");
            Ok(())
        }
        Err(e @ ChainError::Contract(_)) => Err(SessionError::RefusedOnChain {
            id: initiator,
            source: e,
        }),
        Err(e) => Err(SessionError::Chain(e)),
    }
}

/// The status of a `Deliver`'s sender on an open session: cached for the
/// status TTL, or fresh from the chain with `verify_on_chain`. The caller
/// judges it, and checks admission in the store call that commits.
pub(crate) async fn sender_status(node: &Node, from: Address) -> Result<IdStatus, ChainError> {
    if node.options().verify_on_chain {
        node.fresh_status(from).await
    } else {
        node.status(from).await
    }
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
