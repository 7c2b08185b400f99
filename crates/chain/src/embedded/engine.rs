//! The embedded chain's engine, synchronous: genesis, one transaction per
//! block written atomically to SQLite, views in a pending-block environment.
//!
//! Every write runs inside `BEGIN IMMEDIATE … COMMIT` on the file, so writers
//! in several processes take turns (SQLite's write lock, waited for with
//! `busy_timeout`) and each builds on the head it read under that lock. revm
//! executes against the rows read inside the same transaction; its
//! `DatabaseCommit` is not used (it cannot report a disk error): the changes
//! it returns are written here, then the block, then the commit. A crash
//! before the commit leaves the previous head; after it, the whole block.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, Bytes, TxKind, U256, address, keccak256};
use rand::Rng;
use revm::context::Evm;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::context_interface::local::FrameStack;
use revm::handler::instructions::EthInstructions;
use revm::handler::{EthPrecompiles, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::{ExecuteEvm, MainBuilder, MainContext};
use rusqlite::{Connection, TransactionBehavior, params};

use super::block::{Header, LogRecord, Receipt, TxRecord};
use super::schema::{self, Head};
use super::state::{CodeCache, StateDb, apply_changes};
use crate::contract::decode_revert;
use crate::error::ChainError;

/// The account that deploys the registry at genesis (nonce 0) and submits
/// every later transaction of an embedded chain. Nobody holds its key: the
/// embedded chain executes transactions it builds itself, with gas price 0,
/// so no signature and no balance are needed.
pub const DEPLOYER: Address = address!("0xc4a11000000000000000000000000000000000de");

/// The registry's address in every embedded chain: `CREATE` by [`DEPLOYER`] at nonce 0.
pub fn registry_address() -> Address {
    DEPLOYER.create(0)
}

/// The EVM revision the embedded chain runs: Osaka, anvil 1.7.1's default
/// ("Bpo1" = Osaka rules with new blob parameters), so gas agrees with anvil.
pub const SPEC: SpecId = SpecId::OSAKA;
/// Gas limit of each embedded block.
pub const BLOCK_GAS_LIMIT: u64 = 30_000_000;
/// Gas limit of each transaction and view (below the EIP-7825 cap of 2^24).
pub const TX_GAS_LIMIT: u64 = 16_000_000;
/// Range of the random chain id given to each new file: far from 1 (mainnet),
/// 31337 (anvil) and every registered public chain id, and below 2^53 so that
/// JavaScript wallets read it exactly.
pub const CHAIN_ID_RANGE: std::ops::Range<u64> = (1 << 40)..(1 << 53);

/// Seconds since the Unix epoch, injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// What a mined embedded transaction produced.
#[derive(Debug, Clone)]
pub struct Executed {
    /// keccak256 of the encoded transaction.
    pub tx_hash: B256,
    /// Block number.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Address created, for a deployment.
    pub contract_address: Option<Address>,
}

/// An open embedded chain file.
pub struct Engine {
    path: PathBuf,
    /// Writer connection; used only from blocking threads (it may wait on the file lock).
    writer: Mutex<Connection>,
    /// Reader connection for views: WAL readers never wait for the writer.
    reader: Mutex<Connection>,
    code_cache: CodeCache,
    chain_id: u64,
    registry: Address,
    clock: Clock,
}

fn sql_u64(v: u64) -> Result<i64, ChainError> {
    i64::try_from(v).map_err(|_| ChainError::Storage(format!("value {v} does not fit SQLite")))
}

fn read_meta(conn: &Connection, path: &Path) -> Result<(u64, Address), ChainError> {
    let bad = |what: &str| ChainError::Corrupt {
        path: path.display().to_string(),
        reason: what.into(),
    };
    let chain_id = schema::meta(conn, "chain_id")?.ok_or_else(|| bad("no chain id"))?;
    let chain_id = u64::from_be_bytes(
        <[u8; 8]>::try_from(chain_id.as_slice()).map_err(|_| bad("malformed chain id"))?,
    );
    let registry = schema::meta(conn, "registry")?.ok_or_else(|| bad("no registry address"))?;
    let registry =
        Address::try_from(registry.as_slice()).map_err(|_| bad("malformed registry address"))?;
    if registry != registry_address() {
        return Err(bad(
            "registry address is not the documented genesis address",
        ));
    }
    if !CHAIN_ID_RANGE.contains(&chain_id) {
        return Err(bad("chain id outside the embedded range"));
    }
    Ok((chain_id, registry))
}

/// Executes `tx` against the state visible through `conn` in the given block
/// environment, without writing anything.
fn execute(
    conn: &Connection,
    cache: &CodeCache,
    chain_id: u64,
    number: u64,
    timestamp: u64,
    tx: TxEnv,
    view: bool,
) -> Result<revm::context::result::ResultAndState, ChainError> {
    let ctx = Context::mainnet()
        .with_db(StateDb::new(conn, cache))
        .modify_cfg_chained(|c| {
            c.chain_id = chain_id;
            c.set_spec_and_mainnet_gas_params(SPEC);
            // Views come from a caller with no account: no nonce to match.
            c.disable_nonce_check = view;
        })
        .modify_block_chained(|b| {
            b.number = U256::from(number);
            b.timestamp = U256::from(timestamp);
            b.gas_limit = BLOCK_GAS_LIMIT;
            b.basefee = 0;
            b.beneficiary = Address::ZERO;
        });
    let spec = ctx.cfg.spec;
    // What `build_mainnet` does, but without preallocating 8 call frames
    // (8 × 32 KiB EVM stacks, allocated and freed per EVM): a view needs one,
    // and that allocation was a third of a status lookup.
    let mut evm: MainnetEvm<_> = Evm {
        ctx,
        inspector: (),
        instruction: EthInstructions::new_mainnet_with_spec(spec),
        precompiles: EthPrecompiles::new(spec),
        frame_stack: FrameStack::new(),
    };
    evm.transact(tx)
        .map_err(|e| ChainError::Storage(format!("EVM execution failed: {e}")))
}

impl Engine {
    /// Opens (or creates with a genesis) the chain file at `path` and checks its integrity.
    pub fn open(path: &Path, clock: Clock) -> Result<Engine, ChainError> {
        let (mut writer, fresh) = schema::open_connection(path)?;
        let code_cache = CodeCache::default();
        if fresh {
            let tx = writer.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if schema::create_schema(&tx)? {
                let chain_id = rand::rng().random_range(CHAIN_ID_RANGE);
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('chain_id', ?1)",
                    params![&chain_id.to_be_bytes()[..]],
                )?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('registry', ?1)",
                    params![registry_address().as_slice()],
                )?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('deployer', ?1)",
                    params![DEPLOYER.as_slice()],
                )?;
                let init = Bytes::copy_from_slice(crate::contract::creation_bytecode());
                let executed = Self::mine(&tx, &code_cache, chain_id, None, init, clock())?;
                if executed.contract_address != Some(registry_address()) {
                    return Err(ChainError::Storage(
                        "genesis deployment did not create the registry".into(),
                    ));
                }
            }
            tx.commit()?;
        }
        let (reader, _) = schema::open_connection(path)?;
        let (chain_id, registry) = {
            let tx = reader.unchecked_transaction()?;
            let (chain_id, registry) = read_meta(&tx, path)?;
            schema::verify(&tx, path, chain_id)?;
            tx.finish()?;
            (chain_id, registry)
        };
        Ok(Engine {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            code_cache,
            chain_id,
            registry,
            clock,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chain id chosen at genesis.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The registry's address.
    pub fn registry(&self) -> Address {
        self.registry
    }

    /// Executes one transaction from [`DEPLOYER`] in a new block on top of the
    /// head visible in `conn` (which must hold the write lock) and writes it.
    fn mine(
        conn: &Connection,
        cache: &CodeCache,
        chain_id: u64,
        to: Option<Address>,
        input: Bytes,
        now: u64,
    ) -> Result<Executed, ChainError> {
        let head = schema::head(conn)?;
        let (number, parent_hash, timestamp, root) = match head {
            Some(h) => (h.number + 1, h.hash, now.max(h.timestamp), h.state_root),
            None => (0, B256::ZERO, now, U256::ZERO),
        };
        let nonce = super::state::read_account(conn, DEPLOYER)?
            .map(|a| a.nonce)
            .unwrap_or(0);
        let record = TxRecord {
            from: DEPLOYER,
            nonce,
            to,
            input,
            gas_limit: TX_GAS_LIMIT,
        };
        let tx = TxEnv {
            caller: DEPLOYER,
            gas_limit: TX_GAS_LIMIT,
            gas_price: 0,
            kind: to.map_or(TxKind::Create, TxKind::Call),
            data: record.input.clone(),
            nonce,
            chain_id: Some(chain_id),
            ..TxEnv::default()
        };
        let out = execute(conn, cache, chain_id, number, timestamp, tx, false)?;
        let gas_used = out.result.tx_gas_used();
        let (logs, contract_address) = match out.result {
            ExecutionResult::Success { logs, output, .. } => {
                let created = match output {
                    Output::Create(_, addr) => addr,
                    Output::Call(_) => None,
                };
                (logs, created)
            }
            ExecutionResult::Revert { output, .. } => return Err(decode_revert(&output).into()),
            ExecutionResult::Halt { reason, .. } => {
                return Err(ChainError::Reverted {
                    tx_hash: keccak256(record.encode()).to_string(),
                    block: number,
                    reason: format!("halted: {reason:?}"),
                });
            }
        };
        let root = apply_changes(conn, root, &out.state)?;
        let receipt = Receipt {
            gas_used,
            contract_address,
            logs: logs
                .iter()
                .map(|l| LogRecord {
                    address: l.address,
                    topics: l.data.topics().to_vec(),
                    data: l.data.data.clone(),
                })
                .collect(),
        };
        let tx_enc = record.encode();
        let receipt_enc = receipt.encode();
        let header = Header {
            chain_id,
            number,
            parent_hash,
            timestamp,
            tx_hash: keccak256(&tx_enc),
            receipt_hash: keccak256(&receipt_enc),
            state_root: B256::from(root.to_be_bytes::<32>()),
        };
        let hash = header.hash();
        conn.prepare_cached(
            "INSERT INTO blocks (number, hash, parent_hash, timestamp, state_root, tx, receipt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            sql_u64(number)?,
            hash.as_slice(),
            parent_hash.as_slice(),
            sql_u64(timestamp)?,
            header.state_root.as_slice(),
            tx_enc,
            receipt_enc
        ])?;
        index_logs(conn, number, &receipt.logs)?;
        Ok(Executed {
            tx_hash: header.tx_hash,
            block: number,
            gas_used,
            contract_address,
        })
    }

    /// Sends `input` to the registry in a new block. Blocks on the file's write
    /// lock while another process writes; call from a blocking thread.
    pub fn transact(&self, input: Bytes) -> Result<Executed, ChainError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| ChainError::Storage("writer lock poisoned".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let executed = Self::mine(
            &tx,
            &self.code_cache,
            self.chain_id,
            Some(self.registry),
            input,
            (self.clock)(),
        )?;
        tx.commit()?;
        Ok(executed)
    }

    /// Head of the chain now.
    pub fn head(&self) -> Result<Head, ChainError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| ChainError::Storage("reader lock poisoned".into()))?;
        schema::head(&conn)?.ok_or_else(|| ChainError::Corrupt {
            path: self.path.display().to_string(),
            reason: "no blocks".into(),
        })
    }

    /// The pending block's timestamp: max(clock, last block).
    pub fn now(&self) -> Result<u64, ChainError> {
        Ok((self.clock)().max(self.head()?.timestamp))
    }

    /// Runs a view call against the registry in the pending block
    /// (number = head + 1, timestamp = max(clock, head)).
    pub fn call(&self, input: Bytes) -> Result<Bytes, ChainError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| ChainError::Storage("reader lock poisoned".into()))?;
        // One read transaction: the head and the state it reads belong to the
        // same block. Cached BEGIN/COMMIT statements: re-parsing them on every view is measurable.
        conn.prepare_cached("BEGIN")?.execute([])?;
        let result = self.view_in_transaction(&conn, input);
        let ended = conn.prepare_cached("COMMIT")?.execute([]);
        let (number, out) = result?;
        ended?;
        match out.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(decode_revert(&output).into()),
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Reverted {
                tx_hash: String::from("(view)"),
                block: number,
                reason: format!("halted: {reason:?}"),
            }),
        }
    }

    /// The body of [`Engine::call`], inside its read transaction.
    fn view_in_transaction(
        &self,
        conn: &Connection,
        input: Bytes,
    ) -> Result<(u64, revm::context::result::ResultAndState), ChainError> {
        let head = schema::head(conn)?.ok_or_else(|| ChainError::Corrupt {
            path: self.path.display().to_string(),
            reason: "no blocks".into(),
        })?;
        let timestamp = (self.clock)().max(head.timestamp);
        let env = TxEnv {
            caller: Address::ZERO,
            gas_limit: TX_GAS_LIMIT,
            gas_price: 0,
            kind: TxKind::Call(self.registry),
            data: input,
            nonce: 0,
            chain_id: Some(self.chain_id),
            ..TxEnv::default()
        };
        let out = execute(
            conn,
            &self.code_cache,
            self.chain_id,
            head.number + 1,
            timestamp,
            env,
            true,
        )?;
        Ok((head.number + 1, out))
    }

    /// The data of the log with `topic0` and `topic1` emitted by the registry in `block`.
    pub fn find_log(
        &self,
        block: u64,
        topic0: B256,
        topic1: B256,
    ) -> Result<Option<Bytes>, ChainError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| ChainError::Storage("reader lock poisoned".into()))?;
        let data: Option<Vec<u8>> = rusqlite::OptionalExtension::optional(
            conn.prepare_cached(
                "SELECT data FROM logs WHERE block = ?1 AND address = ?2 AND topic0 = ?3 AND topic1 = ?4 ORDER BY log_index LIMIT 1",
            )?
            .query_row(params![sql_u64(block)?, self.registry.as_slice(), topic0.as_slice(), topic1.as_slice()], |r| r.get(0)),
        )?;
        Ok(data.map(Bytes::from))
    }

    /// Appends a block that records a direct state write made by `write`
    /// (which gets the connection and the current commitment and returns the
    /// new one). Test-only: the benchmark's 1M statuses.
    #[cfg(any(test, feature = "bench-internals"))]
    pub fn append_direct_write(
        &self,
        note: &str,
        write: impl FnOnce(&Connection, U256) -> Result<U256, ChainError>,
    ) -> Result<u64, ChainError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| ChainError::Storage("writer lock poisoned".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = schema::head(&tx)?.ok_or_else(|| ChainError::Storage("no genesis".into()))?;
        let root = write(&tx, head.state_root)?;
        let record = TxRecord {
            from: Address::ZERO,
            nonce: 0,
            to: None,
            input: Bytes::copy_from_slice(note.as_bytes()),
            gas_limit: 0,
        };
        let receipt = Receipt {
            gas_used: 0,
            contract_address: None,
            logs: Vec::new(),
        };
        let (tx_enc, receipt_enc) = (record.encode(), receipt.encode());
        let header = Header {
            chain_id: self.chain_id,
            number: head.number + 1,
            parent_hash: head.hash,
            timestamp: (self.clock)().max(head.timestamp),
            tx_hash: keccak256(&tx_enc),
            receipt_hash: keccak256(&receipt_enc),
            state_root: B256::from(root.to_be_bytes::<32>()),
        };
        tx.execute(
            "INSERT INTO blocks (number, hash, parent_hash, timestamp, state_root, tx, receipt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                sql_u64(header.number)?,
                header.hash().as_slice(),
                header.parent_hash.as_slice(),
                sql_u64(header.timestamp)?,
                header.state_root.as_slice(),
                tx_enc,
                receipt_enc
            ],
        )?;
        tx.commit()?;
        // A million rows in one transaction leave a huge WAL that every read
        // would search: fold it into the database file now.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(header.number)
    }

    /// The raw value of a registry storage slot in the latest block.
    #[cfg(any(test, feature = "bench-internals"))]
    pub fn registry_slot(&self, slot: U256) -> Result<U256, ChainError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| ChainError::Storage("reader lock poisoned".into()))?;
        Ok(super::state::read_slot(&conn, self.registry, slot)?)
    }

    /// Gas used by the transaction of block `number` (from its receipt).
    pub fn block_gas_used(&self, number: u64) -> Result<Option<u64>, ChainError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| ChainError::Storage("reader lock poisoned".into()))?;
        let receipt: Option<Vec<u8>> = rusqlite::OptionalExtension::optional(
            conn.prepare_cached("SELECT receipt FROM blocks WHERE number = ?1")?
                .query_row(params![sql_u64(number)?], |r| r.get(0)),
        )?;
        // The receipt encoding starts with gas_used, big-endian u64.
        Ok(match receipt {
            Some(r) => Some(u64::from_be_bytes(
                r.get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .ok_or_else(|| {
                        ChainError::InvalidData(format!("receipt of block {number} is truncated"))
                    })?,
            )),
            None => None,
        })
    }

    /// Re-runs the integrity check of open on the current file.
    pub fn verify(&self) -> Result<Head, ChainError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| ChainError::Storage("reader lock poisoned".into()))?;
        let tx = conn.unchecked_transaction()?;
        let head = schema::verify(&tx, &self.path, self.chain_id)?;
        tx.finish()?;
        Ok(head)
    }
}

/// Event kinds kept in the `events` index, by topic0.
fn event_kind(topic0: &B256) -> Option<&'static str> {
    use crate::contract::IdentityRegistry as R;
    use alloy::sol_types::SolEvent;
    if *topic0 == R::Registered::SIGNATURE_HASH {
        Some("Registered")
    } else if *topic0 == R::Revoked::SIGNATURE_HASH {
        Some("Revoked")
    } else if *topic0 == R::EndpointSet::SIGNATURE_HASH {
        Some("EndpointSet")
    } else if *topic0 == R::Renewed::SIGNATURE_HASH {
        Some("Renewed")
    } else {
        None
    }
}

/// Writes a block's logs and the event index rows.
fn index_logs(conn: &Connection, block: u64, logs: &[LogRecord]) -> Result<(), ChainError> {
    for (i, log) in logs.iter().enumerate() {
        let i = sql_u64(i as u64)?;
        let topics: Vec<u8> = log.topics.iter().flat_map(|t| t.0).collect();
        let t0 = log.topics.first();
        let t1 = log.topics.get(1);
        conn.prepare_cached(
            "INSERT INTO logs (block, log_index, address, topic0, topic1, topics, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            sql_u64(block)?,
            i,
            log.address.as_slice(),
            t0.map(|t| t.as_slice()),
            t1.map(|t| t.as_slice()),
            topics,
            log.data.as_ref()
        ])?;
        if let (Some(t0), Some(t1)) = (t0, t1)
            && let Some(kind) = event_kind(t0)
        {
            conn.prepare_cached(
                "INSERT INTO events (kind, id, block, log_index) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![kind, &t1.as_slice()[12..], sql_u64(block)?, i])?;
        }
    }
    Ok(())
}

/// Runs a `CREATE` of `init_code` from `sender` at `nonce` in a throw-away
/// in-memory EVM configured like the embedded chain; returns the created
/// address and the gas used. Lets a test compare revm with anvil on the very
/// same transaction.
#[doc(hidden)]
pub fn simulate_create(
    sender: Address,
    nonce: u64,
    init_code: Bytes,
    chain_id: u64,
) -> Result<(Address, u64), ChainError> {
    use revm::database::InMemoryDB;
    use revm::state::AccountInfo;
    let mut db = InMemoryDB::default();
    db.insert_account_info(
        sender,
        AccountInfo {
            nonce,
            ..AccountInfo::default()
        },
    );
    let mut evm = Context::mainnet()
        .with_db(db)
        .modify_cfg_chained(|c| {
            c.chain_id = chain_id;
            c.set_spec_and_mainnet_gas_params(SPEC);
        })
        .modify_block_chained(|b| {
            b.number = U256::from(1);
            b.timestamp = U256::from(1_700_000_000u64);
            b.gas_limit = BLOCK_GAS_LIMIT;
            b.basefee = 0;
        })
        .build_mainnet();
    let tx = TxEnv {
        caller: sender,
        gas_limit: TX_GAS_LIMIT,
        gas_price: 0,
        kind: TxKind::Create,
        data: init_code,
        nonce,
        chain_id: Some(chain_id),
        ..TxEnv::default()
    };
    let out = evm
        .transact(tx)
        .map_err(|e| ChainError::Storage(format!("EVM execution failed: {e}")))?;
    let gas = out.result.tx_gas_used();
    match out.result {
        ExecutionResult::Success {
            output: Output::Create(_, Some(addr)),
            ..
        } => Ok((addr, gas)),
        other => Err(ChainError::InvalidData(format!(
            "simulated deployment failed: {other:?}"
        ))),
    }
}
