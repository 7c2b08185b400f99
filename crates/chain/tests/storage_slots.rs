//! The storage slots the proof-checked reads ask for are where the deployed
//! contract keeps its facts: each slot of `verified::slots`, read with
//! `cast storage` on a real anvil, holds the word the contract's views return.

mod common;

use std::process::Command;

use alloy::primitives::{B256, U256};
use chainmail_chain::verified::slots;
use chainmail_chain::{Registry, RpcOptions, RpcRegistry};
use chainmail_core::SecretKey;
use chainmail_core::eip712::Endpoint;
use common::{ANVIL_KEY_0, Anvil, certificate_at, key, sign};

/// `cast storage REGISTRY SLOT` as a number.
fn cast_storage(url: &str, registry: &str, slot: B256) -> U256 {
    let out = Command::new(common::cast_binary())
        .args(["storage", registry, &slot.to_string(), "--rpc-url", url])
        .output()
        .expect("run cast");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim()
        .parse::<U256>()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_hold_what_the_views_return() {
    let anvil = Anvil::start().await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let (registry, _) = chainmail_chain::deploy(&anvil.url, &payer).await.unwrap();
    let reg = RpcRegistry::connect(&anvil.url, registry, Some(&payer), RpcOptions::default())
        .await
        .unwrap();
    let r = registry.to_string();
    let k = key();
    let id = k.address();
    let now = reg.now().await.unwrap();
    assert_eq!(
        cast_storage(&anvil.url, &r, slots::status_slot(id)),
        U256::ZERO
    );
    let outcome = reg
        .register(&certificate_at(&reg.domain(), &k, now))
        .await
        .unwrap();

    let word = cast_storage(&anvil.url, &r, slots::status_slot(id));
    let status = reg.status(id).await.unwrap();
    assert_eq!(slots::decode_status_word(word), status);
    assert_eq!(status.registered_block, outcome.block);

    let endpoint_words = |_: ()| {
        let seq = cast_storage(&anvil.url, &r, slots::endpoint_sequence_slot(id));
        let header = cast_storage(&anvil.url, &r, slots::endpoint_string_slot(id));
        let data: Vec<U256> = match slots::string_layout(header) {
            Some(slots::StringLayout::Long(len)) => (0..len.div_ceil(32) as u64)
                .map(|i| {
                    cast_storage(
                        &anvil.url,
                        &r,
                        slots::long_string_data_slot(slots::endpoint_string_slot(id), i),
                    )
                })
                .collect(),
            _ => vec![],
        };
        slots::decode_endpoint(seq, header, &data).unwrap()
    };
    assert_eq!(endpoint_words(()), None);
    // A short string (in its slot), then a long one (in data slots), then the longest.
    for (endpoint, sequence) in [
        ("203.0.113.7:7400".to_string(), 5),
        (
            "relay.example.org:7400/some/long/path/for/the/test".to_string(),
            6,
        ),
        ("z".repeat(255), 7),
    ] {
        let e = sign(
            &k,
            &reg.domain(),
            Endpoint {
                id,
                endpoint: endpoint.clone(),
                sequence,
            },
        );
        reg.set_endpoint(&e).await.unwrap();
        let got = endpoint_words(()).unwrap();
        assert_eq!(
            (got.endpoint.as_str(), got.sequence),
            (endpoint.as_str(), sequence)
        );
        assert_eq!(Some(got), reg.endpoint(id).await.unwrap());
    }
}
