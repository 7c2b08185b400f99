//! This machine's clock, for what the cli signs or stamps itself (endpoint
//! sequences, revocation dates, contact records); the chain's own clock
//! comes from the registry.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the epoch (endpoint sequences).
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
