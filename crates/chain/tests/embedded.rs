//! What only the embedded chain promises: its genesis (documented deployer and
//! registry address, a random chain id per file, deployment gas equal to
//! anvil's), time in views, the integrity check that refuses damaged and
//! foreign files without touching them.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chainmail_chain::embedded::{self, CHAIN_ID_RANGE, DEPLOYER};
use chainmail_chain::{ChainError, ChainSpec, ContractError, EmbeddedRegistry, Registry};
use chainmail_core::eip712::SessionRequest;
use chainmail_core::{Address, SecretKey};
use common::{Anvil, certificate_at, key, offset_clock, sign};

async fn fresh(dir: &Path) -> (EmbeddedRegistry, Arc<AtomicU64>) {
    let offset = Arc::new(AtomicU64::new(0));
    let reg =
        EmbeddedRegistry::open_with_clock(&dir.join("chain.db"), offset_clock(offset.clone()))
            .await
            .unwrap();
    (reg, offset)
}

#[tokio::test]
async fn genesis_is_documented_and_chain_ids_differ_per_file() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = fresh(d1.path()).await;
    let (b, _) = fresh(d2.path()).await;
    let expected: Address = "0x74636B3925c43175059bE15c99c0773646ABBA29"
        .parse()
        .unwrap();
    assert_eq!(
        embedded::registry_address(),
        expected,
        "README documents this address"
    );
    assert_eq!(
        DEPLOYER.to_checksum(None),
        "0xc4A11000000000000000000000000000000000dE"
    );
    assert_eq!(a.domain().verifying_contract, expected);
    for reg in [&a, &b] {
        let id = reg.domain().chain_id;
        assert!(CHAIN_ID_RANGE.contains(&id) && id != 1 && id != 31337);
    }
    assert_ne!(a.domain().chain_id, b.domain().chain_id);
    // Reopening keeps the file's chain id.
    let again = EmbeddedRegistry::open(&d1.path().join("chain.db"))
        .await
        .unwrap();
    assert_eq!(again.domain(), a.domain());
    // A certificate signed for file A is worthless on file B.
    let k = key();
    let now = a.now().await.unwrap();
    let cert = certificate_at(&a.domain(), &k, now);
    assert!(matches!(
        b.register(&cert).await,
        Err(ChainError::Contract(ContractError::BadSignature))
    ));
    a.register(&cert).await.unwrap();
}

#[tokio::test]
async fn deploy_address_and_gas_agree_with_anvil() {
    let anvil = Anvil::start().await;
    let payer = SecretKey::from_bytes(&common::ANVIL_KEY_0).unwrap();
    // `deploy` goes through the CREATE2 proxy (tested in create2_pin.rs); the
    // embedded genesis is a plain CREATE, so compare with one of those: the
    // very same transaction (sender, nonce 0, init code) executed by revm.
    let (address, outcome) = common::deploy_plain_create(&anvil.url, &payer).await;
    let (sim_address, sim_gas) =
        embedded::simulate_registry_deploy(payer.address(), 0, 31337).unwrap();
    assert_eq!(sim_address, address);
    assert_eq!(
        sim_gas, outcome.gas_used,
        "revm and anvil charge the same gas for the deployment"
    );
    // The embedded genesis is that transaction from the documented deployer.
    let dir = tempfile::tempdir().unwrap();
    let (reg, _) = fresh(dir.path()).await;
    assert_eq!(reg.block_gas_used(0).unwrap(), Some(outcome.gas_used));
    // The registry answers on both.
    let rpc = chainmail_chain::open(
        &ChainSpec::Rpc(anvil.url.clone()),
        Some(address),
        Some(&payer),
    )
    .await
    .unwrap();
    let k = key();
    let now = rpc.now().await.unwrap();
    let on_anvil = rpc
        .register(&certificate_at(&rpc.domain(), &k, now))
        .await
        .unwrap();
    let now = reg.now().await.unwrap();
    let embedded_outcome = reg
        .register(&certificate_at(&reg.domain(), &k, now))
        .await
        .unwrap();
    // Calldata differs only in signature bytes, so gas may differ by a few zero-byte discounts.
    assert!(
        on_anvil.gas_used.abs_diff(embedded_outcome.gas_used) <= 200,
        "{on_anvil:?} vs {embedded_outcome:?}"
    );
}

#[tokio::test]
async fn views_ten_minutes_after_the_last_block_use_the_current_time() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, offset) = fresh(dir.path()).await;
    let (alice, bob) = (key(), key());
    let now = reg.now().await.unwrap();
    let d = reg.domain();
    // Bob's certificate ends 5 minutes from now.
    reg.register(&certificate_at(&d, &alice, now))
        .await
        .unwrap();
    let short = chainmail_core::eip712::Certificate::new(bob.public_key(), now + 300, now);
    reg.register(&sign(&bob, &d, short)).await.unwrap();
    let last_block = reg.head_number().unwrap();
    // Ten minutes pass without a block.
    offset.fetch_add(600, Ordering::SeqCst);
    let later = reg.now().await.unwrap();
    assert!(later >= now + 600);
    assert_eq!(reg.head_number().unwrap(), last_block, "no block was made");
    // A session request stamped now is fresh, not StaleTimestamp against a 10-minute-old block.
    let req = sign(
        &alice,
        &d,
        SessionRequest {
            from: alice.address(),
            to: alice.address(),
            timestamp: later,
            ephemeral_key_hash: [1; 32],
        },
    );
    reg.verify_session(&req).await.unwrap();
    assert!(reg.is_valid(alice.address()).await.unwrap());
    // And an ID that expired meanwhile is not called valid.
    assert!(!reg.is_valid(bob.address()).await.unwrap());
    let req = sign(
        &bob,
        &d,
        SessionRequest {
            from: bob.address(),
            to: alice.address(),
            timestamp: later,
            ephemeral_key_hash: [1; 32],
        },
    );
    assert_eq!(
        match reg.verify_session(&req).await {
            Err(ChainError::Contract(e)) => e,
            other => panic!("{other:?}"),
        },
        ContractError::IdentityExpired(bob.address())
    );
}

#[tokio::test]
async fn block_time_never_goes_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.db");
    let now = Arc::new(AtomicU64::new(2_000_000_000));
    let clock = {
        let n = now.clone();
        Arc::new(move || n.load(Ordering::SeqCst)) as embedded::Clock
    };
    let reg = EmbeddedRegistry::open_with_clock(&path, clock)
        .await
        .unwrap();
    let k = key();
    reg.register(&certificate_at(&reg.domain(), &k, 2_000_000_000))
        .await
        .unwrap();
    // The clock jumps back an hour: the pending time and the next block stay at the last block's time.
    now.store(2_000_000_000 - 3600, Ordering::SeqCst);
    assert_eq!(reg.now().await.unwrap(), 2_000_000_000);
    let k2 = key();
    reg.register(&certificate_at(&reg.domain(), &k2, 2_000_000_000))
        .await
        .unwrap();
    assert_eq!(reg.now().await.unwrap(), 2_000_000_000);
    reg.verify().unwrap();
}

fn corrupt_reason(path: &Path) -> String {
    match EmbeddedRegistry::open_blocking(path, embedded::system_clock()) {
        Err(ChainError::Corrupt { reason, .. }) => reason,
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        Ok(_) => panic!("a damaged file was accepted"),
    }
}

/// A chain with a few blocks, closed; returns its path.
async fn small_chain(dir: &Path) -> std::path::PathBuf {
    let (reg, _) = fresh(dir).await;
    for _ in 0..3 {
        let k = key();
        let now = reg.now().await.unwrap();
        reg.register(&certificate_at(&reg.domain(), &k, now))
            .await
            .unwrap();
    }
    dir.join("chain.db")
}

fn tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    assert!(
        conn.execute(sql, []).unwrap() > 0,
        "tampering changed nothing: {sql}"
    );
}

#[tokio::test]
async fn damaged_files_are_refused_with_the_failed_check() {
    let cases: &[(&str, &str)] = &[
        (
            "UPDATE storage SET value = zeroblob(31) || x'07' WHERE rowid IN (SELECT rowid FROM storage LIMIT 1)",
            "state",
        ),
        (
            "UPDATE blocks SET timestamp = timestamp + 1 WHERE number = 2",
            "block 2",
        ),
        ("DELETE FROM blocks WHERE number = 1", "block"),
        (
            "UPDATE blocks SET receipt = x'00' WHERE number = 3",
            "block 3",
        ),
        ("UPDATE accounts SET nonce = nonce + 1", "state"),
        ("UPDATE code SET code = code || x'00'", "code"),
        (
            "UPDATE meta SET value = x'0000000000000001' WHERE key = 'chain_id'",
            "chain id",
        ),
        (
            "DELETE FROM storage WHERE rowid IN (SELECT rowid FROM storage LIMIT 1)",
            "state",
        ),
    ];
    for (sql, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = small_chain(dir.path()).await;
        tamper(&path, &sql.replace("rowid", "address"));
        let reason = corrupt_reason(&path);
        assert!(
            reason.contains(expect),
            "{sql}: reason {reason:?} should mention {expect:?}"
        );
    }
}

#[test]
fn foreign_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all.
    let junk = dir.path().join("junk.db");
    let junk_bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&junk, &junk_bytes).unwrap();
    corrupt_reason(&junk);
    assert_eq!(std::fs::read(&junk).unwrap(), junk_bytes);
    // Another application's SQLite database.
    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    assert!(corrupt_reason(&other).contains("another application"));
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "a foreign database is never modified"
    );
    assert!(!dir.path().join("other.db-wal").exists());
}

#[tokio::test]
async fn open_refuses_a_registry_address_the_file_does_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::Embedded(Some(dir.path().join("chain.db")));
    let wrong: Address = "0x0000000000000000000000000000000000000001"
        .parse()
        .unwrap();
    assert!(
        matches!(chainmail_chain::open(&spec, Some(wrong), None).await, Err(ChainError::NoContract(a)) if a == wrong)
    );
    chainmail_chain::open(&spec, Some(embedded::registry_address()), None)
        .await
        .unwrap();
}
