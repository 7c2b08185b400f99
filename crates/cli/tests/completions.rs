//! `chainmail completions bash|zsh|fish` prints a script naming the
//! subcommands; an unknown shell is a usage error; `--help` lists the exit codes.

mod common;

use common::{bare_command, run};

#[test]
fn completion_scripts_for_each_shell() {
    let root = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(bare_command(root.path()).args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["chainmail", "register", "lookup", "inbox"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    let out = run(bare_command(root.path()).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_documents_the_exit_codes() {
    let root = tempfile::tempdir().unwrap();
    let out = run(bare_command(root.path()).arg("--help"));
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in ["69", "75", "--json", "CHAINMAIL_HOME"] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
