//! The daemon API (issue 16) against real `chainmail serve` processes:
//! driven by a client in another language (Python's standard library,
//! `tests/api/client.py`) and by raw sockets that misbehave. Results are
//! checked against the CLI's JSON Schemas and against the CLI's own output
//! for the same home.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use common::{Proc, World, assert_schema};
use serde_json::{Value, json};

/// The bound on any wait: stops a broken build from hanging, not a timing
/// assertion.
const WAIT: Duration = Duration::from_secs(120);

/// `schema/api.openrpc.json`, with its `$ref`s (to its own components and
/// to `output.schema.json`) resolvable by one validator.
struct Doc {
    /// `{"$defs": output.schema.json's ∪ the document's schemas}`.
    defs: Value,
    doc: Value,
}

/// The methods the tests called (every documented one must be).
static CALLED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn doc() -> &'static Doc {
    static DOC: OnceLock<Doc> = OnceLock::new();
    DOC.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        let read = |name: &str| -> Value {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            // One namespace for both files' definitions.
            let text = text
                .replace("output.schema.json#/$defs/", "#/$defs/")
                .replace("#/components/schemas/", "#/$defs/");
            serde_json::from_str(&text).unwrap()
        };
        let doc = read("api.openrpc.json");
        let mut defs = read("output.schema.json")["$defs"].clone();
        for (k, v) in doc["components"]["schemas"].as_object().unwrap() {
            assert!(defs.get(k).is_none(), "{k} is defined twice");
            defs[k] = v.clone();
        }
        Doc {
            defs: json!({ "$defs": defs }),
            doc,
        }
    })
}

impl Doc {
    fn validate(&self, what: &str, schema: &Value, value: &Value) {
        let mut root = self.defs.clone();
        for (k, v) in schema.as_object().unwrap() {
            root[k] = v.clone();
        }
        common::check(&root, &format!("{what}'s documented schema"), value);
    }

    /// Checks `result` against the documented result of `method`.
    fn result(&self, method: &str, result: &Value) {
        let m = self.doc["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == method)
            .unwrap_or_else(|| panic!("{method} is not documented"));
        let mut r = &m["result"];
        if let Some(name) = r["$ref"].as_str() {
            r = &self.doc["components"]["contentDescriptors"][name.rsplit('/').next().unwrap()];
        }
        self.validate(method, &r["schema"], result);
        CALLED.lock().unwrap().insert(method.to_owned());
    }

    /// Checks a notification against the documented one; its cursor.
    fn notification(&self, n: &Value) -> Option<i64> {
        let method = n["method"].as_str().expect("a notification's method");
        let d = self.doc["x-notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == method)
            .unwrap_or_else(|| panic!("notification {method} is not documented"));
        let mut params = n["params"].clone();
        let obj = params.as_object_mut().unwrap();
        let mut cursor = None;
        for added in d["x-added"].as_array().expect("x-added") {
            let v = obj.remove(added.as_str().unwrap());
            let v = v
                .and_then(|v| v.as_i64())
                .unwrap_or_else(|| panic!("{method} without {added}: {n}"));
            if added == "cursor" {
                cursor = Some(v);
            }
        }
        self.validate(method, &d["params"], &params);
        cursor
    }

    fn methods(&self) -> BTreeSet<String> {
        self.doc["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

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
        doc().result(method, &v["result"]);
        v["result"].clone()
    }

    /// The error of `method(params)`: (code, data.kind).
    fn error(&mut self, method: &str, params: Value) -> (i64, String) {
        let v = self.request(method, params);
        error_of(&v)
    }

    fn notification(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            doc().notification(&v);
            return v;
        }
        let line = self.line();
        assert_ne!(line, "EOF", "the daemon closed the connection");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("id").is_none(), "a response nobody asked for: {v}");
        doc().notification(&v);
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
    let obj = params.as_object_mut().unwrap();
    let cursor = obj
        .remove("cursor")
        .and_then(|c| c.as_i64())
        .expect("cursor");
    if method == "message.received" {
        assert!(obj.remove("seq").is_some_and(|s| s.is_i64()), "{n}");
    }
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
    assert_eq!(status["trust"], "embedded");
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

    // Back through history a page at a time (what `chat` scrolls through),
    // then a stranger's messages thrown away.
    let newest = b.call("inbox", json!({ "before": i64::MAX, "limit": 2 }));
    let texts = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(&newest), ["while away 2", "after"]);
    let older = b.call("inbox", json!({ "before": newest["next_before"] }));
    assert_eq!(texts(&older), ["hello over the API", "while away 1"]);
    let end = b.call("inbox", json!({ "before": older["next_before"] }));
    assert_eq!(
        (texts(&end).len(), &end["next_before"]),
        (0, &older["next_before"])
    );
    assert_eq!(
        b.error("inbox", json!({ "before": 5, "after": 1 })).0,
        -32602
    );
    let deleted = b.call("inbox.delete", json!({ "peer": alice }));
    assert_eq!(deleted["deleted"], 4, "{deleted}");
    assert_eq!(b.call("inbox", json!({}))["messages"], json!([]));
    let again = a.call("send", json!({ "to": bob, "body": "after the delete" }));
    assert_eq!(again["status"], "delivered", "{again}");
    let m = event(&b.notification(), "message.received", "message").1;
    assert_eq!(m["body"], "after the delete");

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
    let stranger = "0x000000000000000000000000000000000000dEaD";
    let blocked = b.call("contacts.block", json!({ "peer": stranger }));
    assert_eq!(
        (blocked["blocked"].clone(), blocked["name"].clone()),
        (json!(true), Value::Null)
    );
    let unblocked = b.call("contacts.unblock", json!({ "peer": stranger }));
    assert_eq!(unblocked["blocked"], false);
    b.call("contacts.remove", json!({ "peer": "alice" }));
    assert_eq!(
        b.call("contacts.list", json!({})),
        json!({ "contacts": [] })
    );
    assert_eq!(
        b.error("contacts.remove", json!({ "peer": "alice" })).1,
        "UnknownContact"
    );

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

    // A peer found revoked: one `peer.revoked`, however often it is found.
    let carol = w.registered("carol");
    w.json_ok("carol", &["revoke", "--yes"], "transaction");
    let until = |c: &mut Client, method: &str| -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let n = c.notification();
            let done = n["method"] == method;
            seen.push(n);
            if done {
                return seen;
            }
        }
    };
    for _ in 0..2 {
        let r = a.call("send", json!({ "to": carol, "body": "are you there?" }));
        assert_eq!(r["status"], "rejected", "{r}");
    }
    let revoked = until(&mut a, "peer.revoked").pop().unwrap();
    assert_eq!(
        (
            revoked["params"]["id"].as_str(),
            revoked["params"]["contact"].clone()
        ),
        (Some(&carol[..]), Value::Null),
        "{revoked}"
    );
    let marker = a.call("send", json!({ "to": bob, "body": "marker" }));
    let seen = until(&mut a, "message.delivered");
    assert_eq!(
        seen.last().unwrap()["params"]["message_id"],
        marker["message_id"]
    );
    assert!(
        seen.iter().all(|n| n["method"] != "peer.revoked"),
        "{seen:?}"
    );

    // Every documented method was called and answered as documented.
    let called = CALLED.lock().unwrap().clone();
    assert_eq!(called, doc().methods());
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

    // A client that half-closes after its request (as `socat` does at the
    // end of its input) still gets the answer, even to a `send`.
    let (mut s, mut r) = raw(&b_sock);
    let req = json!({ "jsonrpc": "2.0", "id": 3, "method": "send",
        "params": { "to": alice, "body": "half-closed", "timeout": 30 } });
    s.write_all(format!("{req}\n").as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let v = read_json(&mut r);
    assert_eq!(
        (v["id"].clone(), v["result"]["status"].clone()),
        (json!(3), json!("delivered")),
        "{v}"
    );
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
    // than MAX_CLIENTS at once: all 128 are served, the 129th is refused by name.
    let mut probe = Client::connect(&b_sock);
    while probe.call("status", json!({}))["clients"] != 1 {
        std::thread::yield_now();
    }
    // Each held client is answered once: the daemon has accepted it.
    let mut held: Vec<_> = (0..127)
        .map(|_| {
            let (mut s, mut r) = raw(&b_sock);
            s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n")
                .unwrap();
            assert_eq!(read_json(&mut r)["id"], 1);
            (s, r)
        })
        .collect();
    assert_eq!(probe.call("status", json!({}))["clients"], 128);
    let (_s, mut r) = raw(&b_sock);
    assert_eq!(error_of(&read_json(&mut r)).1, "TooManyClients");
    let (s, r) = held.last_mut().unwrap();
    s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"status\"}\n")
        .unwrap();
    assert_eq!(read_json(r)["id"], 2);
    drop((held, probe));

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

#[test]
fn one_daemon_per_home_and_a_killed_one_restarts_losing_no_event() {
    let w = World::new();
    w.registered("alice");
    let bob = w.registered("bob");
    let (alice_node, a_sock) = serve(&w, "alice");
    let (_b, _) = serve(&w, "bob");

    // A second `serve` for the same home is refused by name; the first
    // still answers.
    let out = common::run(
        w.cmd("alice")
            .args(["--json", "serve", "--listen", "127.0.0.1:0"]),
    );
    assert_eq!(out.status.code(), Some(1));
    let v = common::one_json(&out);
    assert_eq!(v["error"]["kind"], "AlreadyServing", "{v}");
    let mut a = Client::connect(&a_sock);
    let cursor = a.call("subscribe", json!({}))["cursor"].as_i64().unwrap();

    // kill -9: the socket stays behind. Meanwhile a one-shot `send` of the
    // same home (another process) delivers a message: its event is written
    // by that process.
    drop(a);
    drop(alice_node);
    assert!(
        std::fs::symlink_metadata(&a_sock).is_ok(),
        "kill -9 leaves the socket"
    );
    let (code, sent) = w.send("alice", &bob, "sent while the daemon was down", "30s");
    assert_eq!(code, Some(0), "{sent}");

    // The restarted daemon replaces the stale socket; a client resuming
    // from its cursor gets the delivery it missed.
    let (_alice_node, a_sock2) = serve(&w, "alice");
    assert_eq!(a_sock2, a_sock);
    let mut a = Client::connect(&a_sock);
    a.call("subscribe", json!({ "cursor": cursor }));
    let n = a.notification();
    let (_, d) = event(&n, "message.delivered", "outbox_message");
    assert_eq!(d["message_id"], sent["message_id"]);
}

#[test]
fn a_socket_path_that_is_not_a_stale_socket_of_ours_is_refused() {
    let w = World::new();
    w.registered("alice");
    let sock = w.home("alice").join("api.sock");
    let refused = |w: &World| {
        let out = common::run(
            w.cmd("alice")
                .args(["--json", "serve", "--listen", "127.0.0.1:0"]),
        );
        assert_eq!(out.status.code(), Some(1));
        common::one_json(&out)["error"]["kind"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A symbolic link (to a file the daemon would otherwise delete).
    let target = w.dir.path().join("precious");
    std::fs::write(&target, "keep me").unwrap();
    std::os::unix::fs::symlink(&target, &sock).unwrap();
    assert_eq!(refused(&w), "UnsafeSocketPath");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    // A regular file.
    std::fs::remove_file(&sock).unwrap();
    std::fs::write(&sock, "not a socket").unwrap();
    assert_eq!(refused(&w), "UnsafeSocketPath");
    // --no-api serves without touching it.
    let p = w.spawn("alice", &["serve", "--listen", "127.0.0.1:0", "--no-api"]);
    let first = p.next_json();
    assert_schema("serve", &first);
    assert!(first["api"].is_null(), "{first}");
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "not a socket");
}

/// Another user's process is refused by the daemon itself (SO_PEERCRED),
/// even when the socket's mode would let it connect. Needs root to run the
/// client as `nobody` (CI runs as root); skipped with a note otherwise.
#[test]
fn another_users_process_is_refused() {
    if running_as_root() {
        let w = World::new();
        w.registered("alice");
        let (_a, sock) = serve(&w, "alice");
        use std::os::unix::fs::PermissionsExt;
        for dir in [w.dir.path(), &w.home("alice")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        }
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
        // A copy nobody can read (the checkout may sit in a 0700
        // directory), run by a system python (a per-user install such as
        // pyenv's is out of another user's reach).
        let copy = w.dir.path().join("client.py");
        std::fs::copy(script(), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("a system python3");
        let c = Client::spawn(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", python])
                .arg(&copy)
                .arg(&sock),
        );
        let v: Value = serde_json::from_str(&c.line()).unwrap();
        assert_eq!(error_of(&v).1, "Forbidden", "{v}");
        assert_eq!(c.line(), "EOF");
        // The daemon's own user is still served.
        let mut me = Client::connect(&sock);
        me.call("status", json!({}));
    } else {
        eprintln!("skipped: needs root to run a client as another user");
    }
}

fn running_as_root() -> bool {
    // The owner of a file we just created is our effective uid.
    use std::os::unix::fs::MetadataExt;
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid() == 0
}

/// `chainmail --json ARGS` for `name`: through its daemon (no password in
/// the environment, so only the daemon can answer) or `--no-daemon`.
fn both_ways(w: &World, name: &str, args: &[&str]) -> (Option<i32>, Value, Value) {
    let through = common::run(
        w.cmd(name)
            .env_remove("CHAINMAIL_PASSWORD")
            .arg("--json")
            .args(args),
    );
    let direct = common::run(w.cmd(name).args(["--json", "--no-daemon"]).args(args));
    assert_eq!(
        through.status.code(),
        direct.status.code(),
        "{args:?}: exit codes differ; through the daemon: {} {}",
        String::from_utf8_lossy(&through.stdout),
        String::from_utf8_lossy(&through.stderr)
    );
    (
        through.status.code(),
        common::one_json(&through),
        common::one_json(&direct),
    )
}

#[test]
fn the_cli_prints_the_same_through_the_daemon_and_without_it() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let (_a, _) = serve(&w, "alice");
    let (_b, _) = serve(&w, "bob");
    // Through Alice's daemon, without a password: `inbox --follow` too.
    let follow = Proc::spawn(
        w.cmd("alice")
            .env_remove("CHAINMAIL_PASSWORD")
            .args(["--json", "inbox", "--follow"]),
    );
    let (code, sent) = w.send("bob", &alice, "hello", "30s");
    assert_eq!(code, Some(0), "{sent}");
    let m = follow.next_json();
    assert_schema("message", &m);
    assert_eq!(m["message_id"], sent["message_id"]);

    let same = |name: &str, args: &[&str], code: i32| {
        let (c, through, direct) = both_ways(&w, name, args);
        assert_eq!(c, Some(code), "{args:?}: {through}");
        assert_eq!(through, direct, "{args:?}");
        through
    };
    same("alice", &["inbox"], 0);
    same("alice", &["inbox", "--requests"], 0);
    same("alice", &["contact", "add", "bob", &bob], 0);
    same("alice", &["inbox", "--contacts"], 0);
    same("alice", &["contact", "list"], 0);
    same("alice", &["lookup", "bob"], 0);
    same(
        "alice",
        &["lookup", "0x000000000000000000000000000000000000dEaD"],
        0,
    );
    same("alice", &["verify", "bob"], 0);
    same("alice", &["contact", "verify", "bob"], 0);
    same(
        "alice",
        &[
            "contact",
            "block",
            "0x000000000000000000000000000000000000dEaD",
        ],
        0,
    );
    // An unblocked stranger keeps no record: each run reports a fresh one.
    let (c, mut through, mut direct) = both_ways(
        &w,
        "alice",
        &[
            "contact",
            "unblock",
            "0x000000000000000000000000000000000000dEaD",
        ],
    );
    assert_eq!(c, Some(0));
    assert!(through["added_at"].take().is_u64() && direct["added_at"].take().is_u64());
    assert_eq!(through, direct);
    // Errors: the same kind, message and exit code.
    let e = same("alice", &["send", "nobody", "hi"], 1);
    assert_eq!(e["error"]["kind"], "UnknownContact", "{e}");
    let e = same("alice", &["send", &alice, "hi"], 2);
    assert_eq!(e["error"]["kind"], "SendToSelf", "{e}");
    same("alice", &["contact", "remove", "carol"], 1);
    same(
        "alice",
        &["verify", "0x000000000000000000000000000000000000dEaD"],
        1,
    );
    // A send: the same status and exit code (each its own message id).
    for (to, code) in [
        ("bob", 0),
        ("0x000000000000000000000000000000000000dEaD", 69),
    ] {
        let (c, mut through, mut direct) = both_ways(&w, "alice", &["send", to, "both ways"]);
        assert_eq!(c, Some(code), "{through}");
        assert_schema("send", &through);
        through["message_id"].take();
        direct["message_id"].take();
        assert_eq!(through, direct);
    }
    same("alice", &["outbox"], 0);
    // A link to the daemon's socket is not the daemon: the command does it
    // itself (and, with no password here, says it needs one).
    let sock = w.home("alice").join("api.sock");
    let real = w.home("alice").join("api.real");
    std::fs::rename(&sock, &real).unwrap();
    std::os::unix::fs::symlink(&real, &sock).unwrap();
    let out = common::run(
        w.cmd("alice")
            .env_remove("CHAINMAIL_PASSWORD")
            .args(["--json", "outbox"]),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::one_json(&out)["error"]["kind"], "PasswordRequired");
    std::fs::remove_file(&sock).unwrap();
    std::fs::rename(&real, &sock).unwrap();

    // `contact remove` is not idempotent: each way removes a fresh contact.
    let removed: Vec<Value> = [true, false]
        .into_iter()
        .map(|through| {
            w.json_ok(
                "alice",
                &[
                    "contact",
                    "add",
                    "dave",
                    "0x000000000000000000000000000000000000bEEF",
                ],
                "contact",
            );
            let mut cmd = w.cmd("alice");
            if through {
                cmd.env_remove("CHAINMAIL_PASSWORD");
            } else {
                cmd.arg("--no-daemon");
            }
            let out = common::run(cmd.args(["--json", "contact", "remove", "dave"]));
            assert_eq!(out.status.code(), Some(0));
            let mut v = common::one_json(&out);
            assert_schema("contact", &v);
            assert!(v["added_at"].take().is_u64());
            v
        })
        .collect();
    assert_eq!(removed[0], removed[1]);
}
