//! The store's schema: [`MIGRATIONS`], applied in order, each in the same
//! transaction as the version bump. The schema carries its version in
//! `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Schema migrations, applied in order; `user_version` = how many ran.
/// Never edit a released entry: append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: outbox, inbox, dedup, replay cache.
    "CREATE TABLE outbox (
        message_id      BLOB PRIMARY KEY CHECK (length(message_id) = 16),
        sender          BLOB NOT NULL CHECK (length(sender) = 20),
        recipient       BLOB NOT NULL CHECK (length(recipient) = 20),
        body            TEXT NOT NULL,
        sent_at         INTEGER NOT NULL,
        signature       BLOB NOT NULL CHECK (length(signature) = 65),
        state           TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'rejected', 'expired')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        finished_at     INTEGER
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE INDEX outbox_peer ON outbox (recipient, state, created_at);
    CREATE TABLE inbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id  BLOB NOT NULL CHECK (length(message_id) = 16),
        sender      BLOB NOT NULL CHECK (length(sender) = 20),
        recipient   BLOB NOT NULL CHECK (length(recipient) = 20),
        sent_at     INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        body        TEXT NOT NULL,
        signature   BLOB NOT NULL CHECK (length(signature) = 65),
        batch_root  BLOB CHECK (batch_root IS NULL OR length(batch_root) = 32),
        batch_path  BLOB,
        UNIQUE (sender, message_id)
    );
    CREATE TABLE dedup (
        sender      BLOB NOT NULL,
        message_id  BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (sender, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX dedup_age ON dedup (received_at);
    CREATE TABLE replay_cache (
        initiator      BLOB NOT NULL,
        ephemeral_hash BLOB NOT NULL,
        expires_at     INTEGER NOT NULL,
        PRIMARY KEY (initiator, ephemeral_hash)
    ) WITHOUT ROWID;
    CREATE INDEX replay_expiry ON replay_cache (expires_at);",
    // 2: a batch proof needs the leaf's index and the batch's size as well
    // as the path (the core's `MessageProof::Batch`).
    "ALTER TABLE inbox ADD COLUMN batch_index INTEGER;
    ALTER TABLE inbox ADD COLUMN batch_count INTEGER;",
    // 3: contacts (see `contacts`): a keyed digest of the ID as the index,
    // the record (name, ID, verified, blocked) sealed.
    "CREATE TABLE contacts (
        lookup BLOB PRIMARY KEY,
        record BLOB NOT NULL
    ) WITHOUT ROWID;",
    // 4: a queued message is signed once, when it goes out with the others
    // of its `Deliver`, not also when it is queued.
    "ALTER TABLE outbox DROP COLUMN signature;",
    // 5: a sealed store seals a received message's proof and sender with its
    // body (see `sealing`), so the inbox's proof columns become optional; and
    // `meta` records that a store's peer columns hold tags, not IDs.
    "CREATE TABLE inbox_v5 (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id  BLOB NOT NULL CHECK (length(message_id) = 16),
        sender      BLOB NOT NULL CHECK (length(sender) = 20),
        recipient   BLOB NOT NULL CHECK (length(recipient) = 20),
        sent_at     INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        body        NOT NULL,
        signature   BLOB CHECK (signature IS NULL OR length(signature) = 65),
        batch_root  BLOB CHECK (batch_root IS NULL OR length(batch_root) = 32),
        batch_path  BLOB,
        batch_index INTEGER,
        batch_count INTEGER,
        UNIQUE (sender, message_id)
    );
    INSERT INTO inbox_v5 SELECT seq, message_id, sender, recipient, sent_at, received_at, body,
        signature, batch_root, batch_path, batch_index, batch_count FROM inbox;
    DELETE FROM sqlite_sequence WHERE name = 'inbox_v5';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'inbox_v5', seq FROM sqlite_sequence WHERE name = 'inbox';
    DROP TABLE inbox;
    ALTER TABLE inbox_v5 RENAME TO inbox;
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 6: durable events (see `events`): one row per change a subscriber
    // hears about, written in the change's own transaction. A row points at
    // the message (inbox `seq` or outbox `message_id`), nothing else.
    "CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT NOT NULL CHECK (kind IN ('message.received', 'message.delivered',
                        'message.rejected', 'message.expired')),
        at         INTEGER NOT NULL,
        inbox_seq  INTEGER,
        message_id BLOB CHECK (message_id IS NULL OR length(message_id) = 16),
        CHECK ((inbox_seq IS NULL) != (message_id IS NULL))
    );
    CREATE INDEX events_at ON events (at);",
    // 7: `peer.revoked` events: a peer found revoked is a `revoked_peers`
    // row (once per peer: its tag, and its ID sealed), and an event may
    // point at it. The events table is rebuilt for the new kind and column,
    // keeping its rows and its AUTOINCREMENT sequence (cursors stay valid).
    "CREATE TABLE revoked_peers (
        id         INTEGER PRIMARY KEY,
        lookup     BLOB NOT NULL UNIQUE,
        peer       BLOB NOT NULL,
        revoked_at INTEGER NOT NULL
    );
    CREATE TABLE events_v7 (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL CHECK (kind IN ('message.received', 'message.delivered',
                          'message.rejected', 'message.expired', 'peer.revoked')),
        at           INTEGER NOT NULL,
        inbox_seq    INTEGER,
        message_id   BLOB CHECK (message_id IS NULL OR length(message_id) = 16),
        revoked_peer INTEGER REFERENCES revoked_peers (id),
        CHECK ((inbox_seq IS NOT NULL) + (message_id IS NOT NULL) + (revoked_peer IS NOT NULL) = 1)
    );
    INSERT INTO events_v7 (id, kind, at, inbox_seq, message_id)
        SELECT id, kind, at, inbox_seq, message_id FROM events;
    DELETE FROM sqlite_sequence WHERE name = 'events_v7';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'events_v7', seq FROM sqlite_sequence WHERE name = 'events';
    DROP TABLE events;
    ALTER TABLE events_v7 RENAME TO events;
    CREATE INDEX events_at ON events (at);",
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as u32;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read inside the write transaction: two processes opening a fresh file
    // at once must not both run migration 1.
    let version: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > supported {
        return Err(StoreError::TooNew {
            found: version,
            supported,
        });
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (n + 1) as u32)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use rusqlite::params;

    #[test]
    fn migrates_a_version_1_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let mut c = Connection::open(&path).unwrap();
            let tx = c.transaction().unwrap();
            tx.execute_batch(MIGRATIONS[0]).unwrap();
            tx.pragma_update(None, "user_version", 1).unwrap();
            // A batch-signed row of schema 1: root and path, no place.
            let sig = chainmail_core::SecretKey::from_bytes(&[7; 32])
                .unwrap()
                .sign_digest(&[1; 32]);
            tx.execute(
                "INSERT INTO inbox (message_id, sender, recipient, sent_at, received_at, body, signature,
                    batch_root, batch_path)
                 VALUES (?1, ?2, ?3, 1, 2, 'old', ?4, ?5, ?6)",
                params![
                    &[1u8; 16][..],
                    &[9u8; 20][..],
                    &[1u8; 20][..],
                    &sig.to_bytes()[..],
                    &[4u8; 32][..],
                    &[5u8; 32][..]
                ],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let rows = s.inbox_after(0, 10).unwrap();
        assert_eq!(rows[0].message.body, "old");
        let proof = &rows[0].message.proof;
        assert!(
            matches!(proof, crate::store::ReceivedProof::Batch { root, path, place: None, .. }
                if *root == [4; 32] && *path == vec![[5; 32]]),
            "{proof:?}"
        );
        assert_eq!(
            proof.message_proof(),
            None,
            "not provable without its place"
        );
    }

    #[test]
    fn migrates_a_version_3_outbox_without_losing_queued_messages() {
        // Before migration 4 a queued message carried its signature; after
        // it, the row keeps everything else and is signed when it goes out.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let mut c = Connection::open(&path).unwrap();
            let tx = c.transaction().unwrap();
            for sql in &MIGRATIONS[..3] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            tx.execute(
                "INSERT INTO outbox (message_id, sender, recipient, body, sent_at, signature,
                    state, attempts, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, 'queued before', 5, ?4, 'queued', 2, 9, 5)",
                params![
                    &[1u8; 16][..],
                    &[1u8; 20][..],
                    &[2u8; 20][..],
                    &[7u8; 65][..]
                ],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let queued = s.queued_for(&chainmail_core::Address([2; 20]), 10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].message.body, "queued before");
        assert_eq!(queued[0].message.sent_at, 5);
        assert_eq!(queued[0].attempts, 2);
    }

    #[test]
    fn migrates_version_6_events_keeping_every_cursor() {
        // Events written before migration 7 (some pruned: the sequence is
        // ahead of the rows) read back with the same ids, and new ones
        // continue the sequence.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let mut c = Connection::open(&path).unwrap();
            let tx = c.transaction().unwrap();
            for sql in &MIGRATIONS[..6] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 6).unwrap();
            for (kind, at) in [
                ("message.delivered", 1),
                ("message.rejected", 2),
                ("message.expired", 3),
            ] {
                tx.execute(
                    "INSERT INTO events (kind, at, message_id) VALUES (?1, ?2, ?3)",
                    params![kind, at, &[at as u8; 16][..]],
                )
                .unwrap();
            }
            tx.execute("DELETE FROM events WHERE id = 3", []).unwrap();
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        assert_eq!(s.last_event_id().unwrap(), 3);
        let ids: Vec<i64> = s
            .events_after(0, 10)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [1, 2]);
        assert!(
            s.record_revoked(&chainmail_core::Address([9; 20]), 5, 6)
                .unwrap()
        );
        let e = s.events_after(2, 10).unwrap();
        assert_eq!((e.len(), e[0].id), (1, 4));
        assert_eq!(e[0].subject, crate::store::EventSubject::Peer(1));
    }
}
