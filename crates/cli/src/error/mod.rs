//! What the binary reports when a command fails: a named kind (the `kind` of
//! a `--json` error), one line of message ending in what to do, and the exit
//! code scripts test. Errors of the other crates are classified in
//! [`kinds`], once (an explicit table per enum, `From` for each), so every
//! command reports them the same way and uses `?` on them.

mod kinds;

pub use kinds::{Kind, clap_kind};

use std::fmt;
use std::process::ExitCode;

/// Exit codes (issue 6; sysexits.h values where one fits). Part of the
/// interface: scripts depend on them.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// An error; the message says what to do.
    pub const ERROR: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// EX_UNAVAILABLE: refused for good (recipient revoked, unknown, expired).
    pub const REJECTED: u8 = 69;
    /// EX_TEMPFAIL: queued, will be retried.
    pub const QUEUED: u8 = 75;
}

/// A failed command, as the user sees it.
#[derive(Debug)]
pub struct Failure {
    /// Stable name of what went wrong (`AlreadyRegistered`, `WrongPassword`…).
    pub kind: String,
    /// What went wrong.
    pub message: String,
    /// What to do about it (may be empty when the message already says).
    pub hint: String,
    /// The process exit code.
    pub code: u8,
}

impl Failure {
    /// A general error (exit 1).
    pub fn new(
        kind: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Failure {
            kind: kind.into(),
            message: message.into(),
            hint: hint.into(),
            code: exit::ERROR,
        }
    }

    /// A usage error (exit 2).
    pub fn usage(
        kind: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Failure {
            code: exit::USAGE,
            ..Failure::new(kind, message, hint)
        }
    }

    /// The same failure with another hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// The same failure with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The one line shown to a human (without the `error: ` prefix).
    pub fn line(&self) -> String {
        let message = one_line(&self.message);
        if self.hint.is_empty() {
            message
        } else {
            format!("{message} — {}", one_line(&self.hint))
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    /// `{"error": {"kind": …, "message": …}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "kind": self.kind, "message": self.line() } })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

impl std::error::Error for Failure {}

/// Collapses whitespace runs (newlines included) so a message is one line
/// whatever the error's `Display` did; long chains of causes stay readable.
/// Error text quotes RPC providers, files and peers, so what is left is
/// made safe for a terminal ([`crate::output::printable`]): an escape
/// sequence or a bidi override in a provider's error cannot rewrite the
/// screen.
pub fn one_line(text: &str) -> String {
    crate::output::printable(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_hint() {
        let f = Failure::new("X", "bad\nthing  here", "do this");
        assert_eq!(f.line(), "bad thing here — do this");
        assert_eq!(f.to_json()["error"]["kind"], "X");
    }

    #[test]
    fn quoted_text_cannot_drive_the_terminal() {
        // As an RPC provider or a file could word its error.
        let f = Failure::new(
            "Rpc",
            "node said \u{1b}[2J\u{1b}[1A ok \u{202e}gnp.exe",
            "retry",
        );
        let line = f.line();
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{202e}'),
            "{line}"
        );
        assert_eq!(
            line,
            "node said \\u{1b}[2J\\u{1b}[1A ok \\u{202e}gnp.exe — retry"
        );
    }
}
