//! The peer's last known status on an open session, and one failed
//! re-check ridden out on it: a hiccup of the RPC provider must not tear
//! down every open session at once, while a provider that stays down ends
//! them at the next re-check (a revocation it hides cannot be seen either
//! way, so the node stops trusting what it cannot confirm).

use chainmail_chain::ChainError;
use chainmail_core::{Address, IdStatus};
use tracing::warn;

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
