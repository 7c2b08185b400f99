//! The SQLite file of the embedded chain: its schema, how it is opened
//! (foreign and damaged files are refused, never touched), and the integrity
//! check run on every open.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{B256, U256, keccak256};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::block::Header;
use super::state::recompute_root;
use crate::error::ChainError;

/// `PRAGMA application_id` of a chain file: "CMCH". Marks the file as ours.
pub const APPLICATION_ID: i32 = 0x434D_4348;
/// Schema version in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i32 = 1;
/// How long a writer waits for another process's block before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema (see README.md for the meaning of every table).
pub const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE accounts (
    address BLOB PRIMARY KEY, nonce INTEGER NOT NULL, balance BLOB NOT NULL, code_hash BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE code (hash BLOB PRIMARY KEY, code BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE storage (
    address BLOB NOT NULL, slot BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (address, slot)
) WITHOUT ROWID;
CREATE TABLE blocks (
    number INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, parent_hash BLOB NOT NULL,
    timestamp INTEGER NOT NULL, state_root BLOB NOT NULL, tx BLOB NOT NULL, receipt BLOB NOT NULL
);
CREATE TABLE logs (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, address BLOB NOT NULL,
    topic0 BLOB, topic1 BLOB, topics BLOB NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (block, log_index)
) WITHOUT ROWID;
CREATE TABLE events (
    kind TEXT NOT NULL, id BLOB NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
    PRIMARY KEY (id, kind, block, log_index)
) WITHOUT ROWID;
";

/// The newest block.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its timestamp.
    pub timestamp: u64,
    /// The state commitment after it.
    pub state_root: U256,
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ChainError {
    ChainError::Corrupt {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Opens the file (creating it if absent), refusing anything that is not an
/// empty database or a chainmail chain. Returns the connection and whether the
/// file still needs a genesis.
pub fn open_connection(path: &Path) -> Result<(Connection, bool), ChainError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| ChainError::Storage(format!("cannot create {}: {e}", parent.display())))?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| corrupt(path, format!("cannot open as SQLite: {e}")))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Read before anything writes: a foreign file must stay byte-for-byte untouched.
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| corrupt(path, format!("not a SQLite database ({e})")))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| corrupt(path, format!("not a SQLite database ({e})")))?;
    let fresh = match (app_id, tables) {
        (0, 0) => true,
        (APPLICATION_ID, _) => false,
        (0, _) => {
            return Err(corrupt(
                path,
                "a SQLite database of another application (no chainmail marker)",
            ));
        }
        (other, _) => {
            return Err(corrupt(
                path,
                format!("a SQLite database of another application (application_id {other:#x})"),
            ));
        }
    };
    enable_wal(&conn).map_err(|e| corrupt(path, format!("cannot enable WAL: {e}")))?;
    // FULL: a block whose outcome was returned to a caller survives a power cut too.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Lookups at a million IDs touch a b-tree far larger than SQLite's 2 MB
    // default page cache: map the file (reads without a syscall per page) and
    // keep a larger cache. Both are per-connection and change nothing on disk.
    conn.pragma_update(None, "mmap_size", 256i64 << 20)?;
    conn.pragma_update(None, "cache_size", -32_768i64)?;
    Ok((conn, fresh))
}

/// Switches the file to WAL. Changing the journal mode needs an exclusive
/// lock, and SQLite answers BUSY at once (without its busy handler) while
/// another process is creating or writing the same fresh file — two
/// processes opening a new chain file together hit this. So wait for the
/// lock here, bounded by the same busy timeout as every other write.
fn enable_wal(conn: &Connection) -> Result<(), rusqlite::Error> {
    let start = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates the tables (inside the caller's transaction) unless another process did first.
/// Returns false if the file was initialised meanwhile.
pub fn create_schema(conn: &Connection) -> Result<bool, ChainError> {
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables != 0 {
        return Ok(false);
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(true)
}

/// Reads a meta value.
pub fn meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, rusqlite::Error> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()
}

/// Reads the newest block, if any.
pub fn head(conn: &Connection) -> Result<Option<Head>, ChainError> {
    let row: Option<(i64, Vec<u8>, i64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT number, hash, timestamp, state_root FROM blocks ORDER BY number DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((number, hash, timestamp, root)) = row else {
        return Ok(None);
    };
    let bad = || ChainError::InvalidData("malformed head block row".into());
    Ok(Some(Head {
        number: u64::try_from(number).map_err(|_| bad())?,
        hash: B256::try_from(hash.as_slice()).map_err(|_| bad())?,
        timestamp: u64::try_from(timestamp).map_err(|_| bad())?,
        state_root: U256::from_be_bytes(<[u8; 32]>::try_from(root.as_slice()).map_err(|_| bad())?),
    }))
}

/// Checks the whole file: marker and version, the hash chain of every block
/// (contiguous numbers, parent links, recomputed hashes, timestamps that never
/// go backwards), the code rows against their hashes, and the state rows
/// against the head's commitment. Runs inside one read transaction so that a
/// concurrent writer cannot make it see half a block.
pub fn verify(conn: &Connection, path: &Path, chain_id: u64) -> Result<Head, ChainError> {
    // A row of the wrong type or size is damage too, not a storage failure.
    verify_rows(conn, path, chain_id).map_err(|e| match e {
        ChainError::Storage(reason) | ChainError::InvalidData(reason) => {
            corrupt(path, format!("unreadable rows: {reason}"))
        }
        other => other,
    })
}

fn verify_rows(conn: &Connection, path: &Path, chain_id: u64) -> Result<Head, ChainError> {
    let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        return Err(corrupt(
            path,
            format!("schema version {version}, this program reads {SCHEMA_VERSION}"),
        ));
    }
    let mut stmt = conn.prepare("SELECT number, hash, parent_hash, timestamp, state_root, tx, receipt FROM blocks ORDER BY number")?;
    let mut rows = stmt.query([])?;
    let mut expected_number = 0u64;
    let mut parent = B256::ZERO;
    let mut last_ts = 0u64;
    let mut head = None;
    while let Some(r) = rows.next()? {
        let number: i64 = r.get(0)?;
        let hash: Vec<u8> = r.get(1)?;
        let parent_hash: Vec<u8> = r.get(2)?;
        let timestamp: i64 = r.get(3)?;
        let root: Vec<u8> = r.get(4)?;
        let tx: Vec<u8> = r.get(5)?;
        let receipt: Vec<u8> = r.get(6)?;
        let at = |what: &str| corrupt(path, format!("block {number}: {what}"));
        if u64::try_from(number).ok() != Some(expected_number) {
            return Err(at(&format!("expected block number {expected_number}")));
        }
        let hash = B256::try_from(hash.as_slice()).map_err(|_| at("malformed hash"))?;
        let parent_hash =
            B256::try_from(parent_hash.as_slice()).map_err(|_| at("malformed parent hash"))?;
        let state_root = B256::try_from(root.as_slice()).map_err(|_| at("malformed state root"))?;
        let timestamp = u64::try_from(timestamp).map_err(|_| at("negative timestamp"))?;
        if parent_hash != parent {
            return Err(at("parent hash does not match the previous block"));
        }
        if timestamp < last_ts {
            return Err(at("timestamp goes backwards"));
        }
        let header = Header {
            chain_id,
            number: expected_number,
            parent_hash,
            timestamp,
            tx_hash: keccak256(&tx),
            receipt_hash: keccak256(&receipt),
            state_root,
        };
        if header.hash() != hash {
            return Err(at("block hash does not match its contents"));
        }
        if !logs_match_receipt(conn, expected_number, &receipt)? {
            return Err(at("log rows do not match the block's receipt"));
        }
        head = Some(Head {
            number: expected_number,
            hash,
            timestamp,
            state_root: U256::from_be_bytes(state_root.0),
        });
        parent = hash;
        last_ts = timestamp;
        expected_number += 1;
    }
    let head = head.ok_or_else(|| corrupt(path, "no genesis block"))?;
    // Every index row must name a log of its ID (the log rows are checked above).
    let orphans: i64 = conn.query_row(
        "SELECT count(*) FROM events e LEFT JOIN logs l ON l.block = e.block AND l.log_index = e.log_index
         WHERE l.block IS NULL OR l.topic1 IS NULL OR substr(l.topic1, 13) != e.id",
        [],
        |r| r.get(0),
    )?;
    if orphans != 0 {
        return Err(corrupt(path, "event index rows that match no log"));
    }
    let mut stmt = conn.prepare("SELECT hash, code FROM code")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let hash: Vec<u8> = r.get(0)?;
        let code: Vec<u8> = r.get(1)?;
        if keccak256(&code).as_slice() != hash.as_slice() {
            return Err(corrupt(path, "contract code does not match its hash"));
        }
    }
    let root =
        recompute_root(conn).map_err(|e| corrupt(path, format!("state rows unreadable: {e}")))?;
    if root != head.state_root {
        return Err(corrupt(
            path,
            format!(
                "state does not match the commitment of block {}",
                head.number
            ),
        ));
    }
    Ok(head)
}

/// Whether the `logs` rows of `block` are exactly the logs its receipt
/// encodes (the receipt is covered by the block hash; the rows, used for
/// lookups, are not). The receipt encoding is gas (8) ‖ created address
/// (1 or 21) ‖ the logs, as in `Receipt::encode`.
fn logs_match_receipt(conn: &Connection, block: u64, receipt: &[u8]) -> Result<bool, ChainError> {
    let prefix = match receipt.get(8) {
        Some(0) => 9,
        Some(1) => 29,
        _ => return Ok(false),
    };
    let Some(encoded_logs) = receipt.get(prefix..) else {
        return Ok(false);
    };
    let block = i64::try_from(block).map_err(|_| ChainError::Storage("block number".into()))?;
    let mut stmt = conn.prepare_cached(
        "SELECT address, topic0, topic1, topics, data FROM logs WHERE block = ?1 ORDER BY log_index",
    )?;
    let mut rows = stmt.query(params![block])?;
    let mut count = 0u64;
    let mut body = Vec::with_capacity(encoded_logs.len());
    while let Some(r) = rows.next()? {
        let address: Vec<u8> = r.get(0)?;
        let topic0: Option<Vec<u8>> = r.get(1)?;
        let topic1: Option<Vec<u8>> = r.get(2)?;
        let topics: Vec<u8> = r.get(3)?;
        let data: Vec<u8> = r.get(4)?;
        if address.len() != 20 || !topics.len().is_multiple_of(32) || topics.len() > 4 * 32 {
            return Ok(false);
        }
        // The query columns must repeat the first two topics.
        if topic0.as_deref() != topics.get(..32) || topic1.as_deref() != topics.get(32..64) {
            return Ok(false);
        }
        body.extend_from_slice(&address);
        body.push((topics.len() / 32) as u8);
        body.extend_from_slice(&topics);
        body.extend_from_slice(&(data.len() as u64).to_be_bytes());
        body.extend_from_slice(&data);
        count += 1;
    }
    let mut expected = count.to_be_bytes().to_vec();
    expected.extend_from_slice(&body);
    Ok(expected == encoded_logs)
}
