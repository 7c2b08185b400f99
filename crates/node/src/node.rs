//! The node: one identity's key, its registry, its store and its options,
//! shared by the listener ([`crate::inbound`]), the dialer and the outbox
//! worker ([`crate::outbound`]). Its fields are private: each side reaches
//! only its own state (`inbound::State`, `outbound::State`) and what they
//! share (identity, registry, store, status cache) through methods.

use std::sync::Arc;
use std::time::Duration;

use chainmail_chain::{ChainError, Registry};
use chainmail_core::eip712::Domain;
use chainmail_core::handshake::StaticShared;
use chainmail_core::{Address, IdStatus, PublicKey, SecretKey};
use tokio::sync::Semaphore;

use crate::clock::Clock;
pub use crate::clock::unix_now;
use crate::limits::Limits;
use crate::status_cache::StatusCache;
use crate::store::{Store, StoreError};
use crate::transport::Dialer;
use crate::{inbound, outbound};

/// Peers whose `ss` is cached at most.
const MAX_STATIC_SHARED: usize = 4096;

/// Default time the outbox keeps retrying a message: 7 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How a node behaves; `Default` is right for a personal node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Resource limits and timeouts.
    pub limits: Limits,
    /// How long undelivered messages are retried before being marked expired.
    pub max_age: Duration,
    /// Accept sessions only from named, unblocked contacts (blocked IDs are
    /// refused whatever this says).
    pub contacts_only: bool,
    /// Also ask the registry's `verifySession` about every session request
    /// that passed the local checks (the paper's §4.1.3 step 2, verbatim).
    ///
    /// Off by default, and never instead of the local checks: the node
    /// already verifies T_B's signature itself and checks both IDs' status
    /// (cached for `limits.status_ttl`), which is what the contract checks;
    /// the extra call costs a chain round trip per handshake, made while the
    /// handshake permit is held, and would let a flood of genuine T_B1s
    /// hammer the RPC provider. Turn it on when the chain's word must be
    /// fresh for every session (it closes the status-cache window: an ID
    /// revoked within the last TTL is refused at once). When the chain
    /// cannot be asked, the session is refused (fails closed).
    pub verify_on_chain: bool,
    /// Where wall time and timers come from: the system clock by default; a
    /// virtual one ([`Clock::fixed_start`]) in tests, shared with the
    /// embedded chain.
    pub clock: Clock,
    /// How the node reaches an endpoint: TCP by default; in-memory streams
    /// in tests.
    pub dialer: Dialer,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_age: DEFAULT_MAX_AGE,
            contacts_only: false,
            verify_on_chain: false,
            clock: Clock::system(),
            dialer: Dialer::tcp(),
        }
    }
}

/// Errors of the node that are not about one delivery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The message store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The message is larger than a session frame can carry.
    #[error("message body of {len} bytes is above the limit of {max} bytes")]
    BodyTooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Sending to oneself is refused (the node would dial itself).
    #[error("cannot send a message to yourself")]
    SendToSelf,
    /// A message `send` had just queued was not in the outbox when it
    /// looked (another process removed the row, or the store was replaced).
    #[error("the message {} queued by this send is no longer in the outbox", hex::encode(.0))]
    QueuedMessageMissing(crate::store::MessageId),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The OS random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Rng(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// A running identity. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    key: SecretKey,
    address: Address,
    public_key: PublicKey,
    registry: Arc<dyn Registry>,
    domain: Domain,
    store: Store,
    options: NodeOptions,
    status_cache: StatusCache,
    // Why a semaphore: every T_B1 costs an ECDH and a signature check before
    // its sender is authenticated; capping concurrent handshakes bounds the
    // CPU and memory a flood can take while established sessions carry on.
    handshake_permits: Semaphore,
    // Why a cache: `ss` = ECDH(own static, peer static) is the same for
    // every session between two peers; caching it saves one scalar
    // multiplication per handshake. Bounded (cleared when full; dropping a
    // `StaticShared` zeroizes it). Why a std Mutex: map operations only,
    // never held across an `.await`.
    static_shared: std::sync::Mutex<std::collections::HashMap<Address, Arc<StaticShared>>>,
    /// The listener's connection cap, pressure signal and rate limiter.
    inbound: inbound::State,
    /// The kept-session pool and the outbox worker's wake-up.
    outbound: outbound::State,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.inner.address)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node for the identity `key`, on `registry`, keeping messages in `store`.
    pub fn new(
        key: SecretKey,
        registry: Arc<dyn Registry>,
        store: Store,
        options: NodeOptions,
    ) -> Self {
        let public_key = key.public_key();
        let address = public_key.address();
        let domain = registry.domain();
        let limits = &options.limits;
        let inner = Inner {
            status_cache: StatusCache::new(limits.status_ttl, limits.status_cache_entries),
            handshake_permits: Semaphore::new(limits.max_concurrent_handshakes),
            static_shared: std::sync::Mutex::new(std::collections::HashMap::new()),
            inbound: inbound::State::new(limits),
            outbound: outbound::State::default(),
            key,
            address,
            public_key,
            registry,
            domain,
            store,
            options,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// This identity's ID.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// This identity's public key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.public_key
    }

    /// The message store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.inner.registry
    }

    /// Connections its listener holds open now (handshaking or established).
    pub fn open_connections(&self) -> usize {
        self.inner.inbound.open_connections()
    }

    /// Received messages whose signature this node checked since it
    /// started (a message it already held is acked again unchecked): for
    /// monitoring, and the tests that show replays cost no verification.
    pub fn messages_verified(&self) -> u64 {
        self.inner.inbound.verified()
    }

    /// The options the node runs with.
    pub fn options(&self) -> &NodeOptions {
        &self.inner.options
    }

    /// The clock the node reads wall time and timers from.
    pub fn clock(&self) -> &Clock {
        &self.inner.options.clock
    }

    /// Unix seconds now, from the node's clock.
    pub(crate) fn now(&self) -> u64 {
        self.inner.options.clock.now_unix()
    }

    /// This identity's secret key (signing, the handshake).
    pub(crate) fn key(&self) -> &SecretKey {
        &self.inner.key
    }

    /// The registry's EIP-712 domain.
    pub(crate) fn domain(&self) -> &Domain {
        &self.inner.domain
    }

    /// The cap on handshakes in progress.
    pub(crate) fn handshake_permits(&self) -> &Semaphore {
        &self.inner.handshake_permits
    }

    /// The listening side's state.
    pub(crate) fn inbound(&self) -> &inbound::State {
        &self.inner.inbound
    }

    /// The sending side's state.
    pub(crate) fn outbound(&self) -> &outbound::State {
        &self.inner.outbound
    }

    /// Runs a store operation off the async threads (SQLite blocks, and may
    /// wait up to the busy timeout for another process).
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))?
            .map_err(NodeError::Store)
    }

    /// The status of `id`, from the cache if fresh, else from the chain.
    pub(crate) async fn status(&self, id: Address) -> Result<IdStatus, ChainError> {
        if let Some(s) = self.cached_status(id) {
            return Ok(s);
        }
        self.fresh_status(id).await
    }

    /// The status of `id` if the cache holds a fresh one (an ID the chain
    /// does not know included).
    pub(crate) fn cached_status(&self, id: Address) -> Option<IdStatus> {
        self.inner.status_cache.get(&id, self.clock().instant())
    }

    /// The status of `id` straight from the chain (refreshing the cache).
    pub(crate) async fn fresh_status(&self, id: Address) -> Result<IdStatus, ChainError> {
        let s = self.inner.registry.status(id).await?;
        self.inner.status_cache.put(id, s, self.clock().instant());
        if s.revoked_at != 0 && id != self.address() {
            // The `peer.revoked` event, once per peer. A store that cannot
            // take it changes nothing about the answer.
            let now = self.clock().now_unix();
            if let Err(e) = self
                .db(move |st| st.record_revoked(&id, s.revoked_at, now))
                .await
            {
                tracing::warn!(peer = %id, error = %e, "cannot record a revoked peer");
            }
        }
        Ok(s)
    }

    /// `id`'s registered key, from the `Registered` log in
    /// `registered_block` (the block of a status the caller read; the chain
    /// crate checks the key hashes to `id`), cached without a TTL: a key
    /// never changes under an ID.
    pub(crate) async fn registered_key(
        &self,
        id: Address,
        registered_block: u64,
    ) -> Result<PublicKey, ChainError> {
        if let Some(key) = self.inner.status_cache.key(&id) {
            return Ok(key);
        }
        let key = self
            .inner
            .registry
            .public_key_at(id, registered_block)
            .await?;
        self.inner.status_cache.put_key(id, key);
        Ok(key)
    }

    /// `ss` with `peer` (whose key hashes to its ID, checked by the caller),
    /// from the cache or computed and cached.
    pub(crate) fn static_shared(&self, peer: &PublicKey) -> Arc<StaticShared> {
        let id = peer.address();
        let mut map = self
            .inner
            .static_shared
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(ss) = map.get(&id) {
            return ss.clone();
        }
        if map.len() >= MAX_STATIC_SHARED {
            map.clear();
        }
        let ss = Arc::new(StaticShared::compute(&self.inner.key, peer));
        map.insert(id, ss.clone());
        ss
    }
}
