//! `IdStatus`: what the registry contract says about an ID (its `status(id)`
//! view), and the judgement of it at a given time. This is the only chain
//! answer the handshake takes as input; signatures are always checked locally.

use serde::{Deserialize, Serialize};

/// The contract's `status(id)`: four uint64 in one storage slot.
/// An ID is registered if and only if `issued_at != 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdStatus {
    /// Unix seconds at which the certificate expires (valid while `now < valid_until`, as the contract's `isValid`).
    pub valid_until: u64,
    /// Unix seconds the current certificate (registration or renewal) was issued; 0 = never registered.
    pub issued_at: u64,
    /// Block timestamp of the revocation; 0 = not revoked. Revocation is final.
    pub revoked_at: u64,
    /// Block in which the `Registered` event (holding the public key) was emitted.
    pub registered_block: u64,
}

/// Why an ID is not valid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The ID was never registered in this registry.
    #[error("the ID is not registered in this registry")]
    Unknown,
    /// The ID was revoked by its owner.
    #[error("the ID was revoked at unix time {revoked_at}")]
    Revoked {
        /// Block timestamp of the revocation.
        revoked_at: u64,
    },
    /// The certificate's validity ended.
    #[error("the ID's certificate expired at unix time {valid_until}")]
    Expired {
        /// End of validity.
        valid_until: u64,
    },
}

impl IdStatus {
    /// Whether the ID was ever registered.
    pub fn is_registered(&self) -> bool {
        self.issued_at != 0
    }

    /// Judges the status at `now` (unix seconds): `Unknown`, then `Revoked`,
    /// then `Expired`, in that order. Valid while `now < valid_until`, the
    /// contract's rule (`block.timestamp < validUntil`).
    pub fn check(&self, now: u64) -> Result<(), StatusError> {
        if !self.is_registered() {
            return Err(StatusError::Unknown);
        }
        if self.revoked_at != 0 {
            return Err(StatusError::Revoked {
                revoked_at: self.revoked_at,
            });
        }
        if now >= self.valid_until {
            return Err(StatusError::Expired {
                valid_until: self.valid_until,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: IdStatus = IdStatus {
        valid_until: 2_000,
        issued_at: 1_000,
        revoked_at: 0,
        registered_block: 5,
    };

    #[test]
    fn judgement_order_and_boundaries() {
        assert_eq!(LIVE.check(1_500), Ok(()));
        assert_eq!(LIVE.check(1_999), Ok(()));
        assert_eq!(
            LIVE.check(2_000),
            Err(StatusError::Expired { valid_until: 2_000 })
        );
        assert_eq!(IdStatus::default().check(0), Err(StatusError::Unknown));
        let revoked = IdStatus {
            revoked_at: 1_200,
            ..LIVE
        };
        // Revoked wins over expired: the more final reason is reported.
        assert_eq!(
            revoked.check(9_999),
            Err(StatusError::Revoked { revoked_at: 1_200 })
        );
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&LIVE).unwrap();
        assert!(json.contains("validUntil"));
        assert_eq!(serde_json::from_str::<IdStatus>(&json).unwrap(), LIVE);
    }
}
