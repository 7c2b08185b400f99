//! The durable message store: one SQLite file per identity holding the
//! outbox (messages until acked, rejected or expired), the inbox (verified
//! messages received), the dedup record (so a message resent after a crash
//! is stored once) and the handshake replay cache (so a recorded T_B1 replayed
//! after a restart is refused).
//!
//! Several processes open the same file at once (`serve` runs while the user
//! calls `send` and `inbox`): the database is in WAL mode (readers never block
//! the writer), waits up to [`BUSY_TIMEOUT`] for another process's write lock,
//! and every write is one `BEGIN IMMEDIATE` transaction (taking the write lock
//! up front, so two writers never deadlock on a lock upgrade). `synchronous =
//! FULL`: a committed row survives power loss, which is what lets the receiver
//! ack a message as soon as its inbox row is committed. Two writes whose loss
//! to a power cut only redoes work (a delivered mark, a replay-cache entry)
//! skip their own fsync (`Store::write_relaxed`).
//!
//! The schema carries its version in `PRAGMA user_version`; [`MIGRATIONS`]
//! are applied in order, each in the same transaction as the version bump.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainmail_core::Address;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::seal::{INBOX, OUTBOX};

/// How long a write waits for another process holding the lock before
/// failing with [`StoreError::Busy`]: long enough to ride out another
/// process's transaction (milliseconds), short enough to report a stuck one.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the receiver remembers (from, message_id): longer than any
/// sender retries (the outbox default max age is 7 days) plus a margin for
/// clock skew and a sender that retries once more just before expiring it.
pub const DEDUP_RETENTION_SECS: u64 = 8 * 24 * 3600;

/// Largest message body the store accepts (bytes of UTF-8); the wire bound
/// is the same, so this only stops local misuse.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest Merkle path kept with a batch-signed message (2^32 leaves).
pub const MAX_BATCH_PATH: usize = 32;

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
];

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process held the database lock for longer than the busy timeout.
    #[error("the message store is locked by another process (waited {BUSY_TIMEOUT:?}); try again")]
    Busy,
    /// The file was written by a newer chainmail.
    #[error(
        "the message store has schema version {found}, newer than this program's {supported}; upgrade chainmail"
    )]
    TooNew {
        /// Version in the file.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// A row breaks an invariant (damaged file or a bug).
    #[error("corrupt message store row: {0}")]
    Corrupt(&'static str),
    /// Input the store refuses (too large, wrong shape).
    #[error("invalid input to the message store: {0}")]
    Invalid(&'static str),
    /// A message with this id is already in the outbox.
    #[error("message id already in the outbox")]
    DuplicateId,
    /// The store file could not be created owner-only.
    #[error("cannot create the message store file: {0}; check the home directory's permissions")]
    Create(std::io::Error),
    /// Any other SQLite error.
    #[error("message store: {0}")]
    Sqlite(rusqlite::Error),
    /// A sealed value did not open (wrong identity's store, damaged), or
    /// the store is sealed and was opened without its key.
    #[error("message store: {0}")]
    Sealed(#[from] crate::seal::SealError),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

/// A 128-bit random message id.
pub type MessageId = [u8; 16];

/// State of an outbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Not yet acked; will be retried.
    Queued,
    /// Acked by the recipient.
    Delivered,
    /// Refused for good (recipient revoked, unknown, expired).
    Rejected,
    /// Not delivered within the maximum age; no longer retried.
    Expired,
}

impl OutboxState {
    /// The lowercase name used in the database and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "queued" => Self::Queued,
            "delivered" => Self::Delivered,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            _ => return Err(StoreError::Corrupt("unknown outbox state")),
        })
    }
}

/// A signed message to send (what goes into the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Random 128-bit id.
    pub message_id: MessageId,
    /// This identity.
    pub from: Address,
    /// The recipient.
    pub to: Address,
    /// The text.
    pub body: String,
    /// Unix seconds, as signed.
    pub sent_at: u64,
    /// Signature on `Message(from, to, id, sentAt, keccak(body))`.
    pub signature: [u8; 65],
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The message.
    pub message: OutgoingMessage,
    /// Where it stands.
    pub state: OutboxState,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Earliest time (Unix seconds) of the next attempt.
    pub next_attempt_at: u64,
    /// Why the last attempt failed, or why it was rejected.
    pub last_error: Option<String>,
    /// When it was queued (Unix seconds).
    pub created_at: u64,
    /// When it was delivered, rejected or expired.
    pub finished_at: Option<u64>,
}

/// A verified message received from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The sender's id.
    pub message_id: MessageId,
    /// The peer authenticated in the session that carried it.
    pub from: Address,
    /// This identity.
    pub to: Address,
    /// Sender's send time, Unix seconds.
    pub sent_at: u64,
    /// The text.
    pub body: String,
    /// The message's signature, or the batch's when batch-signed.
    pub signature: [u8; 65],
    /// Merkle root of the batch, when batch-signed.
    pub batch_root: Option<[u8; 32]>,
    /// Sibling hashes from the leaf to the root, when batch-signed.
    pub batch_path: Vec<[u8; 32]>,
    /// This message's leaf index in the batch, when batch-signed.
    pub batch_index: Option<u32>,
    /// Messages in the batch, when batch-signed.
    pub batch_count: Option<u32>,
}

/// An inbox row: the message and its place in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Monotonic position in this inbox (a cursor for `inbox --follow`).
    pub seq: i64,
    /// When this node stored it (Unix seconds).
    pub received_at: u64,
    /// The message.
    pub message: ReceivedMessage,
}

/// Whether an incoming message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// First time seen: now in the inbox.
    New,
    /// Seen before (a resend after a lost ack): not stored again. Ack it anyway.
    Duplicate,
}

/// The message store. Cheap to clone; all clones share one connection.
///
/// Methods are synchronous (SQLite is): call them from `spawn_blocking` in
/// async code.
#[derive(Clone)]
pub struct Store {
    // Why a mutex: a rusqlite `Connection` is not `Sync`; one connection per
    // process is enough (each statement is short) and serialising this
    // process's writers avoids SQLITE_BUSY between them. Other processes are
    // arbitrated by SQLite's own file locks and the busy timeout.
    conn: Arc<Mutex<Connection>>,
    // Why optional: a store opened with [`Store::open_sealed`] seals bodies
    // and contacts (see `seal`); [`Store::open`] keeps them in clear (tests,
    // and stores made before encryption at rest, read as they are).
    pub(crate) seal: Option<Arc<crate::seal::StoreKey>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

fn i(v: u64) -> i64 {
    // Times and counters are far below 2^63; saturate rather than wrap.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn fixed<const N: usize>(v: Vec<u8>, what: &'static str) -> Result<[u8; N], StoreError> {
    v.try_into().map_err(|_| StoreError::Corrupt(what))
}

fn address(v: Vec<u8>) -> Result<Address, StoreError> {
    Ok(Address(fixed(v, "address length")?))
}

/// Creates the store file owner-only (0600) if it does not exist yet, so
/// that SQLite (which gives its -wal and -shm files the main file's mode)
/// never leaves metadata readable by other users, whatever the umask.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Create(e)),
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        Self::init(conn, None)
    }

    /// Opens (creating if needed) the store at `path`, sealing message
    /// bodies and contacts with `key` (encryption at rest; see `seal`).
    /// Deleted content is overwritten (`secure_delete`).
    pub fn open_sealed(path: &Path, key: crate::seal::StoreKey) -> Result<Self, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA secure_delete = ON;")?;
        let store = Self::init(conn, Some(Arc::new(key)))?;
        store.reseal_legacy()?;
        Ok(store)
    }

    fn init(
        mut conn: Connection,
        seal: Option<Arc<crate::seal::StoreKey>>,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode returns a row; WAL persists in the file once set.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            seal,
        })
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A poisoned lock means a panic mid-call in another thread; SQLite
        // rolled the transaction back, so the connection is still usable.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// A write whose loss on power failure (not on a crash of this process)
    /// is harmless: committed with `synchronous = NORMAL`, i.e. without its
    /// own fsync. In WAL mode such a commit is atomic and survives the
    /// process being killed; only an OS crash or power cut can roll it back,
    /// and the next ordinary (FULL) commit makes it durable too. Used where a
    /// lost row only means redone work: a delivered mark (the message is
    /// resent and the receiver's dedup acks it again) and a replay-cache entry
    /// (a replayed T_B1 still never yields a session: its sender cannot
    /// confirm the keys).
    pub(crate) fn write_relaxed<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|conn| {
            conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
            let out = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            // Restored whatever happened: every other write must stay FULL.
            conn.execute_batch("PRAGMA synchronous = FULL;")?;
            out
        })
    }

    /// Whether commits on this connection fsync (`synchronous = FULL`).
    #[cfg(test)]
    fn synchronous_is_full(&self) -> bool {
        self.with(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))?))
            .map(|v| v == 2)
            .unwrap_or(false)
    }

    /// Schema version of the open file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.with(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }

    // ---- outbox -------------------------------------------------------

    /// Puts a signed message in the outbox, due now.
    pub fn enqueue(&self, msg: &OutgoingMessage, now: u64) -> Result<(), StoreError> {
        if msg.body.len() > MAX_BODY_BYTES {
            return Err(StoreError::Invalid("message body larger than 64 KiB"));
        }
        let body = self.seal_body(OUTBOX, &msg.message_id, &msg.to, &msg.body)?;
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO outbox (message_id, sender, recipient, body, sent_at, signature,
                    state, attempts, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7)",
                params![
                    &msg.message_id[..],
                    &msg.from.0[..],
                    &msg.to.0[..],
                    body,
                    i(msg.sent_at),
                    &msg.signature[..],
                    i(now)
                ],
            )?;
            if n == 0 {
                return Err(StoreError::DuplicateId);
            }
            Ok(())
        })
    }

    const OUTBOX_COLS: &'static str =
        "message_id, sender, recipient, body, sent_at, signature, state,
        attempts, next_attempt_at, last_error, created_at, finished_at";

    fn outbox_row(
        &self,
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<Result<OutboxEntry, StoreError>> {
        let state: String = r.get(6)?;
        let raw = (
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, Vec<u8>>(5)?,
        );
        let (body, sent_at, attempts, next, last_error, created, finished): (
            rusqlite::types::Value,
            i64,
            i64,
            i64,
            Option<String>,
            i64,
            Option<i64>,
        ) = (
            r.get(3)?,
            r.get(4)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
        );
        Ok((|| {
            let message_id = fixed(raw.0, "message id length")?;
            let to = address(raw.2)?;
            Ok(OutboxEntry {
                message: OutgoingMessage {
                    body: self.open_body(OUTBOX, &message_id, &to, body)?,
                    message_id,
                    from: address(raw.1)?,
                    to,
                    sent_at: u(sent_at),
                    signature: fixed(raw.3, "signature length")?,
                },
                state: OutboxState::parse(&state)?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                next_attempt_at: u(next),
                last_error,
                created_at: u(created),
                finished_at: finished.map(u),
            })
        })())
    }

    fn outbox_query(
        &self,
        where_clause: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with(|c| {
            let sql = format!("SELECT {} FROM outbox {where_clause}", Self::OUTBOX_COLS);
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(p, |r| self.outbox_row(r))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row??);
            }
            Ok(out)
        })
    }

    /// One outbox message by id.
    pub fn outbox_entry(&self, id: &MessageId) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self
            .outbox_query("WHERE message_id = ?1", params![&id[..]])?
            .pop())
    }

    /// Queued messages for `to`, oldest first (all of them, due or not: once
    /// a session with the peer is up, everything waiting for it goes).
    pub fn queued_for(&self, to: &Address, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_query(
            "WHERE recipient = ?1 AND state = 'queued' ORDER BY created_at, rowid LIMIT ?2",
            params![&to.0[..], limit],
        )
    }

    /// Recipients that have at least one queued message due at `now`,
    /// earliest due first.
    pub fn due_peers(&self, now: u64, limit: u32) -> Result<Vec<Address>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT recipient, MIN(next_attempt_at) AS due FROM outbox
                 WHERE state = 'queued' AND next_attempt_at <= ?1
                 GROUP BY recipient ORDER BY due LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![i(now), limit], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(address(row?)?);
            }
            Ok(out)
        })
    }

    /// Earliest `next_attempt_at` of any queued message (for the worker's
    /// sleep), or `None` when nothing is queued.
    pub fn next_due(&self) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            let v: Option<i64> = c.query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )?;
            Ok(v.map(u))
        })
    }

    /// Marks messages delivered (acked). Only queued ones change: a message
    /// already delivered stays as it was.
    /// Not fsynced on its own (see `write_relaxed`): losing it to a power
    /// cut only resends the messages, which the receiver acks again.
    pub fn mark_delivered(&self, ids: &[MessageId], now: u64) -> Result<(), StoreError> {
        self.write_relaxed(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'delivered', finished_at = ?2, last_error = NULL
                 WHERE message_id = ?1 AND state = 'queued'",
            )?;
            for id in ids {
                stmt.execute(params![&id[..], i(now)])?;
            }
            Ok(())
        })
    }

    /// Rejects for good every queued message to `to` (recipient revoked,
    /// unknown or expired), with the reason. Returns how many.
    pub fn reject_peer(&self, to: &Address, reason: &str, now: u64) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET state = 'rejected', last_error = ?2, finished_at = ?3
                 WHERE recipient = ?1 AND state = 'queued'",
                params![&to.0[..], bounded(reason), i(now)],
            )?)
        })
    }

    /// Rejects for good the queued messages `ids` (the recipient refused
    /// them, e.g. a body it does not accept), with the reason. Messages not
    /// queued (already delivered, rejected or expired) stay as they were.
    /// Returns how many changed.
    pub fn reject_messages(
        &self,
        ids: &[MessageId],
        reason: &str,
        now: u64,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'rejected', last_error = ?2, finished_at = ?3
                 WHERE message_id = ?1 AND state = 'queued'",
            )?;
            let mut n = 0;
            for id in ids {
                n += stmt.execute(params![&id[..], bounded(reason), i(now)])?;
            }
            Ok(n)
        })
    }

    /// Records a failed attempt to `to`: every queued message to it that
    /// was due gets attempts + 1 and its next attempt after [`backoff`];
    /// messages not yet due keep their schedule (an attempt made early, e.g.
    /// by a new `send`, does not inflate their backoff). All get the error.
    pub fn record_failure(&self, to: &Address, error: &str, now: u64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET last_error = ?2 WHERE recipient = ?1 AND state = 'queued'",
                params![&to.0[..], bounded(error)],
            )?;
            let mut select = tx.prepare_cached(
                "SELECT message_id, attempts FROM outbox
                 WHERE recipient = ?1 AND state = 'queued' AND next_attempt_at <= ?2",
            )?;
            let rows: Vec<(Vec<u8>, i64)> = select
                .query_map(params![&to.0[..], i(now)], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut update = tx.prepare_cached(
                "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4
                 WHERE message_id = ?1",
            )?;
            for (id, attempts) in rows {
                let attempts = u32::try_from(attempts)
                    .unwrap_or(u32::MAX)
                    .saturating_add(1);
                let next = now.saturating_add(backoff(attempts).as_secs());
                update.execute(params![id, attempts, i(next), bounded(error)])?;
            }
            Ok(())
        })
    }

    /// Marks expired every queued message created before `now - max_age`.
    /// Returns how many.
    pub fn expire(&self, now: u64, max_age: Duration) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(max_age.as_secs());
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE outbox SET state = 'expired', finished_at = ?2,
                    last_error = 'not delivered within ' || ?3 || ' s'
                        || COALESCE('; last error: ' || last_error, '')
                 WHERE state = 'queued' AND created_at < ?1",
                params![i(cutoff), i(now), i(max_age.as_secs())],
            )?)
        })
    }

    /// The whole outbox, newest first, up to `limit` rows.
    pub fn outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_query(
            "ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            params![limit],
        )
    }

    // ---- inbox --------------------------------------------------------

    /// Stores a verified message unless (from, message_id) was seen before.
    /// The caller acks only after this returns `Ok` (either variant): the
    /// row is committed, fsynced, by then.
    pub fn store_received(&self, m: &ReceivedMessage, now: u64) -> Result<Stored, StoreError> {
        Ok(self.store_received_all(std::slice::from_ref(m), now)?[0])
    }

    /// [`Store::store_received`] for several messages in one transaction
    /// (one fsync for a whole batch); all are stored or none.
    pub fn store_received_all(
        &self,
        messages: &[ReceivedMessage],
        now: u64,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut bodies = Vec::with_capacity(messages.len());
        for m in messages {
            if m.body.len() > MAX_BODY_BYTES {
                return Err(StoreError::Invalid("message body larger than 64 KiB"));
            }
            if m.batch_path.len() > MAX_BATCH_PATH {
                return Err(StoreError::Invalid("batch path longer than 32"));
            }
            bodies.push(self.seal_body(INBOX, &m.message_id, &m.from, &m.body)?);
        }
        self.write(|tx| {
            messages
                .iter()
                .zip(bodies)
                .map(|(m, body)| Self::insert_received(tx, m, body, now))
                .collect()
        })
    }

    fn insert_received(
        tx: &rusqlite::Transaction<'_>,
        m: &ReceivedMessage,
        body: rusqlite::types::Value,
        now: u64,
    ) -> Result<Stored, StoreError> {
        let path: Vec<u8> = m.batch_path.iter().flatten().copied().collect();
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO dedup (sender, message_id, received_at) VALUES (?1, ?2, ?3)",
            params![&m.from.0[..], &m.message_id[..], i(now)],
        )?;
        if fresh == 0 {
            return Ok(Stored::Duplicate);
        }
        // The inbox's own UNIQUE (sender, message_id) also holds after the
        // dedup row is pruned, as long as the inbox row is kept.
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO inbox (message_id, sender, recipient, sent_at, received_at,
                body, signature, batch_root, batch_path, batch_index, batch_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                &m.message_id[..],
                &m.from.0[..],
                &m.to.0[..],
                i(m.sent_at),
                i(now),
                body,
                &m.signature[..],
                m.batch_root.as_ref().map(|r| &r[..]),
                m.batch_root.map(|_| path),
                m.batch_index,
                m.batch_count,
            ],
        )?;
        Ok(if inserted == 0 {
            Stored::Duplicate
        } else {
            Stored::New
        })
    }

    /// Inbox rows with `seq > after`, oldest first, up to `limit`. Start
    /// with `after = 0`; for `--follow` pass the last `seq` seen.
    pub fn inbox_after(&self, after: i64, limit: u32) -> Result<Vec<InboxEntry>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, message_id, sender, recipient, sent_at, received_at, body, signature,
                        batch_root, batch_path, batch_index, batch_count
                 FROM inbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, rusqlite::types::Value>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, Option<Vec<u8>>>(8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                    r.get::<_, Option<u32>>(10)?,
                    r.get::<_, Option<u32>>(11)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, id, from, to, sent, recv, body, sig, root, path, index, count) = row?;
                let path = path.unwrap_or_default();
                if path.len() % 32 != 0 {
                    return Err(StoreError::Corrupt("batch path length"));
                }
                let id: MessageId = fixed(id, "message id length")?;
                let from = address(from)?;
                let body = self.open_body(INBOX, &id, &from, body)?;
                out.push(InboxEntry {
                    seq,
                    received_at: u(recv),
                    message: ReceivedMessage {
                        message_id: id,
                        from,
                        to: address(to)?,
                        sent_at: u(sent),
                        body,
                        signature: fixed(sig, "signature length")?,
                        batch_root: root.map(|r| fixed(r, "batch root length")).transpose()?,
                        batch_path: path
                            .chunks_exact(32)
                            .map(|c| fixed(c.to_vec(), "batch path"))
                            .collect::<Result<_, _>>()?,
                        batch_index: index,
                        batch_count: count,
                    },
                });
            }
            Ok(out)
        })
    }

    /// Forgets dedup records older than [`DEDUP_RETENTION_SECS`] and expired
    /// replay-cache entries. Returns how many rows went.
    pub fn prune(&self, now: u64) -> Result<usize, StoreError> {
        self.write(|tx| {
            let a = tx.execute(
                "DELETE FROM dedup WHERE received_at < ?1",
                params![i(now.saturating_sub(DEDUP_RETENTION_SECS))],
            )?;
            let b = tx.execute(
                "DELETE FROM replay_cache WHERE expires_at < ?1",
                params![i(now)],
            )?;
            Ok(a + b)
        })
    }

    // ---- replay cache -------------------------------------------------

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
        self.write_relaxed(|tx| {
            let seen: Option<i64> = tx
                .query_row(
                    "SELECT expires_at FROM replay_cache WHERE initiator = ?1 AND ephemeral_hash = ?2",
                    params![&initiator.0[..], &ephemeral_hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if seen.is_some() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO replay_cache (initiator, ephemeral_hash, expires_at) VALUES (?1, ?2, ?3)",
                params![&initiator.0[..], &ephemeral_hash[..], i(expires_at)],
            )?;
            Ok(true)
        })
    }
}

/// Bounds an error text stored in the outbox (it may quote a peer).
fn bounded(s: &str) -> String {
    s.chars().take(500).collect()
}

/// Delay before attempt number `attempts + 1` after `attempts` failures:
/// 5 s doubling to at most one hour. Deterministic so tests can predict it;
/// the outbox worker spreads its wake-ups anyway, one peer at a time.
pub fn backoff(attempts: u32) -> Duration {
    const BASE: u64 = 5;
    const CAP: u64 = 3600;
    let exp = attempts.saturating_sub(1).min(20);
    Duration::from_secs((BASE << exp).min(CAP))
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

    fn addr(b: u8) -> Address {
        Address([b; 20])
    }

    fn msg(id: u8, to: u8) -> OutgoingMessage {
        OutgoingMessage {
            message_id: [id; 16],
            from: addr(1),
            to: addr(to),
            body: format!("hello {id}"),
            sent_at: 1000,
            signature: [id; 65],
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn store_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (d, s) = open();
        // While the connection is open (the migrations wrote), the WAL and
        // shared-memory files exist beside the store: all owner-only.
        for name in ["store.db", "store.db-wal", "store.db-shm"] {
            let path = d.path().join(name);
            let mode = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        }
        drop(s);
    }

    #[test]
    fn relaxed_writes_commit_and_leave_the_connection_fsyncing() {
        let (d, s) = open();
        assert!(s.synchronous_is_full());
        s.enqueue(&msg(1, 2), 100).unwrap();
        s.mark_delivered(&[[1; 16]], 110).unwrap();
        assert!(s.synchronous_is_full(), "mark_delivered left NORMAL behind");
        assert!(s.check_and_insert_replay(&addr(2), &[7; 32], 500).unwrap());
        assert!(s.synchronous_is_full());
        // A failing relaxed write rolls back and still restores FULL.
        let r: Result<(), _> = s.write_relaxed(|tx| {
            tx.execute("DELETE FROM outbox", [])?;
            Err(StoreError::Invalid("abort"))
        });
        assert!(matches!(r, Err(StoreError::Invalid("abort"))));
        assert!(s.synchronous_is_full());
        drop(s);
        // Committed: a new connection (as after a kill) sees both rows.
        let s = Store::open(&d.path().join("store.db")).unwrap();
        let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
        assert_eq!(e.state, OutboxState::Delivered);
        assert!(!s.check_and_insert_replay(&addr(2), &[7; 32], 500).unwrap());
    }

    #[test]
    fn outbox_lifecycle() {
        let (_d, s) = open();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        s.enqueue(&msg(1, 2), 100).unwrap();
        s.enqueue(&msg(2, 2), 101).unwrap();
        s.enqueue(&msg(3, 3), 102).unwrap();
        assert!(matches!(
            s.enqueue(&msg(1, 2), 103),
            Err(StoreError::DuplicateId)
        ));
        assert_eq!(s.due_peers(99, 10).unwrap(), Vec::<Address>::new());
        assert_eq!(s.due_peers(200, 10).unwrap(), vec![addr(2), addr(3)]);
        let q = s.queued_for(&addr(2), 10).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].message, msg(1, 2));

        s.record_failure(&addr(2), "connection refused", 200)
            .unwrap();
        let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
        assert_eq!(e.attempts, 1);
        assert_eq!(e.next_attempt_at, 205);
        assert_eq!(e.last_error.as_deref(), Some("connection refused"));
        s.record_failure(&addr(2), "again", 205).unwrap();
        assert_eq!(
            s.outbox_entry(&[1; 16]).unwrap().unwrap().next_attempt_at,
            215
        );
        assert_eq!(s.due_peers(210, 10).unwrap(), vec![addr(3)]);
        // An early attempt (not due) leaves the schedule alone.
        s.record_failure(&addr(2), "early", 206).unwrap();
        let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
        assert_eq!((e.attempts, e.next_attempt_at), (2, 215));
        assert_eq!(e.last_error.as_deref(), Some("early"));
        assert_eq!(s.next_due().unwrap(), Some(102));

        s.mark_delivered(&[[1; 16]], 300).unwrap();
        let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
        assert_eq!(e.state, OutboxState::Delivered);
        assert_eq!(e.finished_at, Some(300));

        assert_eq!(
            s.reject_peer(&addr(3), "recipient revoked", 301).unwrap(),
            1
        );
        let e = s.outbox_entry(&[3; 16]).unwrap().unwrap();
        assert_eq!(e.state, OutboxState::Rejected);
        assert_eq!(e.last_error.as_deref(), Some("recipient revoked"));
        // A delivered message is never turned into rejected or expired.
        assert_eq!(s.reject_peer(&addr(2), "x", 302).unwrap(), 1);
        assert_eq!(
            s.outbox_entry(&[1; 16]).unwrap().unwrap().state,
            OutboxState::Delivered
        );
    }

    #[test]
    fn expiry_after_max_age() {
        let (_d, s) = open();
        s.enqueue(&msg(1, 2), 100).unwrap();
        s.enqueue(&msg(2, 2), 5000).unwrap();
        assert_eq!(s.expire(5000, Duration::from_secs(1000)).unwrap(), 1);
        assert_eq!(
            s.outbox_entry(&[1; 16]).unwrap().unwrap().state,
            OutboxState::Expired
        );
        assert_eq!(
            s.outbox_entry(&[2; 16]).unwrap().unwrap().state,
            OutboxState::Queued
        );
        let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
        assert_eq!(e.last_error.as_deref(), Some("not delivered within 1000 s"));
        assert_eq!(e.finished_at, Some(5000));
        // The last delivery error is kept in the reason.
        s.record_failure(&addr(2), "connection refused", 5000)
            .unwrap();
        assert_eq!(s.expire(7000, Duration::from_secs(1000)).unwrap(), 1);
        assert_eq!(
            s.outbox_entry(&[2; 16])
                .unwrap()
                .unwrap()
                .last_error
                .as_deref(),
            Some("not delivered within 1000 s; last error: connection refused")
        );
    }

    #[test]
    fn refused_messages_are_rejected_one_by_one() {
        let (_d, s) = open();
        for id in 1..=3 {
            s.enqueue(&msg(id, 2), 100).unwrap();
        }
        s.mark_delivered(&[[3; 16]], 101).unwrap();
        // 3 is delivered already and 9 is unknown: neither changes.
        assert_eq!(
            s.reject_messages(&[[1; 16], [3; 16], [9; 16]], "not text", 102)
                .unwrap(),
            1
        );
        let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
        assert_eq!(
            (e.state, e.last_error.as_deref(), e.finished_at),
            (OutboxState::Rejected, Some("not text"), Some(102))
        );
        assert_eq!(
            s.outbox_entry(&[2; 16]).unwrap().unwrap().state,
            OutboxState::Queued
        );
        assert_eq!(
            s.outbox_entry(&[3; 16]).unwrap().unwrap().state,
            OutboxState::Delivered
        );
    }

    fn received(id: u8) -> ReceivedMessage {
        ReceivedMessage {
            message_id: [id; 16],
            from: addr(9),
            to: addr(1),
            sent_at: 50,
            body: "hi".into(),
            signature: [7; 65],
            batch_root: Some([4; 32]),
            batch_path: vec![[5; 32], [6; 32]],
            batch_index: Some(1),
            batch_count: Some(3),
        }
    }

    #[test]
    fn inbox_dedup_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.store_received(&received(1), 60).unwrap(), Stored::New);
            assert_eq!(
                s.store_received(&received(1), 61).unwrap(),
                Stored::Duplicate
            );
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.store_received(&received(1), 62).unwrap(),
            Stored::Duplicate
        );
        assert_eq!(s.store_received(&received(2), 62).unwrap(), Stored::New);
        let rows = s.inbox_after(0, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].message, received(1));
        assert_eq!(rows[0].received_at, 60);
        assert_eq!(s.inbox_after(rows[0].seq, 10).unwrap().len(), 1);
        // After the dedup record is pruned, the inbox row still dedups.
        assert!(s.prune(62 + DEDUP_RETENTION_SECS + 100).unwrap() >= 2);
        assert_eq!(
            s.store_received(&received(1), 70).unwrap(),
            Stored::Duplicate
        );
    }

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

    #[test]
    fn two_connections_share_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let a = Store::open(&path).unwrap();
        let b = Store::open(&path).unwrap();
        a.enqueue(&msg(1, 2), 1).unwrap();
        b.mark_delivered(&[[1; 16]], 2).unwrap();
        assert_eq!(
            a.outbox_entry(&[1; 16]).unwrap().unwrap().state,
            OutboxState::Delivered
        );
        // Concurrent writers from threads, as `serve` and `send` would.
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let s = Store::open(&path).unwrap();
                    for k in 0..25u8 {
                        let mut m = received(k);
                        m.from = addr(100 + t);
                        s.store_received(&m, 1).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(a.inbox_after(0, 1000).unwrap().len(), 100);
    }

    #[test]
    fn migrates_a_version_1_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let mut c = Connection::open(&path).unwrap();
            let tx = c.transaction().unwrap();
            tx.execute_batch(MIGRATIONS[0]).unwrap();
            tx.pragma_update(None, "user_version", 1).unwrap();
            tx.execute(
                "INSERT INTO inbox (message_id, sender, recipient, sent_at, received_at, body, signature)
                 VALUES (?1, ?2, ?3, 1, 2, 'old', ?4)",
                params![&[1u8; 16][..], &[9u8; 20][..], &[1u8; 20][..], &[7u8; 65][..]],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let rows = s.inbox_after(0, 10).unwrap();
        assert_eq!(rows[0].message.body, "old");
        assert_eq!(rows[0].message.batch_index, None);
    }

    #[test]
    fn newer_schema_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(10), Duration::from_secs(2560));
        assert_eq!(backoff(11), Duration::from_secs(3600));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
    }
}
