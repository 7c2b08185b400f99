//! Shared set-up of the node's black-box tests: a real embedded chain file in
//! a temporary directory, identities registered on it through the real
//! contract, nodes listening on real sockets at 127.0.0.1:0, each with its
//! own real SQLite store. [`virt`] is the in-memory harness (pipes and a
//! virtual clock) for what depends on time.

#![allow(dead_code)] // each test file uses a different part

pub mod counting;
pub mod virt;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chainmail_chain::{ChainSpec, Registry};
use chainmail_core::eip712::{Certificate, Endpoint, Revocation, Signed};
use chainmail_core::{Address, SecretKey};
use chainmail_node::limits::Limits;
use chainmail_node::store::Store;
use chainmail_node::{Node, NodeOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh embedded chain in `dir`.
pub async fn chain(dir: &std::path::Path) -> Arc<dyn Registry> {
    chainmail_chain::open(&ChainSpec::Embedded(Some(dir.join("chain.db"))), None, None)
        .await
        .expect("embedded chain opens")
}

pub fn new_key() -> SecretKey {
    SecretKey::generate(&mut rand::rng())
}

/// Registers `key` for a day.
pub async fn register(reg: &Arc<dyn Registry>, key: &SecretKey) {
    let t = now();
    let cert = Certificate::new(key.public_key(), t + 86_400, t);
    reg.register(&Signed::sign(key, &reg.domain(), cert))
        .await
        .expect("register");
}

/// Publishes `endpoint` for `key` (sequence = milliseconds, strictly growing in
/// this process even within one millisecond; the contract refuses a sequence more
/// than 5 minutes ahead of the block time, so nanoseconds would not do).
pub async fn set_endpoint(reg: &Arc<dyn Registry>, key: &SecretKey, endpoint: &str) {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let next = |last: u64| millis.max(last + 1);
    let order = std::sync::atomic::Ordering::SeqCst;
    let sequence = next(LAST.fetch_update(order, order, |l| Some(next(l))).unwrap());
    let e = Endpoint {
        id: key.address(),
        endpoint: endpoint.to_string(),
        sequence,
    };
    reg.set_endpoint(&Signed::sign(key, &reg.domain(), e))
        .await
        .expect("set endpoint");
}

pub async fn revoke(reg: &Arc<dyn Registry>, key: &SecretKey) {
    let r = Revocation {
        id: key.address(),
        revoked_at: now(),
    };
    reg.revoke(&Signed::sign(key, &reg.domain(), r))
        .await
        .expect("revoke");
}

/// Limits for tests: short handshake and idle timeouts so bad-input cases
/// end quickly, and a status TTL of zero so revocations are seen at once.
pub fn test_limits() -> Limits {
    Limits {
        handshake_timeout: Duration::from_secs(2),
        max_concurrent_handshakes: 4,
        idle_timeout: Duration::from_secs(5),
        status_ttl: Duration::ZERO,
        per_ip_rate: 1000.0,
        per_ip_burst: 1000.0,
        lookup_rate: 1000.0,
        lookup_burst: 1000.0,
        ..Limits::default()
    }
}

/// A node with its store in `dir/<name>.db` and the test limits.
pub fn node(reg: &Arc<dyn Registry>, key: &SecretKey, dir: &std::path::Path, name: &str) -> Node {
    node_with(
        reg,
        key,
        dir,
        name,
        NodeOptions {
            limits: test_limits(),
            ..NodeOptions::default()
        },
    )
}

/// A node with its store in `dir/<name>.db` and the given options.
pub fn node_with(
    reg: &Arc<dyn Registry>,
    key: &SecretKey,
    dir: &std::path::Path,
    name: &str,
    options: NodeOptions,
) -> Node {
    let store = Store::open(&dir.join(format!("{name}.db"))).expect("store opens");
    Node::new(key.clone_key(), reg.clone(), store, options)
}

/// A listening node: stop it with `stop`.
pub struct Running {
    /// The TCP address (unspecified on the in-memory network).
    pub addr: SocketAddr,
    /// What dialers reach it by.
    pub endpoint: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    pub fn new(
        addr: SocketAddr,
        endpoint: &str,
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    ) -> Self {
        Running {
            addr,
            endpoint: endpoint.to_owned(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("listener task");
        }
    }
}

/// Runs `node`'s listener (not the outbox worker) on 127.0.0.1:0.
pub async fn listen(node: &Node) -> Running {
    listen_on(node, TcpListener::bind("127.0.0.1:0").await.unwrap()).await
}

pub async fn listen_on(node: &Node, listener: TcpListener) -> Running {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let node = node.clone();
    let task = tokio::spawn(async move {
        chainmail_node::run(listener, node, async {
            let _ = rx.await;
        })
        .await
        .expect("run");
    });
    Running::new(addr, &addr.to_string(), tx, task)
}

/// An identity registered with its endpoint at a running node.
pub struct Peer {
    pub key: SecretKey,
    pub node: Node,
    pub running: Running,
}

impl Peer {
    pub fn id(&self) -> Address {
        self.key.address()
    }
}

pub async fn peer(reg: &Arc<dyn Registry>, dir: &std::path::Path, name: &str) -> Peer {
    let key = new_key();
    register(reg, &key).await;
    let node = node(reg, &key, dir, name);
    let running = listen(&node).await;
    set_endpoint(reg, &key, &running.addr.to_string()).await;
    Peer { key, node, running }
}

/// Send timeout: sends end on delivery or refusal long before it; the bound
/// is generous so a loaded CI machine never turns a delivery into a timeout.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A message from `key` to `to`, ready for `Store::enqueue` (what `send`
/// would queue), so a test can set its queue time.
pub fn queued_message(
    key: &SecretKey,
    to: Address,
    text: &str,
    sent_at: u64,
) -> chainmail_node::store::OutgoingMessage {
    use rand::RngCore;
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    chainmail_node::store::OutgoingMessage {
        message_id: id,
        from: key.address(),
        to,
        body: text.to_owned(),
        sent_at,
    }
}

/// Polls `done` until it holds. The bound only stops a hang; it is not a
/// speed assertion.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `serve` (listener and outbox worker) for `node` on 127.0.0.1:0.
pub async fn serve_node(node: &Node) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let node = node.clone();
    let task = tokio::spawn(async move {
        chainmail_node::serve(listener, node, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    Running::new(addr, &addr.to_string(), tx, task)
}
