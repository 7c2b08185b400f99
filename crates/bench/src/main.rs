//! `chainmail-bench` (see README.md): measures chainmail and the protocols a user would pick
//! instead (rustls mutual TLS 1.3, snow Noise IK/XK) in the same run on the
//! same machine, prints one table of ratios and, with `--write PATH`, puts it
//! in BENCHMARKS.md. Run by `scripts/bench` (`--smoke` for CI: every row for
//! a moment, no assertion on time).
//!
//! ```text
//! chainmail-bench [--smoke] [--rows 1,2,…] [--write BENCHMARKS.md]
//! ```
#![forbid(unsafe_code)]

mod chainmail;
mod measure;
mod peers;
mod report;
mod rows;
mod table;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chainmail_chain::{EmbeddedRegistry, Registry};
use chainmail_core::SecretKey;
use chainmail_core::eip712::{Certificate, Signed};

use crate::chainmail::{Pair, unix_now};
use crate::measure::Plan;

struct Args {
    smoke: bool,
    rows: Vec<u8>,
    write: Option<PathBuf>,
}

fn parse_args(argv: impl IntoIterator<Item = String>, smoke_env: bool) -> Result<Args> {
    let mut args = Args {
        smoke: smoke_env,
        rows: (1..=9).collect(),
        write: None,
    };
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => args.smoke = true,
            "--rows" => {
                let list = it.next().context("--rows needs a list like 1,2,7")?;
                args.rows = list
                    .split(',')
                    .map(|r| match r.trim().parse::<u8>() {
                        Ok(n @ 1..=9) => Ok(n),
                        _ => bail!("--rows: {r:?} is not a row number 1–9"),
                    })
                    .collect::<Result<_>>()?;
            }
            "--write" => args.write = Some(it.next().context("--write needs a path")?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: chainmail-bench [--smoke] [--rows 1,2,…,9] [--write BENCHMARKS.md]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(args)
}

/// Registers `key` on `chain` for a day.
pub async fn register(chain: &dyn Registry, key: &SecretKey) -> Result<()> {
    let now = chain.now().await?;
    let cert = Certificate::new(key.public_key(), now + 86_400, now);
    chain
        .register(&Signed::sign(key, &chain.domain(), cert))
        .await?;
    Ok(())
}

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some(rows::memory::CHILD_ARG) {
        return rows::memory::child_main();
    }
    let args = parse_args(
        std::env::args().skip(1),
        std::env::var("CHAINMAIL_BENCH_SMOKE").is_ok_and(|v| v == "1"),
    )?;
    let plan = if args.smoke {
        Plan::smoke()
    } else {
        Plan::full()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;

    // Alice and Bob registered on a fresh embedded chain: its domain (random
    // chain id) is the one every chainmail row signs for.
    let chain = Arc::new(EmbeddedRegistry::open_blocking(
        &dir.path().join("chain.db"),
        chainmail_chain::embedded::system_clock(),
    )?);
    let alice = SecretKey::generate(&mut rand::rng());
    let bob = SecretKey::generate(&mut rand::rng());
    rt.block_on(async {
        register(chain.as_ref(), &alice).await?;
        register(chain.as_ref(), &bob).await
    })?;
    let pair = Pair::new(alice, bob, chain.domain(), unix_now());

    let load_start = report::load_average();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let started = std::time::Instant::now();
    for r in &args.rows {
        eprintln!("[{:>6.1}s] row {r}…", started.elapsed().as_secs_f64());
        match r {
            1 => rows.extend(rows::handshakes::run(
                &plan, &pair, &chain, &rt, &mut notes,
            )?),
            // Rows 2–4 share their links: one run measures all three.
            2..=4 => {
                if args.rows.iter().find(|r| (2..=4).contains(*r)) == Some(r) {
                    rows.extend(rows::messages::run(&plan, &pair, &mut notes)?);
                    rows.extend(rows::node::run(&plan, &rt, dir.path(), &mut notes)?);
                }
            }
            5 => rows.extend(rows::memory::run(&plan, &rt, dir.path(), &mut notes)?),
            6 => rows.extend(rows::chain::run(&plan, &rt, dir.path(), &mut notes)?),
            7 => rows.extend(rows::gas::run(&plan, &rt, &mut notes)?),
            8 => rows.extend(rows::proofs::run(&plan, &rt, &mut notes)?),
            9 => rows.extend(rows::daemon::run(&plan, &rt, dir.path(), &mut notes)?),
            _ => unreachable!("checked when parsing"),
        }
    }
    // Rows 2–4 come from one module: keep the table in row order.
    rows.sort_by_key(|r| r.section);
    rows.dedup_by(|a, b| a.section == b.section && a.name == b.name);

    let ctx = report::Context_ {
        date: report::utc_date(unix_now()),
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu: report::cpu_model(),
        command: std::env::var("CHAINMAIL_BENCH_COMMAND").unwrap_or_else(|_| {
            let a: Vec<String> = std::env::args().skip(1).collect();
            format!("cargo run --release -p chainmail-bench -- {}", a.join(" "))
        }),
        smoke: plan.smoke,
        load: (load_start, report::load_average()),
    };
    let text = report::generated(&ctx, &rows, &notes);
    println!("{text}");
    if let Some(path) = &args.write {
        report::write(path, &text)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<Args> {
        parse_args(a.iter().map(|s| s.to_string()), false)
    }

    #[test]
    fn arguments() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.rows, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(!a.smoke && a.write.is_none());
        let a = parse(&["--smoke", "--rows", "7,1", "--write", "x.md"]).unwrap();
        assert!(a.smoke);
        assert_eq!(a.rows, vec![7, 1]);
        assert_eq!(a.write, Some(PathBuf::from("x.md")));
        assert!(parse_args(Vec::new(), true).unwrap().smoke);
        for bad in [
            &["--rows", "10"][..],
            &["--rows", "1,x"],
            &["--rows"],
            &["--write"],
            &["--fast"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
