//! A batch-signed message proved to a third party from `inbox --json` alone
//! plus the sender's public key (from `lookup --json`) and the registry's
//! EIP-712 domain: messages queued while the recipient was down go out in
//! one `Deliver` under one `MessageBatch` signature, and each inbox entry
//! carries `batch_root`, `batch_path`, `batch_index` and `batch_count` —
//! enough for the core's `wire::verify_stored`. Tampered copies fail.

mod common;

use chainmail_chain::ChainSpec;
use chainmail_core::PublicKey;
use chainmail_core::eip712::Message;
use chainmail_core::hash::keccak256;
use chainmail_core::wire::{MessageError, MessageProof, verify_stored};
use common::World;
use serde_json::{Value, json};

/// What a third party rebuilds from one `inbox --json` message object.
fn from_json(m: &Value) -> (Message, Vec<u8>, MessageProof) {
    let body = m["body"].as_str().unwrap().as_bytes().to_vec();
    let id_hex = m["message_id"]
        .as_str()
        .unwrap()
        .strip_prefix("0x")
        .unwrap();
    let mut id = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut id).unwrap();
    let message = Message {
        from: m["from"].as_str().unwrap().parse().unwrap(),
        to: m["to"].as_str().unwrap().parse().unwrap(),
        id,
        sent_at: m["sent_at"].as_u64().unwrap(),
        body_hash: keccak256(&body),
    };
    // The proof is the JSON's own fields, renamed to the core's serde form.
    let proof: MessageProof = serde_json::from_value(json!({
        "kind": "batch",
        "signature": m["signature"],
        "count": m["batch_count"],
        "index": m["batch_index"],
        "path": m["batch_path"],
    }))
    .unwrap();
    (message, body, proof)
}

#[test]
fn a_batch_signed_message_is_provable_from_the_inbox_json() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    // Alice publishes an endpoint, then goes down; Bob queues three.
    let (alice_node, alice_addr) = w.serve("alice", "127.0.0.1:0");
    drop(alice_node);
    for i in 0..3 {
        let (code, v) = w.send("bob", &alice, &format!("queued {i}"), "2s");
        assert_eq!((code, v["status"].as_str()), (Some(75), Some("queued")));
    }
    // Alice is back; Bob's next send delivers all four in one Deliver.
    let alice_back = w.spawn("alice", &["serve", "--listen", &alice_addr]);
    assert_eq!(alice_back.next_json()["listen"], alice_addr.as_str());
    let (code, v) = w.send("bob", &alice, "and one more", "30s");
    assert_eq!(
        (code, v["status"].as_str()),
        (Some(0), Some("delivered")),
        "{v}"
    );

    let inbox = w.json_ok("alice", &["inbox"], "inbox");
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{inbox}");
    let mut indexes: Vec<u64> = msgs
        .iter()
        .map(|m| m["batch_index"].as_u64().unwrap())
        .collect();
    indexes.sort();
    assert_eq!(indexes, [0, 1, 2, 3]);
    assert!(msgs.iter().all(|m| m["batch_count"] == 4));
    assert!(
        msgs.iter()
            .all(|m| m["batch_root"] == msgs[0]["batch_root"])
    );

    // The third party: Bob's key from the chain, the registry's domain.
    let lookup = w.json_ok("alice", &["lookup", &bob], "lookup");
    let bob_key: PublicKey = serde_json::from_value(lookup["public_key"].clone()).unwrap();
    let alice_key: PublicKey =
        serde_json::from_value(w.json_ok("alice", &["id"], "identity")["public_key"].clone())
            .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let domain = rt.block_on(async {
        let spec = ChainSpec::Embedded(Some(w.dir.path().join("chain.db")));
        chainmail_chain::open(&spec, None, None)
            .await
            .unwrap()
            .domain()
    });
    for m in msgs {
        let (message, body, proof) = from_json(m);
        verify_stored(&domain, &message, &body, &proof, &bob_key)
            .unwrap_or_else(|e| panic!("{m} does not prove: {e}"));
    }

    // Tampered copies do not prove.
    let (message, body, proof) = from_json(&msgs[1]);
    let mut forged = body.clone();
    forged.extend_from_slice(b" (edited)");
    assert_eq!(
        verify_stored(&domain, &message, &forged, &proof, &bob_key),
        Err(MessageError::BodyMismatch)
    );
    let mut edited = msgs[1].clone();
    edited["body"] = json!("something Bob never said");
    let (message2, body2, proof2) = from_json(&edited);
    assert!(verify_stored(&domain, &message2, &body2, &proof2, &bob_key).is_err());
    let mut moved = msgs[1].clone();
    moved["batch_index"] = json!((msgs[1]["batch_index"].as_u64().unwrap() + 1) % 4);
    let (m3, b3, p3) = from_json(&moved);
    assert!(verify_stored(&domain, &m3, &b3, &p3, &bob_key).is_err());
    assert_eq!(
        verify_stored(&domain, &message, &body, &proof, &alice_key),
        Err(MessageError::WrongKey { from: message.from })
    );
    let mut other = domain;
    other.chain_id += 1;
    assert!(verify_stored(&other, &message, &body, &proof, &bob_key).is_err());
}
