#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod calls;
pub mod contract;
pub mod create2;
pub mod embedded;
mod error;
pub mod pin;
mod quorum;
mod registry;
pub mod rpc;
mod spec;
pub mod verified;

use std::sync::Arc;

use chainmail_core::{Address, SecretKey};

pub use embedded::EmbeddedRegistry;
pub use error::{ChainError, ContractError};
pub use pin::ChainPin;
pub use quorum::default_quorum;
pub use registry::{EndpointRecord, Registry, Trust, TxOutcome};
pub use rpc::{
    DEFAULT_MAX_FEE_PER_GAS, DEFAULT_MAX_GAS, DEFAULT_MAX_HEAD_AGE, GWEI, LocalClock,
    MAX_CLOCK_SKEW, RpcOptions, RpcRegistry,
};
pub use spec::ChainSpec;

/// Opens a registry.
///
/// - `embedded` / `embedded:PATH`: the chain file (created with a genesis if
///   absent); `registry`, if given, must be the file's registry address;
///   `payer` is not needed (the embedded chain charges no gas) and ignored.
/// - `http(s)://…`: the node; `registry` defaults to the one address
///   `deploy` places the registry at on every chain
///   ([`create2::registry_address`]), `payer` pays gas for writes (views
///   work without one).
pub async fn open(
    spec: &ChainSpec,
    registry: Option<Address>,
    payer: Option<&SecretKey>,
) -> Result<Arc<dyn Registry>, ChainError> {
    open_with(spec, registry, payer, &RpcOptions::default()).await
}

/// Like [`open`], with options. `options.expected_chain_id`, when set, is
/// checked on both backends (a configured domain that no longer matches the
/// chain gives [`ChainError::WrongChainId`]); the other options concern rpc.
pub async fn open_with(
    spec: &ChainSpec,
    registry: Option<Address>,
    payer: Option<&SecretKey>,
    options: &RpcOptions,
) -> Result<Arc<dyn Registry>, ChainError> {
    open_with_clock(spec, registry, payer, options, embedded::system_clock()).await
}

/// Like [`open_with`], the embedded chain stamping its blocks with `clock`
/// (the node's, so that a test advancing virtual time moves the chain too);
/// an rpc chain has its own time and ignores it.
pub async fn open_with_clock(
    spec: &ChainSpec,
    registry: Option<Address>,
    payer: Option<&SecretKey>,
    options: &RpcOptions,
    clock: embedded::Clock,
) -> Result<Arc<dyn Registry>, ChainError> {
    match spec {
        ChainSpec::Embedded(path) => {
            let path = match path {
                Some(p) => p.clone(),
                None => embedded::default_path()?,
            };
            let chain = EmbeddedRegistry::open_with_clock(&path, clock).await?;
            if let Some(r) = registry
                && r != embedded::registry_address()
            {
                return Err(ChainError::NoContract(r));
            }
            let got = chain.domain().chain_id;
            if let Some(expected) = options.expected_chain_id
                && expected != got
            {
                return Err(ChainError::WrongChainId { expected, got });
            }
            Ok(Arc::new(chain))
        }
        ChainSpec::Rpc(url) => {
            let registry = registry.unwrap_or_else(create2::registry_address);
            Ok(Arc::new(
                RpcRegistry::connect(url, registry, payer, options.clone()).await?,
            ))
        }
    }
}

/// Deploys the registry (the committed artifact's bytecode) to the node at
/// `url` through the deterministic deployment proxy, `payer` paying gas.
/// Returns its address ([`create2::registry_address`]) and the deployment's
/// outcome, `None` when the registry was already there (nothing sent).
pub async fn deploy(
    url: &str,
    payer: &SecretKey,
) -> Result<(Address, Option<TxOutcome>), ChainError> {
    rpc::deploy_with(url, payer, &RpcOptions::default()).await
}
