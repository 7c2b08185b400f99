//! The one table every run prints and writes to BENCHMARKS.md: one line per
//! measure, chainmail beside each peer, the ratio to the best peer, and the
//! goal with whether this run reached it.

use std::fmt::Write as _;

/// The peers, in column order.
pub const PEERS: [&str; 4] = [
    "rustls mTLS (aws-lc-rs)",
    "rustls mTLS (ring)",
    "snow IK",
    "snow XK",
];

/// Whether bigger figures are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Rates, throughput.
    Higher,
    /// Latency, memory, gas.
    Lower,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Section number: issue 7's 1–7, 8 for issue 14's proof-checked reads, 9 for issue 16's daemon API.
    pub section: u8,
    /// What is measured.
    pub name: String,
    /// Unit of the figures.
    pub unit: &'static str,
    /// Which direction is better.
    pub better: Better,
    /// chainmail's figure.
    pub chainmail: Option<f64>,
    /// The peers' figures, in [`PEERS`] order (`None`: not applicable / not measured).
    pub peers: [Option<f64>; 4],
    /// The goal and whether it was met (`None`: no goal on this line).
    pub goal: Option<(String, bool)>,
}

impl Row {
    /// A line with chainmail only.
    pub fn new(section: u8, name: impl Into<String>, unit: &'static str, better: Better) -> Self {
        Row {
            section,
            name: name.into(),
            unit,
            better,
            chainmail: None,
            peers: [None; 4],
            goal: None,
        }
    }

    /// Sets chainmail's figure.
    pub fn chainmail(mut self, v: f64) -> Self {
        self.chainmail = Some(v);
        self
    }

    /// Sets one peer's figure (index into [`PEERS`]).
    pub fn peer(mut self, i: usize, v: f64) -> Self {
        self.peers[i] = Some(v);
        self
    }

    /// The best peer figure and its column.
    pub fn best_peer(&self) -> Option<(usize, f64)> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .reduce(|a, b| match self.better {
                Better::Higher if b.1 > a.1 => b,
                Better::Lower if b.1 < a.1 => b,
                _ => a,
            })
    }

    /// chainmail ÷ best peer.
    pub fn ratio(&self) -> Option<f64> {
        let (_, best) = self.best_peer()?;
        Some(self.chainmail? / best)
    }

    /// chainmail ÷ the peer in column `i`.
    pub fn ratio_to(&self, i: usize) -> Option<f64> {
        Some(self.chainmail? / self.peers[i]?)
    }

    /// Sets the goal text and whether this run met it.
    pub fn goal(mut self, text: impl Into<String>, met: bool) -> Self {
        self.goal = Some((text.into(), met));
        self
    }
}

/// A figure: whole numbers with thousands separators from 1,000 up, else 2–3 significant digits.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let abs = v.abs();
    if abs >= 1000.0 {
        group(&format!("{v:.0}"))
    } else if abs >= 100.0 {
        format!("{v:.0}")
    } else if abs >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A count with thousands separators.
pub fn fmt_int(n: usize) -> String {
    group(&n.to_string())
}

fn group(digits: &str) -> String {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", digits),
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn cell(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "—".into())
}

/// The table as Markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| # | measure | unit | chainmail | {} | chainmail ÷ best peer | goal (this run) |",
        PEERS.join(" | ")
    );
    let _ = writeln!(s, "|---|---|---|--:|--:|--:|--:|--:|--:|---|");
    for r in rows {
        let ratio = match (r.ratio(), r.best_peer()) {
            (Some(x), Some((i, _))) => format!("{x:.2}× ({})", short(PEERS[i])),
            _ => "—".into(),
        };
        let goal = match &r.goal {
            Some((text, met)) => format!("{} {text}", if *met { "✅" } else { "❌" }),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.section,
            r.name,
            r.unit,
            cell(r.chainmail),
            cell(r.peers[0]),
            cell(r.peers[1]),
            cell(r.peers[2]),
            cell(r.peers[3]),
            ratio,
            goal
        );
    }
    s
}

fn short(peer: &str) -> &str {
    match peer {
        "rustls mTLS (aws-lc-rs)" => "rustls/aws-lc-rs",
        "rustls mTLS (ring)" => "rustls/ring",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rounded_and_grouped() {
        assert_eq!(fmt_num(1_234_567.4), "1,234,567");
        assert_eq!(fmt_num(53_449.0), "53,449");
        assert_eq!(fmt_num(999.4), "999");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(0.456), "0.46");
        assert_eq!(fmt_num(f64::NAN), "—");
        assert_eq!(fmt_int(60), "60");
        assert_eq!(fmt_int(1_000_000), "1,000,000");
    }

    #[test]
    fn best_peer_follows_the_direction() {
        let r = Row::new(1, "x", "/s", Better::Higher)
            .chainmail(10.0)
            .peer(0, 5.0)
            .peer(2, 8.0);
        assert_eq!(r.best_peer(), Some((2, 8.0)));
        assert_eq!(r.ratio(), Some(1.25));
        let r = Row::new(4, "x", "µs", Better::Lower)
            .chainmail(10.0)
            .peer(0, 5.0)
            .peer(2, 8.0);
        assert_eq!(r.best_peer(), Some((0, 5.0)));
        assert_eq!(r.ratio(), Some(2.0));
        assert_eq!(Row::new(6, "x", "/s", Better::Higher).ratio(), None);
    }
}
