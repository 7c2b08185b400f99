//! The commands, one module per group: `identity` (init, id), `registry`
//! (register, endpoint, lookup, renew, revoke, deploy), `messaging` (serve,
//! send, inbox, outbox) and `completions`. Each returns the exit code of a command
//! that ran (0, or 69/75 for `send`) or a [`Failure`].

pub mod chain;
mod completions;
pub mod identity;
pub mod messaging;
pub mod registry;

use crate::cli::{Cli, Command};
use crate::error::Failure;
use crate::settings::Settings;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    let Cli { global, command } = cli;
    match command {
        Command::Completions { shell } => completions::run(shell),
        Command::Demo => crate::demo::run(global.json),
        command => {
            let settings = Settings::resolve(&global)?;
            match command {
                Command::Init { from_keystore } => {
                    identity::init(&settings, from_keystore.as_deref())
                }
                Command::Id => identity::id(&settings),
                Command::Register {
                    valid_for,
                    endpoint,
                } => registry::register(&settings, valid_for, endpoint.as_deref()),
                Command::Endpoint { endpoint } => registry::endpoint(&settings, &endpoint),
                Command::Lookup { id } => registry::lookup(&settings, id),
                Command::Renew { valid_for } => registry::renew(&settings, valid_for),
                Command::Revoke { yes, certificate } => {
                    registry::revoke(&settings, yes, certificate.as_deref())
                }
                Command::Deploy => registry::deploy(&settings),
                Command::Inbox { follow } => messaging::inbox(&settings, follow),
                Command::Send { to, text, timeout } => {
                    messaging::send(&settings, to, &text, timeout)
                }
                Command::Serve {
                    listen,
                    verify_on_chain,
                } => messaging::serve(&settings, listen.as_deref(), verify_on_chain),
                Command::Outbox => messaging::outbox(&settings),
                Command::Completions { .. } | Command::Demo => unreachable_command(),
            }
        }
    }
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

/// `completions` and `demo` are dispatched before the settings are read.
fn unreachable_command() -> Result<u8, Failure> {
    Err(Failure::new(
        "Internal",
        "command dispatched twice",
        "report this bug",
    ))
}
