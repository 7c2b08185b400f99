//! Where the keystore password comes from: `CHAINMAIL_PASSWORD` when set
//! (scripts, tests, services), else a prompt on the terminal (confirmed
//! twice when a new keystore is written), else a named error — never a
//! command-line flag, which other users could read in the process list.

use std::io::IsTerminal;

use zeroize::Zeroizing;

use crate::error::Failure;

/// The environment variable holding the password.
pub const PASSWORD_ENV: &str = "CHAINMAIL_PASSWORD";

/// Longest password accepted, in bytes (bounded input, and scrypt gains
/// nothing from more).
const MAX_PASSWORD: usize = 1024;

/// Whether the password is asked twice (a new keystore) or once (opening one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Unlock an existing keystore.
    Unlock,
    /// Protect a new keystore: asked twice on a terminal.
    New,
}

/// Reads the password as described in the module doc.
pub fn read(purpose: Purpose) -> Result<Zeroizing<String>, Failure> {
    if let Some(value) = std::env::var_os(PASSWORD_ENV) {
        let value = Zeroizing::new(value.into_string().map_err(|_| {
            Failure::new(
                "BadPassword",
                format!("{PASSWORD_ENV} is not valid UTF-8"),
                "set it to a UTF-8 password",
            )
        })?);
        return check(value, purpose);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            "PasswordRequired",
            "the keystore password is needed and there is no terminal to ask it on",
            format!("set {PASSWORD_ENV}"),
        ));
    }
    let first = prompt("keystore password: ")?;
    if purpose == Purpose::New {
        let again = prompt("again: ")?;
        if first.as_bytes() != again.as_bytes() {
            return Err(Failure::new(
                "PasswordMismatch",
                "the two passwords differ",
                "run the command again and type the same password twice",
            ));
        }
    }
    check(first, purpose)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, Failure> {
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| {
            Failure::new(
                "PasswordRequired",
                format!("could not read the password from the terminal: {e}"),
                format!("set {PASSWORD_ENV}"),
            )
        })
}

fn check(password: Zeroizing<String>, purpose: Purpose) -> Result<Zeroizing<String>, Failure> {
    if password.len() > MAX_PASSWORD {
        return Err(Failure::new(
            "BadPassword",
            format!("the password is longer than {MAX_PASSWORD} bytes"),
            "use a shorter password",
        ));
    }
    if purpose == Purpose::New && password.is_empty() {
        return Err(Failure::new(
            "BadPassword",
            "an empty password would leave the key unprotected",
            format!("choose a password (or set {PASSWORD_ENV})"),
        ));
    }
    Ok(password)
}
