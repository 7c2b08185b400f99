//! One registry address on every chain and the pinned chain (issue 14 item
//! 1), on real anvils: `deploy` goes through the deterministic deployment
//! proxy to the address computed here (and by `cast create2`), twice is one
//! deployment, a race of two is two successes, wrong code there or no proxy
//! are named errors; a pin taken on one anvil refuses another anvil with the
//! same chain id (a different genesis) before anything is signed.

mod common;

use std::process::Command;

use alloy::primitives::keccak256;
use alloy::providers::{Provider, ProviderBuilder};
use chainmail_chain::create2::{
    DEPLOYMENT_PROXY, registry_address, registry_init_code_hash, registry_salt,
};
use chainmail_chain::{ChainError, ChainPin, Registry, RpcOptions, RpcRegistry};
use chainmail_core::{Address, SecretKey};
use common::{ANVIL_KEY_0, ANVIL_KEY_1, Anvil, cast_binary, certificate_at, key};

fn payer() -> SecretKey {
    SecretKey::from_bytes(&ANVIL_KEY_0).unwrap()
}

async fn code_at(url: &str, a: Address) -> Vec<u8> {
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    p.get_code_at(a.0.into()).await.unwrap().to_vec()
}

async fn nonce_of(url: &str, a: Address) -> u64 {
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    p.get_transaction_count(a.0.into()).await.unwrap()
}

async fn set_code(url: &str, a: Address, code: &str) {
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let _: serde_json::Value = p
        .raw_request("anvil_setCode".into(), (a.to_string(), code))
        .await
        .unwrap();
}

#[test]
fn the_address_is_what_cast_create2_computes() {
    let out = Command::new(cast_binary())
        .args([
            "create2",
            "--deployer",
            &DEPLOYMENT_PROXY.to_string(),
            "--salt",
            &registry_salt().to_string(),
            "--init-code-hash",
            &registry_init_code_hash().to_string(),
        ])
        .output()
        .expect("cast runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `cast create2` prints the address alone (older versions: "Address: 0x…").
    let printed = text.trim().trim_start_matches("Address:").trim();
    assert_eq!(printed, registry_address().to_string());
}

#[tokio::test]
async fn deploy_twice_is_one_registry_at_the_computed_address() {
    let anvil = Anvil::start().await;
    let (first, sent) = chainmail_chain::deploy(&anvil.url, &payer()).await.unwrap();
    assert_eq!(
        first,
        registry_address(),
        "the computed address, not a receipt's"
    );
    assert!(sent.is_some(), "the first deploy sends a transaction");
    let nonce = nonce_of(&anvil.url, payer().address()).await;
    let (second, again) = chainmail_chain::deploy(&anvil.url, &payer()).await.unwrap();
    assert_eq!(
        (second, again),
        (first, None),
        "already there: success, nothing sent"
    );
    assert_eq!(nonce_of(&anvil.url, payer().address()).await, nonce);
    // And it is the registry: it answers.
    let reg = RpcRegistry::connect(&anvil.url, first, Some(&payer()), RpcOptions::default())
        .await
        .unwrap();
    let k = key();
    let now = reg.now().await.unwrap();
    reg.register(&certificate_at(&reg.domain(), &k, now))
        .await
        .unwrap();
    assert!(reg.is_valid(k.address()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_deploys_both_succeed_with_one_transaction() {
    let anvil = Anvil::start_with(&["--no-mining"]).await;
    let spawn = |key: [u8; 32]| {
        let url = anvil.url.clone();
        tokio::spawn(async move {
            chainmail_chain::deploy(&url, &SecretKey::from_bytes(&key).unwrap()).await
        })
    };
    let (a, b) = (spawn(ANVIL_KEY_0), spawn(ANVIL_KEY_1));
    // Mine until both are done: whichever transaction is mined first creates
    // the registry, the other's (if sent) reverts in the proxy.
    let p = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(a.is_finished() && b.is_finished()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the deploys never completed"
        );
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
        tokio::task::yield_now().await;
    }
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!((a.0, b.0), (registry_address(), registry_address()));
    assert_eq!(
        [a.1, b.1].iter().filter(|o| o.is_some()).count(),
        1,
        "exactly one deployment: {a:?} {b:?}"
    );
}

#[tokio::test]
async fn other_code_at_the_address_or_no_proxy_is_named() {
    let anvil = Anvil::start().await;
    set_code(&anvil.url, registry_address(), "0x6000").await;
    match chainmail_chain::deploy(&anvil.url, &payer()).await {
        Err(ChainError::WrongContract(a)) => assert_eq!(a, registry_address()),
        other => panic!("expected WrongContract, got {other:?}"),
    }
    let anvil = Anvil::start().await;
    set_code(&anvil.url, DEPLOYMENT_PROXY, "0x").await;
    match chainmail_chain::deploy(&anvil.url, &payer()).await {
        Err(e @ ChainError::NoDeployer { .. }) => {
            assert!(e.to_string().contains(&DEPLOYMENT_PROXY.to_string()), "{e}")
        }
        other => panic!("expected NoDeployer, got {other:?}"),
    }
    assert_eq!(
        nonce_of(&anvil.url, payer().address()).await,
        0,
        "nothing sent"
    );
}

/// Two anvils with the same chain id (31337) and different genesis blocks
/// (another block gas limit: anvil's genesis has the empty state root, so balances would not change its hash), each with the registry at the same address.
async fn two_chains() -> (Anvil, Anvil, ChainPin) {
    let a = Anvil::start().await;
    let b = Anvil::start_with(&["--gas-limit", "40000000"]).await;
    chainmail_chain::deploy(&a.url, &payer()).await.unwrap();
    chainmail_chain::deploy(&b.url, &payer()).await.unwrap();
    let pin = RpcRegistry::connect(&a.url, registry_address(), None, RpcOptions::default())
        .await
        .unwrap()
        .pin();
    (a, b, pin)
}

#[tokio::test]
async fn a_pin_of_one_anvil_refuses_another_with_the_same_chain_id() {
    let (a, b, pin) = two_chains().await;
    assert_eq!(pin.chain_id, 31337);
    assert_eq!(pin.registry, registry_address());
    let pinned = RpcOptions {
        pin: Some(pin),
        ..RpcOptions::default()
    };
    // The pinned chain opens; its code hash is the artifact's.
    let on_a = RpcRegistry::connect(&a.url, registry_address(), Some(&payer()), pinned.clone())
        .await
        .unwrap();
    assert_eq!(on_a.pin(), pin);
    let expected = chainmail_chain::verified::code::expected_code_hash(&on_a.domain()).unwrap();
    assert_eq!(pin.code_hash, expected.0);
    assert_eq!(
        keccak256(code_at(&a.url, registry_address()).await).0,
        pin.code_hash
    );

    // The other anvil: same chain id, same registry address and code, another genesis.
    let nonce = nonce_of(&b.url, payer().address()).await;
    match RpcRegistry::connect(&b.url, registry_address(), Some(&payer()), pinned.clone()).await {
        Err(
            e @ ChainError::ChainMismatch {
                what: "genesis block hash",
                ..
            },
        ) => {
            assert!(e.to_string().contains("chain pin --force"), "{e}")
        }
        other => panic!(
            "expected ChainMismatch on the genesis, got {:?}",
            other.err()
        ),
    }
    match chainmail_chain::rpc::deploy_with(&b.url, &payer(), &pinned).await {
        Err(ChainError::ChainMismatch { what, .. }) => assert_eq!(what, "genesis block hash"),
        other => panic!("expected ChainMismatch, got {other:?}"),
    }
    assert_eq!(
        nonce_of(&b.url, payer().address()).await,
        nonce,
        "nothing sent to B"
    );

    // Another registry on the pinned chain.
    let other = RpcOptions {
        pin: Some(ChainPin {
            registry: key().address(),
            ..pin
        }),
        ..RpcOptions::default()
    };
    match RpcRegistry::connect(&a.url, registry_address(), None, other).await {
        Err(ChainError::ChainMismatch { what, .. }) => assert_eq!(what, "registry address"),
        other => panic!("expected ChainMismatch, got {:?}", other.err()),
    }
}
