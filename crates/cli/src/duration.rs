//! Parsing of the human durations the command line takes (`--valid-for 1y`,
//! `--timeout 30s`): humantime's syntax (`30d`, `1y`, `12h`, `90s`, `1h 30m`)
//! with bounds, and a bare number meaning seconds (`--timeout 20`, as in
//! `timeout`, `curl --max-time` and `cast`), so a typo such as `1000y` is refused here with a named error
//! rather than overflowing a `uint64` timestamp or being refused by the
//! contract after a gas estimate.

use std::time::Duration;

/// Why a duration argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration — write a number and a unit, e.g. 30d, 12h, 90s")]
    Empty,
    /// Longer than this many characters: no honest duration is that long.
    #[error("duration text is too long — write it like 30d, 12h or 90s")]
    TooLongText,
    /// Not humantime syntax.
    #[error("`{input}` is not a duration ({reason}) — write it like 30d, 1y, 12h or 90s")]
    Malformed {
        /// What was given (already bounded in length).
        input: String,
        /// humantime's explanation.
        reason: String,
    },
    /// Below the lower bound.
    #[error("{given} is too short — the minimum is {min}")]
    TooShort {
        /// What was given, normalised.
        given: String,
        /// The bound.
        min: String,
    },
    /// Above the upper bound.
    #[error("{given} is too long — the maximum is {max}")]
    TooLong {
        /// What was given, normalised.
        given: String,
        /// The bound.
        max: String,
    },
}

impl DurationError {
    /// The variant's name, used as the `kind` of a `--json` error.
    pub fn kind(&self) -> &'static str {
        match self {
            DurationError::Empty => "EmptyDuration",
            DurationError::TooLongText | DurationError::Malformed { .. } => "MalformedDuration",
            DurationError::TooShort { .. } => "DurationTooShort",
            DurationError::TooLong { .. } => "DurationTooLong",
        }
    }
}

/// Longest accepted input, in bytes.
const MAX_TEXT: usize = 64;

/// Parses `text` and checks `min <= d <= max`.
pub fn parse_bounded(text: &str, min: Duration, max: Duration) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.len() > MAX_TEXT {
        return Err(DurationError::TooLongText);
    }
    // A bare number is seconds; humantime wants a unit.
    let d = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| DurationError::Malformed {
                input: text.to_owned(),
                reason: e.to_string(),
            })?
    } else {
        humantime::parse_duration(text).map_err(|e| DurationError::Malformed {
            input: text.to_owned(),
            reason: e.to_string(),
        })?
    };
    if d < min {
        return Err(DurationError::TooShort {
            given: humantime::format_duration(d).to_string(),
            min: humantime::format_duration(min).to_string(),
        });
    }
    if d > max {
        return Err(DurationError::TooLong {
            given: humantime::format_duration(d).to_string(),
            max: humantime::format_duration(max).to_string(),
        });
    }
    Ok(d)
}

const DAY: u64 = 24 * 3600;

/// Bounds of `--valid-for`: at least an hour (shorter lifetimes expire
/// before a peer could even look them up), at most ten years (the contract
/// enforces its own maximum lifetime too and names it if lower).
pub fn parse_validity(text: &str) -> Result<Duration, DurationError> {
    parse_bounded(
        text,
        Duration::from_secs(3600),
        Duration::from_secs(3653 * DAY),
    )
}

/// Bounds of `send --timeout`: 0 s (store and return at once) to one hour.
pub fn parse_timeout(text: &str) -> Result<Duration, DurationError> {
    parse_bounded(text, Duration::ZERO, Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(
            parse_validity("30d").unwrap(),
            Duration::from_secs(30 * DAY)
        );
        assert_eq!(
            parse_validity("12h").unwrap(),
            Duration::from_secs(12 * 3600)
        );
        assert!(parse_validity("1y").unwrap() >= Duration::from_secs(365 * DAY));
        assert_eq!(parse_timeout("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_timeout("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_timeout("1m").unwrap(), Duration::from_secs(60));
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse_timeout("20").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_timeout(" 0 ").unwrap(), Duration::ZERO);
        assert_eq!(parse_timeout("3600").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_timeout("3601").unwrap_err().kind(), "DurationTooLong");
        assert_eq!(parse_validity("60").unwrap_err().kind(), "DurationTooShort");
        assert_eq!(
            parse_timeout("99999999999999999999999").unwrap_err().kind(),
            "MalformedDuration"
        );
    }

    #[test]
    fn refuses_with_named_errors() {
        assert_eq!(parse_validity("").unwrap_err(), DurationError::Empty);
        assert_eq!(
            parse_validity("3x").unwrap_err().kind(),
            "MalformedDuration"
        );
        assert_eq!(
            parse_validity("-1d").unwrap_err().kind(),
            "MalformedDuration"
        );
        assert_eq!(
            parse_validity("10m").unwrap_err().kind(),
            "DurationTooShort"
        );
        assert_eq!(
            parse_validity("1000y").unwrap_err().kind(),
            "DurationTooLong"
        );
        assert_eq!(
            parse_validity("99999999999999999999999y")
                .unwrap_err()
                .kind(),
            "MalformedDuration"
        );
        assert_eq!(
            parse_timeout(&"1".repeat(100)).unwrap_err(),
            DurationError::TooLongText
        );
        assert_eq!(parse_timeout("2h").unwrap_err().kind(), "DurationTooLong");
    }
}
