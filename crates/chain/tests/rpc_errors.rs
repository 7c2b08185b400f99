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
