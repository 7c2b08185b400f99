//! The last known statuses of an open session's two ends — the peer's and
//! our own — and one failed re-check ridden out on each: a hiccup of the
//! RPC provider must not tear down every open session at once, while a
//! provider that stays down ends them at the next re-check (a revocation
//! it hides cannot be seen either way, so the node stops trusting what it
//! cannot confirm). Our own ID is re-checked too: a node whose ID was
//! revoked (its key stolen, say) stops talking on the sessions it has.

use chainmail_chain::ChainError;
use chainmail_core::{Address, IdStatus, StatusError};
use tracing::warn;

use crate::node::Node;

/// Both ends of an open session, as last known.
#[derive(Debug)]
pub(super) struct SessionStatus {
    peer: KnownStatus,
    own: KnownStatus,
}

/// Which end of a session is no longer valid.
#[derive(Debug)]
pub(super) enum NotValid {
    /// The peer's ID.
    Peer(StatusError),
    /// Our own ID.
    Own(StatusError),
}

impl SessionStatus {
    /// A session with `peer`, admitted on `admitted_on` (our own status was
    /// judged valid then too, and is in the status cache).
    pub(super) fn new(node: &Node, peer: Address, admitted_on: IdStatus) -> Self {
        let own = node.address();
        let own_status = node.cached_status(own).unwrap_or_default();
        Self {
            peer: KnownStatus::new(peer, admitted_on),
            own: KnownStatus::new(own, own_status),
        }
    }

    /// Judges both ends at the node's time: the peer on `peer` (a fresh
    /// lookup, or what `sender_status` says), our own ID on the status
    /// cache (shared by every session: n sessions cost one lookup per TTL).
    /// `Err` when a lookup failed twice in a row.
    pub(super) async fn judge(
        &mut self,
        node: &Node,
        peer: Result<IdStatus, ChainError>,
    ) -> Result<Result<(), NotValid>, ChainError> {
        let peer = self.peer.update(peer)?;
        let own = self.own.update(node.status(node.address()).await)?;
        let now = node.now();
        if let Err(e) = peer.check(now) {
            return Ok(Err(NotValid::Peer(e)));
        }
        Ok(own.check(now).map_err(NotValid::Own))
    }
}

/// What an open session last learned of its peer's status.
#[derive(Debug)]
pub(super) struct KnownStatus {
    peer: Address,
    status: IdStatus,
    /// The previous re-check failed (and was ridden out).
    failed: bool,
}

impl KnownStatus {
    /// The status `peer`'s session was admitted on.
    pub(super) fn new(peer: Address, status: IdStatus) -> Self {
        Self {
            peer,
            status,
            failed: false,
        }
    }

    /// The status to judge after a re-check answered `fresh`: the new one,
    /// or the last known one when the chain could not be asked and the
    /// previous re-check had not failed too.
    pub(super) fn update(
        &mut self,
        fresh: Result<IdStatus, ChainError>,
    ) -> Result<IdStatus, ChainError> {
        match fresh {
            Ok(s) => {
                self.status = s;
                self.failed = false;
                Ok(s)
            }
            Err(e) if !self.failed => {
                self.failed = true;
                warn!(peer = %self.peer, error = %e, "status re-check failed; the session goes on with the last known status until the next one");
                Ok(self.status)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: IdStatus = IdStatus {
        valid_until: 10,
        issued_at: 1,
        revoked_at: 0,
        registered_block: 1,
    };

    fn down() -> Result<IdStatus, ChainError> {
        Err(ChainError::Rpc("connection refused".into()))
    }

    #[test]
    fn one_failure_is_ridden_out_two_in_a_row_are_not() {
        let mut k = KnownStatus::new(Address([1; 20]), LIVE);
        assert_eq!(k.update(down()).unwrap(), LIVE);
        assert!(k.update(down()).is_err());
        // An answer resets it.
        let renewed = IdStatus {
            valid_until: 20,
            ..LIVE
        };
        assert_eq!(k.update(Ok(renewed)).unwrap(), renewed);
        assert_eq!(k.update(down()).unwrap(), renewed);
        assert!(k.update(down()).is_err());
    }
}
