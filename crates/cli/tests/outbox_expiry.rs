//! Expiry end to end with the real binary: a message queued to a recipient
//! that never comes up is marked `expired` by `serve`'s outbox worker once
//! it is older than `max_age_secs` (config.toml), and `outbox --json` shows
//! each state with its reason. Also: a text that is not UTF-8 is refused at
//! the command line, before anything is queued.

mod common;

use std::time::{Duration, Instant};

use common::{World, run};
use serde_json::Value;

fn outbox(w: &World, name: &str) -> Vec<Value> {
    w.json_ok(name, &["outbox"], "outbox")["messages"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn queued_too_long_is_marked_expired_and_reported() {
    let w = World::new();
    // Alice registers an endpoint where nothing listens: she never comes up.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    w.json_ok("alice", &["init"], "identity");
    let alice = w.json_ok(
        "alice",
        &["register", "--valid-for", "30d", "--endpoint", &closed],
        "register",
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = w.registered("carol");
    w.registered("bob");
    // Bob retries for one second only.
    std::fs::write(w.home("bob").join("config.toml"), "max_age_secs = 1\n").unwrap();

    assert!(outbox(&w, "bob").is_empty());
    let (code, v) = w.send("bob", &alice, "are you there?", "2s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(75), Some("queued")),
        "{v}"
    );
    let id = v["message_id"].as_str().unwrap().to_owned();
    // A delivered message for contrast: Carol is up.
    let (_carol_node, _) = w.serve("carol", "127.0.0.1:0");
    let (code, v) = w.send("bob", &carol, "hello Carol", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );

    let rows = outbox(&w, "bob");
    assert_eq!(rows.len(), 2);
    let queued = rows
        .iter()
        .find(|m| m["message_id"] == id.as_str())
        .unwrap();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["to"], alice.as_str());
    assert_eq!(queued["body"], "are you there?");
    assert!(queued["attempts"].as_u64().unwrap() >= 1);
    assert!(queued["reason"].as_str().unwrap().contains("cannot reach"));
    assert!(queued["next_attempt_at"].is_u64());
    assert!(queued["finished_at"].is_null());
    let delivered = rows.iter().find(|m| m["to"] == carol.as_str()).unwrap();
    assert_eq!(delivered["status"], "delivered");
    assert!(delivered["reason"].is_null());
    assert!(delivered["finished_at"].is_u64());

    // Bob's serve: its worker expires the message (polled for, bounded
    // only against a hang).
    let (_bob_node, _) = w.serve("bob", "127.0.0.1:0");
    let deadline = Instant::now() + Duration::from_secs(120);
    let expired = loop {
        let rows = outbox(&w, "bob");
        let m = rows
            .into_iter()
            .find(|m| m["message_id"] == id.as_str())
            .unwrap();
        if m["status"] == "expired" {
            break m;
        }
        assert_eq!(m["status"], "queued", "{m}");
        assert!(Instant::now() < deadline, "never expired: {m}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let reason = expired["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("not delivered within 1 s; last error: cannot reach"),
        "{reason}"
    );
    assert!(expired["finished_at"].is_u64());
    assert!(expired["next_attempt_at"].is_null());
    // Human form names the state too.
    let out = run(w.cmd("bob").arg("outbox"));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("{id} → {alice} expired")), "{text}");
    // Nothing reached Alice's (never opened) inbox; the delivered one stays.
    assert_eq!(outbox(&w, "bob").len(), 2);
}

#[test]
fn a_text_that_is_not_utf8_is_refused_before_queueing() {
    use std::os::unix::ffi::OsStrExt;
    let w = World::new();
    let carol = w.registered("carol");
    w.registered("bob");
    let out = run(w.cmd("bob").args(["--json", "send", &carol]).arg(
        std::ffi::OsStr::from_bytes(b"caf\xe9"), // Latin-1, not UTF-8
    ));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v = common::one_json(&out);
    common::assert_schema("error", &v);
    assert!(outbox(&w, "bob").is_empty(), "nothing queued");
}
