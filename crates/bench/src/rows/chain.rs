//! Row 6: the embedded chain (revm executing the registry's bytecode
//! against its SQLite file): status lookups per second at 1,000 real
//! registrations and at 1,000,000 IDs, and registrations per second (each
//! one a signed transaction in its own block, committed with
//! `synchronous = FULL`).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use chainmail_chain::EmbeddedRegistry;
use chainmail_chain::embedded::system_clock;
use chainmail_core::{Address, SecretKey};

use crate::measure::{Cpu, Plan, median};
use crate::table::{Better, Row, fmt_int};

/// Median lookups/s over `plan.repeats` windows, walking `ids` in a scattered order.
fn lookups(plan: &Plan, chain: &EmbeddedRegistry, ids: &[Address]) -> Result<f64> {
    let mut samples = Vec::new();
    let mut i = 0usize;
    for _ in 0..plan.repeats {
        let start = Instant::now();
        let cpu = Cpu::start();
        let mut n = 0u64;
        while start.elapsed() < plan.window || n == 0 {
            // A stride coprime with the ID count visits them all, scattered.
            i = (i + 7_919) % ids.len();
            let s = chain.status_blocking(ids[i])?;
            anyhow::ensure!(s.is_registered(), "ID {} not registered", ids[i]);
            n += 1;
        }
        samples.push(n as f64 / cpu.elapsed().as_secs_f64());
    }
    Ok(median(&samples))
}

/// Measures row 6 in fresh chain files under `dir`.
pub fn run(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let small = plan.pick(1_000, 20);
    let chain = EmbeddedRegistry::open_blocking(&dir.join("chain-1k.db"), system_clock())?;
    let keys: Vec<SecretKey> = (0..small)
        .map(|_| SecretKey::generate(&mut rand::rng()))
        .collect();
    let start = Instant::now();
    for k in &keys {
        rt.block_on(crate::register(&chain, k))?;
    }
    let per_second = small as f64 / start.elapsed().as_secs_f64();
    rows.push(
        Row::new(
            6,
            "embedded chain: registrations/s (one block each, fsynced)",
            "/s",
            Better::Higher,
        )
        .chainmail(per_second),
    );
    let ids: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let rate = lookups(plan, &chain, &ids)?;
    rows.push(
        Row::new(
            6,
            format!(
                "embedded chain: status lookups per core-second, {} registered IDs",
                fmt_int(small as usize)
            ),
            "/s",
            Better::Higher,
        )
        .chainmail(rate),
    );
    drop(chain);
    rows.extend(million(plan, dir, notes)?);
    Ok(rows)
}

#[cfg(feature = "bench-internals")]
fn million(plan: &Plan, dir: &Path, notes: &mut Vec<String>) -> Result<Vec<Row>> {
    use chainmail_core::IdStatus;
    let count: u64 = plan.pick(1_000_000, 10_000);
    let path = dir.join("chain-1m.db");
    let chain = EmbeddedRegistry::open_blocking(&path, system_clock())?;
    // Synthetic IDs: hashes, so they spread over the storage b-tree like real ones.
    let ids: Vec<Address> = (0..count)
        .map(|i| {
            let h = chainmail_core::hash::keccak256(&i.to_be_bytes());
            let mut a = [0u8; 20];
            a.copy_from_slice(&h[12..]);
            Address(a)
        })
        .collect();
    let now = crate::chainmail::unix_now();
    let status = IdStatus {
        valid_until: now + 86_400 * 365,
        issued_at: now - 60,
        revoked_at: 0,
        registered_block: 1,
    };
    let start = Instant::now();
    chain.bench_write_statuses(&ids, status)?;
    let written = start.elapsed();
    drop(chain);
    let start = Instant::now();
    let chain = EmbeddedRegistry::open_blocking(&path, system_clock())?;
    let reopened = start.elapsed();
    notes.push(format!(
        "Row 6: the {} statuses were written through chainmail-chain's test-only `bench-internals` path (straight into the contract's storage, one block) in {:.1} s; reopening the file (integrity check over every slot) took {:.1} s. Each lookup runs the contract's `status()` in revm against the file.",
        fmt_int(count as usize),
        written.as_secs_f64(),
        reopened.as_secs_f64()
    ));
    let rate = lookups(plan, &chain, &ids)?;
    let micros = 1e6 / rate;
    Ok(vec![
        Row::new(
            6,
            format!(
                "embedded chain: status lookups per core-second, {} IDs",
                fmt_int(count as usize)
            ),
            "/s",
            Better::Higher,
        )
        .chainmail(rate)
        .goal(
            format!("≤ 20 µs per lookup: {micros:.1} µs"),
            micros <= 20.0,
        ),
    ])
}

#[cfg(not(feature = "bench-internals"))]
fn million(_plan: &Plan, _dir: &Path, notes: &mut Vec<String>) -> Result<Vec<Row>> {
    notes.push("Row 6: the 1,000,000-ID lookup needs `--features bench-internals` (scripts/bench turns it on); not measured in this run.".into());
    Ok(Vec::new())
}
