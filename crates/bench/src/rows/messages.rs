//! Rows 2–4 over loopback TCP, one connection per protocol: 1 KiB messages
//! per second, bulk throughput at 16 KiB and 64 KiB frames, and send→ack
//! latency of single messages.

use std::net::TcpStream;

use anyhow::Result;

use crate::chainmail::{Pair, Signing, batch_that_fits};
use crate::measure::{Plan, median, quantile};
use crate::peers::noise::{Noise, NoiseEndpoint, Pattern};
use crate::peers::tls::{Provider, Tls, TlsEndpoint};
use crate::table::{Better, Row};
use crate::transport::{Endpoint, Throughput, calibrate, ping_pong, stream, tcp_pair};

/// One established connection: (sender/client end, receiver/server end, sockets).
struct Link {
    client: Box<dyn Endpoint>,
    server: Box<dyn Endpoint>,
    socks: (TcpStream, TcpStream),
}

/// Which protocol a link runs.
#[derive(Debug, Clone, Copy)]
enum Proto {
    Chainmail(Signing),
    Tls(Provider),
    Noise,
}

fn link(proto: Proto, pair: &Pair) -> Result<Link> {
    let (client, server): (Box<dyn Endpoint>, Box<dyn Endpoint>) = match proto {
        Proto::Chainmail(s) => {
            let (b, a) = pair.endpoints(s)?;
            (Box::new(b), Box::new(a))
        }
        Proto::Tls(p) => {
            let (_, _, c, s) = Tls::new(p)?.handshake()?;
            (Box::new(TlsEndpoint::new(c)), Box::new(TlsEndpoint::new(s)))
        }
        Proto::Noise => {
            let (_, _, i, r) = Noise::new(Pattern::Ik)?.handshake()?;
            (
                Box::new(NoiseEndpoint::new(i)),
                Box::new(NoiseEndpoint::new(r)),
            )
        }
    };
    Ok(Link {
        client,
        server,
        socks: tcp_pair()?,
    })
}

/// Median application bytes/s (per core, wall) of streaming `size`-byte
/// messages, `batch` per seal, for each link (measured round-robin).
fn stream_rates(
    plan: &Plan,
    links: &mut [(Link, usize)],
    size: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let message = vec![0x42u8; size];
    let mut counts = Vec::new();
    for (l, batch) in links.iter_mut() {
        counts.push(calibrate(
            l.client.as_mut(),
            l.server.as_mut(),
            &mut l.socks,
            &message,
            *batch,
            plan.window,
        )?);
    }
    let mut samples = vec![Vec::new(); links.len()];
    for _ in 0..plan.repeats {
        for (i, (l, batch)) in links.iter_mut().enumerate() {
            samples[i].push(stream(
                l.client.as_mut(),
                l.server.as_mut(),
                &mut l.socks,
                &message,
                *batch,
                counts[i],
            )?);
        }
    }
    let per_core = samples
        .iter()
        .map(|s: &Vec<Throughput>| median(&s.iter().map(|t| t.per_core).collect::<Vec<_>>()))
        .collect();
    let wall = samples
        .iter()
        .map(|s: &Vec<Throughput>| median(&s.iter().map(|t| t.wall).collect::<Vec<_>>()))
        .collect();
    Ok((per_core, wall))
}

fn wall_note(what: &str, names: &[&str], wall: &[f64], unit: f64, unit_name: &str) -> String {
    let parts: Vec<String> = names
        .iter()
        .zip(wall)
        .map(|(n, w)| format!("{n} {}", crate::table::fmt_num(w / unit)))
        .collect();
    format!(
        "{what}, wall clock on this shared machine ({unit_name}): {}.",
        parts.join(", ")
    )
}

const PEER_PROTOS: [Proto; 3] = [
    Proto::Tls(Provider::AwsLcRs),
    Proto::Tls(Provider::Ring),
    Proto::Noise,
];

/// Measures rows 2, 3 and 4.
pub fn run(plan: &Plan, pair: &Pair, notes: &mut Vec<String>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    const KIB: usize = 1024;

    // Row 2: 1 KiB messages.
    let batch = batch_that_fits(KIB);
    notes.push(format!(
        "Row 2: peers and unsigned/per-message chainmail seal one record per 1 KiB message; batch-signed chainmail puts {batch} messages (as many as fit one 64 KiB frame, as the node does) in one `Deliver` under one `MessageBatch` signature, each message keeping its Merkle path as its proof. The receiver opens, decodes and verifies every signature; storage (SQLite) is not included. Writes are coalesced into ≥ 64 KiB socket writes for every protocol alike. Rows 2–3 \"per core\": bytes ÷ the CPU time (user + system, kernel copies included) of the busier of the sender and receiver threads, i.e. the rate with one free core per side; the wall-clock medians follow."
    ));
    let mut links = vec![
        (link(Proto::Chainmail(Signing::Each), pair)?, 1),
        (link(Proto::Chainmail(Signing::Batch), pair)?, batch),
        (link(Proto::Chainmail(Signing::None), pair)?, 1),
    ];
    for p in PEER_PROTOS {
        links.push((link(p, pair)?, 1));
    }
    let (r, wall) = stream_rates(plan, &mut links, KIB)?;
    notes.push(wall_note(
        "Row 2",
        &[
            "chainmail per-message",
            "chainmail batch",
            "chainmail unsigned",
            "rustls aws-lc-rs",
            "rustls ring",
            "snow IK",
        ],
        &wall,
        KIB as f64,
        "msg/s",
    ));
    let msgs = |v: f64| v / KIB as f64;
    let peers = |row: Row| {
        row.peer(0, msgs(r[3]))
            .peer(1, msgs(r[4]))
            .peer(2, msgs(r[5]))
    };
    let msg_goal = |row: Row| {
        let x = row
            .ratio_to(0)
            .unwrap_or(0.0)
            .min(row.ratio_to(1).unwrap_or(0.0));
        row.goal(format!("≥ rustls: {x:.2}×"), x >= 1.0)
    };
    rows.push(msg_goal(peers(
        Row::new(
            2,
            "1 KiB messages/s per core, one connection, per-message signatures",
            "msg/s",
            Better::Higher,
        )
        .chainmail(msgs(r[0])),
    )));
    rows.push(msg_goal(peers(
        Row::new(
            2,
            format!("1 KiB messages/s per core, one connection, batch signature ({batch}/batch, per-message Merkle proof)"),
            "msg/s",
            Better::Higher,
        )
        .chainmail(msgs(r[1])),
    )));
    rows.push(peers(
        Row::new(
            2,
            "1 KiB messages/s per core, one connection, no signatures (session cipher only)",
            "msg/s",
            Better::Higher,
        )
        .chainmail(msgs(r[2])),
    ));

    // Row 3: bulk.
    notes.push("Row 3: chainmail bulk is bare session frames (AES-256-GCM); rustls splits each write into ≤ 16 KiB TLS records; snow (ChaCha20-Poly1305) splits a 64 KiB frame into two Noise messages (limit 65,535 bytes).".into());
    for size in [16 * KIB, 64 * KIB] {
        let mut links = vec![(link(Proto::Chainmail(Signing::None), pair)?, 1)];
        for p in PEER_PROTOS {
            links.push((link(p, pair)?, 1));
        }
        let (r, wall) = stream_rates(plan, &mut links, size)?;
        notes.push(wall_note(
            &format!("Row 3, {} KiB", size / KIB),
            &["chainmail", "rustls aws-lc-rs", "rustls ring", "snow IK"],
            &wall,
            1e6,
            "MB/s",
        ));
        let mb = |v: f64| v / 1e6;
        let row = Row::new(
            3,
            format!("bulk throughput per core, {} KiB frames", size / KIB),
            "MB/s",
            Better::Higher,
        )
        .chainmail(mb(r[0]))
        .peer(0, mb(r[1]))
        .peer(1, mb(r[2]))
        .peer(2, mb(r[3]));
        let met = r[0] >= 1.2e9;
        rows.push(row.goal(
            format!("≥ 1,200 MB/s: {}", crate::table::fmt_num(mb(r[0]))),
            met,
        ));
    }

    // Row 4: send→ack latency.
    let rounds = plan.pick(4000, 20);
    let mut links = vec![
        link(Proto::Chainmail(Signing::Each), pair)?,
        link(Proto::Chainmail(Signing::None), pair)?,
    ];
    for p in PEER_PROTOS {
        links.push(link(p, pair)?);
    }
    let message = vec![0x42u8; KIB];
    let mut times = vec![Vec::new(); links.len()];
    // Round-robin in slices so drift hits every protocol alike.
    let slices = plan.pick(8, 1);
    for _ in 0..slices {
        for (i, l) in links.iter_mut().enumerate() {
            times[i].extend(ping_pong(
                l.client.as_mut(),
                l.server.as_mut(),
                &mut l.socks,
                &message,
                rounds / slices,
            )?);
        }
    }
    for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
        let v: Vec<f64> = times.iter().map(|t| quantile(t, q)).collect();
        let signed = Row::new(
            4,
            format!("send→ack {label}, 1 KiB, per-message signature verified before the ack"),
            "µs",
            Better::Lower,
        )
        .chainmail(v[0])
        .peer(0, v[2])
        .peer(1, v[3])
        .peer(2, v[4]);
        let signed = if q == 0.5 {
            signed.goal(format!("≤ 1,000 µs: {:.0}", v[0]), v[0] <= 1000.0)
        } else {
            signed
        };
        rows.push(signed);
        rows.push(
            Row::new(
                4,
                format!("send→ack {label}, 1 KiB, no signature"),
                "µs",
                Better::Lower,
            )
            .chainmail(v[1])
            .peer(0, v[2])
            .peer(1, v[3])
            .peer(2, v[4]),
        );
    }
    notes.push(format!(
        "Row 4: {} round trips per protocol on one connection with TCP_NODELAY; the ack is a `Wire::Ack` frame for chainmail, a 16-byte record for the peers. It excludes storage: the node's durable `send` is its own row.",
        crate::table::fmt_int(slices * (rounds / slices))
    ));
    Ok(rows)
}
