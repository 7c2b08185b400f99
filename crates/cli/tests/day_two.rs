//! Day-two use on a temporary embedded chain, with the real binary:
//! revocation by file after the keystore is gone, a relayer submitting a
//! user's signed certificate (identical resubmission is success, a different
//! one is named), contacts and names where IDs go, a stranger's message
//! landing in requests, a blocked ID refused at the handshake, contacts-only
//! mode, the store's files holding no body or contact name in clear, the
//! safety number the same on both sides, and export/import with messages.

mod common;

use common::{World, assert_schema, one_json, run};
use serde_json::Value;

/// Runs `chainmail --json ARGS` for `name` expecting failure: (exit, kind).
fn fails(w: &World, name: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = run(w.cmd(name).arg("--json").args(args));
    let v = one_json(&out);
    assert_schema("error", &v);
    (
        out.status.code(),
        v["error"]["kind"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `--sign-only` output of `args` for `name`, written to `file`.
fn sign_only(w: &World, name: &str, args: &[&str], file: &std::path::Path) -> Value {
    let out = run(w.cmd(name).args(args).arg("--sign-only"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("signed file JSON");
    assert_schema("signed_file", &v);
    std::fs::write(file, &out.stdout).unwrap();
    v
}

#[test]
fn revocation_by_file_after_the_keystore_is_deleted() {
    let w = World::new();
    let id = w.json_ok("alice", &["init"], "identity")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // `init` already wrote the revocation certificate, before registering.
    let saved = w.revocation("alice");
    let file = w.dir.path().join("offline-copy.json");
    std::fs::copy(&saved, &file).unwrap();
    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_schema("signed_file", &v);
    assert_eq!(v["action"], "revoke");
    w.json_ok("alice", &["register"], "register");
    // The key is lost: the whole home goes.
    std::fs::remove_dir_all(w.home("alice")).unwrap();

    // Wrong files first: nothing is sent for them.
    let junk = w.dir.path().join("junk.json");
    std::fs::write(&junk, b"{\"action\":\"revoke\",").unwrap();
    let (code, kind) = fails(
        &w,
        "relayer",
        &["revoke", "--yes", "--from-file", junk.to_str().unwrap()],
    );
    assert_eq!((code, kind.as_str()), (Some(1), "BadCertificate"));
    let mut forged = v.clone();
    forged["certificate"]["payload"]["revokedAt"] = Value::from(1u64);
    std::fs::write(&junk, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (code, kind) = fails(&w, "relayer", &["submit", junk.to_str().unwrap()]);
    assert_eq!((code, kind.as_str()), (Some(1), "BadCertificate"));
    let lookup = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert!(lookup["revoked_at"].is_null(), "{lookup}");

    // Anyone (here another home with no identity) submits the real one.
    let r = w.json_ok(
        "relayer",
        &["revoke", "--yes", "--from-file", file.to_str().unwrap()],
        "submit",
    );
    assert_eq!(
        (r["id"].as_str(), r["already_on_chain"].as_bool()),
        (Some(&id[..]), Some(false))
    );
    let lookup = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert!(lookup["revoked_at"].is_u64(), "{lookup}");
    assert_eq!(lookup["valid"], false);
    // Resubmitted (the old `--certificate` spelling): already done, success.
    let r = w.json_ok(
        "relayer",
        &["revoke", "--yes", "--certificate", file.to_str().unwrap()],
        "submit",
    );
    assert_eq!(r["already_on_chain"], true);
    assert!(r["tx_hash"].is_null());
}

#[test]
fn a_relayer_submits_a_users_certificate() {
    let w = World::new();
    let user = w.json_ok("user", &["init"], "identity")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cert = w.dir.path().join("cert.json");
    let v = sign_only(
        &w,
        "user",
        &[
            "register",
            "--valid-for",
            "30d",
            "--endpoint",
            "127.0.0.1:7999",
        ],
        &cert,
    );
    assert_eq!(v["action"], "register");
    // Signing sent nothing.
    assert_eq!(
        w.json_ok("user", &["lookup", &user], "lookup")["registered"],
        false
    );

    // A tampered copy is refused locally.
    let mut bad = v.clone();
    bad["certificate"]["payload"]["validUntil"] =
        Value::from(v["certificate"]["payload"]["validUntil"].as_u64().unwrap() + 1);
    let bad_file = w.dir.path().join("bad.json");
    std::fs::write(&bad_file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let (code, kind) = fails(&w, "relayer", &["submit", bad_file.to_str().unwrap()]);
    assert_eq!((code, kind.as_str()), (Some(1), "BadCertificate"));

    let r = w.json_ok("relayer", &["submit", cert.to_str().unwrap()], "submit");
    assert_eq!(
        (r["action"].as_str(), r["already_on_chain"].as_bool()),
        (Some("register"), Some(false))
    );
    assert!(r["endpoint_tx_hash"].is_string(), "{r}");
    let lookup = w.json_ok("relayer", &["lookup", &user], "lookup");
    assert_eq!(
        (lookup["valid"].as_bool(), lookup["endpoint"].as_str()),
        (Some(true), Some("127.0.0.1:7999"))
    );
    assert_eq!(
        lookup["valid_until"],
        v["certificate"]["payload"]["validUntil"]
    );

    // The same file again: success, nothing sent.
    let r = w.json_ok("relayer", &["submit", cert.to_str().unwrap()], "submit");
    assert_eq!(r["already_on_chain"], true);
    assert!(
        r["tx_hash"].is_null() && r["endpoint_tx_hash"].is_null(),
        "{r}"
    );

    // Another certificate for the same ID: named clearly, exit 1.
    let other = w.dir.path().join("other.json");
    sign_only(&w, "user", &["register", "--valid-for", "60d"], &other);
    let out = run(w.cmd("relayer").args(["submit", other.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a different certificate") && err.contains("already on chain"),
        "{err}"
    );

    // Renewal through the relayer too.
    let renewal = w.dir.path().join("renew.json");
    let v = sign_only(&w, "user", &["renew", "--valid-for", "90d"], &renewal);
    let r = w.json_ok("relayer", &["submit", renewal.to_str().unwrap()], "submit");
    assert_eq!(
        (r["action"].as_str(), r["already_on_chain"].as_bool()),
        (Some("renew"), Some(false))
    );
    let lookup = w.json_ok("relayer", &["lookup", &user], "lookup");
    assert_eq!(
        lookup["valid_until"],
        v["certificate"]["payload"]["validUntil"]
    );
    let r = w.json_ok("relayer", &["submit", renewal.to_str().unwrap()], "submit");
    assert_eq!(r["already_on_chain"], true);
}

/// Every byte of a SQLite store: the file and its WAL.
fn store_bytes(w: &World, name: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(w.home(name).join("store.db")).unwrap();
    if let Ok(wal) = std::fs::read(w.home(name).join("store.db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn contacts_requests_blocking_and_data_at_rest() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    let carol = w.registered("carol");
    let (alice_node, _) = w.serve("alice", "127.0.0.1:0");

    // Names: Alice names Bob; Bob names Alice and sends by name.
    let c = w.json_ok(
        "alice",
        &["contact", "add", "bobby-from-work", &bob],
        "contact",
    );
    assert_eq!(
        (c["name"].as_str(), c["verified"].as_bool()),
        (Some("bobby-from-work"), Some(false))
    );
    w.json_ok("bob", &["contact", "add", "alice", &alice], "contact");
    let body = "zanzibar-7f3a body that must never be on disk in clear";
    let (code, v) = w.send("bob", "alice", body, "30s");
    assert_eq!((code, v["to"].as_str()), (Some(0), Some(&alice[..])), "{v}");
    let (code, v) = w.send("carol", &alice, "hello from a stranger", "30s");
    assert_eq!(code, Some(0), "{v}");

    // The inbox names the contact; the stranger's message is a request.
    let inbox = w.json_ok("alice", &["inbox"], "inbox");
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{inbox}");
    assert_eq!(
        (msgs[0]["from"].as_str(), msgs[0]["contact"].as_str()),
        (Some(&bob[..]), Some("bobby-from-work"))
    );
    assert_eq!(
        (msgs[1]["from"].as_str(), msgs[1]["contact"].clone()),
        (Some(&carol[..]), Value::Null)
    );
    let requests = w.json_ok("alice", &["inbox", "--requests"], "inbox");
    let r = requests["messages"].as_array().unwrap();
    assert_eq!(
        (r.len(), r[0]["from"].as_str()),
        (1, Some(&carol[..])),
        "{requests}"
    );
    let contacts = w.json_ok("alice", &["inbox", "--contacts"], "inbox");
    let c = contacts["messages"].as_array().unwrap();
    assert_eq!(
        (c.len(), c[0]["body"].as_str()),
        (1, Some(body)),
        "{contacts}"
    );
    // Unknown names and ID-shaped names are refused.
    assert_eq!(
        fails(&w, "bob", &["send", "nobody", "hi"]),
        (Some(1), "UnknownContact".into())
    );
    assert_eq!(
        fails(&w, "bob", &["contact", "add", "0xbob", &alice]),
        (Some(2), "BadContactNameLooksLikeId".into())
    );
    assert_eq!(
        fails(&w, "bob", &["contact", "add", "a\u{1b}[2J", &alice]),
        (Some(2), "BadContactNameControl".into())
    );
    assert_eq!(
        fails(&w, "bob", &["contact", "add", "alice", &carol]),
        (Some(1), "NameTaken".into())
    );

    // Safety number: the same on both sides.
    let a = w.json_ok("alice", &["verify", "bobby-from-work"], "verify");
    let b = w.json_ok("bob", &["verify", "alice"], "verify");
    assert_eq!(a["safety_number"], b["safety_number"]);
    assert_eq!(a["qr_payload"], b["qr_payload"]);
    let c = w.json_ok(
        "alice",
        &["contact", "verify", "bobby-from-work"],
        "contact",
    );
    assert_eq!(c["verified"], true);

    // Alice blocks Carol: her next session is refused at the handshake.
    let c = w.json_ok("alice", &["contact", "block", &carol], "contact");
    assert_eq!(
        (c["blocked"].as_bool(), c["name"].clone()),
        (Some(true), Value::Null)
    );
    let (code, v) = w.send("carol", &alice, "let me in", "10s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(75), Some("queued")),
        "{v}"
    );
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("refused the session"),
        "{v}"
    );
    let inbox = w.json_ok("alice", &["inbox"], "inbox");
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 2, "{inbox}");
    let list = w.json_ok("alice", &["contact", "list"], "contacts");
    assert_eq!(list["contacts"].as_array().unwrap().len(), 2, "{list}");

    // Contacts-only: a stranger is refused, a contact still gets through.
    drop(alice_node);
    w.json_ok("alice", &["contact", "unblock", &carol], "contact");
    let p = w.spawn(
        "alice",
        &["serve", "--listen", "127.0.0.1:0", "--contacts-only"],
    );
    let bound = p.next_json()["listen"].as_str().unwrap().to_owned();
    w.json_ok("alice", &["endpoint", &bound], "transaction");
    let (code, v) = w.send("carol", &alice, "still a stranger", "10s");
    assert_eq!(code, Some(75), "{v}");
    let (code, v) = w.send("bob", "alice", "a contact gets through", "30s");
    assert_eq!(code, Some(0), "{v}");
    drop(p);

    // At rest: neither the body nor the contact name is in the files
    // (database and WAL) of the receiver or the sender.
    for (home, secret) in [
        ("alice", body),
        ("bob", body),
        ("alice", "bobby-from-work"),
        ("bob", "a contact gets through"),
    ] {
        assert!(
            !contains(&store_bytes(&w, home), secret),
            "{secret:?} in {home}'s store"
        );
    }
    let bytes = store_bytes(&w, "alice");
    assert!(bytes.len() > 4096);
}

#[test]
fn export_and_import_with_messages() {
    let w = World::new();
    let alice = w.registered("alice");
    w.registered("bob");
    let (_node, _) = w.serve("alice", "127.0.0.1:0");
    w.json_ok(
        "alice",
        &[
            "contact",
            "add",
            "bob",
            w.json_ok("bob", &["id"], "identity")["id"]
                .as_str()
                .unwrap(),
        ],
        "contact",
    );
    for text in ["first", "second"] {
        let (code, v) = w.send("bob", &alice, text, "30s");
        assert_eq!(code, Some(0), "{v}");
    }
    let before = w.json_ok("alice", &["inbox"], "inbox");

    let archive = w.dir.path().join("alice.chainmail");
    let r = w.json_ok(
        "alice",
        &[
            "export",
            "--with-messages",
            "--out",
            archive.to_str().unwrap(),
        ],
        "export",
    );
    assert_eq!(
        (r["inbox"].as_u64(), r["with_messages"].as_bool()),
        (Some(2), Some(true))
    );
    let bytes = std::fs::read(&archive).unwrap();
    assert!(!contains(&bytes, "second") && !contains(&bytes, "\"bob\""));
    // Never over an existing file; a binary archive needs --out.
    assert_eq!(
        fails(
            &w,
            "alice",
            &[
                "export",
                "--with-messages",
                "--out",
                archive.to_str().unwrap()
            ]
        )
        .1,
        "AlreadyExists"
    );
    assert_eq!(
        fails(&w, "alice", &["export", "--with-messages"]),
        (Some(2), "OutRequired".into())
    );

    // Import on "another machine": the same ID, inbox and contacts.
    let imported = w.json_ok(
        "alice2",
        &["init", "--from-keystore", archive.to_str().unwrap()],
        "identity",
    );
    assert_eq!(imported["id"], alice.as_str());
    let after = w.json_ok("alice2", &["inbox"], "inbox");
    assert_eq!(after, before);
    assert_eq!(after["messages"][0]["contact"], "bob");

    // Wrong password, damaged archive: named errors, nothing created.
    let out = run(w.cmd("alice3").env("CHAINMAIL_PASSWORD", "wrong").args([
        "--json",
        "init",
        "--from-keystore",
        archive.to_str().unwrap(),
    ]));
    assert_eq!(
        (out.status.code(), one_json(&out)["error"]["kind"].as_str()),
        (Some(1), Some("WrongPassword"))
    );
    let damaged = w.dir.path().join("damaged.chainmail");
    let mut d = bytes.clone();
    let last = d.len() - 1;
    d[last] ^= 1;
    std::fs::write(&damaged, &d).unwrap();
    assert_eq!(
        fails(
            &w,
            "alice3",
            &["init", "--from-keystore", damaged.to_str().unwrap()]
        )
        .1,
        "BadArchive"
    );
    std::fs::write(&damaged, &bytes[..30]).unwrap();
    assert_eq!(
        fails(
            &w,
            "alice3",
            &["init", "--from-keystore", damaged.to_str().unwrap()]
        )
        .1,
        "BadArchive"
    );
    assert!(!w.home("alice3").join("keystore.json").exists());

    // The keystore alone (V3 JSON) moves the identity without messages.
    let ks = w.dir.path().join("alice.json");
    w.json_ok(
        "alice",
        &["export", "--out", ks.to_str().unwrap()],
        "export",
    );
    let imported = w.json_ok(
        "alice4",
        &["init", "--from-keystore", ks.to_str().unwrap()],
        "identity",
    );
    assert_eq!(imported["id"], alice.as_str());
    assert_eq!(
        w.json_ok("alice4", &["inbox"], "inbox")["messages"],
        Value::Array(vec![])
    );
}

#[test]
fn bad_day_two_inputs_are_named() {
    let w = World::new();
    w.registered("alice");
    let dir = w.dir.path();
    let missing = dir.join("missing.json");
    assert_eq!(
        fails(&w, "alice", &["submit", missing.to_str().unwrap()]),
        (Some(1), "BadCertificate".into())
    );
    let big = dir.join("big.json");
    std::fs::write(&big, vec![b' '; 20_000]).unwrap();
    assert_eq!(
        fails(&w, "alice", &["submit", big.to_str().unwrap()]),
        (Some(1), "BadCertificate".into())
    );
    // A register file handed to `revoke --from-file` is refused by kind.
    let cert = dir.join("cert.json");
    sign_only(&w, "alice", &["endpoint", "127.0.0.1:1"], &cert);
    assert_eq!(
        fails(
            &w,
            "alice",
            &["revoke", "--yes", "--from-file", cert.to_str().unwrap()]
        ),
        (Some(1), "BadCertificate".into())
    );
    let mut wrong_action: Value = serde_json::from_slice(&std::fs::read(&cert).unwrap()).unwrap();
    wrong_action["action"] = Value::from("renew");
    std::fs::write(&cert, serde_json::to_vec(&wrong_action).unwrap()).unwrap();
    assert_eq!(
        fails(&w, "alice", &["submit", cert.to_str().unwrap()]),
        (Some(1), "BadCertificate".into())
    );
    assert_eq!(
        fails(&w, "alice", &["inbox", "--requests", "--contacts"]),
        (Some(2), "ArgumentConflict".into())
    );
    assert_eq!(
        fails(&w, "alice", &["revoke", "--from-file", "x", "--sign-only"]),
        (Some(2), "ArgumentConflict".into())
    );
    assert_eq!(
        fails(&w, "alice", &["verify", "nobody"]),
        (Some(1), "UnknownContact".into())
    );
    assert_eq!(
        fails(
            &w,
            "alice",
            &["verify", "0x000000000000000000000000000000000000dEaD"]
        ),
        (Some(1), "UnknownIdentity".into())
    );
    assert_eq!(
        fails(&w, "alice", &["contact", "remove", "nobody"]),
        (Some(1), "UnknownContact".into())
    );
    assert_eq!(
        fails(
            &w,
            "alice",
            &[
                "contact",
                "add",
                &"n".repeat(65),
                "0x000000000000000000000000000000000000dEaD"
            ]
        ),
        (Some(2), "BadContactNameTooLong".into())
    );
    // Importing over an existing identity is refused before anything is written.
    let archive = dir.join("a.chainmail");
    w.json_ok(
        "alice",
        &[
            "export",
            "--with-messages",
            "--out",
            archive.to_str().unwrap(),
        ],
        "export",
    );
    assert_eq!(
        fails(
            &w,
            "alice",
            &["init", "--from-keystore", archive.to_str().unwrap()]
        ),
        (Some(1), "AlreadyInitialized".into())
    );
    // Without the password nothing sealed can be read.
    let out = run(w
        .cmd("alice")
        .env_remove("CHAINMAIL_PASSWORD")
        .args(["--json", "inbox"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(one_json(&out)["error"]["kind"], "PasswordRequired");
}

/// A home that submits its own `register --sign-only` file keeps the
/// revocation for that chain, as `register` does; a relayer's home, which
/// holds another identity, keeps none and is asked for nothing.
#[test]
fn submitting_ones_own_register_file_keeps_its_revocation() {
    let w = World::new();
    let id = w.json_ok("alice", &["init"], "identity")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.json_ok("relayer", &["init"], "identity");
    // As if `init` had run for another chain: no revocation for this one.
    for f in common::revocations(&w.home("alice")) {
        std::fs::remove_file(f).unwrap();
    }
    let out = run(w.cmd("alice").args(["register", "--sign-only"]));
    assert_eq!(out.status.code(), Some(0));
    let file = w.dir.path().join("cert.json");
    std::fs::write(&file, &out.stdout).unwrap();

    // Bob's relayer home submits Alice's first: it keeps nothing, and,
    // with no password in its environment, asks for none.
    let before = common::revocations(&w.home("relayer"));
    let out = run(w.cmd("relayer").env_remove("CHAINMAIL_PASSWORD").args([
        "--json",
        "submit",
        file.to_str().unwrap(),
    ]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(common::revocations(&w.home("relayer")), before);

    // Alice submits it herself (already on chain: success): now she keeps
    // the revocation for this chain, and it revokes her ID without the key.
    let r = w.json_ok("alice", &["submit", file.to_str().unwrap()], "submit");
    assert_eq!(r["already_on_chain"], true, "{r}");
    let saved = w.revocation("alice");
    let copy = w.dir.path().join("offline.json");
    std::fs::copy(&saved, &copy).unwrap();
    std::fs::remove_dir_all(w.home("alice")).unwrap();
    w.json_ok(
        "relayer",
        &["revoke", "--yes", "--from-file", copy.to_str().unwrap()],
        "submit",
    );
    let l = w.json_ok("relayer", &["lookup", &id], "lookup");
    assert!(l["revoked_at"].is_u64(), "{l}");
}
