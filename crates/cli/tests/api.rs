//! The daemon API (issue 16) against real `chainmail serve` processes:
//! driven by a client in another language (Python's standard library,
//! `tests/api/client.py`) and by raw sockets that misbehave. Results are
//! checked against the CLI's JSON Schemas and against the CLI's own output
//! for the same home.

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{World, assert_schema};
use serde_json::{Value, json};

/// The bound on any wait: stops a broken build from hanging, not a timing
/// assertion.
const WAIT: Duration = Duration::from_secs(120);

/// `tests/api/client.py` connected to a socket, driven line by line.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pending: VecDeque<Value>,
    next_id: u64,
}

impl Client {
    fn connect(socket: &Path) -> Client {
        Self::spawn(Command::new("python3").arg(script()).arg(socket))
    }

    fn spawn(cmd: &mut Command) -> Client {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Client {
            stdin: child.stdin.take(),
            child,
            lines,
            pending: VecDeque::new(),
            next_id: 1,
        }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("a line from the client")
    }

    fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The whole response to `method(params)`; notifications read meanwhile
    /// are kept for [`Client::notification`].
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send_line(&req.to_string());
        loop {
            let line = self.line();
            assert_ne!(line, "EOF", "the daemon closed the connection");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("id").is_some() {
                assert_eq!(v["id"], id, "{v}");
                assert_eq!(v["jsonrpc"], "2.0");
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// The result of `method(params)`; panics on an error response.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let v = self.request(method, params);
        assert!(v.get("error").is_none(), "{method} failed: {v}");
        v["result"].clone()
    }

    /// The error of `method(params)`: (code, data.kind).
    fn error(&mut self, method: &str, params: Value) -> (i64, String) {
        let v = self.request(method, params);
        error_of(&v)
    }

    fn notification(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        let line = self.line();
        assert_ne!(line, "EOF", "the daemon closed the connection");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("id").is_none(), "a response nobody asked for: {v}");
        v
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/client.py")
}

fn error_of(v: &Value) -> (i64, String) {
    let e = &v["error"];
    assert!(e.is_object(), "expected an error: {v}");
    assert!(e["message"].is_string(), "{v}");
    (
        e["code"].as_i64().unwrap(),
        e["data"]["kind"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `params` minus the event's `cursor`, checked against the CLI's schema
/// for the same message; returns the cursor.
fn event(n: &Value, method: &str, def: &str) -> (i64, Value) {
    assert_eq!(n["jsonrpc"], "2.0", "{n}");
    assert_eq!(n["method"], method, "{n}");
    let mut params = n["params"].clone();
    let cursor = params
        .as_object_mut()
        .unwrap()
        .remove("cursor")
        .and_then(|c| c.as_i64())
        .expect("cursor");
    common::assert_def(def, &params);
    (cursor, params)
}

/// Starts `serve` for `name`; its process, the API socket and the endpoint.
fn serve(w: &World, name: &str) -> (common::Proc, PathBuf) {
    let p = w.spawn(name, &["serve", "--listen", "127.0.0.1:0"]);
    let first = p.next_json();
    assert_schema("serve", &first);
    let bound = first["listen"].as_str().unwrap().to_owned();
    w.json_ok(name, &["endpoint", &bound], "transaction");
    let socket = PathBuf::from(first["api"].as_str().expect("the API socket"));
    assert_eq!(socket, w.home(name).join("api.sock"));
    (p, socket)
}

#[test]
fn a_python_client_sends_and_streams_events_and_resumes_from_its_cursor() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let (_a, a_sock) = serve(&w, "alice");
    let (_b, b_sock) = serve(&w, "bob");
    let mut a = Client::connect(&a_sock);
    let mut b = Client::connect(&b_sock);

    let status = a.call("status", json!({}));
    assert_eq!(status["id"], alice.as_str(), "{status}");
    assert_eq!(status["version"], "chainmail-api/1");
    assert_eq!(status["api"], a_sock.display().to_string());

    let sub_b = b.call("subscribe", json!({}));
    a.call("subscribe", json!({}));
    let sent = a.call(
        "send",
        json!({ "to": bob, "body": "hello over the API", "timeout": 30 }),
    );
    assert_schema("send", &sent);
    assert_eq!(sent["status"], "delivered", "{sent}");

    let (c1, m) = event(&b.notification(), "message.received", "message");
    assert!(c1 > sub_b["cursor"].as_i64().unwrap());
    assert_eq!(
        (m["from"].as_str(), m["body"].as_str()),
        (Some(&alice[..]), Some("hello over the API"))
    );
    assert_eq!(m["message_id"], sent["message_id"]);
    let (_, d) = event(&a.notification(), "message.delivered", "outbox_message");
    assert_eq!(
        (d["message_id"].clone(), d["status"].as_str()),
        (sent["message_id"].clone(), Some("delivered"))
    );

    // Bob's inbox through the API is what `chainmail inbox --json` prints.
    let mut page = b.call("inbox", json!({}));
    assert!(page.as_object_mut().unwrap().remove("next_after").is_some());
    assert_schema("inbox", &page);
    assert_eq!(page, w.json_ok("bob", &["inbox"], "inbox"));
    assert_eq!(
        a.call("outbox", json!({})),
        w.json_ok("alice", &["outbox"], "outbox")
    );

    // Bob's client goes away; two messages arrive meanwhile; a new client
    // resumes from the cursor and gets both, in order, once (the next event
    // after them is the third message sent after reconnecting).
    drop(b);
    for body in ["while away 1", "while away 2"] {
        let r = a.call("send", json!({ "to": bob, "body": body }));
        assert_eq!(r["status"], "delivered", "{r}");
    }
    let mut b = Client::connect(&b_sock);
    let resumed = b.call("subscribe", json!({ "cursor": c1 }));
    assert_eq!(resumed["cursor"], c1);
    let r = a.call("send", json!({ "to": bob, "body": "after" }));
    assert_eq!(r["status"], "delivered", "{r}");
    let bodies: Vec<String> = (0..3)
        .map(|_| {
            event(&b.notification(), "message.received", "message").1["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(bodies, ["while away 1", "while away 2", "after"]);

    // Contacts and the safety number.
    let added = b.call("contacts.add", json!({ "name": "alice", "id": alice }));
    assert_schema("contact", &added);
    let list = b.call("contacts.list", json!({}));
    assert_eq!(list, w.json_ok("bob", &["contact", "list"], "contacts"));
    let sn = b.call("safety_number", json!({ "peer": "alice" }));
    assert_schema("verify", &sn);
    assert_eq!(sn, w.json_ok("bob", &["verify", "alice"], "verify"));
    let verified = b.call("contacts.verify", json!({ "peer": "alice" }));
    assert_eq!(verified["verified"], true);
    let looked = b.call("lookup", json!({ "id": "alice" }));
    assert_schema("lookup", &looked);
    assert_eq!(looked["valid"], true);

    // Errors carry the standard codes and the CLI's kinds.
    assert_eq!(a.error("nope", json!({})).0, -32601);
    assert_eq!(a.error("send", json!({ "to": bob, "body": 5 })).0, -32602);
    assert_eq!(
        a.error("send", json!({ "to": bob, "body": "x", "extra": 1 }))
            .0,
        -32602
    );
    assert_eq!(
        a.error("send", json!({ "to": bob, "body": "x", "timeout": -1 }))
            .0,
        -32602
    );
    assert_eq!(a.error("inbox", json!({ "limit": 0 })).0, -32602);
    assert_eq!(
        a.error("send", json!({ "to": "0x1234", "body": "x" })).0,
        -32602
    );
    assert_eq!(
        a.error("send", json!({ "to": "nobody", "body": "x" })),
        (-32000, "UnknownContact".to_owned())
    );
    assert_eq!(
        a.error("send", json!({ "to": alice, "body": "x" })),
        (-32000, "SendToSelf".to_owned())
    );
    assert_eq!(
        a.error("subscribe", json!({})).1,
        "InvalidRequest",
        "a second subscribe"
    );
    let mut fresh = Client::connect(&a_sock);
    assert_eq!(
        fresh.error("subscribe", json!({ "cursor": 1_000_000 })).0,
        -32602
    );
}

/// Reads one line from a raw client (bounded wait).
fn read_json(r: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).expect("a line from the daemon");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

fn raw(socket: &Path) -> (UnixStream, BufReader<UnixStream>) {
    let s = UnixStream::connect(socket).expect("connect to the API");
    s.set_read_timeout(Some(WAIT)).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

#[test]
fn bad_clients_get_errors_or_are_dropped_and_delivery_goes_on() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let (_a, a_sock) = serve(&w, "alice");
    let (_b, b_sock) = serve(&w, "bob");

    // Invalid JSON, a batch, a 100 MB line: each an error line, and the
    // connection still answers afterwards.
    let (mut s, mut r) = raw(&b_sock);
    s.write_all(b"{not json\n[]\n").unwrap();
    assert_eq!(error_of(&read_json(&mut r)).0, -32700);
    assert_eq!(error_of(&read_json(&mut r)).0, -32600);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        s.write_all(&chunk).unwrap();
    }
    s.write_all(b"\n{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"status\"}\n")
        .unwrap();
    assert_eq!(
        error_of(&read_json(&mut r)),
        (-32600, "InvalidRequest".to_owned())
    );
    let v = read_json(&mut r);
    assert_eq!(v["id"], 9, "{v}");
    assert!(v["result"]["id"].is_string(), "{v}");
    // A notification (no id) gets no response: the next line answers id 10.
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"status\"}\n{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"status\"}\n").unwrap();
    assert_eq!(read_json(&mut r)["id"], 10);
    drop((s, r));

    // 100 clients connect and leave, some mid-request.
    for i in 0..100 {
        let (mut s, mut r) = raw(&b_sock);
        if i % 2 == 0 {
            s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n")
                .unwrap();
            assert_eq!(read_json(&mut r)["id"], 1);
        } else {
            s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"meth")
                .unwrap();
        }
    }
    // Once the daemon has seen them go (its `status` counts clients), more
    // than MAX_CLIENTS at once: all 64 are served, the 65th is refused by name.
    let mut probe = Client::connect(&b_sock);
    while probe.call("status", json!({}))["clients"] != 1 {
        std::thread::yield_now();
    }
    drop(probe);
    let mut held: Vec<_> = (0..63).map(|_| raw(&b_sock)).collect();
    let mut last = Client::connect(&b_sock);
    assert_eq!(last.call("status", json!({}))["clients"], 64);
    let (_s, mut r) = raw(&b_sock);
    assert_eq!(error_of(&read_json(&mut r)).1, "TooManyClients");
    let (s, r) = held.last_mut().unwrap();
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"status\"}\n")
        .unwrap();
    assert_eq!(read_json(r)["id"], 2);
    drop((held, last));

    // A subscriber of Bob's daemon that never reads while ~9 MB of events
    // arrive: the daemon drops it (it does not buffer them all) and Bob's
    // deliveries all complete meanwhile, seen by a subscriber that reads.
    let (mut stuck, mut stuck_r) = raw(&b_sock);
    stuck
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\"}\n")
        .unwrap();
    assert!(read_json(&mut stuck_r)["result"]["cursor"].is_i64());
    let mut reader = Client::connect(&b_sock);
    reader.call("subscribe", json!({}));
    // Alice is a contact: a stranger's messages are capped (issue 13).
    reader.call("contacts.add", json!({ "name": "alice", "id": alice }));
    let mut a = Client::connect(&a_sock);
    let body = "z".repeat(30_000);
    let flood = 300;
    for _ in 0..flood {
        let r = a.call("send", json!({ "to": bob, "body": body }));
        assert_eq!(r["status"], "delivered", "{r}");
    }
    for _ in 0..flood {
        event(&reader.notification(), "message.received", "message");
    }
    // The stuck client, read now: what was queued, then (if the daemon
    // could still write it) the notice, then the end — never all 300.
    let mut received = 0;
    let mut last = Value::Null;
    loop {
        let mut line = String::new();
        if stuck_r
            .read_line(&mut line)
            .expect("the daemon closes the stuck client")
            == 0
        {
            break;
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            // A line cut by the daemon's write timeout ends the stream.
            assert_eq!(stuck_r.read(&mut [0u8; 1]).unwrap(), 0);
            break;
        };
        if v["method"] == "message.received" {
            received += 1;
        }
        last = v;
    }
    assert!(
        received < flood,
        "the stuck subscriber got all {received} events"
    );
    if last["method"] == "subscription.dropped" {
        assert_eq!(last["params"]["reason"], "too_slow", "{last}");
    }
}
