//! A `Registry` wrapper around the real one that counts the chain reads
//! reaching it, can make the next status reads fail as an RPC provider
//! that is down would, and can answer every key read with another key (as
//! only a broken or lying registry could).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chainmail_chain::{ChainError, EndpointRecord, Registry, TxOutcome};
use chainmail_core::eip712::{
    Certificate, Domain, Endpoint, Renewal, Revocation, SessionRequest, Signed,
};
use chainmail_core::{Address, IdStatus, PublicKey};
use tokio::sync::Notify;

/// The real registry, counted.
pub struct Counting {
    inner: Arc<dyn Registry>,
    status: AtomicUsize,
    key: AtomicUsize,
    endpoint: AtomicUsize,
    verify_session: AtomicUsize,
    fail_status: AtomicUsize,
    /// Notified each time a status read is made to fail.
    pub failed: Notify,
    /// Answered to every key read instead of the registered key.
    wrong_key: Mutex<Option<PublicKey>>,
}

impl Counting {
    pub fn new(inner: Arc<dyn Registry>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            status: AtomicUsize::new(0),
            key: AtomicUsize::new(0),
            endpoint: AtomicUsize::new(0),
            verify_session: AtomicUsize::new(0),
            fail_status: AtomicUsize::new(0),
            failed: Notify::new(),
            wrong_key: Mutex::new(None),
        })
    }

    /// (status, key, endpoint) reads so far (`isValid` counts as a status read).
    pub fn reads(&self) -> (usize, usize, usize) {
        (
            self.status.load(Ordering::SeqCst),
            self.key.load(Ordering::SeqCst),
            self.endpoint.load(Ordering::SeqCst),
        )
    }

    /// Every call that reached the chain (reads and `verifySession`).
    pub fn total(&self) -> usize {
        let (s, k, e) = self.reads();
        s + k + e + self.verify_session.load(Ordering::SeqCst)
    }

    /// The next `n` status reads fail (an RPC error, counted as reads).
    pub fn fail_next_status(&self, n: usize) {
        self.fail_status.store(n, Ordering::SeqCst);
    }

    /// Every key read from now on answers `key`, whatever the ID.
    pub fn answer_keys_with(&self, key: PublicKey) {
        *self.wrong_key.lock().unwrap() = Some(key);
    }
}

#[async_trait]
impl Registry for Counting {
    fn domain(&self) -> Domain {
        self.inner.domain()
    }
    fn trust(&self) -> chainmail_chain::Trust {
        self.inner.trust()
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
        self.status.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .fail_status
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            self.failed.notify_one();
            return Err(ChainError::Rpc("injected: the provider is down".into()));
        }
        self.inner.status(id).await
    }
    async fn is_valid(&self, id: Address) -> Result<bool, ChainError> {
        self.status.fetch_add(1, Ordering::SeqCst);
        self.inner.is_valid(id).await
    }
    // `public_key` is the trait's default: a status read (counted above),
    // then `public_key_at`.
    async fn public_key_at(&self, id: Address, block: u64) -> Result<PublicKey, ChainError> {
        self.key.fetch_add(1, Ordering::SeqCst);
        if let Some(key) = *self.wrong_key.lock().unwrap() {
            return Ok(key);
        }
        self.inner.public_key_at(id, block).await
    }
    async fn endpoint(&self, id: Address) -> Result<Option<EndpointRecord>, ChainError> {
        self.endpoint.fetch_add(1, Ordering::SeqCst);
        self.inner.endpoint(id).await
    }
    async fn verify_session(&self, r: &Signed<SessionRequest>) -> Result<(), ChainError> {
        self.verify_session.fetch_add(1, Ordering::SeqCst);
        self.inner.verify_session(r).await
    }
    async fn now(&self) -> Result<u64, ChainError> {
        self.inner.now().await
    }
}
