//! A flood of T_B1s does not turn into a flood of chain calls: junk is
//! refused by local checks before any lookup, and genuine requests hit the
//! status cache. The registry is the real embedded one, wrapped to count
//! the calls that reach it. Also, on the in-memory network under virtual
//! time: the per-source rate limit, and its bucket refilling.

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
use chainmail_node::{DeliveryOutcome, Node, NodeOptions, SendStatus, deliver, send};
use common::virt::World;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
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

async fn drain(mut s: impl AsyncRead + Unpin) -> usize {
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

#[tokio::test(start_paused = true)]
async fn per_source_rate_limit_closes_excess_connections_until_it_refills() {
    let w = World::new().await;
    let alice_key = new_key();
    w.register(&alice_key).await;
    // Three connections, then one more every 10 s.
    let refill = Duration::from_secs(10);
    let alice = w.node_with(
        &alice_key,
        "alice",
        NodeOptions {
            limits: Limits {
                per_ip_rate: 1.0 / refill.as_secs_f64(),
                per_ip_burst: 3.0,
                ..test_limits()
            },
            ..w.options()
        },
    );
    let running = w.listen(&alice, "alice:7400", false);
    w.set_endpoint(&alice_key, "alice:7400").await;
    let source = w.new_ip();
    for _ in 0..3 {
        let mut s = w.net.connect("alice:7400", source).unwrap();
        s.write_all(b"junk junk junk junk junk").await.unwrap();
        drain(s).await;
    }
    // The bucket for this address is empty: even an honest sender from it
    // is turned away (and its message stays queued)…
    let bob_key = new_key();
    w.register(&bob_key).await;
    let bob = w.node_with(
        &bob_key,
        "bob",
        NodeOptions {
            dialer: w.net.dialer(source),
            ..w.options()
        },
    );
    let queued = send(&bob, alice_key.address(), "too soon", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(queued.status, SendStatus::Queued, "{:?}", queued.reason);
    assert!(alice.store().inbox_after(0, 10).unwrap().is_empty());
    // …while another address is served.
    let carol = w.peer("carol").await;
    let out = send(&carol.node, alice_key.address(), "hi", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(out.status, SendStatus::Delivered, "{:?}", out.reason);
    // Once the bucket has refilled a token, the queued message goes.
    tokio::time::sleep(refill).await;
    let report = deliver(&bob, alice_key.address(), TIMEOUT).await;
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.delivered, vec![queued.message_id]);
    assert_eq!(alice.store().inbox_after(0, 10).unwrap().len(), 2);
    running.stop().await;
    carol.running.stop().await;
}
