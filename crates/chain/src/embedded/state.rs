//! The EVM state of the embedded chain in SQLite: a revm `Database` reading
//! accounts, code and storage rows inside the caller's SQLite transaction, the
//! writing of a transaction's changes, and the state commitment.
//!
//! The commitment is an additive multiset hash: the sum (mod 2^256) of
//! `keccak256(entry)` over every account and every non-zero storage slot. It
//! can be updated per block from the changed entries alone (subtract the old
//! entry, add the new one) and recomputed from scratch on open to check that
//! the state rows are the ones the block log commits to. It detects damage and
//! foreign edits of the rows, not a forger (who could rewrite every hash anyway:
//! the file has no signer).

use std::collections::HashMap;
use std::sync::Mutex;

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use revm::Database;
use revm::bytecode::Bytecode;
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, EvmState};
use rusqlite::{Connection, OptionalExtension, params};

/// A SQLite failure seen by revm while it reads state.
#[derive(Debug, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct StateReadError(pub String);

impl revm::database_interface::DBErrorMarker for StateReadError {}

impl From<rusqlite::Error> for StateReadError {
    fn from(e: rusqlite::Error) -> Self {
        StateReadError(e.to_string())
    }
}

/// Analysed bytecode by hash, shared by every EVM built on one connection:
/// analysing the contract's jump table on every view would dominate a lookup.
pub type CodeCache = Mutex<HashMap<B256, Bytecode>>;

/// A revm database over an open SQLite connection (normally inside a transaction).
pub struct StateDb<'a> {
    conn: &'a Connection,
    code_cache: &'a CodeCache,
}

impl<'a> StateDb<'a> {
    /// Reads state through `conn`, caching analysed code in `code_cache`.
    pub fn new(conn: &'a Connection, code_cache: &'a CodeCache) -> Self {
        StateDb { conn, code_cache }
    }
}

/// Reads a 32-byte word column.
fn word(v: Vec<u8>) -> Result<[u8; 32], rusqlite::Error> {
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "state word is not 32 bytes".into(),
        )
    })
}

/// The stored account row, if any.
pub fn read_account(
    conn: &Connection,
    address: Address,
) -> Result<Option<AccountInfo>, rusqlite::Error> {
    let mut stmt =
        conn.prepare_cached("SELECT nonce, balance, code_hash FROM accounts WHERE address = ?1")?;
    stmt.query_row(params![address.as_slice()], |r| {
        let nonce: i64 = r.get(0)?;
        let balance = word(r.get(1)?)?;
        let code_hash = word(r.get(2)?)?;
        Ok((nonce, balance, code_hash))
    })
    .optional()?
    .map(|(nonce, balance, code_hash)| {
        Ok(AccountInfo {
            nonce: u64::try_from(nonce)
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, nonce))?,
            balance: U256::from_be_bytes(balance),
            code_hash: B256::from(code_hash),
            // revm trap: code must be None here so that it is fetched by hash.
            code: None,
            ..AccountInfo::default()
        })
    })
    .transpose()
}

/// A storage value (zero when absent).
pub fn read_slot(conn: &Connection, address: Address, slot: U256) -> Result<U256, rusqlite::Error> {
    let mut stmt =
        conn.prepare_cached("SELECT value FROM storage WHERE address = ?1 AND slot = ?2")?;
    let v: Option<Vec<u8>> = stmt
        .query_row(
            params![address.as_slice(), &slot.to_be_bytes::<32>()[..]],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        Some(v) => Ok(U256::from_be_bytes(word(v)?)),
        None => Ok(U256::ZERO),
    }
}

impl Database for StateDb<'_> {
    type Error = StateReadError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(read_account(self.conn, address)?)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        if let Some(code) = self
            .code_cache
            .lock()
            .map_err(|_| StateReadError("code cache poisoned".into()))?
            .get(&code_hash)
        {
            return Ok(code.clone());
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT code FROM code WHERE hash = ?1")?;
        let raw: Option<Vec<u8>> = stmt
            .query_row(params![code_hash.as_slice()], |r| r.get(0))
            .optional()?;
        let raw = raw.ok_or_else(|| StateReadError(format!("missing code {code_hash}")))?;
        let code = Bytecode::new_raw(Bytes::from(raw));
        self.code_cache
            .lock()
            .map_err(|_| StateReadError("code cache poisoned".into()))?
            .insert(code_hash, code.clone());
        Ok(code)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(read_slot(self.conn, address, index)?)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        let n = i64::try_from(number)
            .map_err(|_| StateReadError("block number out of range".into()))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hash FROM blocks WHERE number = ?1")?;
        let h: Option<Vec<u8>> = stmt.query_row(params![n], |r| r.get(0)).optional()?;
        Ok(h.map(word).transpose()?.map(B256::from).unwrap_or_default())
    }
}

/// Hash of one account entry of the commitment.
pub fn account_entry(address: Address, info: &AccountInfo) -> U256 {
    let mut buf = [0u8; 1 + 20 + 8 + 32 + 32];
    buf[0] = b'A';
    buf[1..21].copy_from_slice(address.as_slice());
    buf[21..29].copy_from_slice(&info.nonce.to_be_bytes());
    buf[29..61].copy_from_slice(&info.balance.to_be_bytes::<32>());
    buf[61..93].copy_from_slice(info.code_hash.as_slice());
    U256::from_be_bytes(keccak256(buf).0)
}

/// Hash of one storage entry of the commitment (only non-zero values count).
pub fn slot_entry(address: Address, slot: U256, value: U256) -> U256 {
    if value.is_zero() {
        return U256::ZERO;
    }
    let mut buf = [0u8; 1 + 20 + 32 + 32];
    buf[0] = b'S';
    buf[1..21].copy_from_slice(address.as_slice());
    buf[21..53].copy_from_slice(&slot.to_be_bytes::<32>());
    buf[53..85].copy_from_slice(&value.to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(buf).0)
}

/// An account that holds nothing is not stored (EIP-161: empty accounts do not exist).
fn is_empty(info: &AccountInfo) -> bool {
    info.nonce == 0
        && info.balance.is_zero()
        && (info.code_hash == KECCAK_EMPTY || info.code_hash == B256::ZERO)
}

/// Writes one storage value and returns the commitment with it applied.
pub fn write_slot(
    conn: &Connection,
    root: U256,
    address: Address,
    slot: U256,
    old: U256,
    new: U256,
) -> Result<U256, rusqlite::Error> {
    if new.is_zero() {
        conn.prepare_cached("DELETE FROM storage WHERE address = ?1 AND slot = ?2")?
            .execute(params![address.as_slice(), &slot.to_be_bytes::<32>()[..]])?;
    } else {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO storage (address, slot, value) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            address.as_slice(),
            &slot.to_be_bytes::<32>()[..],
            &new.to_be_bytes::<32>()[..]
        ])?;
    }
    Ok(root
        .wrapping_sub(slot_entry(address, slot, old))
        .wrapping_add(slot_entry(address, slot, new)))
}

/// Writes the changes of one executed transaction and returns the new commitment.
pub fn apply_changes(
    conn: &Connection,
    mut root: U256,
    state: &EvmState,
) -> Result<U256, rusqlite::Error> {
    // Sorted, so that the write order (and any error) does not depend on hash-map order.
    let mut addresses: Vec<&Address> = state.keys().collect();
    addresses.sort();
    for address in addresses {
        let account = &state[address];
        if !account.is_touched() {
            continue;
        }
        let old = read_account(conn, *address)?;
        if let Some(old) = &old {
            root = root.wrapping_sub(account_entry(*address, old));
        }
        let info = &account.info;
        if is_empty(info) {
            conn.prepare_cached("DELETE FROM accounts WHERE address = ?1")?
                .execute(params![address.as_slice()])?;
        } else {
            if info.code_hash != KECCAK_EMPTY
                && let Some(code) = &info.code
            {
                conn.prepare_cached("INSERT OR IGNORE INTO code (hash, code) VALUES (?1, ?2)")?
                    .execute(params![
                        info.code_hash.as_slice(),
                        code.original_bytes().as_ref()
                    ])?;
            }
            let nonce = i64::try_from(info.nonce)
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, i64::MAX))?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO accounts (address, nonce, balance, code_hash) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![address.as_slice(), nonce, &info.balance.to_be_bytes::<32>()[..], info.code_hash.as_slice()])?;
            root = root.wrapping_add(account_entry(*address, info));
        }
        let mut slots: Vec<_> = account
            .storage
            .iter()
            .filter(|(_, v)| v.is_changed())
            .collect();
        slots.sort_by_key(|(k, _)| **k);
        for (slot, value) in slots {
            root = write_slot(
                conn,
                root,
                *address,
                *slot,
                value.original_value,
                value.present_value,
            )?;
        }
    }
    Ok(root)
}

/// Recomputes the commitment over every stored account and slot.
pub fn recompute_root(conn: &Connection) -> Result<U256, rusqlite::Error> {
    let mut root = U256::ZERO;
    let mut stmt = conn.prepare("SELECT address, nonce, balance, code_hash FROM accounts")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let address: Vec<u8> = r.get(0)?;
        let address = Address::try_from(address.as_slice()).map_err(|_| {
            rusqlite::Error::InvalidColumnType(0, "address".into(), rusqlite::types::Type::Blob)
        })?;
        let nonce: i64 = r.get(1)?;
        let info = AccountInfo {
            nonce: u64::try_from(nonce)
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, nonce))?,
            balance: U256::from_be_bytes(word(r.get(2)?)?),
            code_hash: B256::from(word(r.get(3)?)?),
            ..AccountInfo::default()
        };
        root = root.wrapping_add(account_entry(address, &info));
    }
    let mut stmt = conn.prepare("SELECT address, slot, value FROM storage")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let address: Vec<u8> = r.get(0)?;
        let address = Address::try_from(address.as_slice()).map_err(|_| {
            rusqlite::Error::InvalidColumnType(0, "address".into(), rusqlite::types::Type::Blob)
        })?;
        let slot = U256::from_be_bytes(word(r.get(1)?)?);
        let value = U256::from_be_bytes(word(r.get(2)?)?);
        if value.is_zero() {
            // A stored zero is not something this code writes: the rows were edited.
            return Err(rusqlite::Error::InvalidColumnType(
                2,
                "zero storage value".into(),
                rusqlite::types::Type::Blob,
            ));
        }
        root = root.wrapping_add(slot_entry(address, slot, value));
    }
    Ok(root)
}
