//! `NodeOptions::verify_on_chain`: the registry's `verifySession` is asked
//! about each session request after the local checks pass. With a long
//! status-cache TTL, an initiator revoked after its status was cached still
//! passes the local checks; the node that also asks the chain refuses it,
//! the one that does not accepts it (the window the option closes).

mod common;

use std::time::Duration;

use chainmail_core::SecretKey;
use chainmail_node::limits::Limits;
use chainmail_node::{Node, NodeOptions, SendStatus, send};
use common::*;

fn alice(
    reg: &std::sync::Arc<dyn chainmail_chain::Registry>,
    key: &SecretKey,
    dir: &std::path::Path,
    name: &str,
    verify_on_chain: bool,
) -> Node {
    node_with(
        reg,
        key,
        dir,
        name,
        NodeOptions {
            limits: Limits {
                status_ttl: Duration::from_secs(3600),
                ..test_limits()
            },
            verify_on_chain,
            ..NodeOptions::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_session_refuses_what_the_cache_would_let_through() {
    assert!(!NodeOptions::default().verify_on_chain, "off by default");
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let mut nodes = Vec::new();
    for (name, on) in [("strict", true), ("cached", false)] {
        let key = new_key();
        register(&reg, &key).await;
        let node = alice(&reg, &key, dir.path(), name, on);
        let running = listen(&node).await;
        set_endpoint(&reg, &key, &running.addr.to_string()).await;
        nodes.push((key, node, running));
    }
    let bob_key = new_key();
    register(&reg, &bob_key).await;
    // Bob caches statuses too, his own included (for an hour, as a real
    // node would for its TTL): he still sends after his revocation, and
    // what is tested is the responders' checks.
    let bob = node_with(
        &reg,
        &bob_key,
        dir.path(),
        "bob",
        NodeOptions {
            limits: Limits {
                status_ttl: Duration::from_secs(3600),
                ..common::test_limits()
            },
            ..NodeOptions::default()
        },
    );

    // While Bob is valid both accept him (so the strict node's chain call
    // says yes to a good request), and both cache his status.
    for (key, node, _) in &nodes {
        let out = send(&bob, key.address(), "before", TIMEOUT).await.unwrap();
        assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
        assert_eq!(node.store().inbox_after(0, 10).unwrap().len(), 1);
    }

    revoke(&reg, &bob_key).await;
    // The cached status still says valid: the node that only checks locally
    // accepts Bob; the one that asks verifySession is told IdentityRevoked.
    let (strict_key, strict, _) = &nodes[0];
    let (cached_key, cached, _) = &nodes[1];
    let out = send(&bob, cached_key.address(), "after", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    assert_eq!(cached.store().inbox_after(0, 10).unwrap().len(), 2);

    let out = send(&bob, strict_key.address(), "after", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert!(
        out.reason.as_deref().unwrap().contains("handshake"),
        "{:?}",
        out.reason
    );
    assert_eq!(strict.store().inbox_after(0, 10).unwrap().len(), 1);

    for (_, _, running) in nodes {
        running.stop().await;
    }
}
