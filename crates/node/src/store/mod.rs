//! The durable message store: one SQLite file per identity holding the
//! outbox (messages until acked, rejected or expired), the inbox (verified
//! messages received), the dedup record (so a message resent after a crash
//! is stored once), the handshake replay cache (so a recorded T_B1 replayed
//! after a restart is refused) and the contacts.
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
//! Layout: this module opens the file and runs transactions; [`schema`]
//! holds the migrations, [`outbox`], [`inbox`] (with dedup), [`replay`],
//! [`contacts`] and [`events`] one table each, and `sealing` the sealed form of rows
//! (the key itself is pure crypto in [`crate::seal`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainmail_core::Address;
use rusqlite::{Connection, TransactionBehavior, params};

pub mod contacts;
pub mod events;
pub mod inbox;
pub mod outbox;
pub mod replay;
pub mod schema;
mod sealing;

pub use events::{Event, EventKind, EventSubject, EventsError};
pub use inbox::{InboxEntry, ReceivedMessage, ReceivedProof, Stored};
pub use outbox::{OutboxEntry, OutboxState, OutgoingMessage, backoff};
pub use schema::MIGRATIONS;

/// How long a write waits for another process holding the lock before
/// failing with [`StoreError::Busy`]: long enough to ride out another
/// process's transaction (milliseconds), short enough to report a stuck one.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the receiver remembers (from, message_id): longer than any
/// sender retries (the outbox default max age is 7 days) plus a margin for
/// clock skew and a sender that retries once more just before expiring it.
pub const DEDUP_RETENTION_SECS: u64 = 8 * 24 * 3600;
// A message replayed once its dedup row is gone must fall outside the
// receiver's `sentAt` window (it may have arrived up to the skew before its
// `sentAt`), so it is refused rather than stored twice.
const _: () = assert!(
    DEDUP_RETENTION_SECS
        > chainmail_core::wire::MAX_MESSAGE_AGE_SECS + 2 * chainmail_core::handshake::MAX_SKEW_SECS
);

/// Largest message body the store accepts (bytes of UTF-8): the protocol's
/// one limit ([`chainmail_core::wire::MAX_BODY`]); `send` and the decoder
/// refuse larger bodies first, so this only stops local misuse.
pub const MAX_BODY_BYTES: usize = chainmail_core::wire::MAX_BODY;

/// Largest Merkle path kept with a batch-signed message (2^32 leaves).
pub const MAX_BATCH_PATH: usize = 32;

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
    /// Opens (creating if needed) the store at `path` and migrates it,
    /// keeping every row in clear; a store sealed before is refused
    /// ([`SealError::NoKey`](crate::seal::SealError::NoKey)).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        let store = Self::init(conn, None)?;
        store.check_not_sealed()?;
        Ok(store)
    }

    /// Opens (creating if needed) the store at `path`, sealing messages,
    /// peers and contacts with `key` (encryption at rest; see `seal` and
    /// `sealing`); rows written before in clear are sealed now. Deleted
    /// content is overwritten (`secure_delete`).
    pub fn open_sealed(path: &Path, key: crate::seal::StoreKey) -> Result<Self, StoreError> {
        create_private(path)?;
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA secure_delete = ON;")?;
        let store = Self::init(conn, Some(Arc::new(key)))?;
        store.seal_legacy_rows()?;
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
        schema::migrate(&mut conn)?;
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
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub(crate) fn addr(b: u8) -> Address {
        Address([b; 20])
    }

    pub(crate) fn msg(id: u8, to: u8) -> OutgoingMessage {
        OutgoingMessage {
            message_id: [id; 16],
            from: addr(1),
            to: addr(to),
            body: format!("hello {id}"),
            sent_at: 1000,
        }
    }

    pub(crate) fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.db")).unwrap();
        (dir, store)
    }

    pub(crate) fn received(id: u8) -> ReceivedMessage {
        ReceivedMessage {
            message_id: [id; 16],
            from: addr(9),
            to: addr(1),
            sent_at: 50,
            body: "hi".into(),
            proof: super::ReceivedProof::Batch {
                signature: chainmail_core::SecretKey::from_bytes(&[7; 32])
                    .unwrap()
                    .sign_digest(&[id; 32]),
                root: [4; 32],
                path: vec![[5; 32], [6; 32]],
                place: Some((1, 3)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::*;
    use rusqlite::Connection;

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
}
