//! The effective settings of one run: the home, its `config.toml`, the chain
//! and registry, applying "flag beats environment beats config file" (clap
//! already folds the environment into each flag, see `cli::GlobalArgs`).

use chainmail_node::config::Config;
use chainmail_node::home::Home;

use zeroize::Zeroizing;

use crate::cli::GlobalArgs;
use crate::error::Failure;

/// Chain used when neither flag, environment nor config names one.
pub const DEFAULT_CHAIN: &str = "embedded";

/// Settings resolved from the command line, environment and config file.
pub struct Settings {
    /// This identity's home.
    pub home: Home,
    /// Its `config.toml` (empty when absent).
    pub config: Config,
    /// The chain spec text (`embedded`, `embedded:PATH` or a URL).
    pub chain: String,
    /// The registry address text, if any.
    pub registry: Option<String>,
    /// The gas payer key text from `--payer-key` / `CHAINMAIL_PAYER_KEY`.
    pub payer_key: Option<Zeroizing<String>>,
    /// `--json`.
    pub json: bool,
    /// `--no-daemon`: never go through a running `serve`.
    pub no_daemon: bool,
    /// `--max-fee` (gwei), beating config.toml's `max_fee_gwei`.
    pub max_fee_gwei: Option<u64>,
}

impl Settings {
    /// Resolves the home and reads its config; does not create anything.
    pub fn resolve(global: &GlobalArgs) -> Result<Settings, Failure> {
        let home = Home::resolve(global.home.as_deref()).map_err(|e| {
            let message = format!("cannot find a home directory: {e}");
            Failure::from(e)
                .with_message(message)
                .with_hint("pass --home DIR or set CHAINMAIL_HOME")
        })?;
        let config = Config::load(&home.config())?;
        let chain = global
            .chain
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| config.chain.clone())
            .unwrap_or_else(|| DEFAULT_CHAIN.to_owned());
        let registry = global
            .registry
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| config.registry.clone());
        Ok(Settings {
            home,
            config,
            chain,
            registry,
            payer_key: global
                .payer_key
                .as_ref()
                .filter(|s| !s.0.is_empty())
                .map(|s| s.0.clone()),
            json: global.json,
            no_daemon: global.no_daemon,
            max_fee_gwei: global.max_fee,
        })
    }

    /// How rpc chains are used: the fee and gas caps from `--max-fee` and
    /// config.toml (`max_fee_gwei`, `gas_limit`), else the defaults.
    pub fn rpc_options(&self) -> chainmail_chain::RpcOptions {
        let defaults = chainmail_chain::RpcOptions::default();
        chainmail_chain::RpcOptions {
            max_fee_per_gas: self
                .max_fee_gwei
                .or(self.config.max_fee_gwei)
                .map_or(defaults.max_fee_per_gas, |g| {
                    u128::from(g).saturating_mul(chainmail_chain::GWEI)
                }),
            max_gas: self.config.gas_limit.unwrap_or(defaults.max_gas),
            max_head_age: match self.config.max_head_age_secs {
                None => defaults.max_head_age,
                Some(0) => None,
                Some(s) => Some(std::time::Duration::from_secs(s)),
            },
            ..defaults
        }
    }
}
