//! The command line's grammar (clap derive): global options, subcommands and
//! their arguments, exactly as issue 6's "Command line" section lists them.
//! Values that can also come from `config.toml` are `Option`s here; the
//! precedence flag > environment > config file is applied in `settings`.

use std::path::PathBuf;
use std::time::Duration;

use chainmail_core::Address;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::duration;

/// Secure peer-to-peer messaging where a smart contract replaces the
/// certificate authority (Khacef & Pujolle, section 4).
#[derive(Debug, Parser)]
#[command(name = "chainmail", version, about, long_about = None)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, shown under `--help` because scripts depend on them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes: 0 done; 1 error; 2 usage; 69 refused for good (recipient revoked,
unknown or expired; message `rejected`); 75 queued, will retry.";

/// Options every command takes (`global = true`, so they may come before or
/// after the subcommand).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Home directory of this identity (keystore, config.toml, message store)
    /// [default: the platform config dir]
    #[arg(long, global = true, env = "CHAINMAIL_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Chain: `embedded` (default), `embedded:PATH` or an RPC URL (http/https)
    #[arg(long, global = true, env = "CHAINMAIL_CHAIN", value_name = "SPEC")]
    pub chain: Option<String>,

    /// Registry contract address (rpc chains; the embedded chain has a fixed one)
    #[arg(long, global = true, env = "CHAINMAIL_REGISTRY", value_name = "ADDR")]
    pub registry: Option<String>,

    /// Hex private key that pays gas on rpc chains (prefer the environment
    /// variable: a flag is visible to other users in the process list)
    #[arg(
        long,
        global = true,
        env = "CHAINMAIL_PAYER_KEY",
        hide_env_values = true,
        value_name = "HEX",
        value_parser = parse_secret
    )]
    pub payer_key: Option<SecretArg>,

    /// Print one JSON object per command on stdout (errors too)
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create (or import) the identity key; prints the ID
    Init {
        /// Import this Web3 Secret Storage (v3) keystore, e.g. one `cast wallet new` made
        #[arg(long, value_name = "FILE")]
        from_keystore: Option<PathBuf>,
    },
    /// This identity: ID, public key, keystore path
    Id,
    /// Register this identity's self-signed certificate in the registry
    Register {
        /// How long the certificate is valid (30d, 1y, 12h…)
        #[arg(long, value_name = "DUR", default_value = "365d", value_parser = parse_validity, allow_hyphen_values = true)]
        valid_for: Duration,
        /// Also publish where this ID is reached
        #[arg(long, value_name = "HOST:PORT")]
        endpoint: Option<String>,
    },
    /// Publish where this ID is reached (setEndpoint)
    Endpoint {
        /// host:port peers should dial
        #[arg(value_name = "HOST:PORT")]
        endpoint: String,
    },
    /// What the chain says of an ID
    Lookup {
        /// The ID (EIP-55 checksummed, or all lower case)
        #[arg(value_name = "ID", value_parser = parse_id)]
        id: Address,
    },
    /// Extend this identity's validity
    Renew {
        /// New validity, counted from now (30d, 1y, 12h…)
        #[arg(long, value_name = "DUR", default_value = "365d", value_parser = parse_validity, allow_hyphen_values = true)]
        valid_for: Duration,
    },
    /// Revoke this identity, for good
    Revoke {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Submit this signed revocation certificate (saved by `register` as
        /// revocation.json) instead of signing one: works without the key
        #[arg(long, value_name = "FILE")]
        certificate: Option<PathBuf>,
    },
    /// Deploy the registry contract (rpc chains); prints its address
    Deploy,
    /// Run the node: accept sessions, deliver the outbox
    Serve {
        /// Address to listen on [default: from config.toml, else 127.0.0.1:7400]
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Also ask the registry's verifySession about every session request
        /// that passed the local checks (one chain call per handshake)
        #[arg(long)]
        verify_on_chain: bool,
    },
    /// Send a message (stored in the outbox first; delivered now if possible)
    Send {
        /// The recipient's ID
        #[arg(value_name = "ID", value_parser = parse_id)]
        to: Address,
        /// The message text
        #[arg(value_name = "TEXT")]
        text: String,
        /// How long to wait for the recipient's acknowledgement
        #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_timeout, allow_hyphen_values = true)]
        timeout: Duration,
    },
    /// Received messages, each verified
    Inbox {
        /// Keep printing messages as they arrive
        #[arg(long)]
        follow: bool,
    },
    /// Sent messages and where each stands (queued, delivered, rejected, expired)
    Outbox,
    /// The paper's section 4, narrated, on a throw-away chain
    Demo,
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// Shells `completions` knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU bash
    Bash,
    /// Z shell
    Zsh,
    /// fish
    Fish,
}

/// A secret given on the command line or in the environment: zeroized on
/// drop, elided from `Debug` (clap derives print the whole struct).
#[derive(Clone)]
pub struct SecretArg(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArg(…)")
    }
}

fn parse_secret(text: &str) -> Result<SecretArg, std::convert::Infallible> {
    Ok(SecretArg(zeroize::Zeroizing::new(text.to_owned())))
}

fn parse_validity(text: &str) -> Result<Duration, duration::DurationError> {
    duration::parse_validity(text)
}

fn parse_timeout(text: &str) -> Result<Duration, duration::DurationError> {
    duration::parse_timeout(text)
}

/// IDs are parsed strictly (EIP-55), before anything is looked up.
fn parse_id(text: &str) -> Result<Address, chainmail_core::AddressParseError> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
