//! What the binary reports when a command fails: a named kind (the `kind` of
//! a `--json` error), one line of message ending in what to do, and the exit
//! code scripts test. Errors of the other crates are classified here, once,
//! so every command reports them the same way.

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
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The variant name of an error from its `Debug` form (`AlreadyRegistered(0x…)`
/// → `AlreadyRegistered`): the other crates' errors are enums of named
/// variants, and this names them without a table that would go stale.
pub fn variant_name(debug: &str) -> String {
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        "Error".to_owned()
    } else {
        name
    }
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
    fn variant_names() {
        assert_eq!(variant_name("AlreadyRegistered(0xab)"), "AlreadyRegistered");
        assert_eq!(variant_name("WrongPassword"), "WrongPassword");
        assert_eq!(variant_name("Io { kind: NotFound }"), "Io");
        assert_eq!(variant_name("\"text\""), "Error");
    }
}
