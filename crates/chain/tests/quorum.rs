//! A quorum of RPC providers (issue 14, item 3), against a real anvil: three
//! lying-RPC proxies in front of ONE anvil (three anvils would be three
//! chains, each with its own genesis), some of which forge the block header
//! — a whole consistent one (another state root, its hash recomputed), or a
//! swapped state root under the old hash. One liar of three is outvoted
//! (even when it is the first URL, the one transactions go through): the
//! reads rest on the header the other two agree on. Two liars of three, or
//! one of three when all three must agree, is `QuorumFailed`, naming them.

mod common;

use alloy::primitives::B256;
use chainmail_chain::{ChainError, Registry, RpcOptions, RpcRegistry, Trust};
use chainmail_core::{Address, SecretKey};
use common::lying::LyingRpc;
use common::{ANVIL_KEY_0, Anvil, certificate_at, id, key};
use serde_json::{Value, json};

/// anvil with the registry, an honest registry on it (for writes) and
/// three honest proxies in front of it.
async fn setup() -> (Anvil, RpcRegistry, [LyingRpc; 3]) {
    let anvil = Anvil::start().await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let (address, _) = chainmail_chain::deploy(&anvil.url, &payer).await.unwrap();
    let honest = RpcRegistry::connect(&anvil.url, address, Some(&payer), RpcOptions::default())
        .await
        .unwrap();
    let proxies = [
        LyingRpc::start(&anvil.url).await,
        LyingRpc::start(&anvil.url).await,
        LyingRpc::start(&anvil.url).await,
    ];
    (anvil, honest, proxies)
}

/// A fresh key registered through the honest registry.
async fn registered(honest: &RpcRegistry) -> SecretKey {
    let k = key();
    let now = honest.now().await.unwrap();
    honest
        .register(&certificate_at(&honest.domain(), &k, now))
        .await
        .unwrap();
    k
}

fn urls(proxies: &[LyingRpc]) -> Vec<String> {
    proxies.iter().map(|p| p.url.clone()).collect()
}

async fn quorum(
    proxies: &[LyingRpc],
    k: Option<usize>,
    registry: Address,
) -> Result<RpcRegistry, ChainError> {
    RpcRegistry::connect_quorum(&urls(proxies), k, registry, None, RpcOptions::default()).await
}

/// A header the proxy forges consistently: another state root (say, of a
/// state where a revoked key is valid), its hash recomputed from the fields.
fn forge_consistent_header(proxy: &LyingRpc, root: u8) {
    proxy.lie(move |method, _, result| {
        if method == "eth_getBlockByNumber" && result.is_object() {
            let mut h: alloy::rpc::types::Header = serde_json::from_value(result.clone()).unwrap();
            h.inner.state_root = B256::repeat_byte(root);
            result["stateRoot"] = json!(h.inner.state_root);
            result["hash"] = json!(h.inner.hash_slow());
        }
    });
}

/// A swapped state root under the header's old hash.
fn swap_state_root(proxy: &LyingRpc) {
    proxy.lie(|method, _, result| {
        if method == "eth_getBlockByNumber" && result.is_object() {
            result["stateRoot"] = Value::String(format!("0x{}", "22".repeat(32)));
        }
    });
}

fn host(proxy: &LyingRpc) -> &str {
    proxy.url.trim_start_matches("http://")
}

/// Expects `QuorumFailed` whose message names each of `named`.
fn assert_quorum_failed(
    result: Result<impl std::fmt::Debug, ChainError>,
    k: usize,
    named: &[&LyingRpc],
) {
    match result {
        Err(e @ ChainError::QuorumFailed { .. }) => {
            let ChainError::QuorumFailed { k: got_k, n, .. } = &e else {
                unreachable!()
            };
            assert_eq!((*got_k, *n), (k, 3), "{e}");
            let msg = e.to_string();
            for p in named {
                assert!(msg.contains(host(p)), "names {}: {msg}", p.url);
            }
        }
        other => panic!("expected QuorumFailed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_liar_of_three_is_outvoted_even_as_the_first_url() {
    let (_anvil, honest, proxies) = setup().await;
    let registry = honest.domain().verifying_contract;
    let k = registered(&honest).await;
    // The first URL forges every header, block 0's too; the third reports
    // a head far ahead (heads differ: the 2nd highest is the candidate).
    forge_consistent_header(&proxies[0], 0x11);
    proxies[2].lie(|method, _, result| {
        if method == "eth_blockNumber" {
            *result = json!("0xffff");
        }
    });
    let reg = quorum(&proxies, None, registry)
        .await
        .expect("two of three agree");
    assert_eq!(reg.trust(), Trust::Quorum { k: 2, n: 3 });
    assert_eq!(reg.trust().to_string(), "quorum 2/3");
    assert_eq!(reg.pin(), honest.pin(), "the honest genesis is pinned");
    let status = reg.status(id(&k)).await.expect("the majority's header");
    assert!(status.is_registered());
    assert!(reg.is_valid(id(&k)).await.unwrap());
    // No block was mined since: the honest provider's own head.
    honest.status(id(&k)).await.unwrap();
    assert!(reg.verified_block().is_some());
    assert_eq!(reg.verified_block(), honest.verified_block());
    // A swapped root from the second instead: still outvoted.
    proxies[0].honest();
    swap_state_root(&proxies[1]);
    assert!(reg.status(id(&k)).await.unwrap().is_registered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_liars_of_three_or_one_of_three_of_three_is_quorum_failed() {
    let (_anvil, honest, proxies) = setup().await;
    let registry = honest.domain().verifying_contract;
    let k = registered(&honest).await;
    let reg = quorum(&proxies, None, registry)
        .await
        .expect("honest so far");
    assert!(reg.status(id(&k)).await.unwrap().is_registered());

    // Two lie, each its own way: no two agree.
    forge_consistent_header(&proxies[1], 0x11);
    swap_state_root(&proxies[2]);
    assert_quorum_failed(reg.status(id(&k)).await, 2, &[&proxies[1], &proxies[2]]);
    assert_quorum_failed(reg.is_valid(id(&k)).await, 2, &[&proxies[1]]);
    assert_quorum_failed(reg.endpoint(id(&k)).await, 2, &[&proxies[1]]);
    // Connecting anew fails at block 0 already.
    assert_quorum_failed(
        quorum(&proxies, None, registry).await.map(|_| ()),
        2,
        &[&proxies[1], &proxies[2]],
    );

    // One liar, but all three must agree.
    proxies[2].honest();
    let all = quorum(&proxies[..], Some(3), registry).await.map(|_| ());
    assert_quorum_failed(all, 3, &[&proxies[1]]);
    // Without the lie, three of three.
    proxies[1].honest();
    let all = quorum(&proxies, Some(3), registry).await.unwrap();
    assert_eq!(all.trust().to_string(), "quorum 3/3");
    assert!(all.status(id(&k)).await.unwrap().is_registered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_url_is_single_rpc_and_a_quorum_is_between_one_and_n() {
    let (_anvil, honest, proxies) = setup().await;
    let registry = honest.domain().verifying_contract;
    let one = quorum(&proxies[..1], None, registry).await.unwrap();
    assert_eq!(one.trust().to_string(), "single-rpc");
    assert_eq!(one.verified_block(), None, "nothing read yet");
    one.status(id(&key())).await.unwrap();
    assert!(one.verified_block().is_some());
    for (n, k) in [(1, 2), (3, 0), (3, 4)] {
        assert!(
            matches!(
                quorum(&proxies[..n], Some(k), registry).await,
                Err(ChainError::InvalidArgument(_))
            ),
            "{k} of {n}"
        );
    }
}
