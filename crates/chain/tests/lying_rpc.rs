//! The rpc backend against a lying provider: a real JSON-RPC proxy in front
//! of a real anvil rewrites answers the way a malicious or compromised
//! provider would. Every lie below is refused with `ProofMismatch` naming
//! the provider, and nothing it said is used: a revoked ID does not turn
//! valid again, an unregistered one is not whitelisted, a swapped state root
//! or other code is caught at once. (A *consistent* lie — a whole made-up
//! header whose hash and proofs match a state the provider invented — is
//! not caught by proofs alone: that takes the pinned chain and a quorum or
//! trusted head, still to come.)

mod common;

use chainmail_chain::{ChainError, Registry, RpcOptions, RpcRegistry};
use chainmail_core::eip712::Revocation;
use chainmail_core::{Address, SecretKey};
use common::lying::LyingRpc;
use common::{ANVIL_KEY_0, Anvil, certificate_at, id, key, sign};
use serde_json::Value;

/// anvil with the registry, an honest registry on it (for writes), and a
/// lying proxy in front of it.
async fn setup() -> (Anvil, RpcRegistry, LyingRpc) {
    let anvil = Anvil::start().await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let (address, _) = chainmail_chain::deploy(&anvil.url, &payer).await.unwrap();
    let honest = RpcRegistry::connect(&anvil.url, address, Some(&payer), RpcOptions::default())
        .await
        .unwrap();
    let proxy = LyingRpc::start(&anvil.url).await;
    (anvil, honest, proxy)
}

async fn reader(proxy: &LyingRpc, registry: Address) -> Result<RpcRegistry, ChainError> {
    RpcRegistry::connect(&proxy.url, registry, None, RpcOptions::default()).await
}

async fn register(honest: &RpcRegistry, k: &SecretKey) {
    let now = honest.now().await.unwrap();
    honest
        .register(&certificate_at(&honest.domain(), k, now))
        .await
        .unwrap();
}

/// The storage value the proxy passed on for `eth_getProof`'s first slot.
fn last_proven_value(proxy: &LyingRpc) -> Value {
    proxy
        .seen()
        .iter()
        .rev()
        .find(|(m, _, r)| m == "eth_getProof" && !r["storageProof"][0].is_null())
        .map(|(_, _, r)| r["storageProof"][0]["value"].clone())
        .expect("a storage proof was read")
}

/// From now on the proxy answers every storage read with `word`.
fn answer_storage_with(proxy: &LyingRpc, word: Value) {
    proxy.lie(move |method, _, result| {
        if method == "eth_getProof"
            && let Some(slot) = result["storageProof"].get_mut(0)
        {
            slot["value"] = word.clone();
        }
    });
}

fn assert_mismatch(result: Result<impl std::fmt::Debug, ChainError>, proxy: &LyingRpc) {
    match result {
        Err(e @ ChainError::ProofMismatch { .. }) => {
            let msg = e.to_string();
            let host = proxy.url.trim_start_matches("http://");
            assert!(msg.contains(host), "names the provider: {msg}");
        }
        other => panic!("expected ProofMismatch, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_id_replayed_as_valid_is_refused() {
    let (_anvil, honest, proxy) = setup().await;
    let k = key();
    register(&honest, &k).await;
    let lying = reader(&proxy, honest.domain().verifying_contract)
        .await
        .unwrap();
    // Honest so far: valid, and the proxy saw the status word it proved.
    assert!(lying.is_valid(id(&k)).await.unwrap());
    let valid_word = last_proven_value(&proxy);

    // The key is stolen; its owner revokes it.
    let now = honest.now().await.unwrap();
    honest
        .revoke(&sign(
            &k,
            &honest.domain(),
            Revocation {
                id: id(&k),
                revoked_at: now,
            },
        ))
        .await
        .unwrap();
    assert!(!lying.is_valid(id(&k)).await.unwrap(), "honest: revoked");

    // The provider (on the thief's side) answers with the old, valid word.
    answer_storage_with(&proxy, valid_word);
    assert_mismatch(lying.is_valid(id(&k)).await, &proxy);
    assert_mismatch(lying.status(id(&k)).await, &proxy);
    // Back to honest answers, the truth again.
    proxy.honest();
    assert!(!lying.is_valid(id(&k)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_id_whitelisted_by_the_provider_is_refused() {
    let (_anvil, honest, proxy) = setup().await;
    let k = key();
    register(&honest, &k).await;
    let lying = reader(&proxy, honest.domain().verifying_contract)
        .await
        .unwrap();
    assert!(lying.is_valid(id(&k)).await.unwrap());
    let valid_word = last_proven_value(&proxy);
    // A stranger's ID, never registered: the provider claims it holds the
    // registered ID's word (an exclusion proof shown as an inclusion).
    let stranger = key();
    assert!(!lying.is_valid(id(&stranger)).await.unwrap());
    answer_storage_with(&proxy, valid_word);
    assert_mismatch(lying.is_valid(id(&stranger)).await, &proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_state_root_or_a_cut_proof_is_refused() {
    let (_anvil, honest, proxy) = setup().await;
    let k = key();
    register(&honest, &k).await;
    let lying = reader(&proxy, honest.domain().verifying_contract)
        .await
        .unwrap();
    assert!(lying.is_valid(id(&k)).await.unwrap());

    // A header whose state root is not the one its hash commits to.
    proxy.lie(|method, _, result| {
        if method == "eth_getBlockByNumber" && result.is_object() {
            result["stateRoot"] = Value::String(format!("0x{}", "11".repeat(32)));
        }
    });
    assert_mismatch(lying.is_valid(id(&k)).await, &proxy);

    // The account proof cut short.
    proxy.lie(|method, _, result| {
        if method == "eth_getProof"
            && let Some(nodes) = result["accountProof"].as_array_mut()
        {
            nodes.truncate(1);
        }
    });
    assert_mismatch(lying.is_valid(id(&k)).await, &proxy);

    // The storage proof of another slot (the answer to a question not asked).
    proxy.lie(|method, _, result| {
        if method == "eth_getProof"
            && let Some(slot) = result["storageProof"].get_mut(0)
        {
            slot["key"] = Value::String(format!("0x{}", "22".repeat(32)));
        }
    });
    assert_mismatch(lying.is_valid(id(&k)).await, &proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_code_served_for_the_registry_is_refused_at_connect() {
    let (_anvil, honest, proxy) = setup().await;
    let registry = honest.domain().verifying_contract;
    // Code that is not the proven account's (a contract that would answer
    // "valid" to everything, say).
    proxy.lie(|method, _, result| {
        if method == "eth_getCode" {
            *result = Value::String("0x6001600052".into());
        }
    });
    assert_mismatch(reader(&proxy, registry).await.map(|_| ()), &proxy);
    proxy.honest();
    reader(&proxy, registry).await.expect("honest again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inflated_fee_quote_or_gas_estimate_is_refused_before_signing() {
    let (_anvil, honest, proxy) = setup().await;
    let registry = honest.domain().verifying_contract;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let paying = |options: RpcOptions| {
        let (url, payer) = (proxy.url.clone(), payer.clone_key());
        async move {
            RpcRegistry::connect(&url, registry, Some(&payer), options)
                .await
                .unwrap()
        }
    };
    let sent = |proxy: &LyingRpc| {
        proxy
            .seen()
            .iter()
            .filter(|(m, _, _)| m.starts_with("eth_send"))
            .count()
    };
    let alice = key();
    let now = honest.now().await.unwrap();
    let cert = certificate_at(&honest.domain(), &alice, now);

    // A base fee of 10 000 gwei in the fee history: the quote is refused.
    proxy.lie(|method, _, result| {
        if method == "eth_feeHistory"
            && let Some(fees) = result["baseFeePerGas"].as_array_mut()
        {
            for f in fees {
                *f = Value::String("0x9184e72a000".into());
            }
        }
    });
    let reg = paying(RpcOptions::default()).await;
    match reg.register(&cert).await {
        Err(ChainError::FeeTooHigh { what, cap, .. }) => {
            assert_eq!(what, "fee per gas");
            assert_eq!(cap, "300 gwei");
        }
        other => panic!("expected FeeTooHigh, got {other:?}"),
    }
    assert_eq!(sent(&proxy), 0, "nothing was sent");
    assert!(
        !honest
            .status(alice.address())
            .await
            .unwrap()
            .is_registered()
    );

    // A gas cap below what the call needs: refused the same way.
    proxy.honest();
    let tight = paying(RpcOptions {
        max_gas: 21_000,
        ..RpcOptions::default()
    })
    .await;
    assert!(matches!(
        tight.register(&cert).await,
        Err(ChainError::FeeTooHigh { what: "gas", .. })
    ));
    assert_eq!(sent(&proxy), 0);

    // Honest quotes within the caps: registered.
    reg.register(&cert).await.expect("honest quotes");
    assert_eq!(sent(&proxy), 1);
    assert!(
        honest
            .status(alice.address())
            .await
            .unwrap()
            .is_registered()
    );
}
