//! Time from the system clock, in the Unix seconds the protocol uses (the
//! core takes time as an argument; the node reads it here).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds from the system clock (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
