//! The command line's grammar (clap derive): global options, subcommands and
//! their arguments, exactly as issue 6's "Command line" section lists them.
//! Values that can also come from `config.toml` are `Option`s here; the
//! precedence flag > environment > config file is applied in `settings`.

use std::path::PathBuf;
use std::time::Duration;

use chainmail_core::Address;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::duration;
use crate::peer::Peer;

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

    /// Chain: `embedded` (default), `embedded:PATH` or an RPC URL
    /// (http/https); give several RPC URLs of the same chain (`--chain A
    /// --chain B --chain C`) to trust only headers a quorum of them agree on
    #[arg(long, global = true, env = "CHAINMAIL_CHAIN", value_name = "SPEC")]
    pub chain: Vec<String>,

    /// With several `--chain` URLs: how many must return the same header
    /// hash for it to be trusted [default: a majority]
    #[arg(long, global = true, env = "CHAINMAIL_QUORUM", value_name = "K")]
    pub quorum: Option<usize>,

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

    /// The most a transaction may bid per gas on rpc chains, in gwei
    /// [default: 300, or max_fee_gwei in config.toml]; a higher quote from
    /// the provider is refused before anything is signed
    #[arg(long, global = true, env = "CHAINMAIL_MAX_FEE", value_name = "GWEI")]
    pub max_fee: Option<u64>,

    /// Print one JSON object per command on stdout (errors too)
    #[arg(long, global = true)]
    pub json: bool,

    /// Do the command here even when a `serve` of this home runs (by
    /// default send, inbox, outbox, lookup, contact and verify ask it)
    #[arg(long, global = true)]
    pub no_daemon: bool,

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
        /// Print the signed certificate (JSON) instead of sending it; anyone
        /// with a payer key can then `chainmail submit` it
        #[arg(long)]
        sign_only: bool,
    },
    /// Publish where this ID is reached (setEndpoint)
    Endpoint {
        /// host:port peers should dial
        #[arg(value_name = "HOST:PORT")]
        endpoint: String,
        /// Print the signed endpoint (JSON) instead of sending it
        #[arg(long)]
        sign_only: bool,
    },
    /// What the chain says of an ID
    Lookup {
        /// The ID (EIP-55 checksummed, or all lower case) or a contact name
        #[arg(value_name = "ID|NAME", value_parser = crate::peer::parse)]
        id: Peer,
    },
    /// Extend this identity's validity
    Renew {
        /// New validity, counted from now (30d, 1y, 12h…)
        #[arg(long, value_name = "DUR", default_value = "365d", value_parser = parse_validity, allow_hyphen_values = true)]
        valid_for: Duration,
        /// Print the signed renewal (JSON) instead of sending it
        #[arg(long)]
        sign_only: bool,
    },
    /// Revoke this identity, for good
    Revoke {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Submit this signed revocation certificate (saved by `init` and
        /// `register` as `revocation-<chain id>-<registry>.json` in the home)
        /// instead of signing one: works without the key
        #[arg(
            long,
            visible_alias = "certificate",
            value_name = "FILE",
            conflicts_with = "sign_only"
        )]
        from_file: Option<PathBuf>,
        /// Print a signed revocation (JSON) instead of sending it
        #[arg(long)]
        sign_only: bool,
    },
    /// Submit a signed certificate, renewal, revocation or endpoint made with
    /// --sign-only (the relayer side: the payer key pays the gas)
    Submit {
        /// The JSON file `--sign-only` printed
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Deploy the registry contract (rpc chains) at its one CREATE2 address;
    /// prints it (already there with this build's code = success, nothing sent)
    Deploy,
    /// The rpc chain this home is pinned to
    Chain {
        /// What to do.
        #[command(subcommand)]
        command: ChainCommand,
    },
    /// Run the node: accept sessions, deliver the outbox
    Serve {
        /// Address to listen on [default: from config.toml, else 127.0.0.1:7400]
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Accept sessions from named contacts only (also `contacts_only =
        /// true` in config.toml)
        #[arg(long)]
        contacts_only: bool,
        /// Also ask the registry's verifySession about every session request
        /// that passed the local checks (one chain call per handshake)
        #[arg(long)]
        verify_on_chain: bool,
        /// Do not open the daemon API socket (api.sock): no other process
        /// of this user can then read messages or send through this daemon
        #[arg(long)]
        no_api: bool,
    },
    /// Send a message (stored in the outbox first; delivered now if possible)
    Send {
        /// The recipient's ID or contact name
        #[arg(value_name = "ID|NAME", value_parser = crate::peer::parse)]
        to: Peer,
        /// The message text
        #[arg(value_name = "TEXT")]
        text: String,
        /// How long to wait for the recipient's acknowledgement (`20` = 20 s)
        #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_timeout, allow_hyphen_values = true)]
        timeout: Duration,
    },
    /// A terminal chat on the running daemon (`serve`): conversations,
    /// message requests, live delivery states, safety numbers
    Chat {
        /// Open the conversation with this contact or ID, composer focused
        #[arg(value_name = "NAME|ID", value_parser = crate::peer::parse)]
        peer: Option<Peer>,
    },
    /// Received messages, each verified
    Inbox {
        /// Keep printing messages as they arrive
        #[arg(long)]
        follow: bool,
        /// Only messages from IDs that are not contacts (first contact)
        #[arg(long, conflicts_with = "contacts")]
        requests: bool,
        /// Only messages from contacts
        #[arg(long)]
        contacts: bool,
    },
    /// Local names for IDs (never on chain), verification marks, blocking
    Contact {
        /// What to do.
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Show the safety number (and QR code) to compare with a peer out of band
    Verify {
        /// The peer's ID or contact name
        #[arg(value_name = "ID|NAME", value_parser = crate::peer::parse)]
        peer: Peer,
        /// Do not draw the QR code
        #[arg(long)]
        no_qr: bool,
    },
    /// Export this identity: the V3 keystore, or with --with-messages one
    /// encrypted archive of keystore and message store
    Export {
        /// Write here instead of stdout (required with --with-messages)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Include the message store (inbox, outbox, contacts)
        #[arg(long)]
        with_messages: bool,
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

/// `chain` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Show the pin (chain id, genesis hash, registry, code hash) and check
    /// the chain against it; pins on first use
    Pin {
        /// Re-pin to what the chain is now (after a deliberate change of chain
        /// or registry): replaces the recorded pin
        #[arg(long)]
        force: bool,
    },
}

/// `contact` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    /// Name an ID (or rename it)
    Add {
        /// A local name (1-64 characters, not starting with 0x)
        #[arg(value_name = "NAME", value_parser = parse_name)]
        name: String,
        /// The ID
        #[arg(value_name = "ID", value_parser = parse_id)]
        id: Address,
    },
    /// List contacts and blocked IDs
    List,
    /// Forget a contact (name, verified mark, block)
    Remove {
        /// Contact name or ID
        #[arg(value_name = "NAME|ID", value_parser = crate::peer::parse)]
        peer: Peer,
    },
    /// Mark a contact verified, after comparing the safety number (`chainmail verify`)
    Verify {
        /// Contact name or ID
        #[arg(value_name = "NAME|ID", value_parser = crate::peer::parse)]
        peer: Peer,
    },
    /// Refuse sessions from this ID at the handshake
    Block {
        /// Contact name or ID
        #[arg(value_name = "NAME|ID", value_parser = crate::peer::parse)]
        peer: Peer,
    },
    /// Accept sessions from this ID again
    Unblock {
        /// Contact name or ID
        #[arg(value_name = "NAME|ID", value_parser = crate::peer::parse)]
        peer: Peer,
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

/// Contact names are checked before anything is opened.
fn parse_name(text: &str) -> Result<String, chainmail_node::contacts::NameError> {
    chainmail_node::contacts::check_name(text).map(|()| text.to_owned())
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

    #[test]
    fn send_timeout_takes_bare_seconds() {
        let id = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
        for (arg, secs) in [("20", 20), ("20s", 20), ("1m", 60)] {
            let cli = Cli::try_parse_from(["chainmail", "send", id, "hi", "--timeout", arg])
                .unwrap_or_else(|e| panic!("--timeout {arg}: {e}"));
            match cli.command {
                Command::Send { timeout, .. } => {
                    assert_eq!(timeout, Duration::from_secs(secs), "--timeout {arg}")
                }
                _ => panic!("not send"),
            }
        }
    }
}
