//! `chainmail`: the command line over the node crate (issue 6, "Command
//! line"). This file parses the arguments, sets up logging, runs the command
//! and turns its outcome into stdout text or JSON and an exit code; the
//! commands themselves live in `commands/`, the narrated paper flow in `demo/`.

mod api;
mod chat;
mod cli;
mod clock;
mod commands;
mod context;
mod daemon;
mod demo;
mod duration;
mod error;
mod output;
mod password;
mod peer;
mod progress;
mod safety;
mod settings;
mod signed_file;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::Cli;
use crate::error::{Failure, Kind, clap_kind, exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // `serve` is a daemon whose log is its output: info by default. The
    // demo narrates every outcome itself: only errors unless -v.
    let level = match cli.command {
        cli::Command::Serve { .. } => cli.global.verbose.saturating_add(1),
        cli::Command::Demo if cli.global.verbose == 0 => LEVEL_QUIET,
        // Log lines on stderr would scribble over the chat's screen.
        cli::Command::Chat { .. } => LEVEL_OFF,
        _ => cli.global.verbose,
    };
    init_logging(level);
    let json = cli.global.json;
    // The demo runs the commands' building blocks itself: it sits beside
    // `commands`, never under it, so neither imports the other both ways.
    let result = match cli.command {
        cli::Command::Demo => demo::run(json),
        _ => commands::run(cli),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            report_failure(&failure, json);
            failure.exit_code()
        }
    }
}

/// Prints a failure: `{"error": …}` on stdout with `--json`, else one line
/// on stderr.
pub fn report_failure(failure: &Failure, json: bool) {
    if json {
        println!("{}", failure.to_json());
    } else {
        eprintln!("error: {}", failure.line());
    }
}

/// clap's errors: help and version print as usual; everything else becomes a
/// one-line usage failure (exit 2) named after the value's own error where
/// there is one (`BadChecksum`, `DurationTooLong`…).
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
        _ => {}
    }
    use std::error::Error as _;
    let kind = match e.source() {
        Some(src) => {
            if let Some(d) = src.downcast_ref::<duration::DurationError>() {
                Kind::kind(d).to_owned()
            } else if let Some(a) = src.downcast_ref::<chainmail_core::AddressParseError>() {
                a.kind().to_owned()
            } else if let Some(n) = src.downcast_ref::<chainmail_node::contacts::NameError>() {
                n.kind().to_owned()
            } else {
                clap_kind(e.kind()).to_owned()
            }
        }
        None => clap_kind(e.kind()).to_owned(),
    };
    // clap's message is its first paragraph (e.g. "the following required
    // arguments were not provided: <ID>"); usage and tips follow a blank line.
    let rendered = e.render().to_string();
    let paragraph = rendered.trim_start().split("\n\n").next().unwrap_or("");
    let message = paragraph.strip_prefix("error: ").unwrap_or(paragraph);
    let message = if message.trim().is_empty() {
        "invalid command line"
    } else {
        message
    };
    // Our own value errors already end in what to do.
    let hint = if message.contains(" — ") {
        ""
    } else {
        "see `chainmail --help`"
    };
    let failure = Failure::usage(kind, message, hint);
    let json = std::env::args_os().any(|a| a == "--json");
    report_failure(&failure, json);
    ExitCode::from(exit::USAGE)
}

/// Logs go to stderr: `RUST_LOG` if set, else warnings, raised by `-v`.
/// `init_logging` level showing errors only.
const LEVEL_QUIET: u8 = u8::MAX;
/// `init_logging` level showing nothing.
const LEVEL_OFF: u8 = u8::MAX - 1;

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        LEVEL_QUIET => "error",
        LEVEL_OFF => "off",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
