//! The handshake replay cache: (initiator, ephemeral key hash) pairs seen
//! within the handshake's timestamp window, so a recorded T_B1 replayed
//! (even after a restart) is refused.

use chainmail_core::Address;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, i};

impl Store {
    /// Atomically records that `initiator` used the ephemeral key whose hash
    /// is `ephemeral_hash`, remembered until `expires_at`. Returns `true` if
    /// it was fresh, `false` if already seen (a replay). `expires_at` must
    /// outlast the handshake's timestamp window, so a replay is either in the
    /// cache or outside the window.
    pub fn check_and_insert_replay(
        &self,
        initiator: &Address,
        ephemeral_hash: &[u8; 32],
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        // Not fsynced on its own (see `write_relaxed`): it survives a kill of
        // this process; a power cut could forget it, and a T_B1 replayed
        // after that still cannot confirm the session keys.
        let initiator = self.peer_column(initiator);
        self.write_relaxed(|tx| {
            let seen: Option<i64> = tx
                .query_row(
                    "SELECT expires_at FROM replay_cache WHERE initiator = ?1 AND ephemeral_hash = ?2",
                    params![&initiator[..], &ephemeral_hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if seen.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO replay_cache (initiator, ephemeral_hash, expires_at) VALUES (?1, ?2, ?3)",
                params![&initiator[..], &ephemeral_hash[..], i(expires_at)],
            )?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::store::testutil::*;

    #[test]
    fn replay_cache_is_persistent_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let s = Store::open(&path).unwrap();
        assert!(s.check_and_insert_replay(&addr(5), &[1; 32], 1000).unwrap());
        assert!(!s.check_and_insert_replay(&addr(5), &[1; 32], 1000).unwrap());
        assert!(s.check_and_insert_replay(&addr(6), &[1; 32], 1000).unwrap());
        drop(s);
        let s = Store::open(&path).unwrap();
        assert!(!s.check_and_insert_replay(&addr(5), &[1; 32], 1000).unwrap());
        s.prune(1001).unwrap();
        assert!(s.check_and_insert_replay(&addr(5), &[1; 32], 2000).unwrap());
    }
}
