//! The identity and registry commands end to end on a temporary embedded
//! chain — init, id, register (with and without --endpoint), lookup, endpoint,
//! renew, revoke, inbox — each `--json` output checked against
//! `schema/output.schema.json` and against what the chain must now say.

mod common;

use common::{World, assert_schema};
use serde_json::json;

#[test]
fn identity_and_registry_lifecycle_matches_the_schema() {
    let w = World::new();

    // init / id: the same ID and key, the ID being the key's hash (Fig. 2).
    let init = w.json_ok("alice", &["init"], "identity");
    let id = w.json_ok("alice", &["id"], "identity");
    assert_eq!(init, id);
    let alice = init["id"].as_str().unwrap().to_owned();
    assert!(
        alice.chars().any(|c| c.is_ascii_uppercase()),
        "EIP-55 mixed case: {alice}"
    );

    // Before registration the chain knows nothing: every field null.
    let unknown = w.json_ok("alice", &["lookup", &alice], "lookup");
    assert_eq!(unknown["registered"], false);
    assert_eq!(unknown["valid"], false);
    for f in [
        "valid_until",
        "issued_at",
        "revoked_at",
        "public_key",
        "endpoint",
    ] {
        assert!(unknown[f].is_null(), "{f} should be null: {unknown}");
    }

    // register without --endpoint: endpoint_tx_hash present and null.
    let reg = w.json_ok("alice", &["register", "--valid-for", "30d"], "register");
    assert_eq!(reg["id"], alice.as_str());
    assert!(reg["endpoint_tx_hash"].is_null());
    assert!(reg["gas_used"].as_u64().unwrap() > 21_000);

    let found = w.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(found["registered"], true);
    assert_eq!(found["valid"], true);
    assert_eq!(found["public_key"], init["public_key"]);
    let issued = found["issued_at"].as_u64().unwrap();
    let until = found["valid_until"].as_u64().unwrap();
    assert_eq!(until - issued, 30 * 24 * 3600);
    assert!(found["revoked_at"].is_null() && found["endpoint"].is_null());

    // register --endpoint publishes both in one command.
    w.json_ok("bob", &["init"], "identity");
    let bob_reg = w.json_ok(
        "bob",
        &["register", "--endpoint", "127.0.0.1:7401"],
        "register",
    );
    assert!(bob_reg["endpoint_tx_hash"].is_string());
    assert_ne!(bob_reg["endpoint_tx_hash"], bob_reg["tx_hash"]);
    let bob = bob_reg["id"].as_str().unwrap().to_owned();
    assert_eq!(
        w.json_ok("alice", &["lookup", &bob], "lookup")["endpoint"],
        "127.0.0.1:7401"
    );

    // endpoint, renew, revoke: transactions in later blocks.
    let ep = w.json_ok("alice", &["endpoint", "127.0.0.1:7400"], "transaction");
    assert!(ep["block"].as_u64().unwrap() > reg["block"].as_u64().unwrap());
    let renew = w.json_ok("alice", &["renew", "--valid-for", "1y"], "transaction");
    assert!(renew["block"].as_u64().unwrap() > ep["block"].as_u64().unwrap());
    let renewed = w.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(renewed["endpoint"], "127.0.0.1:7400");
    assert!(renewed["valid_until"].as_u64().unwrap() > until);

    w.json_ok("alice", &["revoke", "--yes"], "transaction");
    let revoked = w.json_ok("bob", &["lookup", &alice], "lookup");
    assert_eq!(revoked["registered"], true);
    assert_eq!(revoked["valid"], false);
    assert!(revoked["revoked_at"].as_u64().unwrap() >= issued);

    // An empty inbox is an empty list, not an error.
    assert_eq!(
        w.json_ok("alice", &["inbox"], "inbox"),
        json!({ "messages": [] })
    );
}

#[test]
fn lowercase_ids_are_accepted_and_printed_checksummed() {
    let w = World::new();
    let alice = w.registered("alice");
    let v = w.json_ok("alice", &["lookup", &alice.to_lowercase()], "lookup");
    assert_eq!(v["id"], alice.as_str());
}

#[test]
fn the_schema_refuses_what_the_interface_forbids() {
    // The validator is real: outputs missing a field, with an extra one, a
    // non-integer time or a lower-case-only pattern violation fail.
    let good = json!({"id":"0x4b9bE62bCdc4e2829f84dC815D99b8F0b1C1026b","public_key":format!("0x{}", "ab".repeat(64)),"keystore":"/k"});
    assert_schema("identity", &good);
    for bad in [
        json!({"id":"0x4b9bE62bCdc4e2829f84dC815D99b8F0b1C1026b","keystore":"/k"}),
        json!({"id":"0x4b9b","public_key":format!("0x{}", "ab".repeat(64)),"keystore":"/k"}),
        json!({"id":"0x4b9bE62bCdc4e2829f84dC815D99b8F0b1C1026b","public_key":format!("0x{}", "ab".repeat(64)),"keystore":"/k","extra":1}),
    ] {
        let r = std::panic::catch_unwind(|| assert_schema("identity", &bad));
        assert!(r.is_err(), "schema accepted {bad}");
    }
    let r = std::panic::catch_unwind(|| {
        assert_schema(
            "send",
            &json!({"message_id":"0x00","to":"0x4b9bE62bCdc4e2829f84dC815D99b8F0b1C1026b","status":"lost","reason":null}),
        )
    });
    assert!(r.is_err());
}

#[test]
fn revocation_certificate_saved_at_registration_revokes_without_the_key() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let alice = w.registered("alice");
    let cert = w.revocation("alice");
    let mode = std::fs::metadata(&cert)
        .expect("register saved the revocation certificate")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A renewal later does not spoil the certificate signed earlier.
    w.json_ok("alice", &["renew", "--valid-for", "60d"], "transaction");
    // Renewals back to back (often in the same second as the registration
    // and each other) each land: issuedAt moves strictly forward.
    w.json_ok("alice", &["renew", "--valid-for", "60d"], "transaction");

    // The key is lost: keystore gone, wrong password — the certificate still works.
    std::fs::remove_file(w.home("alice").join("keystore.json")).unwrap();
    let v = w.json_ok(
        "bob",
        &["revoke", "--yes", "--certificate", cert.to_str().unwrap()],
        "submit",
    );
    assert_eq!(v["id"], alice.as_str());
    let l = w.json_ok("bob", &["lookup", &alice], "lookup");
    assert!(l["revoked_at"].is_u64() && l["valid"] == false, "{l}");

    // A certificate for another chain is refused before anything is sent.
    let other = World::new();
    other.registered("carol");
    let out = common::run(other.cmd("carol").args([
        "--json",
        "revoke",
        "--yes",
        "--certificate",
        cert.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::one_json(&out)["error"]["kind"], "BadCertificate");
}
