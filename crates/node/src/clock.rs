//! The node's one clock: wall time in the Unix seconds the protocol uses
//! (the core takes time as an argument; the node reads it here) and, for
//! deadlines, idle timeouts, backoff and rate limits, tokio's
//! [`Instant`] — so that a test that pauses tokio's
//! time moves both.
//!
//! One [`Clock`] is made per process (or per test) and shared by the node,
//! its store calls and the embedded chain ([`Clock::chain_clock`]): advancing
//! a virtual clock moves all three together.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Where wall time comes from. Cheap to clone.
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Copy)]
enum Source {
    /// The operating system's wall clock.
    System,
    /// `start_unix` at `start`, then moving with tokio's clock (paused and
    /// advanced by tests with `tokio::time::advance`).
    Virtual { start_unix: u64, start: Instant },
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source {
            Source::System => f.write_str("Clock::System"),
            Source::Virtual { start_unix, .. } => write!(f, "Clock::Virtual(from {start_unix})"),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system clock (production).
    pub fn system() -> Self {
        Self {
            source: Source::System,
        }
    }

    /// A clock reading `start_unix` now and moving with tokio's clock from
    /// here: under `#[tokio::test(start_paused = true)]`, time passes only
    /// when every task is idle or the test calls `tokio::time::advance`.
    /// Made inside the runtime whose time it follows.
    pub fn fixed_start(start_unix: u64) -> Self {
        Self {
            source: Source::Virtual {
                start_unix,
                start: Instant::now(),
            },
        }
    }

    /// Unix seconds now (0 if the system clock is before 1970).
    pub fn now_unix(&self) -> u64 {
        match self.source {
            Source::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            Source::Virtual { start_unix, start } => {
                start_unix.saturating_add(Instant::now().saturating_duration_since(start).as_secs())
            }
        }
    }

    /// Unix milliseconds now (endpoint sequences).
    pub fn now_unix_millis(&self) -> u64 {
        match self.source {
            Source::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            Source::Virtual { start_unix, start } => {
                let elapsed = Instant::now().saturating_duration_since(start);
                start_unix
                    .saturating_mul(1000)
                    .saturating_add(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            }
        }
    }

    /// The instant timers are measured from (tokio's, paused under test).
    pub fn instant(&self) -> Instant {
        Instant::now()
    }

    /// `instant() + after`: a deadline for `tokio::time::timeout_at`.
    pub fn deadline(&self, after: Duration) -> Instant {
        Instant::now() + after
    }

    /// The same clock as the embedded chain's clock type, so that blocks are
    /// stamped with the node's time.
    pub fn chain_clock(&self) -> chainmail_chain::embedded::Clock {
        let clock = self.clone();
        std::sync::Arc::new(move || clock.now_unix())
    }
}

/// Unix seconds from the system clock (0 if the clock is before 1970), for
/// callers without a node (the CLI's one-shot commands).
pub fn unix_now() -> u64 {
    Clock::system().now_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn virtual_time_moves_with_tokio() {
        let clock = Clock::fixed_start(1_000);
        let chain = clock.chain_clock();
        assert_eq!(clock.now_unix(), 1_000);
        tokio::time::advance(Duration::from_millis(2_500)).await;
        assert_eq!(clock.now_unix(), 1_002);
        assert_eq!(clock.now_unix_millis(), 1_002_500);
        assert_eq!(chain(), 1_002);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(clock.now_unix(), 1_062);
    }

    #[test]
    fn system_time_is_now() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = Clock::system().now_unix();
        assert!(t >= before);
    }
}
