//! One run's plumbing, opened lazily and at most once: the settings, the
//! tokio runtime, the unlocked identity (the password is asked the first
//! time a command needs the key), the sealed message store, the registry
//! (read-only, paying, or for signing only) and the node. Commands take a
//! [`Context`] and ask for what they need; none opens these itself.

mod chain;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chainmail_chain::{ChainSpec, Registry};
use chainmail_core::SecretKey;
use chainmail_node::clock::Clock;
use chainmail_node::store::Store;
use chainmail_node::{Node, NodeOptions};
use tokio::sync::OnceCell;

use crate::error::Failure;
use crate::password::{self, Purpose};
use crate::settings::Settings;

/// The plumbing of one command.
pub struct Context {
    settings: Settings,
    runtime: OnceLock<tokio::runtime::Runtime>,
    identity: OnceLock<SecretKey>,
    store: OnceLock<Store>,
    /// Reads (and writes paid by the configured payer, if any).
    reader: OnceCell<Arc<dyn Registry>>,
    /// Writes: the configured payer, else the identity key pays.
    payer: OnceCell<Arc<dyn Registry>>,
    /// `--sign-only`: the chain's domain and clock, no payer at all.
    signer: OnceCell<Arc<dyn Registry>>,
    /// The one clock of this run, shared by the node and the embedded chain.
    clock: Clock,
}

/// A tokio runtime for the async parts (the registry, the node).
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                "Runtime",
                format!("cannot start the async runtime: {e}"),
                "",
            )
        })
}

/// Gets `cell`'s value, or makes it with `init` (a failure is not kept).
fn get_or_try<T>(
    cell: &OnceLock<T>,
    init: impl FnOnce() -> Result<T, Failure>,
) -> Result<&T, Failure> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = init()?;
    Ok(cell.get_or_init(|| v))
}

impl Context {
    /// A context over resolved settings; nothing is opened yet.
    pub fn new(settings: Settings) -> Self {
        Context {
            settings,
            runtime: OnceLock::new(),
            identity: OnceLock::new(),
            store: OnceLock::new(),
            reader: OnceCell::new(),
            payer: OnceCell::new(),
            signer: OnceCell::new(),
            clock: Clock::system(),
        }
    }

    /// The settings of this run.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `--json`.
    pub fn json(&self) -> bool {
        self.settings.json
    }

    /// Runs `f` to completion on this run's runtime (started on first use).
    pub fn block_on<T>(&self, f: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        get_or_try(&self.runtime, runtime)?.block_on(f)
    }

    /// Fails with `NoIdentity` unless this home holds a keystore.
    pub fn require_identity(&self) -> Result<(), Failure> {
        if self.settings.home.keystore().exists() {
            Ok(())
        } else {
            Err(Failure::new(
                "NoIdentity",
                format!("no identity in {}", self.settings.home.root().display()),
                "run `chainmail init` first, or pass the right --home",
            ))
        }
    }

    /// This home's identity key, unlocked with the password on first use.
    pub fn identity(&self) -> Result<&SecretKey, Failure> {
        get_or_try(&self.identity, || {
            self.require_identity()?;
            let password = password::read(Purpose::Unlock)?;
            Ok(chainmail_node::keystore::load(
                &self.settings.home.keystore(),
                password.as_bytes(),
            )?)
        })
    }

    /// Sets the identity a command just created or imported (`init`).
    pub fn set_identity(&self, secret: SecretKey) -> &SecretKey {
        self.identity.get_or_init(|| secret)
    }

    /// This home's message store, sealed with the identity's store key
    /// (bodies and contacts encrypted at rest); unlocks the identity.
    pub fn store(&self) -> Result<&Store, Failure> {
        get_or_try(&self.store, || {
            self.require_identity()?;
            let secret = self.identity()?;
            Ok(Store::open_sealed(
                &self.settings.home.store(),
                chainmail_node::seal::StoreKey::derive(secret),
            )?)
        })
    }

    /// The chain spec of these settings (a bad one is a usage error).
    pub fn chain_spec(&self) -> Result<ChainSpec, Failure> {
        chain::chain_spec(&self.settings)
    }

    /// The configured gas payer key, if any.
    pub fn payer_key(&self) -> Result<Option<SecretKey>, Failure> {
        chain::payer_key(&self.settings)
    }

    /// The registry for reads (sessions and deliveries need no payer; the
    /// configured one is used if set).
    pub async fn registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        self.reader
            .get_or_try_init(|| chain::open_registry(&self.settings, None, &self.clock))
            .await
            .cloned()
    }

    /// The registry for transactions: the configured payer pays, else the
    /// identity key pays its own gas (the embedded chain needs none).
    pub async fn paying_registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        let secret = self.identity()?;
        self.payer
            .get_or_try_init(|| chain::open_registry(&self.settings, Some(secret), &self.clock))
            .await
            .cloned()
    }

    /// The registry with no payer at all: its domain and clock, for
    /// signing what others submit (`--sign-only`, the revocation file).
    pub async fn signing_registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        self.signer
            .get_or_try_init(|| chain::open_with_payer(&self.settings, None, &self.clock))
            .await
            .cloned()
    }

    /// `chain pin [--force]`: the pin of this home's rpc chain, checked (or
    /// with `force` replaced) and recorded; with its status (`recorded`,
    /// `unchanged`, `replaced`).
    pub async fn pin_chain(
        &self,
        force: bool,
    ) -> Result<(chainmail_chain::ChainPin, &'static str), Failure> {
        chain::pin_chain(&self.settings, force).await
    }

    /// Deploys the registry on the rpc chain at `url` (checked against this
    /// home's pin first), then pins the chain if this was its first use.
    pub async fn deploy(
        &self,
        url: &str,
        payer: &SecretKey,
    ) -> Result<(chainmail_core::Address, Option<chainmail_chain::TxOutcome>), Failure> {
        chain::deploy(&self.settings, url, payer).await
    }

    /// The node of this identity: its key, the chain (read-only), its
    /// store, and the options of the settings and flags.
    pub async fn node(&self, contacts_only: bool, verify_on_chain: bool) -> Result<Node, Failure> {
        let secret = self.identity()?;
        let store = self.store()?.clone();
        let registry = self.registry().await?;
        let mut options = NodeOptions {
            verify_on_chain,
            clock: self.clock.clone(),
            ..NodeOptions::default()
        };
        if let Some(secs) = self.settings.config.max_age_secs {
            options.max_age = Duration::from_secs(secs);
        }
        options.contacts_only =
            contacts_only || self.settings.config.contacts_only.unwrap_or(false);
        // The node owns its key: a copy of the unlocked one (zeroized on drop).
        let key = SecretKey::from_bytes(&secret.to_bytes()).map_err(|e| {
            Failure::new(
                "Internal",
                format!("the identity key: {e}"),
                "report this bug",
            )
        })?;
        Ok(Node::new(key, registry, store, options))
    }
}
