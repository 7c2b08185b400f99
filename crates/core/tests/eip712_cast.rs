//! Proves the hand-written EIP-712 encoding against Foundry: every struct of
//! `tests/vectors/eip712.json` was signed by `cast wallet sign --data`
//! (regenerate with `gen_eip712.py`); since ECDSA here and in cast is RFC 6979
//! deterministic, equal signatures mean equal digests.

use chainmail_core::eip712::{
    Certificate, Domain, Endpoint, Message, MessageBatch, Renewal, Revocation, SessionRequest,
    SessionResponse, Signed, TypedData,
};
use chainmail_core::{SecretKey, Signature};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn check<T: TypedData + DeserializeOwned>(
    key: &SecretKey,
    domain: &Domain,
    message: &Value,
    expected: &str,
) {
    let payload: T = serde_json::from_value(message.clone()).expect("message fields");
    let signed = Signed::sign(key, domain, payload);
    assert_eq!(signed.signature.to_string(), expected, "{}", T::TYPE);
    // And cast's signature verifies through our recovery.
    let theirs: Signature = expected.parse().unwrap();
    let signed = Signed {
        payload: signed.payload,
        signature: theirs,
    };
    signed.verify(domain, &key.address()).unwrap();
}

#[test]
fn digests_and_signatures_match_cast() {
    let text = include_str!("vectors/eip712.json");
    let file: Value = serde_json::from_str(text).unwrap();
    let secret: [u8; 32] = hex::decode(&file["privateKey"].as_str().unwrap()[2..])
        .unwrap()
        .try_into()
        .unwrap();
    let key = SecretKey::from_bytes(&secret).unwrap();
    let domain = Domain {
        chain_id: file["domain"]["chainId"].as_u64().unwrap(),
        verifying_contract: file["domain"]["verifyingContract"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    };
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 8);
    for v in vectors {
        let message = &v["message"];
        let sig = v["signature"].as_str().unwrap();
        match v["primaryType"].as_str().unwrap() {
            "Certificate" => check::<Certificate>(&key, &domain, message, sig),
            "Renewal" => check::<Renewal>(&key, &domain, message, sig),
            "Revocation" => check::<Revocation>(&key, &domain, message, sig),
            "Endpoint" => check::<Endpoint>(&key, &domain, message, sig),
            "SessionRequest" => check::<SessionRequest>(&key, &domain, message, sig),
            "SessionResponse" => check::<SessionResponse>(&key, &domain, message, sig),
            "Message" => check::<Message>(&key, &domain, message, sig),
            "MessageBatch" => check::<MessageBatch>(&key, &domain, message, sig),
            other => panic!("unexpected type {other}"),
        }
    }
}
