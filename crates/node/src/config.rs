//! `config.toml` in the identity home: the settings a user does not want to
//! repeat on every command. Precedence is flags > environment > this file >
//! built-in defaults; [`pick`] applies it, the CLI supplies flags and
//! environment.
//!
//! ```toml
//! chain = "https://eth.example/v3/KEY"   # or "embedded", "embedded:PATH",
//!                                         # or several URLs of one chain: ["https://a…", "https://b…", "https://c…"]
//! quorum = 2                              # with several: how many must agree (default: a majority)
//! registry = "0x…"                        # rpc chains; default: the one CREATE2 address
//! listen = "0.0.0.0:7400"
//! payer_key_file = "/home/me/.chainmail-payer"      # rpc chains only
//! max_age_secs = 604800                               # outbox retry horizon
//!
//! # Written by chainmail on the first use of an rpc chain (trust on first
//! # use), checked on every later one; `chainmail chain pin --force` re-pins.
//! [pin]
//! chain_id = 31337
//! genesis_hash = "0x…"     # block 0's hash
//! registry = "0x…"
//! code_hash = "0x…"        # keccak256 of the registry's runtime code
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Largest config file read (it is a handful of lines).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Why the configuration could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than any configuration.
    #[error("config {0} is larger than 64 KiB; is this the right file?")]
    TooLarge(PathBuf),
    /// The TOML is invalid or has unknown keys.
    #[error("config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's explanation (line, column, key).
        message: String,
    },
}

/// The contents of `config.toml`. Every field is optional: absent means
/// "use the environment or the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `embedded`, `embedded:PATH` or a JSON-RPC URL; or a list of
    /// JSON-RPC URLs of one chain, whose headers are trusted by a quorum.
    pub chain: Option<ChainSetting>,
    /// With several chain URLs: how many must return the same header hash
    /// (default: a majority).
    pub quorum: Option<usize>,
    /// The registry contract address (rpc chains).
    pub registry: Option<String>,
    /// Address `serve` listens on, `HOST:PORT`.
    pub listen: Option<String>,
    /// File holding the gas payer's key (rpc chains). A path, never the key.
    pub payer_key_file: Option<PathBuf>,
    /// How long the outbox retries a message before marking it expired.
    pub max_age_secs: Option<u64>,
    /// Accept sessions from named contacts only (`serve --contacts-only`).
    pub contacts_only: Option<bool>,
    /// The most a transaction may bid per gas on rpc chains, in gwei
    /// (`--max-fee`); a provider quoting more is refused before signing.
    pub max_fee_gwei: Option<u64>,
    /// The most gas one transaction may use on rpc chains.
    pub gas_limit: Option<u64>,
    /// How far behind this machine's clock an rpc chain's latest block may
    /// be, in seconds (default 600; 0: no bound, for a local chain that
    /// mines only on transactions).
    pub max_head_age_secs: Option<u64>,
    /// The rpc chain this home is pinned to (a table: it comes last).
    pub pin: Option<Pin>,
}

/// `chain = "…"` (one spec, as before) or `chain = ["…", "…"]` (RPC URLs
/// of one chain, for a quorum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChainSetting {
    /// One chain spec.
    One(String),
    /// Several RPC URLs.
    Many(Vec<String>),
}

impl ChainSetting {
    /// The specs, in order (empty strings dropped).
    pub fn specs(&self) -> Vec<String> {
        match self {
            ChainSetting::One(s) => vec![s.clone()],
            ChainSetting::Many(v) => v.clone(),
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

/// `[pin]`: the rpc chain and registry a home recorded on first use. The
/// hashes and the address are `0x` hex, as chainmail writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The chain id.
    pub chain_id: u64,
    /// Hash of block 0.
    pub genesis_hash: String,
    /// The registry contract's address.
    pub registry: String,
    /// `keccak256` of the registry's runtime code.
    pub code_hash: String,
}

impl Config {
    /// Reads `path`; a missing file is the empty configuration.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io(e)),
        };
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge(path.to_path_buf()));
        }
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the error is the parser's message.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    /// Writes the configuration to `path` (replacing it atomically).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = toml::to_string(self).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Flags beat environment beats file: the first `Some`.
pub fn pick<T>(flag: Option<T>, env: Option<T>, file: Option<T>) -> Option<T> {
    flag.or(env).or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_one_spec_or_a_list_of_urls() {
        let c = Config::parse("chain = [\"http://a:1\", \"http://b:2\"]\nquorum = 2\n").unwrap();
        assert_eq!(
            c.chain.as_ref().map(ChainSetting::specs),
            Some(vec!["http://a:1".to_string(), "http://b:2".to_string()])
        );
        assert_eq!(c.quorum, Some(2));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        assert!(Config::parse("chain = 3\n").is_err());
    }

    #[test]
    fn parse_and_round_trip() {
        let c = Config::parse(
            "chain = \"embedded:/tmp/c.db\"\nlisten = \"127.0.0.1:7400\"\nmax_age_secs = 60\n",
        )
        .unwrap();
        assert_eq!(
            c.chain.as_ref().map(ChainSetting::specs),
            Some(vec!["embedded:/tmp/c.db".to_string()])
        );
        assert_eq!(c.max_age_secs, Some(60));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        c.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        // A pin (a table) after the plain keys survives a save.
        let pinned = Config {
            pin: Some(Pin {
                chain_id: 31337,
                genesis_hash: format!("0x{}", "ab".repeat(32)),
                registry: "0x4e59b44847b379578588920cA78FbF26c0B4956C".into(),
                code_hash: format!("0x{}", "cd".repeat(32)),
            }),
            ..c
        };
        pinned.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), pinned);
        assert!(
            Config::parse("[pin]\nchain_id = 1\n").is_err(),
            "a pin is whole"
        );
    }

    #[test]
    fn bad_files_named() {
        assert!(
            Config::parse("chian = \"x\"")
                .unwrap_err()
                .contains("chian")
        );
        assert!(Config::parse("max_age_secs = -1").is_err());
        assert!(Config::parse("listen = ").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "#".repeat(70_000)).unwrap();
        assert!(matches!(Config::load(&path), Err(ConfigError::TooLarge(_))));
    }

    #[test]
    fn precedence() {
        assert_eq!(pick(Some(1), Some(2), Some(3)), Some(1));
        assert_eq!(pick(None, Some(2), Some(3)), Some(2));
        assert_eq!(pick(None, None, Some(3)), Some(3));
        assert_eq!(pick::<u8>(None, None, None), None);
    }
}
