//! Test harness shared by the integration tests: a real anvil from the pinned
//! npm package (stopped in `Drop`, even when a test panics), the two backends
//! behind one `Backend` handle, and signing helpers.
#![allow(dead_code)]

pub mod lying;

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::providers::{Provider, ProviderBuilder};
use chainmail_chain::embedded::Clock;
use chainmail_chain::{EmbeddedRegistry, Registry, RpcOptions, RpcRegistry};
use chainmail_core::eip712::{Certificate, Domain, Signed, TypedData};
use chainmail_core::{Address, SecretKey};

/// anvil's second dev account, funded at genesis.
pub const ANVIL_KEY_1: [u8; 32] =
    hex_literal("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

/// anvil's first dev account (mnemonic "test test … junk"), funded at genesis.
pub const ANVIL_KEY_0: [u8; 32] =
    hex_literal("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

const fn hex_literal(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nib(b[2 * i]) << 4) | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("bad hex"),
    }
}

/// The anvil platform binary from `node_modules` (never the npm wrapper, which exits 0 and orphans).
pub fn anvil_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/@foundry-rs");
    let found = std::fs::read_dir(&root).ok().and_then(|dir| {
        dir.filter_map(Result::ok)
            .map(|e| e.path().join("bin").join("anvil"))
            .find(|p| {
                p.is_file()
                    && p.parent()
                        .and_then(|b| b.parent())
                        .is_some_and(|d| d.to_string_lossy().contains("anvil-"))
            })
    });
    match found {
        Some(p) => p,
        None => panic!(
            "anvil not found under {}: run `npm ci` at the repository root to install the pinned Foundry tools",
            root.display()
        ),
    }
}

/// The cast platform binary from `node_modules` (never the npm wrapper).
pub fn cast_binary() -> PathBuf {
    let anvil = anvil_binary();
    let root = anvil
        .parent()
        .and_then(|b| b.parent())
        .and_then(|d| d.parent())
        .unwrap();
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin").join("cast"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("cast not found under {}: run `npm ci`", root.display()))
}

/// A running anvil, killed when dropped.
pub struct Anvil {
    child: Child,
    /// Its RPC URL.
    pub url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil on a free loopback port and waits until it answers RPC.
    pub async fn start() -> Anvil {
        Self::start_with(&[]).await
    }

    /// Like [`Anvil::start`] with extra command-line arguments.
    pub async fn start_with(extra: &[&str]) -> Anvil {
        let bin = anvil_binary();
        let mut last_err = String::new();
        for _attempt in 0..5 {
            // Ask the OS for a free port, release it, hand it to anvil; retry if someone took it meanwhile.
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}; run `npm ci`", bin.display()));
            let mut anvil = Anvil {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let provider = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap());
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = anvil.child.try_wait() {
                    last_err = format!("anvil exited with {status}");
                    break;
                }
                if provider.get_chain_id().await.is_ok() {
                    return anvil;
                }
                if Instant::now() > deadline {
                    last_err = "anvil did not answer within 30 s".into();
                    break;
                }
                // Poll interval while waiting for the RPC to come up (the condition is the answer, not the time).
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("could not start anvil: {last_err}");
    }
}

/// How a test moves time forward on a backend.
pub enum TimeControl {
    /// Offset added to the system clock of the embedded chain.
    Clock(Arc<AtomicU64>),
    /// anvil's `evm_increaseTime`, and the same offset on the backend's
    /// local clock (so the chain is not "ahead" of it: `ClockSkew`).
    Anvil(String, Arc<AtomicU64>),
}

/// One backend under test.
pub struct Backend {
    /// "embedded" or "rpc".
    pub name: &'static str,
    /// The registry.
    pub reg: Arc<dyn Registry>,
    /// Time travel.
    pub time: TimeControl,
    /// Keeps anvil alive.
    pub anvil: Option<Anvil>,
    /// Keeps the embedded file alive.
    pub dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// A fresh embedded chain in a temp dir, with a clock the test can move.
    pub async fn embedded() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let offset = Arc::new(AtomicU64::new(0));
        let reg = EmbeddedRegistry::open_with_clock(
            &dir.path().join("chain.db"),
            offset_clock(offset.clone()),
        )
        .await
        .unwrap();
        Backend {
            name: "embedded",
            reg: Arc::new(reg),
            time: TimeControl::Clock(offset),
            anvil: None,
            dir: Some(dir),
        }
    }

    /// A fresh anvil with the registry deployed from the artifact.
    pub async fn rpc() -> Backend {
        let anvil = Anvil::start().await;
        let payer = SecretKey::from_bytes(&ANVIL_KEY_0).unwrap();
        let (address, _) = chainmail_chain::deploy(&anvil.url, &payer).await.unwrap();
        let offset = Arc::new(AtomicU64::new(0));
        let options = RpcOptions {
            clock: chainmail_chain::LocalClock::from_fn(offset_clock(offset.clone())),
            ..RpcOptions::default()
        };
        let reg = RpcRegistry::connect(&anvil.url, address, Some(&payer), options)
            .await
            .unwrap();
        Backend {
            name: "rpc",
            reg: Arc::new(reg),
            time: TimeControl::Anvil(anvil.url.clone(), offset),
            anvil: Some(anvil),
            dir: None,
        }
    }

    /// Moves the chain's notion of now forward by `secs`.
    pub async fn advance(&self, secs: u64) {
        match &self.time {
            TimeControl::Clock(offset) => {
                offset.fetch_add(secs, Ordering::SeqCst);
            }
            TimeControl::Anvil(url, offset) => {
                offset.fetch_add(secs, Ordering::SeqCst);
                let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
                let _: serde_json::Value = p
                    .raw_request("evm_increaseTime".into(), (secs,))
                    .await
                    .unwrap();
                let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
            }
        }
    }

    /// The registry's domain.
    pub fn domain(&self) -> Domain {
        self.reg.domain()
    }
}

/// The system clock plus a movable offset.
pub fn offset_clock(offset: Arc<AtomicU64>) -> Clock {
    Arc::new(move || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + offset.load(Ordering::SeqCst)
    })
}

/// A fresh identity key.
pub fn key() -> SecretKey {
    SecretKey::generate(&mut rand::rng())
}

/// Signs `payload` with `key` for `domain`.
pub fn sign<T: TypedData>(key: &SecretKey, domain: &Domain, payload: T) -> Signed<T> {
    Signed::sign(key, domain, payload)
}

/// A certificate valid for 30 days from the chain's now.
pub async fn certificate(b: &Backend, key: &SecretKey) -> Signed<Certificate> {
    let now = b.reg.now().await.unwrap();
    sign(
        key,
        &b.domain(),
        Certificate::new(key.public_key(), now + 30 * 86_400, now),
    )
}

/// The ID of a key.
pub fn id(key: &SecretKey) -> Address {
    key.address()
}

/// A certificate valid for 30 days from `now` under `domain`.
pub fn certificate_at(domain: &Domain, key: &SecretKey, now: u64) -> Signed<Certificate> {
    sign(
        key,
        domain,
        Certificate::new(key.public_key(), now + 30 * 86_400, now),
    )
}

/// The registry deployed by a plain CREATE transaction from `payer` (not
/// through the CREATE2 proxy `deploy` uses), as the embedded genesis is:
/// its address and the transaction's outcome.
pub async fn deploy_plain_create(
    url: &str,
    payer: &SecretKey,
) -> (Address, chainmail_chain::TxOutcome) {
    use alloy::network::{EthereumWallet, TransactionBuilder};
    use alloy::primitives::B256;
    use alloy::rpc::types::TransactionRequest;
    use alloy::signers::local::PrivateKeySigner;
    let signer = PrivateKeySigner::from_bytes(&B256::from(*payer.to_bytes())).unwrap();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url.parse().unwrap());
    let tx = TransactionRequest::default()
        .with_deploy_code(chainmail_chain::contract::creation_bytecode().to_vec());
    let receipt = p
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status(), "plain CREATE deployment failed");
    (
        Address(receipt.contract_address.unwrap().into_array()),
        chainmail_chain::TxOutcome {
            tx_hash: receipt.transaction_hash.0,
            block: receipt.block_number.unwrap(),
            gas_used: receipt.gas_used,
        },
    )
}
