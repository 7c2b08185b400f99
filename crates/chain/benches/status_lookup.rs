//! Status lookups on an embedded chain holding 1,000,000 registered IDs.
//! Goal: ≤ 20 µs per lookup. The 1M statuses are written through the
//! test-only `bench-internals` path (straight into the contract's storage,
//! no signatures); every lookup then runs the real contract's `status()` in
//! revm against the SQLite file, like the node does.
//!
//! Run: `cargo bench -p chainmail-chain --features bench-internals`

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::hint::black_box;

use chainmail_chain::embedded::system_clock;
use chainmail_chain::{EmbeddedRegistry, Registry};
use chainmail_core::{Address, IdStatus};
use criterion::{Criterion, criterion_group, criterion_main};

const IDS: u64 = 1_000_000;

/// The i-th synthetic ID (a hash, so keys spread over the storage b-tree like real IDs).
fn synthetic_id(i: u64) -> Address {
    let h = alloy::primitives::keccak256(i.to_be_bytes());
    let mut a = [0u8; 20];
    a.copy_from_slice(&h[12..]);
    Address(a)
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chain.db");
    let reg = EmbeddedRegistry::open_blocking(&path, system_clock()).expect("open");
    let ids: Vec<Address> = (0..IDS).map(synthetic_id).collect();
    let status = IdStatus {
        valid_until: 4_000_000_000,
        issued_at: 1_700_000_000,
        revoked_at: 0,
        registered_block: 1,
    };
    let started = std::time::Instant::now();
    reg.bench_write_statuses(&ids, status)
        .expect("write statuses");
    eprintln!("wrote {IDS} statuses in {:?}", started.elapsed());
    drop(reg);
    // Reopen: the integrity check must accept the 1M-slot file.
    let started = std::time::Instant::now();
    let reg = EmbeddedRegistry::open_blocking(&path, system_clock()).expect("reopen");
    eprintln!("reopened and verified in {:?}", started.elapsed());
    assert_eq!(reg.status_blocking(ids[12345]).expect("status"), status);

    // The machine is shared: next to criterion's wall-clock figures, report
    // the on-CPU time of this thread per lookup (from /proc/thread-self/schedstat),
    // which other processes' load does not inflate.
    let n = 100_000u64;
    let (cpu0, wall0) = (thread_cpu_ns(), std::time::Instant::now());
    for j in 0..n {
        black_box(
            reg.status_blocking(ids[((j * 7_919) % IDS) as usize])
                .expect("status"),
        );
    }
    let (cpu, wall) = (thread_cpu_ns().saturating_sub(cpu0), wall0.elapsed());
    eprintln!(
        "status lookup at 1M IDs: {:.2} µs on-CPU, {:.2} µs wall per lookup ({n} lookups)",
        cpu as f64 / n as f64 / 1000.0,
        wall.as_nanos() as f64 / n as f64 / 1000.0
    );

    let mut i = 0u64;
    c.bench_function("status lookup, 1M IDs (sync)", |b| {
        b.iter(|| {
            // A stride coprime with 1M walks all IDs in a scattered order.
            i = (i + 7_919) % IDS;
            black_box(reg.status_blocking(ids[i as usize]).expect("status"))
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("status lookup, 1M IDs (Registry::status)", |b| {
        b.iter(|| {
            i = (i + 7_919) % IDS;
            black_box(rt.block_on(reg.status(ids[i as usize])).expect("status"))
        })
    });
    let unknown = synthetic_id(IDS + 1);
    c.bench_function("status lookup, unknown ID", |b| {
        b.iter(|| black_box(reg.status_blocking(unknown).expect("status")))
    });
}

/// Nanoseconds this thread has run on a CPU (Linux), or 0 if unavailable.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = lookups
}
criterion_main!(benches);
