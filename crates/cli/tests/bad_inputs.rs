//! A catalogue of bad command-line inputs: each is run against the real
//! binary with and without `--json` and must give its documented exit code,
//! its named error kind, an `{"error": {kind, message}}` object matching the
//! schema, and a single `error: … — …` line on stderr (no stack trace).

mod common;

use std::process::Command;

use common::{World, assert_schema, one_json, run};

/// One bad input: a name, how to build the command, the expected exit code
/// and error kind.
struct Case {
    name: &'static str,
    code: i32,
    kind: &'static str,
    build: Box<dyn Fn(&Fixture) -> Command>,
}

/// Shared state: `alice` registered then revoked, `bob` registered, `carol`
/// initialised only, and a few files.
struct Fixture {
    w: World,
    alice: String,
    bob: String,
    garbage: std::path::PathBuf,
}

fn case(
    name: &'static str,
    code: i32,
    kind: &'static str,
    build: impl Fn(&Fixture) -> Command + 'static,
) -> Case {
    Case {
        name,
        code,
        kind,
        build: Box::new(build),
    }
}

fn with(mut c: Command, args: &[&str]) -> Command {
    c.args(args);
    c
}

fn catalogue() -> Vec<Case> {
    vec![
        case("ID with a bad EIP-55 checksum", 2, "BadChecksum", |f| {
            // Flip the case of the first letter of a checksummed ID.
            let mut id: Vec<char> = f.bob.chars().collect();
            let i = id
                .iter()
                .skip(2)
                .position(|c| c.is_ascii_alphabetic())
                .unwrap()
                + 2;
            id[i] = if id[i].is_ascii_uppercase() {
                id[i].to_ascii_lowercase()
            } else {
                id[i].to_ascii_uppercase()
            };
            with(f.w.cmd("bob"), &["lookup", &id.iter().collect::<String>()])
        }),
        case("ID of the wrong length", 2, "WrongLength", |f| {
            with(f.w.cmd("bob"), &["lookup", &f.bob[..41]])
        }),
        case("ID without 0x", 2, "MissingPrefix", |f| {
            with(f.w.cmd("bob"), &["lookup", &f.bob[2..]])
        }),
        case("ID with a non-hex digit", 2, "InvalidHex", |f| {
            with(
                f.w.cmd("bob"),
                &["lookup", &format!("0x{}", "g".repeat(40))],
            )
        }),
        case("send to a malformed ID", 2, "WrongLength", |f| {
            with(f.w.cmd("bob"), &["send", "0x1234", "hi"])
        }),
        case("unknown chain spec", 2, "UnknownChain", |f| {
            with(f.w.cmd("bob"), &["--chain", "ftp://x", "lookup", &f.bob])
        }),
        case("embedded: without a path", 2, "UnknownChain", |f| {
            let mut c = f.w.cmd("bob");
            c.env("CHAINMAIL_CHAIN", "embedded:")
                .args(["lookup", &f.bob]);
            c
        }),
        case("malformed duration", 2, "MalformedDuration", |f| {
            with(f.w.cmd("carol"), &["register", "--valid-for", "3x"])
        }),
        case("negative duration", 2, "MalformedDuration", |f| {
            with(f.w.cmd("carol"), &["register", "--valid-for", "-1d"])
        }),
        case("validity too long", 2, "DurationTooLong", |f| {
            with(f.w.cmd("carol"), &["renew", "--valid-for", "1000y"])
        }),
        case("validity too short", 2, "DurationTooShort", |f| {
            with(f.w.cmd("carol"), &["register", "--valid-for", "10m"])
        }),
        case("send timeout too long", 2, "DurationTooLong", |f| {
            with(f.w.cmd("bob"), &["send", &f.bob, "hi", "--timeout", "2h"])
        }),
        case("unknown subcommand", 2, "InvalidSubcommand", |f| {
            with(f.w.cmd("bob"), &["frobnicate"])
        }),
        case("unknown flag", 2, "UnknownArgument", |f| {
            with(f.w.cmd("bob"), &["lookup", "--frob", &f.bob])
        }),
        case("lookup without an ID", 2, "MissingRequiredArgument", |f| {
            with(f.w.cmd("bob"), &["lookup"])
        }),
        case("bad registry address", 2, "BadRegistryAddress", |f| {
            with(f.w.cmd("bob"), &["--registry", "0x1234", "lookup", &f.bob])
        }),
        case(
            "registry address that is not the embedded registry",
            1,
            "NoContract",
            |f| with(f.w.cmd("bob"), &["--registry", &f.bob, "lookup", &f.bob]),
        ),
        case(
            "deploy on the embedded chain",
            2,
            "EmbeddedHasRegistry",
            |f| with(f.w.cmd("bob"), &["deploy"]),
        ),
        case(
            "deploy on an rpc chain without a payer",
            2,
            "NoPayer",
            |f| with(f.w.cmd("bob"), &["--chain", "http://127.0.0.1:9", "deploy"]),
        ),
        case("unreachable rpc node", 1, "Unreachable", |f| {
            with(
                f.w.cmd("bob"),
                &[
                    "--chain",
                    "http://127.0.0.1:9",
                    "--registry",
                    &f.bob,
                    "lookup",
                    &f.bob,
                ],
            )
        }),
        case("missing home / no identity", 1, "NoIdentity", |f| {
            with(f.w.cmd("nobody"), &["id"])
        }),
        case("inbox of a home with no identity", 1, "NoIdentity", |f| {
            with(f.w.cmd("nobody"), &["inbox"])
        }),
        case("wrong password", 1, "WrongPassword", |f| {
            let mut c = f.w.cmd("bob");
            c.env("CHAINMAIL_PASSWORD", "wrong").arg("id");
            c
        }),
        case("no password and no terminal", 1, "PasswordRequired", |f| {
            let mut c = f.w.cmd("bob");
            c.env_remove("CHAINMAIL_PASSWORD").arg("id");
            c
        }),
        case("empty password for a new key", 1, "BadPassword", |f| {
            let mut c = f.w.cmd("dave");
            c.env("CHAINMAIL_PASSWORD", "").arg("init");
            c
        }),
        case("init twice", 1, "AlreadyInitialized", |f| {
            with(f.w.cmd("bob"), &["init"])
        }),
        case(
            "import of a missing keystore file",
            1,
            "KeystoreNotFound",
            |f| {
                with(
                    f.w.cmd("erin"),
                    &["init", "--from-keystore", "/nonexistent/key.json"],
                )
            },
        ),
        case(
            "import of a file that is not a keystore",
            1,
            "Malformed",
            |f| {
                with(
                    f.w.cmd("erin"),
                    &["init", "--from-keystore", f.garbage.to_str().unwrap()],
                )
            },
        ),
        case("register twice", 1, "AlreadyRegistered", |f| {
            with(f.w.cmd("bob"), &["register"])
        }),
        case("renew before registering", 1, "UnknownIdentity", |f| {
            with(f.w.cmd("carol"), &["renew"])
        }),
        case("renew after revoking", 1, "IdentityRevoked", |f| {
            with(f.w.cmd("alice"), &["renew"])
        }),
        case("re-register a revoked ID", 1, "AlreadyRegistered", |f| {
            with(f.w.cmd("alice"), &["register"])
        }),
        case(
            "revoke without --yes and no terminal",
            2,
            "ConfirmationRequired",
            |f| with(f.w.cmd("bob"), &["revoke"]),
        ),
        case(
            "revoke with a file that is not a certificate",
            1,
            "BadCertificate",
            |f| {
                with(
                    f.w.cmd("bob"),
                    &[
                        "revoke",
                        "--yes",
                        "--certificate",
                        f.garbage.to_str().unwrap(),
                    ],
                )
            },
        ),
        case("endpoint without a port", 2, "BadEndpoint", |f| {
            with(f.w.cmd("bob"), &["endpoint", "nohost"])
        }),
        case("endpoint with port 0", 2, "BadEndpoint", |f| {
            with(f.w.cmd("bob"), &["endpoint", "127.0.0.1:0"])
        }),
        case("endpoint over 255 bytes", 2, "BadEndpoint", |f| {
            with(
                f.w.cmd("bob"),
                &["endpoint", &format!("{}:1", "a".repeat(300))],
            )
        }),
        case("invalid config.toml", 1, "BadConfig", |f| {
            let home = f.w.home("frank");
            std::fs::create_dir_all(&home).unwrap();
            std::fs::write(home.join("config.toml"), "chain = [unterminated").unwrap();
            with(f.w.cmd("frank"), &["lookup", &f.bob])
        }),
        case(
            "a home whose name holds terminal escapes",
            1,
            "BadConfig",
            |f| {
                // Error text quotes the path: an escape sequence (clear the
                // screen, set the title) and a bidi override in a directory
                // name must not reach the terminal as they are.
                let name = "grace\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}gnp.exe";
                let home = f.w.home(name);
                std::fs::create_dir_all(&home).unwrap();
                std::fs::write(home.join("config.toml"), "chain = [unterminated").unwrap();
                with(f.w.cmd(name), &["lookup", &f.bob])
            },
        ),
        case("send to an unknown ID", 69, "rejected", |f| {
            with(
                f.w.cmd("bob"),
                &["send", "0x000000000000000000000000000000000000dEaD", "hi"],
            )
        }),
        case("send to a revoked ID", 69, "rejected", |f| {
            with(f.w.cmd("bob"), &["send", &f.alice, "hi"])
        }),
        case("send to oneself", 2, "SendToSelf", |f| {
            with(f.w.cmd("bob"), &["send", &f.bob, "hi"])
        }),
        case("send from a home with no identity", 1, "NoIdentity", |f| {
            with(f.w.cmd("nobody"), &["send", &f.bob, "hi"])
        }),
        case("payer key that is not a key", 2, "BadPayerKey", |f| {
            with(
                f.w.cmd("bob"),
                &[
                    "--chain",
                    "http://127.0.0.1:9",
                    "--payer-key",
                    "0x12",
                    "deploy",
                ],
            )
        }),
    ]
}

#[test]
fn each_bad_input_gives_its_exit_code_and_named_error() {
    let w = World::new();
    let alice = w.registered("alice");
    w.json_ok("alice", &["revoke", "--yes"], "transaction");
    let bob = w.registered("bob");
    w.json_ok("carol", &["init"], "identity");
    let garbage = w.dir.path().join("garbage.json");
    std::fs::write(&garbage, b"{\"not\": \"a keystore\"}").unwrap();
    let f = Fixture {
        w,
        alice,
        bob,
        garbage,
    };

    let cases = catalogue();
    assert!(cases.len() >= 30, "the catalogue has {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        // --json: the error object on stdout, matching the schema.
        let out = run((c.build)(&f).arg("--json"));
        let code = out.status.code();
        let v = one_json(&out);
        // 69 is an outcome of `send`, reported as such; the rest are errors.
        let refused = c.code == 69;
        assert_schema(if refused { "send" } else { "error" }, &v);
        let kind = if refused {
            v["status"].as_str()
        } else {
            v["error"]["kind"].as_str()
        }
        .unwrap_or("");
        if code != Some(c.code) || kind != c.kind {
            failures.push(format!(
                "{}: expected exit {} {}, got {:?} {} ({})",
                c.name, c.code, c.kind, code, kind, v["error"]["message"]
            ));
            continue;
        }
        if refused {
            assert!(v["reason"].is_string(), "{}: no reason in {v}", c.name);
            continue;
        }
        // Human: one `error: what — what to do` line on stderr, nothing on stdout.
        let out = run(&mut (c.build)(&f));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        if out.status.code() != Some(c.code)
            || !out.stdout.is_empty()
            || lines.len() != 1
            || !lines[0].starts_with("error: ")
            || !lines[0].contains(" — ")
            || stderr.contains("panicked")
            || stderr.contains(['\u{1b}', '\u{7}', '\u{202e}'])
        {
            failures.push(format!(
                "{}: human output {:?} (exit {:?})",
                c.name,
                stderr,
                out.status.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
