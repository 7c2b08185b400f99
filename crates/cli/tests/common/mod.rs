//! Test harness for the `chainmail` binary: every test runs the real binary
//! with a temporary world — identity homes, a temporary embedded chain file,
//! HOME and XDG directories — so nothing touches the user's real chain or
//! keys, and no CHAINMAIL_* variable of the caller leaks in.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use serde_json::Value;

/// The password every test identity uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A temporary world: a root dir holding homes and `chain.db`.
pub struct World {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
    /// Chain, registry and payer for an rpc world (anvil); None = embedded.
    pub rpc: Option<(String, String, String)>,
}

impl World {
    /// A fresh world on a temporary embedded chain.
    pub fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
            rpc: None,
        }
    }

    /// A fresh world on the node at `url` with the registry at `registry`,
    /// gas paid by `payer`.
    pub fn rpc(url: &str, registry: &str, payer: &str) -> World {
        World {
            rpc: Some((url.into(), registry.into(), payer.into())),
            ..World::new()
        }
    }

    /// `embedded:<dir>/chain.db`, or the rpc URL.
    pub fn chain(&self) -> String {
        match &self.rpc {
            Some((url, _, _)) => url.clone(),
            None => format!("embedded:{}", self.dir.path().join("chain.db").display()),
        }
    }

    /// The home named `name` (not created).
    pub fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `chainmail` command for identity `name` in this world, with the
    /// test password and chain in the environment and stdin closed.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = bare_command(self.dir.path());
        c.env("CHAINMAIL_HOME", self.home(name))
            .env("CHAINMAIL_CHAIN", self.chain())
            .env("CHAINMAIL_PASSWORD", PASSWORD);
        if let Some((_, registry, payer)) = &self.rpc {
            c.env("CHAINMAIL_REGISTRY", registry)
                .env("CHAINMAIL_PAYER_KEY", payer);
        }
        c
    }

    /// Runs `chainmail --json ARGS` for `name`, expects exit 0 and one JSON
    /// object on stdout, validated against schema definition `def`.
    pub fn json_ok(&self, name: &str, args: &[&str], def: &str) -> Value {
        let out = run(self.cmd(name).arg("--json").args(args));
        assert_eq!(
            out.status.code(),
            Some(0),
            "chainmail {args:?} failed: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v = one_json(&out);
        assert_schema(def, &v);
        v
    }

    /// `init` then `register` for `name`; returns the ID.
    pub fn registered(&self, name: &str) -> String {
        let id = self.json_ok(name, &["init"], "identity")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        self.json_ok(name, &["register", "--valid-for", "30d"], "register");
        id
    }

    /// The one revocation certificate in `name`'s home
    /// (`revocation-<chain id>-<registry>.json`); panics unless there is
    /// exactly one.
    pub fn revocation(&self, name: &str) -> PathBuf {
        let files = revocations(&self.home(name));
        assert_eq!(
            files.len(),
            1,
            "revocation certificates in {name}'s home: {files:?}"
        );
        files.into_iter().next().unwrap()
    }
}

/// The revocation certificates in `home`, by name.
pub fn revocations(home: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(home)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("revocation-") && n.ends_with(".json"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The binary with a clean environment rooted at `root` (HOME, XDG dirs).
pub fn bare_command(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chainmail"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CHAINMAIL_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.env("HOME", root.join("userhome"))
        .env("XDG_CONFIG_HOME", root.join("xdg-config"))
        .env("XDG_DATA_HOME", root.join("xdg-data"))
        .stdin(Stdio::null());
    c
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("chainmail runs")
}

/// stdout as exactly one JSON object on one line.
pub fn one_json(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8 stdout");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line of JSON, got {text:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/output.schema.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
            .expect("schema JSON")
    })
}

/// Checks `value` against `$defs/<def>` of `schema/output.schema.json`, and
/// against the root schema (which accepts any command's output).
pub fn assert_schema(def: &str, value: &Value) {
    assert_def(def, value);
    check(schema(), "the root schema", value);
}

/// Checks `value` against `$defs/<def>` only (a part of a command's
/// output, such as one outbox message in an API notification).
pub fn assert_def(def: &str, value: &Value) {
    let root = schema();
    assert!(
        root["$defs"].get(def).is_some(),
        "no $defs/{def} in the schema"
    );
    let mut one = root.clone();
    let obj = one.as_object_mut().expect("schema object");
    obj.remove("anyOf");
    obj.insert("$ref".into(), Value::String(format!("#/$defs/{def}")));
    check(&one, &format!("$defs/{def}"), value);
}

/// Checks `value` against the JSON Schema `schema`; `what` names it.
pub fn check(schema: &Value, what: &str, value: &Value) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{value} does not match {what}: {errors:?}"
    );
}

/// A child process killed and reaped on drop, so a failing test leaves no
/// process behind; its stdout is read line by line on a thread.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Spawns `cmd` with stdout piped.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// The next line. The bound only stops a broken build from hanging the
    /// test run; it is not a timing assertion.
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(120))
            .expect("a line from the child (it exited or hung)")
    }

    /// The next line as JSON.
    pub fn next_json(&self) -> Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl World {
    /// Spawns `chainmail --json ARGS` for `name`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        Proc::spawn(self.cmd(name).arg("--json").args(args))
    }

    /// Starts `serve` for `name` on `listen`, publishes the bound address
    /// as its endpoint, returns the process and the address.
    pub fn serve(&self, name: &str, listen: &str) -> (Proc, String) {
        let p = self.spawn(name, &["serve", "--listen", listen]);
        let first = p.next_json();
        assert_schema("serve", &first);
        let bound = first["listen"].as_str().expect("listen").to_owned();
        self.json_ok(name, &["endpoint", &bound], "transaction");
        (p, bound)
    }

    /// `send` from `from` to `to`; the exit code and the schema-checked report.
    pub fn send(&self, from: &str, to: &str, text: &str, timeout: &str) -> (Option<i32>, Value) {
        let out = run(self
            .cmd(from)
            .args(["--json", "send", to, text, "--timeout", timeout]));
        let v = one_json(&out);
        // A failed `send` prints an error object: say which, with its log.
        assert!(
            v.get("error").is_none(),
            "send failed (exit {:?}): {v}; stderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_schema("send", &v);
        (out.status.code(), v)
    }
}

/// anvil's first well-known development account (public test key).
pub const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// ANVIL_KEY's address: the payer of the rpc tests.
pub const ANVIL_PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// The payer's nonce on the node at `url` (`cast nonce`): unchanged means
/// nothing was sent.
pub fn payer_nonce(url: &str) -> String {
    let out = Command::new(foundry_binary("cast"))
        .args(["nonce", "--rpc-url", url, ANVIL_PAYER])
        .output()
        .expect("cast runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A Foundry platform binary (`anvil`, `cast`, `forge`) under node_modules,
/// installed by `npm ci` — never the npm wrapper, which always exits 0 and
/// orphans its child when killed.
pub fn foundry_binary(tool: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/@foundry-rs");
    let prefix = format!("{tool}-");
    std::fs::read_dir(&dir)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .map(|p| p.join("bin").join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("no {tool} binary under {}: run npm ci", dir.display()))
}

/// Starts anvil on a free loopback port; returns it (killed on drop) and
/// its URL once it prints that it listens. The port is picked by binding
/// port 0 and releasing it, so another process may take it first: anvil
/// then exits, and the next attempt picks another port.
pub fn start_anvil() -> (Proc, String) {
    start_anvil_with(&[])
}

/// Like [`start_anvil`], with extra anvil arguments (e.g. `--gas-limit 40000000`
/// for another genesis block with the same chain id).
pub fn start_anvil_with(extra: &[&str]) -> (Proc, String) {
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let anvil = Proc::spawn(
            Command::new(foundry_binary("anvil"))
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(extra),
        );
        // anvil prints a banner, then "Listening on 127.0.0.1:PORT" when
        // ready; a closed channel means it exited (the port was taken).
        loop {
            match anvil.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains("Listening on") => {
                    return (anvil, format!("http://127.0.0.1:{port}"));
                }
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("anvil did not start in 120 s"),
            }
        }
    }
    panic!("anvil could not bind a free loopback port in 5 attempts")
}
