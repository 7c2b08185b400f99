//! Known-answer vectors: fixed identity keys, ephemeral keys and times →
//! the exact bytes of T_B1, T_A2, the confirm frame and a first data frame,
//! and every intermediate secret, in `tests/vectors/handshake.json`. The
//! keys are also recomputed here straight from PROTOCOL.md's formulas (labels
//! spelled out again), so the document, the code and the file agree.
//! The test never rewrites the file it checks. After a deliberate protocol
//! change only, write what the code now computes elsewhere, review the diff,
//! and copy it over by hand:
//! `CHAINMAIL_WRITE_VECTORS=/tmp/handshake.json cargo test -p chainmail-core vector`
//! (the test still fails until the committed file is replaced).

use hkdf::Hkdf;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::eip712::Domain;
use crate::handshake::tests::FixedRng;
use crate::hash::keccak256;
use crate::session::Opened;
use crate::{IdStatus, Initiator, MemoryReplayCache, Responder, SecretKey};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/handshake.json");

fn hkdf(salt: &[u8], ikm: &[u8], info: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info.as_bytes(), &mut out)
        .unwrap();
    out
}

fn h(b: &[u8]) -> String {
    hex::encode(b)
}

fn compute() -> Value {
    let alice = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let bob = SecretKey::from_bytes(&[0xb0; 32]).unwrap();
    let e_b = [0xeb; 32];
    let e_a = [0xea; 32];
    let t: u64 = 1_764_000_000;
    let domain = Domain {
        chain_id: 31337,
        verifying_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap(),
    };
    let status = IdStatus {
        valid_until: t + 86_400,
        issued_at: t - 86_400,
        revoked_at: 0,
        registered_block: 1,
    };

    let (expect, t_b1) = Initiator::start(
        &bob,
        &domain,
        &alice.public_key(),
        &status,
        t,
        &mut FixedRng(e_b.to_vec()),
    )
    .unwrap();
    let t_b = expect.session_request().clone();
    let pending = Responder::new(&alice, domain)
        .read_t_b1(&t_b1, t + 2)
        .unwrap();
    let (t_a2, mut alice_session) = pending
        .accept(
            &status,
            &status,
            &mut MemoryReplayCache::new(0, 10),
            t + 2,
            &mut FixedRng(e_a.to_vec()),
        )
        .unwrap();
    let (mut bob_session, confirm) = expect.read_t_a2(&t_a2).unwrap();
    assert_eq!(alice_session.open(&confirm, t + 3), Ok(Opened::Confirmed));
    let mut data = Vec::new();
    bob_session.seal(b"hello, alice", t + 3, &mut data).unwrap();
    assert_eq!(
        alice_session.open(&data, t + 3),
        Ok(Opened::Data(b"hello, alice".to_vec()))
    );

    // Recompute every secret from the formulas of PROTOCOL.md.
    let e_b_key = SecretKey::from_bytes(&e_b).unwrap();
    let e_a_key = SecretKey::from_bytes(&e_a).unwrap();
    let ss = bob.diffie_hellman(&alice.public_key());
    let es = e_b_key.diffie_hellman(&alice.public_key());
    let ee = e_b_key.diffie_hellman(&e_a_key.public_key());
    assert_eq!(*ss, *alice.diffie_hellman(&bob.public_key()));
    assert_eq!(*es, *alice.diffie_hellman(&e_b_key.public_key()));
    let k_b1 = hkdf(&[], &es[..], "chainmail v1 T_B1 key");
    let t_b1_hash = keccak256(&t_b1[4..]);
    let k_a2 = hkdf(
        &t_b1_hash,
        &[&es[..], &ee[..]].concat(),
        "chainmail v1 T_A2 key",
    );
    let transcript = keccak256(&[&t_b1[4..], &t_a2[4..]].concat());
    let ikm = [&ss[..], &es[..], &ee[..]].concat();
    let i2r = hkdf(
        &transcript,
        &ikm,
        "chainmail v1 session initiator->responder",
    );
    let r2i = hkdf(
        &transcript,
        &ikm,
        "chainmail v1 session responder->initiator",
    );
    assert_eq!(bob_session.keys_for_test(), (i2r, r2i));
    assert_eq!(alice_session.keys_for_test(), (r2i, i2r));
    assert_eq!(bob_session.transcript_hash(), transcript);
    let rekeyed = hkdf(&[], &i2r, "chainmail v1 rekey");

    json!({
        "description": "chainmail v1 handshake known-answer vector; all byte strings hex, records include the 4-byte length prefix",
        "inputs": {
            "domain": { "chainId": domain.chain_id, "verifyingContract": domain.verifying_contract.to_string() },
            "aliceSecretKey": h(&*alice.to_bytes()),
            "bobSecretKey": h(&*bob.to_bytes()),
            "bobEphemeralSecretKey": h(&e_b),
            "aliceEphemeralSecretKey": h(&e_a),
            "timestamp": t,
            "aliceNow": t + 2,
            "statusBoth": { "validUntil": status.valid_until, "issuedAt": status.issued_at, "revokedAt": 0, "registeredBlock": 1 },
            "firstMessage": "hello, alice"
        },
        "derived": {
            "aliceId": alice.address().to_string(),
            "bobId": bob.address().to_string(),
            "alicePublicKey": h(alice.public_key().as_xy()),
            "bobPublicKey": h(bob.public_key().as_xy()),
            "E_B": h(&e_b_key.public_key().compressed()),
            "E_A": h(&e_a_key.public_key().compressed()),
            "ss": h(&ss[..]),
            "es": h(&es[..]),
            "ee": h(&ee[..]),
            "domainSeparator": h(&domain.separator()),
            "T_B_ephemeralKeyHash": h(&t_b.payload.ephemeral_key_hash),
            "T_B_signature": t_b.signature.to_string(),
            "T_B_signingHash": h(&crate::eip712::TypedData::signing_hash(&t_b.payload, &domain)),
            "k_T_B1": h(&k_b1),
            "keccak_T_B1": h(&t_b1_hash),
            "k_T_A2": h(&k_a2),
            "transcriptHash": h(&transcript),
            "key_initiator_to_responder": h(&i2r),
            "key_responder_to_initiator": h(&r2i),
            "key_initiator_to_responder_after_first_rekey": h(&rekeyed)
        },
        "wire": {
            "T_B1": h(&t_b1),
            "T_A2": h(&t_a2),
            "confirm": h(&confirm),
            "firstDataFrame": h(&data)
        }
    })
}

#[test]
fn handshake_vectors_match_the_file() {
    let computed = compute();
    if let Some(out) = std::env::var_os("CHAINMAIL_WRITE_VECTORS") {
        let out = std::path::PathBuf::from(out);
        assert!(
            std::fs::canonicalize(&out).ok() != std::fs::canonicalize(PATH).ok(),
            "CHAINMAIL_WRITE_VECTORS must name another file: the test never rewrites what it checks"
        );
        std::fs::write(
            &out,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(computed, stored, "the protocol's bytes changed: see {PATH}");
}
