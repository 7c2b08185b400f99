//! The commands, one module per group: `identity` (init, id), `registry`
//! (register, endpoint, lookup, renew, revoke, deploy), `messaging` (serve,
//! send, inbox, outbox) and `completions`. Each returns the exit code of a command
//! that ran (0, or 69/75 for `send`) or a [`Failure`].

pub mod chain;
mod completions;
pub mod contacts;
pub mod identity;
pub mod messaging;
pub mod registry;
pub mod relay;
pub mod transfer;

use crate::cli::{Cli, Command, ContactCommand};
use crate::error::Failure;
use crate::peer::Peer;
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
                    sign_only,
                } => registry::register(&settings, valid_for, endpoint.as_deref(), sign_only),
                Command::Endpoint {
                    endpoint,
                    sign_only,
                } => registry::endpoint(&settings, &endpoint, sign_only),
                Command::Lookup { id } => {
                    let id = match &id {
                        Peer::Id(a) => *a,
                        Peer::Name(_) => {
                            let secret = identity::unlock(&settings)?;
                            id.resolve(&messaging::open_store(&settings, &secret)?)?
                        }
                    };
                    registry::lookup(&settings, id)
                }
                Command::Renew {
                    valid_for,
                    sign_only,
                } => registry::renew(&settings, valid_for, sign_only),
                Command::Revoke {
                    yes,
                    from_file,
                    sign_only,
                } => registry::revoke(&settings, yes, from_file.as_deref(), sign_only),
                Command::Submit { file } => relay::submit(&settings, &file, None),
                Command::Deploy => registry::deploy(&settings),
                Command::Inbox {
                    follow,
                    requests,
                    contacts,
                } => {
                    let filter = if requests {
                        messaging::InboxFilter::Requests
                    } else if contacts {
                        messaging::InboxFilter::Contacts
                    } else {
                        messaging::InboxFilter::All
                    };
                    messaging::inbox(&settings, follow, filter)
                }
                Command::Send { to, text, timeout } => {
                    messaging::send(&settings, &to, &text, timeout)
                }
                Command::Serve {
                    listen,
                    contacts_only,
                    verify_on_chain,
                } => messaging::serve(&settings, listen.as_deref(), contacts_only, verify_on_chain),
                Command::Contact { command } => match command {
                    ContactCommand::Add { name, id } => contacts::add(&settings, &name, id),
                    ContactCommand::List => contacts::list(&settings),
                    ContactCommand::Remove { peer } => contacts::remove(&settings, &peer),
                    ContactCommand::Verify { peer } => contacts::mark_verified(&settings, &peer),
                    ContactCommand::Block { peer } => contacts::set_blocked(&settings, &peer, true),
                    ContactCommand::Unblock { peer } => {
                        contacts::set_blocked(&settings, &peer, false)
                    }
                },
                Command::Verify { peer, no_qr } => contacts::verify(&settings, &peer, !no_qr),
                Command::Export { out, with_messages } => {
                    transfer::export(&settings, out.as_deref(), with_messages)
                }
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
