//! BENCHMARKS.md: the generated part (date, machine, command, table, notes)
//! sits between two markers and is replaced on every run; whatever is
//! outside them (the profiles of shortfalls, written by people) is kept.

use std::path::Path;

use anyhow::{Context, Result};

use crate::table::{Row, markdown};

/// Start of the generated part.
pub const BEGIN: &str = "<!-- scripts/bench: generated table, replaced on every run -->";
/// End of the generated part.
pub const END: &str = "<!-- scripts/bench: end of generated table -->";

/// What the run was, where.
#[derive(Debug, Clone)]
pub struct Context_ {
    /// UTC date and time of the run.
    pub date: String,
    /// `nproc`.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// The command that made the table.
    pub command: String,
    /// Whether this was a smoke run (figures meaningless).
    pub smoke: bool,
    /// /proc/loadavg at the start and at the end of the run.
    pub load: (String, String),
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The CPU model named in /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `YYYY-MM-DD HH:MM UTC` for unix seconds `t`.
pub fn utc_date(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// The generated part, markers included.
pub fn generated(ctx: &Context_, rows: &[Row], notes: &[String]) -> String {
    let mut s = String::new();
    s.push_str(BEGIN);
    s.push('\n');
    if ctx.smoke {
        s.push_str("\n**Smoke run: every row ran for a moment; the figures mean nothing.**\n");
    }
    s.push_str(&format!(
        "\n- date: {}\n- machine: {} × {} (`nproc` = {}), shared with other work: load average {} at the start, {} at the end\n- command: `{}`\n\n",
        ctx.date, ctx.nproc, ctx.cpu, ctx.nproc, ctx.load.0, ctx.load.1, ctx.command
    ));
    s.push_str(&markdown(rows));
    s.push_str("\nNotes on this run:\n\n");
    for n in notes {
        s.push_str(&format!("- {n}\n"));
    }
    s.push('\n');
    s.push_str(END);
    s.push('\n');
    s
}

/// Writes the generated part into `path`, keeping everything outside the markers.
pub fn write(path: &Path, generated: &str) -> Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let new = splice(&old, generated);
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}

/// `old` with its generated part replaced (or a new document if it has none).
pub fn splice(old: &str, generated: &str) -> String {
    match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!(
                "{}{}{}",
                &old[..b],
                generated,
                old[e + END.len()..].trim_start_matches('\n')
            )
        }
        _ => format!(
            "# chainmail benchmarks\n\nchainmail beside mutual TLS 1.3 (rustls) and Noise (snow), measured in the same run on the same machine: compare the ratios, not the absolute figures (this machine is shared and drifts). Reproduce with `scripts/bench` (CI: `scripts/bench --smoke`).\n\n{generated}\n{old}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(1_764_077_421), "2025-11-25 13:30 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn splice_keeps_what_is_outside_the_markers() {
        let first = splice("", &format!("{BEGIN}\nA\n{END}\n"));
        assert!(first.contains("\nA\n"));
        let edited = format!("{first}\n## Profiles\nkept\n");
        let second = splice(&edited, &format!("{BEGIN}\nB\n{END}\n"));
        assert!(second.contains("\nB\n") && !second.contains("\nA\n"));
        assert!(second.contains("## Profiles\nkept"));
        assert_eq!(second.matches(BEGIN).count(), 1);
    }
}
