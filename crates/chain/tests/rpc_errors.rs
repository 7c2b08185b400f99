//! The rpc backend's errors, each provoked on a real anvil (or a dead port):
//! unreachable node, no contract at the address, wrong chain id, a payer
//! without ether, no payer at all, a malformed URL.

mod common;

use std::net::{Ipv4Addr, TcpListener};

use chainmail_chain::{ChainError, RpcOptions, RpcRegistry};
use chainmail_core::{Address, SecretKey};
use common::{ANVIL_KEY_0, Anvil, certificate_at, key};

#[tokio::test]
async fn unreachable_node_is_named() {
    // A port that was free a moment ago and has no listener now.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/secret-api-key");
    let any: Address = "0x0000000000000000000000000000000000000001"
        .parse()
        .unwrap();
    match RpcRegistry::connect(&url, any, None, RpcOptions::default()).await {
        Err(e @ ChainError::Unreachable { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
            assert!(
                !msg.contains("secret-api-key"),
                "the URL path can hold an API key: {msg}"
            );
        }
        other => panic!("expected Unreachable, got {:?}", other.err()),
    }
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    assert!(matches!(
        chainmail_chain::deploy(&url, &payer).await,
        Err(ChainError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn bad_urls_are_refused() {
    let any: Address = "0x0000000000000000000000000000000000000001"
        .parse()
        .unwrap();
    for url in ["ftp://127.0.0.1:1", "not a url", ""] {
        assert!(
            matches!(
                RpcRegistry::connect(url, any, None, RpcOptions::default()).await,
                Err(ChainError::InvalidArgument(_))
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn no_contract_wrong_chain_no_funds_no_payer() {
    let anvil = Anvil::start().await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let (registry, _) = chainmail_chain::deploy(&anvil.url, &payer).await.unwrap();

    // No code at the address.
    let empty = key().address();
    match RpcRegistry::connect(&anvil.url, empty, Some(&payer), RpcOptions::default()).await {
        Err(ChainError::NoContract(a)) => assert_eq!(a, empty),
        other => panic!("expected NoContract, got {:?}", other.err()),
    }

    // Wrong chain id.
    let opts = RpcOptions {
        expected_chain_id: Some(5),
        ..RpcOptions::default()
    };
    match RpcRegistry::connect(&anvil.url, registry, Some(&payer), opts).await {
        Err(ChainError::WrongChainId {
            expected: 5,
            got: 31337,
        }) => {}
        other => panic!("expected WrongChainId, got {:?}", other.err()),
    }

    // A payer with no ether: the error names the payer.
    let poor = key();
    let reg = RpcRegistry::connect(&anvil.url, registry, Some(&poor), RpcOptions::default())
        .await
        .unwrap();
    let k = key();
    let now = chainmail_chain::Registry::now(&reg).await.unwrap();
    let cert = certificate_at(&chainmail_chain::Registry::domain(&reg), &k, now);
    match chainmail_chain::Registry::register(&reg, &cert).await {
        Err(ChainError::InsufficientFunds { payer, .. }) => assert_eq!(payer, poor.address()),
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }

    // Views work without a payer; writes say a payer is needed.
    let reader = RpcRegistry::connect(&anvil.url, registry, None, RpcOptions::default())
        .await
        .unwrap();
    assert!(
        !chainmail_chain::Registry::is_valid(&reader, k.address())
            .await
            .unwrap()
    );
    assert!(matches!(
        chainmail_chain::Registry::register(&reader, &cert).await,
        Err(ChainError::NoPayer)
    ));

    // The same certificate, relayed by the funded payer, goes through.
    let relayer = RpcRegistry::connect(&anvil.url, registry, Some(&payer), RpcOptions::default())
        .await
        .unwrap();
    chainmail_chain::Registry::register(&relayer, &cert)
        .await
        .unwrap();
    assert!(
        chainmail_chain::Registry::is_valid(&reader, k.address())
            .await
            .unwrap()
    );
}

/// Calls `evm_mine` until `task` finishes (anvil without automine only mines on request).
async fn mine_until<T>(url: &str, task: tokio::task::JoinHandle<T>) -> T {
    use alloy::providers::{Provider, ProviderBuilder};
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !task.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the transaction never completed"
        );
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
        // Let the waiting task see the new block before mining the next one.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.await.unwrap()
}

/// Polls anvil's pool until it holds `n` pending transactions (`true`) or
/// `give_up()` holds (`false`).
async fn wait_for_pending_or(url: &str, n: u64, give_up: impl Fn() -> bool) -> bool {
    use alloy::providers::{Provider, ProviderBuilder};
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status: serde_json::Value = p.raw_request("txpool_status".into(), ()).await.unwrap();
        let pending = status["pending"]
            .as_str()
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
        if pending == Some(n) {
            return true;
        }
        if give_up() {
            return false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pool never reached {n} transactions: {status}"
        );
        // Poll interval; the condition is the pool content.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_n_confirmations() {
    use alloy::providers::{Provider, ProviderBuilder};
    let anvil = Anvil::start().await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let (registry, _) = chainmail_chain::deploy(&anvil.url, &payer).await.unwrap();
    let opts = RpcOptions {
        confirmations: 3,
        ..RpcOptions::default()
    };
    let reg = RpcRegistry::connect(&anvil.url, registry, Some(&payer), opts)
        .await
        .unwrap();
    let k = key();
    let now = chainmail_chain::Registry::now(&reg).await.unwrap();
    let cert = certificate_at(&chainmail_chain::Registry::domain(&reg), &k, now);
    let task = tokio::spawn(async move { chainmail_chain::Registry::register(&reg, &cert).await });
    let outcome = mine_until(&anvil.url, task).await.unwrap();
    let p = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap());
    let head = p.get_block_number().await.unwrap();
    assert!(
        head >= outcome.block + 2,
        "returned at block {head}, included in {}: fewer than 3 confirmations",
        outcome.block
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmined_transaction_is_reported_dropped() {
    let anvil = Anvil::start_with(&["--no-mining"]).await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let deploy = {
        let url = anvil.url.clone();
        let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
        tokio::spawn(async move { chainmail_chain::deploy(&url, &payer).await })
    };
    let (registry, _) = mine_until(&anvil.url, deploy).await.unwrap();
    // Nobody mines any more: the receipt never comes.
    let opts = RpcOptions {
        receipt_timeout: std::time::Duration::from_secs(2),
        ..RpcOptions::default()
    };
    let reg = RpcRegistry::connect(&anvil.url, registry, Some(&payer), opts)
        .await
        .unwrap();
    let k = key();
    let now = chainmail_chain::Registry::now(&reg).await.unwrap();
    let cert = certificate_at(&chainmail_chain::Registry::domain(&reg), &k, now);
    match chainmail_chain::Registry::register(&reg, &cert).await {
        Err(ChainError::Dropped { tx_hash, .. }) => {
            assert!(tx_hash.starts_with("0x") && tx_hash.len() == 66)
        }
        other => panic!("expected Dropped, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_failing_in_its_block_is_reported_reverted() {
    let anvil = Anvil::start_with(&["--no-mining"]).await;
    let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
    let deploy = {
        let url = anvil.url.clone();
        let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
        tokio::spawn(async move { chainmail_chain::deploy(&url, &payer).await })
    };
    let (registry, _) = mine_until(&anvil.url, deploy).await.unwrap();
    // Two relayers submit the same certificate before a block is mined: both
    // pass gas estimation, the second fails inside the block (AlreadyRegistered).
    let second_payer = SecretKey::from_bytes(&common::ANVIL_KEY_1).unwrap();
    let a = RpcRegistry::connect(&anvil.url, registry, Some(&payer), RpcOptions::default())
        .await
        .unwrap();
    let b = RpcRegistry::connect(
        &anvil.url,
        registry,
        Some(&second_payer),
        RpcOptions::default(),
    )
    .await
    .unwrap();
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    // The race being tested needs both transactions in the pool before a
    // block is mined. A relayer whose gas estimate runs after the other's
    // transaction reached the pool is refused before sending (that is the
    // preflight working, not this test's case): then mine, and set the race
    // up again with a new ID.
    let mut attempts = 0;
    let (ra, rb) = loop {
        attempts += 1;
        assert!(attempts <= 10, "never got both transactions into the pool");
        let k = key();
        let now = chainmail_chain::Registry::now(&*a).await.unwrap();
        let cert = certificate_at(&chainmail_chain::Registry::domain(&*a), &k, now);
        let (c1, c2) = (cert.clone(), cert);
        let (a2, b2) = (a.clone(), b.clone());
        let ta = tokio::spawn(async move { chainmail_chain::Registry::register(&*a2, &c1).await });
        let tb = tokio::spawn(async move { chainmail_chain::Registry::register(&*b2, &c2).await });
        let both_in_pool =
            wait_for_pending_or(&anvil.url, 2, || ta.is_finished() || tb.is_finished()).await;
        let both = tokio::spawn(async move { (ta.await.unwrap(), tb.await.unwrap()) });
        let results = mine_until(&anvil.url, both).await;
        if both_in_pool {
            break results;
        }
    };
    let results = [ra, rb];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(ChainError::Reverted { .. }))),
        "{results:?}"
    );
}
