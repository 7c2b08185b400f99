//! `chainmail completions bash|zsh|fish`: the shell completion script on stdout.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, Shell};
use crate::error::{Failure, exit};

/// Prints the completion script for `shell`.
pub fn run(shell: Shell) -> Result<u8, Failure> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    // Generated into memory first: clap_complete panics on a closed pipe
    // (`chainmail completions bash | head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "chainmail", &mut script);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&script);
    let _ = out.flush();
    Ok(exit::OK)
}
