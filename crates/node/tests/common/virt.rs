//! The in-memory harness: nodes on a [`MemoryNetwork`] (duplex pipes, no
//! sockets) with one virtual [`Clock`] shared by every node, their stores'
//! `now` arguments and the embedded chain. Tests using it run under
//! `#[tokio::test(start_paused = true)]`: time moves only when every task
//! waits (or the test sleeps), so backoff, expiry, idle timeouts and rate
//! windows pass in milliseconds of real time, and the chain's block times
//! move with the node's clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use chainmail_chain::{ChainSpec, Registry, RpcOptions};
use chainmail_core::eip712::{Certificate, Endpoint, Renewal, Revocation, Signed};
use chainmail_core::{Address, SecretKey};
use chainmail_node::store::Store;
use chainmail_node::transport::memory::MemoryNetwork;
use chainmail_node::{Clock, Node, NodeOptions};
use tokio::sync::oneshot;

use super::{Running, new_key, test_limits};

/// Virtual Unix time when a world starts (2030-01-01).
pub const START: u64 = 1_893_456_000;

/// Real time a world may live. Virtual-time bounds (`wait_until`, timeouts)
/// cannot stop a busy loop, since paused time only moves when every task
/// waits: this guard aborts the test binary instead of letting it hang. A
/// bound against a hang, not a speed assertion.
const REAL_TIME_GUARD: std::time::Duration = std::time::Duration::from_secs(120);

/// Aborts the process unless dropped within [`REAL_TIME_GUARD`].
struct HangGuard(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

impl HangGuard {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(REAL_TIME_GUARD)
            {
                eprintln!("a virtual-time test ran {REAL_TIME_GUARD:?} of real time: busy loop?");
                std::process::abort();
            }
        });
        HangGuard(tx)
    }
}

/// One chain, one network, one clock.
pub struct World {
    pub clock: Clock,
    pub net: MemoryNetwork,
    pub reg: Arc<dyn Registry>,
    pub dir: tempfile::TempDir,
    next_ip: AtomicU8,
    last_sequence: AtomicU64,
    _guard: HangGuard,
}

/// A registered identity whose node listens at `endpoint` on the network.
pub struct VPeer {
    pub key: SecretKey,
    pub node: Node,
    pub endpoint: String,
    pub running: Running,
}

impl VPeer {
    pub fn id(&self) -> Address {
        self.key.address()
    }
}

impl World {
    /// A fresh world; call inside the paused runtime whose time it follows.
    pub async fn new() -> World {
        let clock = Clock::fixed_start(START);
        let dir = tempfile::tempdir().unwrap();
        let reg = chainmail_chain::open_with_clock(
            &ChainSpec::Embedded(Some(dir.path().join("chain.db"))),
            None,
            None,
            &RpcOptions::default(),
            clock.chain_clock(),
        )
        .await
        .expect("embedded chain opens");
        World {
            clock,
            net: MemoryNetwork::new(),
            reg,
            dir,
            next_ip: AtomicU8::new(1),
            last_sequence: AtomicU64::new(0),
            _guard: HangGuard::new(),
        }
    }

    /// Unix seconds on the world's clock.
    pub fn now(&self) -> u64 {
        self.clock.now_unix()
    }

    /// A source address of its own (the rate limit is per source IP).
    pub fn new_ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(
            10,
            0,
            0,
            self.next_ip.fetch_add(1, Ordering::Relaxed),
        ))
    }

    /// Registers `key` for a day from now.
    pub async fn register(&self, key: &SecretKey) {
        let t = self.now();
        let cert = Certificate::new(key.public_key(), t + 86_400, t);
        self.reg
            .register(&Signed::sign(key, &self.reg.domain(), cert))
            .await
            .expect("register");
    }

    /// Publishes `endpoint` for `key` (sequence: the clock's milliseconds,
    /// strictly growing).
    pub async fn set_endpoint(&self, key: &SecretKey, endpoint: &str) {
        let millis = self.clock.now_unix_millis();
        let next = |last: u64| millis.max(last + 1);
        let order = Ordering::SeqCst;
        let sequence = next(
            self.last_sequence
                .fetch_update(order, order, |l| Some(next(l)))
                .unwrap(),
        );
        let e = Endpoint {
            id: key.address(),
            endpoint: endpoint.to_string(),
            sequence,
        };
        self.reg
            .set_endpoint(&Signed::sign(key, &self.reg.domain(), e))
            .await
            .expect("set endpoint");
    }

    /// Renews `key` for a day from now.
    pub async fn renew(&self, key: &SecretKey) {
        let t = self.now();
        let r = Renewal {
            id: key.address(),
            valid_until: t + 86_400,
            issued_at: t,
        };
        self.reg
            .renew(&Signed::sign(key, &self.reg.domain(), r))
            .await
            .expect("renew");
    }

    pub async fn revoke(&self, key: &SecretKey) {
        let r = Revocation {
            id: key.address(),
            revoked_at: self.now(),
        };
        self.reg
            .revoke(&Signed::sign(key, &self.reg.domain(), r))
            .await
            .expect("revoke");
    }

    /// The test options on this world's clock, dialing from a new address.
    pub fn options(&self) -> NodeOptions {
        NodeOptions {
            limits: test_limits(),
            clock: self.clock.clone(),
            dialer: self.net.dialer(self.new_ip()),
            ..NodeOptions::default()
        }
    }

    /// A node with its store in `dir/<name>.db`. `options` should come from
    /// [`World::options`] (its clock and dialer).
    pub fn node_with(&self, key: &SecretKey, name: &str, options: NodeOptions) -> Node {
        let store = Store::open(&self.dir.path().join(format!("{name}.db"))).expect("store opens");
        Node::new(key.clone_key(), self.reg.clone(), store, options)
    }

    pub fn node(&self, key: &SecretKey, name: &str) -> Node {
        self.node_with(key, name, self.options())
    }

    /// Runs `node`'s listener (or, with `serve`, the listener and the
    /// outbox worker) at `endpoint` on the network.
    pub fn listen(&self, node: &Node, endpoint: &str, serve: bool) -> Running {
        let listener = self.net.listen(endpoint);
        let (tx, rx) = oneshot::channel();
        let node = node.clone();
        let task = tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            if serve {
                chainmail_node::serve(listener, node, stop).await
            } else {
                chainmail_node::run(listener, node, stop).await
            }
            .expect("listener");
        });
        Running::new(
            std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            endpoint,
            tx,
            task,
        )
    }

    /// A registered identity listening at `<name>:7400`, its endpoint
    /// published.
    pub async fn peer(&self, name: &str) -> VPeer {
        let key = new_key();
        self.register(&key).await;
        let node = self.node(&key, name);
        let endpoint = format!("{name}:7400");
        let running = self.listen(&node, &endpoint, false);
        self.set_endpoint(&key, &endpoint).await;
        VPeer {
            key,
            node,
            endpoint,
            running,
        }
    }
}
