//! The events table: one row per change a subscriber hears about (a
//! message stored in the inbox; an outbox message delivered, rejected or
//! expired; a peer found revoked on the chain), appended in the same
//! transaction as the change itself, by whichever process makes it. A row
//! names the message (the inbox `seq` or the outbox `message_id`) or the
//! `revoked_peers` row and copies nothing else: no body, no peer, so a
//! sealed store's events give away no more than its other rows' clear
//! columns. The row id is the subscriber's cursor.
//!
//! Rows are pruned once older than the outbox's maximum age
//! ([`Store::prune_events`]); a cursor older than the oldest kept row is
//! refused ([`Store::events_after`] returns [`EventsError::CursorExpired`]).

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use chainmail_core::Address;

use super::{MessageId, Store, StoreError, fixed, i, u};

/// The sealing domain of `revoked_peers.peer`.
pub(super) const REVOKED: &str = "revoked_peers";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new message was stored in the inbox.
    Received,
    /// An outbox message was acked.
    Delivered,
    /// An outbox message was refused for good.
    Rejected,
    /// An outbox message was not delivered within the maximum age.
    Expired,
    /// A peer was found revoked on the chain (once per peer).
    PeerRevoked,
}

impl EventKind {
    /// The event's name (`message.received`, ...): the JSON-RPC
    /// notification's method and the table's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "message.received",
            Self::Delivered => "message.delivered",
            Self::Rejected => "message.rejected",
            Self::Expired => "message.expired",
            Self::PeerRevoked => "peer.revoked",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "message.received" => Self::Received,
            "message.delivered" => Self::Delivered,
            "message.rejected" => Self::Rejected,
            "message.expired" => Self::Expired,
            "peer.revoked" => Self::PeerRevoked,
            _ => return Err(StoreError::Corrupt("unknown event kind")),
        })
    }
}

/// Which message an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSubject {
    /// An inbox row, by its `seq`.
    Inbox(i64),
    /// An outbox row, by its message id.
    Outbox(MessageId),
    /// A `revoked_peers` row ([`Store::revoked_peer`]).
    Peer(i64),
}

/// One events row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    /// The row id: the cursor a subscriber resumes after.
    pub id: i64,
    /// What happened.
    pub kind: EventKind,
    /// When (Unix seconds).
    pub at: u64,
    /// To which message.
    pub subject: EventSubject,
}

/// Why events could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The cursor points before the oldest event kept.
    #[error(
        "cursor {cursor} is older than the events kept (the oldest cursor still served is {oldest})"
    )]
    CursorExpired {
        /// The cursor asked for.
        cursor: i64,
        /// The smallest cursor still accepted.
        oldest: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Appends an event about the outbox message `id` (inside the change's
/// transaction).
pub(super) fn append_outbox(
    tx: &rusqlite::Transaction<'_>,
    kind: EventKind,
    id: &MessageId,
    now: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT INTO events (kind, at, message_id) VALUES (?1, ?2, ?3)")?
        .execute(params![kind.as_str(), i(now), &id[..]])?;
    Ok(())
}

/// Appends the `message.received` event for inbox row `seq`.
pub(super) fn append_received(
    tx: &rusqlite::Transaction<'_>,
    seq: i64,
    now: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO events (kind, at, inbox_seq) VALUES ('message.received', ?1, ?2)",
    )?
    .execute(params![i(now), seq])?;
    Ok(())
}

/// The last id the events table ever handed out (0 if none), pruned or not.
fn last_id(c: &rusqlite::Connection) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .optional()?
    .unwrap_or(0))
}

impl Store {
    /// Events with `id > after`, oldest first, up to `limit`;
    /// [`EventsError::CursorExpired`] if events after `after` were pruned.
    pub fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, EventsError> {
        let oldest = self.oldest_cursor()?;
        if after < oldest {
            return Err(EventsError::CursorExpired {
                cursor: after,
                oldest,
            });
        }
        Ok(self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, at, inbox_seq, message_id, revoked_peer FROM events
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, kind, at, seq, message, peer) = row?;
                let subject = match (seq, message, peer) {
                    (Some(seq), None, None) => EventSubject::Inbox(seq),
                    (None, Some(m), None) => EventSubject::Outbox(fixed(m, "message id length")?),
                    (None, None, Some(p)) => EventSubject::Peer(p),
                    _ => return Err(StoreError::Corrupt("event subject")),
                };
                out.push(Event {
                    id,
                    kind: EventKind::parse(&kind)?,
                    at: u(at),
                    subject,
                });
            }
            Ok(out)
        })?)
    }

    /// Records that the chain says `peer` is revoked (at `revoked_at`,
    /// found at `now`), with its `peer.revoked` event, the first time only;
    /// whether this was the first time.
    pub fn record_revoked(
        &self,
        peer: &Address,
        revoked_at: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let lookup = self.peer_column(peer);
        let stored = match &self.seal {
            Some(k) => k.seal(REVOKED, &lookup, &peer.0)?,
            None => peer.0.to_vec(),
        };
        self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO revoked_peers (lookup, peer, revoked_at)
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![&lookup[..], stored, i(revoked_at)])?;
            if inserted == 1 {
                let row = tx.last_insert_rowid();
                tx.prepare_cached(
                    "INSERT INTO events (kind, at, revoked_peer) VALUES ('peer.revoked', ?1, ?2)",
                )?
                .execute(params![i(now), row])?;
            }
            Ok(inserted == 1)
        })
    }

    /// The peer and its revocation time of `revoked_peers` row `row`.
    pub fn revoked_peer(&self, row: i64) -> Result<Option<(Address, u64)>, StoreError> {
        let found: Option<(Vec<u8>, Vec<u8>, i64)> = self.with(|c| {
            Ok(c.query_row(
                "SELECT lookup, peer, revoked_at FROM revoked_peers WHERE id = ?1",
                params![row],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
        })?;
        let Some((lookup, peer, revoked_at)) = found else {
            return Ok(None);
        };
        let peer = match &self.seal {
            Some(k) => k.open(REVOKED, &lookup, &peer)?,
            None => peer,
        };
        let peer: [u8; 20] = fixed(peer, "revoked peer length")?;
        Ok(Some((Address(peer), u(revoked_at))))
    }

    /// The smallest cursor [`Store::events_after`] accepts: every event
    /// after it is still kept. 0 while nothing was ever pruned.
    pub fn oldest_cursor(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            let min: Option<i64> = c.query_row("SELECT MIN(id) FROM events", [], |r| r.get(0))?;
            match min {
                Some(min) => Ok(min - 1),
                // Empty: everything up to the last id ever given out is gone.
                None => last_id(c),
            }
        })
    }

    /// The id of the newest event (0 if none): a subscriber that wants only
    /// what happens from now on starts after it.
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        self.with(|c| last_id(c))
    }

    /// Forgets events older than `keep` (at least the outbox's maximum
    /// age, so a subscriber away for less than that misses nothing).
    /// Returns how many went.
    pub fn prune_events(&self, now: u64, keep: Duration) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(keep.as_secs());
        self.write(|tx| Ok(tx.execute("DELETE FROM events WHERE at < ?1", params![i(cutoff)])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Stored;
    use crate::store::testutil::*;

    fn kinds(s: &Store, after: i64) -> Vec<(EventKind, EventSubject)> {
        s.events_after(after, 100)
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.subject))
            .collect()
    }

    #[test]
    fn each_change_appends_exactly_its_event() {
        use EventKind::*;
        use EventSubject::*;
        let (_d, s) = open();
        assert_eq!(s.last_event_id().unwrap(), 0);
        // Queueing is no event.
        for id in 1..=6 {
            s.enqueue(&msg(id, if id <= 4 { 2 } else { 3 }), 100)
                .unwrap();
        }
        assert_eq!(kinds(&s, 0), vec![]);

        s.mark_delivered(&[[1; 16]], 110).unwrap();
        assert_eq!(kinds(&s, 0), vec![(Delivered, Outbox([1; 16]))]);
        // Marking again changes nothing, so appends nothing.
        s.mark_delivered(&[[1; 16]], 111).unwrap();
        assert_eq!(kinds(&s, 1), vec![]);

        assert_eq!(
            s.reject_messages(&[[2; 16], [1; 16]], "no", 120).unwrap(),
            1
        );
        assert_eq!(kinds(&s, 1), vec![(Rejected, Outbox([2; 16]))]);

        assert_eq!(s.reject_peer(&addr(3), "revoked", 130).unwrap(), 2);
        assert_eq!(
            kinds(&s, 2),
            vec![(Rejected, Outbox([5; 16])), (Rejected, Outbox([6; 16]))]
        );

        assert_eq!(s.expire(1000, Duration::from_secs(100)).unwrap(), 2);
        assert_eq!(
            kinds(&s, 4),
            vec![(Expired, Outbox([3; 16])), (Expired, Outbox([4; 16]))]
        );

        // A failed attempt is no event.
        s.enqueue(&msg(7, 2), 1000).unwrap();
        s.record_failure(&addr(2), "refused", 1000).unwrap();
        assert_eq!(kinds(&s, 6), vec![]);

        assert_eq!(s.store_received(&received(1), 1001).unwrap(), Stored::New);
        let seq = s.inbox_after(0, 1).unwrap()[0].seq;
        assert_eq!(kinds(&s, 6), vec![(Received, Inbox(seq))]);
        // A duplicate is no event.
        assert_eq!(
            s.store_received(&received(1), 1002).unwrap(),
            Stored::Duplicate
        );
        assert_eq!(kinds(&s, 7), vec![]);
        assert_eq!(s.last_event_id().unwrap(), 7);
        let e = s.events_after(6, 10).unwrap()[0];
        assert_eq!((e.id, e.at), (7, 1001));
    }

    #[test]
    fn a_failed_change_appends_nothing() {
        let (_d, s) = open();
        // The store refuses the whole batch: no row, no event.
        let mut big = received(1);
        big.body = "x".repeat(crate::store::MAX_BODY_BYTES + 1);
        assert!(s.store_received_all(&[received(2), big], 5).is_err());
        assert_eq!(kinds(&s, 0), vec![]);
        assert_eq!(s.last_event_id().unwrap(), 0);
    }

    #[test]
    fn pruned_cursors_expire() {
        let (_d, s) = open();
        s.enqueue(&msg(1, 2), 100).unwrap();
        s.enqueue(&msg(2, 2), 100).unwrap();
        s.mark_delivered(&[[1; 16]], 100).unwrap();
        s.mark_delivered(&[[2; 16]], 200).unwrap();
        assert_eq!(s.prune_events(250, Duration::from_secs(100)).unwrap(), 1);
        assert!(matches!(
            s.events_after(0, 10),
            Err(EventsError::CursorExpired {
                cursor: 0,
                oldest: 1
            })
        ));
        assert_eq!(s.events_after(1, 10).unwrap().len(), 1);
        assert_eq!(s.prune_events(400, Duration::from_secs(100)).unwrap(), 1);
        // All gone: only the last id handed out is still a valid cursor.
        assert!(s.events_after(1, 10).is_err());
        assert_eq!(s.events_after(2, 10).unwrap(), vec![]);
    }

    #[test]
    fn a_peer_found_revoked_is_one_event_and_survives_resealing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let s = Store::open(&path).unwrap();
        assert!(s.record_revoked(&addr(5), 77, 100).unwrap());
        // Found again (another lookup, another process): nothing new.
        assert!(!s.record_revoked(&addr(5), 77, 101).unwrap());
        assert_eq!(
            kinds(&s, 0),
            vec![(EventKind::PeerRevoked, EventSubject::Peer(1))]
        );
        assert_eq!(s.revoked_peer(1).unwrap(), Some((addr(5), 77)));
        assert_eq!(s.revoked_peer(2).unwrap(), None);
        drop(s);
        // Opened sealed: the clear ID is resealed and still reads back.
        let key = crate::seal::StoreKey::derive(
            &chainmail_core::SecretKey::from_bytes(&[3; 32]).unwrap(),
        );
        let s = Store::open_sealed(&path, key).unwrap();
        assert_eq!(s.revoked_peer(1).unwrap(), Some((addr(5), 77)));
        assert!(!s.record_revoked(&addr(5), 77, 102).unwrap());
        assert!(s.record_revoked(&addr(6), 88, 103).unwrap());
        assert_eq!(s.revoked_peer(2).unwrap(), Some((addr(6), 88)));
        drop(s);
        let raw = std::fs::read(&path).unwrap();
        assert!(
            !raw.windows(20).any(|w| w == [5; 20] || w == [6; 20]),
            "a revoked peer's ID in clear"
        );
    }
}
