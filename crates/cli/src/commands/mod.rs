//! The commands, one module per group: `identity` (init, id), `registry`
//! (register, endpoint, renew, revoke), `lookup`, `deploy`, `chain` (pin), `relay`
//! (submit), `messaging` (serve, send, inbox, outbox), `contacts` (contact
//! …, verify), `transfer` (export) and `completions`. Each takes the run's
//! [`Context`] and returns the exit code of a command that ran (0, or 69/75
//! for `send`) or a [`Failure`].
//!
//! Commands never import each other: what two of them share lives in a
//! module outside `commands/` (`context`, `output`, `signed_file`, `clock`,
//! `peer`). This file only dispatches.

pub mod chain;
mod completions;
pub mod contacts;
pub mod deploy;
pub mod identity;
pub mod lookup;
pub mod messaging;
pub mod registry;
pub mod relay;
pub mod transfer;

use contacts::Change;

use crate::cli::{ChainCommand, Cli, Command, ContactCommand};
use crate::context::Context;
use crate::error::Failure;
use crate::settings::Settings;
use crate::signed_file::Action;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    let Cli { global, command } = cli;
    match command {
        Command::Completions { shell } => completions::run(shell),
        command => {
            let ctx = Context::new(Settings::resolve(&global)?);
            dispatch(&ctx, command)
        }
    }
}

fn dispatch(ctx: &Context, command: Command) -> Result<u8, Failure> {
    match command {
        Command::Init { from_keystore } => identity::init(ctx, from_keystore.as_deref()),
        Command::Id => identity::id(ctx),
        Command::Register {
            valid_for,
            endpoint,
            sign_only,
        } => registry::register(ctx, valid_for, endpoint.as_deref(), sign_only),
        Command::Endpoint {
            endpoint,
            sign_only,
        } => registry::endpoint(ctx, &endpoint, sign_only),
        Command::Lookup { id } => lookup::lookup(ctx, &id),
        Command::Renew {
            valid_for,
            sign_only,
        } => registry::renew(ctx, valid_for, sign_only),
        Command::Revoke {
            yes,
            from_file: Some(file),
            sign_only: false,
        } => {
            if !yes {
                registry::confirm_revocation()?;
            }
            relay::submit(ctx, &file, Some(Action::Revoke))
        }
        Command::Revoke { yes, sign_only, .. } => registry::revoke(ctx, yes, sign_only),
        Command::Submit { file } => relay::submit(ctx, &file, None),
        Command::Deploy => deploy::deploy(ctx),
        Command::Chain {
            command: ChainCommand::Pin { force },
        } => chain::pin(ctx, force),
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
            messaging::inbox(ctx, follow, filter)
        }
        Command::Send { to, text, timeout } => messaging::send(ctx, &to, &text, timeout),
        Command::Serve {
            listen,
            contacts_only,
            verify_on_chain,
            no_api,
        } => messaging::serve(
            ctx,
            listen.as_deref(),
            contacts_only,
            verify_on_chain,
            !no_api,
        ),
        Command::Contact { command } => match command {
            ContactCommand::Add { name, id } => contacts::change(ctx, Change::Add(&name, id)),
            ContactCommand::List => contacts::list(ctx),
            ContactCommand::Remove { peer } => contacts::change(ctx, Change::Remove(&peer)),
            ContactCommand::Verify { peer } => contacts::change(ctx, Change::Verify(&peer)),
            ContactCommand::Block { peer } => contacts::change(ctx, Change::Block(&peer, true)),
            ContactCommand::Unblock { peer } => contacts::change(ctx, Change::Block(&peer, false)),
        },
        Command::Verify { peer, no_qr } => contacts::verify(ctx, &peer, !no_qr),
        Command::Export { out, with_messages } => {
            transfer::export(ctx, out.as_deref(), with_messages)
        }
        Command::Outbox => messaging::outbox(ctx),
        Command::Chat { peer } => crate::chat::run(ctx, peer.as_ref()),
        // Dispatched before the settings are read (the demo by `main`).
        Command::Completions { .. } | Command::Demo => Err(Failure::new(
            "Internal",
            "command dispatched twice",
            "report this bug",
        )),
    }
}
