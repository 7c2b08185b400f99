//! Records: the only framing on the byte stream. Every handshake message and
//! every session frame travels as `length: u32 big-endian ‖ body`. This module
//! splits a receive buffer into records without doing I/O (mini-redis's
//! `check`, then the caller hands the complete record to a parser), and
//! refuses an oversized length prefix before anything is buffered for it.

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Largest application payload in one session frame: 64 KiB.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Largest record body: a session frame carrying `MAX_PAYLOAD` (1 kind byte +
/// payload + 16-byte AEAD tag). Handshake messages are far smaller.
pub const MAX_RECORD_BODY: usize = 1 + MAX_PAYLOAD + 16;
/// Smallest record body: an empty session frame (kind byte + tag).
pub const MIN_RECORD_BODY: usize = 1 + 16;

/// Why the stream cannot be split into records. Fatal for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The length prefix announces more than `MAX_RECORD_BODY` bytes.
    #[error("record length {len} is above the maximum {max}")]
    TooLong {
        /// Announced length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The length prefix announces less than the smallest valid record.
    #[error("record length {len} is below the minimum {min}")]
    TooShort {
        /// Announced length.
        len: usize,
        /// The minimum.
        min: usize,
    },
}

/// What the start of a receive buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordCheck {
    /// Not a whole record yet: read at least `needed` more bytes.
    Incomplete {
        /// Bytes still missing (lower bound if the prefix is incomplete).
        needed: usize,
    },
    /// `buf[..len]` is one whole record, prefix included.
    Complete {
        /// Record length including the 4-byte prefix.
        len: usize,
    },
}

/// Looks at the front of `buf`: a whole record, more bytes needed, or an
/// invalid length (checked as soon as the 4 prefix bytes are in, so a peer
/// cannot make the reader wait for or buffer an oversized record).
pub fn check_record(buf: &[u8]) -> Result<RecordCheck, RecordError> {
    if buf.len() < LENGTH_PREFIX {
        return Ok(RecordCheck::Incomplete {
            needed: LENGTH_PREFIX - buf.len(),
        });
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_RECORD_BODY {
        return Err(RecordError::TooLong {
            len,
            max: MAX_RECORD_BODY,
        });
    }
    if len < MIN_RECORD_BODY {
        return Err(RecordError::TooShort {
            len,
            min: MIN_RECORD_BODY,
        });
    }
    let total = LENGTH_PREFIX + len;
    if buf.len() < total {
        Ok(RecordCheck::Incomplete {
            needed: total - buf.len(),
        })
    } else {
        Ok(RecordCheck::Complete { len: total })
    }
}

/// Splits a complete record into its body, checking the prefix matches.
pub(crate) fn record_body(record: &[u8]) -> Option<&[u8]> {
    match check_record(record) {
        Ok(RecordCheck::Complete { len }) if len == record.len() => Some(&record[LENGTH_PREFIX..]),
        _ => None,
    }
}

/// Appends `length ‖ body` to `out`.
pub(crate) fn write_record(body: &[u8], out: &mut Vec<u8>) {
    debug_assert!((MIN_RECORD_BODY..=MAX_RECORD_BODY).contains(&body.len()));
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_split() {
        let mut stream = Vec::new();
        write_record(&[7u8; 20], &mut stream);
        write_record(&[8u8; 17], &mut stream);
        for cut in 0..4 {
            assert_eq!(
                check_record(&stream[..cut]),
                Ok(RecordCheck::Incomplete { needed: 4 - cut })
            );
        }
        assert_eq!(
            check_record(&stream[..10]),
            Ok(RecordCheck::Incomplete { needed: 14 })
        );
        assert_eq!(check_record(&stream), Ok(RecordCheck::Complete { len: 24 }));
        assert_eq!(record_body(&stream[..24]), Some(&[7u8; 20][..]));
        assert_eq!(
            check_record(&stream[24..]),
            Ok(RecordCheck::Complete { len: 21 })
        );
        // A record followed by extra bytes is not "a record".
        assert_eq!(record_body(&stream), None);
    }

    #[test]
    fn oversized_prefix_is_refused_with_only_the_prefix_read() {
        let prefix = ((MAX_RECORD_BODY + 1) as u32).to_be_bytes();
        assert!(matches!(
            check_record(&prefix),
            Err(RecordError::TooLong { .. })
        ));
        assert!(matches!(
            check_record(&u32::MAX.to_be_bytes()),
            Err(RecordError::TooLong { .. })
        ));
        assert!(matches!(
            check_record(&[0, 0, 0, 0]),
            Err(RecordError::TooShort { .. })
        ));
    }
}
