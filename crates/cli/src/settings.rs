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
    /// The chain spec texts (`embedded`, `embedded:PATH` or a URL; or
    /// several URLs of one chain, for a quorum): never empty.
    pub chains: Vec<String>,
    /// `--quorum` / config.toml's `quorum`: how many of several URLs must agree.
    pub quorum: Option<usize>,
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
        let given: Vec<String> = global
            .chain
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        let chains = if !given.is_empty() {
            given
        } else {
            config
                .chain
                .as_ref()
                .map(|c| c.specs())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| vec![DEFAULT_CHAIN.to_owned()])
        };
        let quorum = global.quorum.or(config.quorum);
        let registry = global
            .registry
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| config.registry.clone());
        Ok(Settings {
            home,
            config,
            chains,
            quorum,
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

    /// The (first) chain spec text: the chain of a single-spec run, the
    /// provider transactions go through with several.
    pub fn chain(&self) -> &str {
        self.chains.first().map_or(DEFAULT_CHAIN, String::as_str)
    }

    /// What the reads of these settings rest on, as the registry's
    /// [`chainmail_chain::Trust`] names it (`embedded`, `single-rpc`,
    /// `quorum K/n`), for comparing with a running daemon's.
    pub fn trust(&self) -> String {
        let n = self.chains.len();
        if n > 1 {
            let k = self
                .quorum
                .unwrap_or_else(|| chainmail_chain::default_quorum(n));
            chainmail_chain::Trust::Quorum { k, n }.to_string()
        } else if self.chain().starts_with("embedded") {
            chainmail_chain::Trust::Embedded.to_string()
        } else {
            chainmail_chain::Trust::SingleRpc.to_string()
        }
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
