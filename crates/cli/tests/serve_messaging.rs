//! Real `chainmail serve` processes on loopback (port 0, the bound port read
//! from their first `--json` line) messaging each other through the chain's
//! endpoints: delivered both ways (exit 0), read back with `inbox` and
//! `inbox --follow`; refused for good (exit 69) to revoked and unknown IDs;
//! queued (exit 75) while the recipient is down, then delivered by the
//! sender's `serve` once it is back.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{World, assert_schema, one_json, run};
use serde_json::Value;

/// A child process killed and reaped on drop, so a failing test leaves no
/// process behind.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Spawns `chainmail --json ARGS` for `name` with stdout read line by
    /// line on a thread.
    fn spawn(w: &World, name: &str, args: &[&str]) -> Proc {
        let mut child = w
            .cmd(name)
            .arg("--json")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chainmail");
        let stdout: ChildStdout = child.stdout.take().unwrap();
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

    /// The next JSON line. The bound only stops a broken build from hanging
    /// the test run; it is not a timing assertion.
    fn next_json(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(120))
            .expect("a line from the child (it exited or hung)");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` for `name` on `listen`, publishes the bound address as its
/// endpoint, returns the process and the address.
fn serve(w: &World, name: &str, listen: &str) -> (Proc, String) {
    let p = Proc::spawn(w, name, &["serve", "--listen", listen]);
    let first = p.next_json();
    assert_schema("serve", &first);
    let bound = first["listen"].as_str().unwrap().to_owned();
    w.json_ok(name, &["endpoint", &bound], "transaction");
    (p, bound)
}

fn send(w: &World, from: &str, to: &str, text: &str, timeout: &str) -> (Option<i32>, Value) {
    let out = run(w
        .cmd(from)
        .args(["--json", "send", to, text, "--timeout", timeout]));
    let v = one_json(&out);
    assert_schema("send", &v);
    (out.status.code(), v)
}

#[test]
fn two_serve_processes_message_each_other() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let (_alice_node, _) = serve(&w, "alice", "127.0.0.1:0");
    let (_bob_node, _) = serve(&w, "bob", "127.0.0.1:0");
    let follow = Proc::spawn(&w, "alice", &["inbox", "--follow"]);

    // Bob → Alice, and Alice → Bob while her own `serve` runs (two
    // processes on one home's store).
    let (code, v) = send(&w, "bob", &alice, "hello Alice", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );
    assert!(v["reason"].is_null());
    let (code, v) = send(&w, "alice", &bob, "hello Bob", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );

    // Alice's follower sees Bob's message as one bare object.
    let m = follow.next_json();
    assert_schema("message", &m);
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some(&bob[..]), Some(&alice[..]))
    );
    assert_eq!(m["body"], "hello Alice");

    // Bob's inbox holds exactly Alice's message, signed.
    let inbox = w.json_ok("bob", &["inbox"], "inbox");
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{inbox}");
    assert_eq!(msgs[0]["from"], alice.as_str());
    assert_eq!(msgs[0]["body"], "hello Bob");

    // Refused for good: a revoked recipient and an unknown one (exit 69).
    let carol = w.registered("carol");
    w.json_ok("carol", &["revoke", "--yes"], "transaction");
    let (code, v) = send(&w, "bob", &carol, "are you there?", "10s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(69), Some("rejected")),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains("revoked"), "{v}");
    let (code, v) = send(
        &w,
        "bob",
        "0x000000000000000000000000000000000000dEaD",
        "hi",
        "10s",
    );
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(69), Some("rejected")),
        "{v}"
    );
}

#[test]
fn queued_while_down_then_delivered_by_the_senders_serve() {
    let w = World::new();
    let alice = w.registered("alice");
    w.registered("bob");
    // Alice publishes an endpoint, then goes down.
    let (alice_node, alice_addr) = serve(&w, "alice", "127.0.0.1:0");
    drop(alice_node);

    let (code, v) = send(&w, "bob", &alice, "while you were out", "3s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(75), Some("queued")),
        "{v}"
    );
    assert!(v["reason"].is_string());
    let id = v["message_id"].as_str().unwrap().to_owned();

    // Bob's serve keeps retrying; Alice comes back at the same address.
    let (_bob_node, _) = serve(&w, "bob", "127.0.0.1:0");
    let alice_back = Proc::spawn(&w, "alice", &["serve", "--listen", &alice_addr]);
    assert_eq!(alice_back.next_json()["listen"], alice_addr.as_str());
    let follow = Proc::spawn(&w, "alice", &["inbox", "--follow"]);
    let m = follow.next_json();
    assert_eq!(m["message_id"], id.as_str());
    assert_eq!(m["body"], "while you were out");
}
