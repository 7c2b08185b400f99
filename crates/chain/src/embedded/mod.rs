//! The embedded backend: the registry's bytecode executed by revm in-process,
//! state and a hash-linked block log in one SQLite file (see README.md).

mod block;
mod engine;
mod schema;
mod state;

#[cfg(any(test, feature = "bench-internals"))]
mod bench_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::{B256, Bytes};
use alloy::sol_types::SolEvent;
use async_trait::async_trait;
use chainmail_core::eip712::{
    Certificate, Domain, Endpoint, Renewal, Revocation, SessionRequest, Signed,
};
use chainmail_core::{Address, IdStatus, PublicKey};

pub use engine::{
    BLOCK_GAS_LIMIT, CHAIN_ID_RANGE, Clock, DEPLOYER, SPEC, TX_GAS_LIMIT, system_clock,
};
pub use schema::{APPLICATION_ID, SCHEMA, SCHEMA_VERSION};

use crate::calls;
use crate::contract::{IdentityRegistry as R, to_alloy, to_core};
use crate::error::ChainError;
use crate::registry::{EndpointRecord, Registry, TxOutcome};

/// Simulates `CREATE` of the registry's bytecode from `sender` at `nonce`
/// in revm (as the embedded chain runs it): (created address, gas used).
#[doc(hidden)]
pub fn simulate_registry_deploy(
    sender: Address,
    nonce: u64,
    chain_id: u64,
) -> Result<(Address, u64), ChainError> {
    let init = Bytes::copy_from_slice(crate::contract::creation_bytecode());
    let (addr, gas) = engine::simulate_create(to_alloy(sender), nonce, init, chain_id)?;
    Ok((to_core(addr), gas))
}

/// The registry address of every embedded chain: `CREATE` by [`DEPLOYER`] at nonce 0.
pub fn registry_address() -> Address {
    to_core(engine::registry_address())
}

/// The default chain file: `$XDG_DATA_HOME/chainmail/chain.db`, else
/// `~/.local/share/chainmail/chain.db` — one per machine user, independent of
/// any identity's home.
pub fn default_path() -> Result<PathBuf, ChainError> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Ok(PathBuf::from(d).join("chainmail").join("chain.db"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            ChainError::InvalidArgument(
                "neither XDG_DATA_HOME nor HOME is set; use embedded:PATH".into(),
            )
        })?;
    Ok(PathBuf::from(home)
        .join(".local")
        .join("share")
        .join("chainmail")
        .join("chain.db"))
}

/// An embedded chain file opened as a [`Registry`].
pub struct EmbeddedRegistry {
    engine: Arc<engine::Engine>,
}

impl EmbeddedRegistry {
    /// Opens (creating it with a genesis if absent) the chain file at `path`,
    /// with the system clock. Checks the file's integrity first.
    pub async fn open(path: &Path) -> Result<Self, ChainError> {
        Self::open_with_clock(path, system_clock()).await
    }

    /// Like [`EmbeddedRegistry::open`] with an injected clock (unix seconds).
    pub async fn open_with_clock(path: &Path, clock: Clock) -> Result<Self, ChainError> {
        let path = path.to_path_buf();
        let engine = tokio::task::spawn_blocking(move || engine::Engine::open(&path, clock))
            .await
            .map_err(|e| ChainError::Storage(format!("open task failed: {e}")))??;
        Ok(EmbeddedRegistry {
            engine: Arc::new(engine),
        })
    }

    /// Blocking open, for callers outside an async runtime.
    pub fn open_blocking(path: &Path, clock: Clock) -> Result<Self, ChainError> {
        Ok(EmbeddedRegistry {
            engine: Arc::new(engine::Engine::open(path, clock)?),
        })
    }

    /// The chain file.
    pub fn path(&self) -> &Path {
        self.engine.path()
    }

    /// Gas used by the transaction of block `number` (block 0: the genesis deployment).
    pub fn block_gas_used(&self, number: u64) -> Result<Option<u64>, ChainError> {
        self.engine.block_gas_used(number)
    }

    /// Number of the newest block.
    pub fn head_number(&self) -> Result<u64, ChainError> {
        Ok(self.engine.head()?.number)
    }

    /// Runs the integrity check of open again (block hash chain and state commitment).
    pub fn verify(&self) -> Result<u64, ChainError> {
        Ok(self.engine.verify()?.number)
    }

    /// Synchronous `status` (the async one calls this; used by the benchmark).
    pub fn status_blocking(&self, id: Address) -> Result<IdStatus, ChainError> {
        calls::decode_status(&self.engine.call(calls::status(id))?)
    }

    /// Writes 1M-style status slots directly, bypassing signatures: for the
    /// lookup benchmark only. Never compiled into normal builds.
    #[cfg(any(test, feature = "bench-internals"))]
    #[doc(hidden)]
    pub fn bench_write_statuses(
        &self,
        ids: &[Address],
        status: IdStatus,
    ) -> Result<(), ChainError> {
        bench_support::write_statuses(&self.engine, ids, status)
    }

    async fn send(&self, input: Bytes) -> Result<TxOutcome, ChainError> {
        let engine = self.engine.clone();
        // The write may wait for another process's block (busy_timeout): keep it off the async workers.
        let executed = tokio::task::spawn_blocking(move || engine.transact(input))
            .await
            .map_err(|e| ChainError::Storage(format!("write task failed: {e}")))??;
        Ok(TxOutcome {
            tx_hash: executed.tx_hash.0,
            block: executed.block,
            gas_used: executed.gas_used,
        })
    }
}

#[async_trait]
impl Registry for EmbeddedRegistry {
    fn domain(&self) -> Domain {
        Domain {
            chain_id: self.engine.chain_id(),
            verifying_contract: to_core(self.engine.registry()),
        }
    }

    fn trust(&self) -> crate::Trust {
        crate::Trust::Embedded
    }

    async fn register(&self, c: &Signed<Certificate>) -> Result<TxOutcome, ChainError> {
        self.send(calls::register(c)).await
    }

    async fn renew(&self, r: &Signed<Renewal>) -> Result<TxOutcome, ChainError> {
        self.send(calls::renew(r)).await
    }

    async fn revoke(&self, r: &Signed<Revocation>) -> Result<TxOutcome, ChainError> {
        self.send(calls::revoke(r)).await
    }

    async fn set_endpoint(&self, e: &Signed<Endpoint>) -> Result<TxOutcome, ChainError> {
        self.send(calls::set_endpoint(e)).await
    }

    // Views run inline: a WAL reader never waits for a writer and a view takes microseconds.
    async fn status(&self, id: Address) -> Result<IdStatus, ChainError> {
        self.status_blocking(id)
    }

    async fn is_valid(&self, id: Address) -> Result<bool, ChainError> {
        calls::decode_is_valid(&self.engine.call(calls::is_valid(id))?)
    }

    async fn public_key_at(&self, id: Address, block: u64) -> Result<PublicKey, ChainError> {
        let topic1 = B256::left_padding_from(to_alloy(id).as_slice());
        let data = self
            .engine
            .find_log(block, R::Registered::SIGNATURE_HASH, topic1)?
            .ok_or_else(|| {
                ChainError::InvalidData(format!("no Registered log for {id} in block {block}"))
            })?;
        calls::decode_registered_key(id, &data)
    }

    async fn endpoint(&self, id: Address) -> Result<Option<EndpointRecord>, ChainError> {
        calls::decode_endpoint(&self.engine.call(calls::endpoint_of(id))?)
    }

    async fn verify_session(&self, r: &Signed<SessionRequest>) -> Result<(), ChainError> {
        calls::decode_verify_session(&self.engine.call(calls::verify_session(r))?)
    }

    async fn now(&self) -> Result<u64, ChainError> {
        self.engine.now()
    }
}
