//! Row 1: full handshakes per second on one core, in memory (no sockets):
//! the responder's side alone and both sides, chainmail with the chain's
//! answer from a status cache, and with the embedded chain's real
//! `status` + `verifySession` in the loop.

use std::time::Duration;

use anyhow::Result;
use chainmail_chain::EmbeddedRegistry;
use chainmail_core::MemoryReplayCache;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::chainmail::{ChainAnswer, Pair};
use crate::measure::{Plan, median};
use crate::peers::noise::{Noise, Pattern};
use crate::peers::tls::{Provider, Tls};
use crate::table::{Better, Row};

/// (responder-side rate, both-sides rate) of one repetition.
type Rates = (f64, f64);

fn rates(window: Duration, mut one: impl FnMut() -> Result<(Duration, Duration)>) -> Result<Rates> {
    let start = std::time::Instant::now();
    let (mut responder, mut total, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
    while start.elapsed() < window || n == 0 {
        let (r, t) = one()?;
        responder += r;
        total += t;
        n += 1;
    }
    Ok((
        f64::from(n) / responder.as_secs_f64(),
        f64::from(n) / total.as_secs_f64(),
    ))
}

/// Measures row 1; `chain` is an embedded chain on which both identities of
/// `pair` are registered.
pub fn run(
    plan: &Plan,
    pair: &Pair,
    chain: &EmbeddedRegistry,
    rt: &tokio::runtime::Runtime,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let tls_aws = Tls::new(Provider::AwsLcRs)?;
    let tls_ring = Tls::new(Provider::Ring)?;
    let ik = Noise::new(Pattern::Ik)?;
    let xk = Noise::new(Pattern::Xk)?;
    notes.push("Row 1: one thread, both sides in memory; \"per core\" = handshakes ÷ this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other load on the shared machine does not count. Responder side: chainmail's read_t_b1 + status (cache or chain) + replay check + accept (T_A2) + opening the confirm frame; rustls's ServerConnection from new to the client's Finished (client certificate verified); snow's responder from build to transport mode. Fresh keys and full handshakes every time (no TLS resumption or tickets).".into());
    notes.push(format!(
        "rustls key exchange negotiated: aws-lc-rs {}, ring {} (each provider's default preference).",
        tls_aws.kx_group()?,
        tls_ring.kx_group()?
    ));
    let mut rng = StdRng::from_os_rng();
    // Capacity for every handshake of the run; entries stay 300 s.
    let mut replay = MemoryReplayCache::new(0, 1 << 24);
    let embedded = ChainAnswer::Embedded(chain, rt);

    let w = plan.window;
    let mut samples: Vec<Vec<Rates>> = vec![Vec::new(); 7];
    for _ in 0..plan.repeats {
        samples[0].push(rates(w, || {
            let (r, t, _, _) = pair.handshake(&ChainAnswer::Cached, &mut replay, &mut rng)?;
            Ok((r, t))
        })?);
        samples[1].push(rates(w, || {
            let (r, t, _, _) = pair.handshake(&ChainAnswer::CachedNoSs, &mut replay, &mut rng)?;
            Ok((r, t))
        })?);
        samples[2].push(rates(w, || {
            let (r, t, _, _) = pair.handshake(&embedded, &mut replay, &mut rng)?;
            Ok((r, t))
        })?);
        samples[3].push(rates(w, || {
            let (r, t, _, _) = tls_aws.handshake()?;
            Ok((r, t))
        })?);
        samples[4].push(rates(w, || {
            let (r, t, _, _) = tls_ring.handshake()?;
            Ok((r, t))
        })?);
        samples[5].push(rates(w, || {
            let (r, t, _, _) = ik.handshake()?;
            Ok((r, t))
        })?);
        samples[6].push(rates(w, || {
            let (r, t, _, _) = xk.handshake()?;
            Ok((r, t))
        })?);
    }
    let med = |i: usize| -> Rates {
        let r: Vec<f64> = samples[i].iter().map(|s| s.0).collect();
        let t: Vec<f64> = samples[i].iter().map(|s| s.1).collect();
        (median(&r), median(&t))
    };
    let m: Vec<Rates> = (0..7).map(med).collect();
    let with_peers = |row: Row, both: bool| -> Row {
        let pick = |r: &Rates| if both { r.1 } else { r.0 };
        row.peer(0, pick(&m[3]))
            .peer(1, pick(&m[4]))
            .peer(2, pick(&m[5]))
            .peer(3, pick(&m[6]))
    };
    let responder_goal = |row: Row| -> Row {
        let tls = row
            .ratio_to(0)
            .unwrap_or(0.0)
            .min(row.ratio_to(1).unwrap_or(0.0));
        let ik = row.ratio_to(2).unwrap_or(0.0);
        let text = format!("≥ 1.5× rustls: {tls:.2}×; ≥ 2× snow IK: {ik:.2}×");
        row.goal(text, tls >= 1.5 && ik >= 2.0)
    };
    let rows = vec![
        responder_goal(with_peers(
            Row::new(
                1,
                "handshakes/s/core, responder side (status cache, ss cached)",
                "/s",
                Better::Higher,
            )
            .chainmail(m[0].0),
            false,
        )),
        responder_goal(with_peers(
            Row::new(
                1,
                "handshakes/s/core, responder side (status cache, ss computed)",
                "/s",
                Better::Higher,
            )
            .chainmail(m[1].0),
            false,
        )),
        with_peers(
            Row::new(
                1,
                "handshakes/s/core, responder side (embedded chain: 2× status + verifySession)",
                "/s",
                Better::Higher,
            )
            .chainmail(m[2].0),
            false,
        ),
        with_peers(
            Row::new(
                1,
                "handshakes/s/core, both sides (status cache, ss cached)",
                "/s",
                Better::Higher,
            )
            .chainmail(m[0].1),
            true,
        ),
        with_peers(
            Row::new(
                1,
                "handshakes/s/core, both sides (status cache, ss computed)",
                "/s",
                Better::Higher,
            )
            .chainmail(m[1].1),
            true,
        ),
    ];
    Ok(rows)
}
