//! A flood of T_B1s does not turn into a flood of chain calls: junk is
//! refused by local checks before any lookup, and genuine requests hit the
//! status cache. The registry is the real embedded one, wrapped to count
//! the calls that reach it. Also: the per-source rate limit.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chainmail_chain::{ChainError, EndpointRecord, Registry, TxOutcome};
use chainmail_core::eip712::{
    Certificate, Domain, Endpoint, Renewal, Revocation, SessionRequest, Signed,
};
use chainmail_core::handshake::Initiator;
use chainmail_core::{Address, IdStatus, PublicKey};
use chainmail_node::limits::Limits;
use chainmail_node::store::Store;
use chainmail_node::{Node, NodeOptions, SendStatus, send};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real registry, counting lookups.
struct Counting {
    inner: Arc<dyn Registry>,
    lookups: AtomicUsize,
}

#[async_trait]
impl Registry for Counting {
    fn domain(&self) -> Domain {
        self.inner.domain()
    }
    async fn register(&self, c: &Signed<Certificate>) -> Result<TxOutcome, ChainError> {
        self.inner.register(c).await
    }
    async fn renew(&self, r: &Signed<Renewal>) -> Result<TxOutcome, ChainError> {
        self.inner.renew(r).await
    }
    async fn revoke(&self, r: &Signed<Revocation>) -> Result<TxOutcome, ChainError> {
        self.inner.revoke(r).await
    }
    async fn set_endpoint(&self, e: &Signed<Endpoint>) -> Result<TxOutcome, ChainError> {
        self.inner.set_endpoint(e).await
    }
    async fn status(&self, id: Address) -> Result<IdStatus, ChainError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.status(id).await
    }
    async fn is_valid(&self, id: Address) -> Result<bool, ChainError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.is_valid(id).await
    }
    async fn public_key(&self, id: Address) -> Result<Option<PublicKey>, ChainError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.public_key(id).await
    }
    async fn public_key_at(&self, id: Address, block: u64) -> Result<PublicKey, ChainError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.public_key_at(id, block).await
    }
    async fn endpoint(&self, id: Address) -> Result<Option<EndpointRecord>, ChainError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.endpoint(id).await
    }
    async fn verify_session(&self, r: &Signed<SessionRequest>) -> Result<(), ChainError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.verify_session(r).await
    }
    async fn now(&self) -> Result<u64, ChainError> {
        self.inner.now().await
    }
}

async fn drain(mut s: TcpStream) -> usize {
    let mut n = 0;
    let mut buf = [0u8; 1024];
    let done = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(k) = s.read(&mut buf).await {
            if k == 0 {
                break;
            }
            n += k;
        }
    })
    .await;
    assert!(done.is_ok(), "the node never closed the connection");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_b1_flood_costs_at_most_one_lookup_per_id() {
    let dir = tempfile::tempdir().unwrap();
    let real = chain(dir.path()).await;
    let alice_key = new_key();
    let bob_key = new_key();
    register(&real, &alice_key).await;
    register(&real, &bob_key).await;
    let counting = Arc::new(Counting {
        inner: real.clone(),
        lookups: AtomicUsize::new(0),
    });
    let alice = Node::new(
        alice_key.clone_key(),
        counting.clone(),
        Store::open(&dir.path().join("alice.db")).unwrap(),
        NodeOptions {
            limits: Limits {
                status_ttl: Duration::from_secs(600),
                handshake_timeout: Duration::from_secs(2),
                per_ip_rate: 1e9,
                per_ip_burst: 1e9,
                ..Limits::default()
            },
            ..NodeOptions::default()
        },
    );
    let running = listen(&alice).await;
    let status = real.status(alice_key.address()).await.unwrap();
    let t_b1 = |n: u8| {
        let (_state, mut record) = Initiator::start(
            &bob_key,
            &real.domain(),
            &alice_key.public_key(),
            &status,
            now(),
            &mut rand::rng(),
        )
        .unwrap();
        if n == 1 {
            // Tampered ciphertext: fails to decrypt, before any lookup.
            let last = record.len() - 1;
            record[last] ^= 1;
        }
        record
    };

    // 40 tampered T_B1s: refused locally, no chain call at all.
    for _ in 0..40 {
        let mut s = TcpStream::connect(running.addr).await.unwrap();
        s.write_all(&t_b1(1)).await.unwrap();
        assert_eq!(drain(s).await, 0);
    }
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 0);

    // 40 genuine T_B1s (fresh E_B each, never confirmed): every one gets a
    // T_A2, and the chain is asked once about Bob and once about Alice.
    for _ in 0..40 {
        let mut s = TcpStream::connect(running.addr).await.unwrap();
        s.write_all(&t_b1(0)).await.unwrap();
        // Half-close: no confirm will come, so the node need not wait for
        // its handshake deadline.
        s.shutdown().await.unwrap();
        assert_eq!(drain(s).await, 4 + chainmail_core::handshake::T_A2_LEN);
    }
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_source_rate_limit_closes_excess_connections() {
    let dir = tempfile::tempdir().unwrap();
    let reg = chain(dir.path()).await;
    let alice_key = new_key();
    register(&reg, &alice_key).await;
    let alice = node_with(
        &reg,
        &alice_key,
        dir.path(),
        "alice",
        NodeOptions {
            limits: Limits {
                handshake_timeout: Duration::from_secs(2),
                // Three connections, then (practically) no refill.
                per_ip_rate: 1e-6,
                per_ip_burst: 3.0,
                ..Limits::default()
            },
            ..NodeOptions::default()
        },
    );
    let running = listen(&alice).await;
    set_endpoint(&reg, &alice_key, &running.addr.to_string()).await;
    for _ in 0..3 {
        let mut s = TcpStream::connect(running.addr).await.unwrap();
        s.write_all(b"junk junk junk junk junk").await.unwrap();
        drain(s).await;
    }
    // The bucket for 127.0.0.1 is empty: even an honest sender from the
    // same address is turned away (and its message stays queued).
    let bob = peer(&reg, dir.path(), "bob").await;
    let out = send(&bob.node, alice_key.address(), "too soon", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Queued, "{:?}", out.reason);
    assert!(alice.store().inbox_after(0, 10).unwrap().is_empty());
    running.stop().await;
    bob.running.stop().await;
}
