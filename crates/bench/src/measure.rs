//! How every figure is taken: a row is measured several times, interleaved
//! with its peers (so slow drift of this shared machine hits every protocol
//! alike), and the median is reported. Smoke mode runs each row for a moment,
//! for CI; its figures mean nothing and nothing asserts on them.

use std::time::Duration;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Repetitions of each measurement (the median is reported).
    pub repeats: usize,
    /// Wall time of one repetition of a rate measurement.
    pub window: Duration,
    /// Whether this is the CI smoke run (tiny sizes, figures meaningless).
    pub smoke: bool,
}

impl Plan {
    /// The full run: 7 repetitions of about 0.6 s each.
    pub fn full() -> Self {
        Plan {
            repeats: 7,
            window: Duration::from_millis(600),
            smoke: false,
        }
    }

    /// The CI smoke run: one short repetition.
    pub fn smoke() -> Self {
        Plan {
            repeats: 1,
            window: Duration::from_millis(20),
            smoke: true,
        }
    }

    /// `full` in a full run, `smoke` in a smoke run.
    pub fn pick<T>(&self, full: T, smoke: T) -> T {
        if self.smoke { smoke } else { full }
    }
}

/// This thread's CPU time so far (user + system), from
/// `CLOCK_THREAD_CPUTIME_ID`. The machine is shared: wall time counts the
/// moments other processes hold the core, CPU time does not.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// A stopwatch over this thread's CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Cpu(Duration);

impl Cpu {
    /// Starts now.
    pub fn start() -> Self {
        Cpu(thread_cpu())
    }

    /// CPU time this thread used since `start`.
    pub fn elapsed(&self) -> Duration {
        thread_cpu().saturating_sub(self.0)
    }
}

/// Median of a non-empty list (NaN for an empty one).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The `q` quantile (0..=1) of a list, nearest rank.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
    }

    #[test]
    fn cpu_time_grows_with_work_and_not_with_sleep() {
        let c = Cpu::start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let busy = c.elapsed();
        assert!(busy > Duration::ZERO, "{x}");
        let c = Cpu::start();
        std::thread::sleep(Duration::from_millis(50));
        assert!(c.elapsed() < Duration::from_millis(40));
    }
}
