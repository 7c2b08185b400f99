//! Reading a socket's bytes as records, split by the core's
//! [`check_record`]: this module only moves bytes, the core decides where a
//! record ends and refuses a hostile length as soon as the 4 prefix bytes
//! are in, *before* anything is buffered for the body (a peer announcing
//! 4 GiB costs a few bytes of memory and a named error).
//!
//! The reader is cancel-safe (bytes read stay in its buffer), so it can sit
//! in a `select!` beside timers. Time bounds (slowloris) are the caller's.

use chainmail_core::record::{LENGTH_PREFIX, RecordCheck, RecordError, check_record};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::TransportError;

/// Bytes asked of the socket per read: bounds the buffer's overshoot.
const CHUNK: usize = 16 * 1024;

/// A cancel-safe record reader whose buffer holds at most one record.
#[derive(Debug, Default)]
pub(crate) struct RecordReader {
    buf: Vec<u8>,
}

impl RecordReader {
    /// An empty reader.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Bytes buffered and not yet returned.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next record, prefix included (what the core's parsers take).
    /// Cancel-safe.
    pub(crate) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Vec<u8>, TransportError> {
        self.next_bounded(r, usize::MAX).await
    }

    /// [`RecordReader::next`] for a record whose body is at most `max_body`
    /// bytes (T_B1's exact size, say): a longer announced length is refused
    /// as soon as the prefix is in.
    pub(crate) async fn next_bounded<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        max_body: usize,
    ) -> Result<Vec<u8>, TransportError> {
        loop {
            if let Some(prefix) = self.buf.first_chunk::<LENGTH_PREFIX>() {
                let announced = u32::from_be_bytes(*prefix);
                if announced as usize > max_body {
                    return Err(TransportError::TooLarge {
                        announced: announced.into(),
                        max: max_body,
                    });
                }
            }
            // Ask for no more than the current record still needs (or the
            // prefix), so the buffer never holds more than one record.
            let needed = match check_record(&self.buf).map_err(too_large)? {
                RecordCheck::Complete { len } => {
                    let rest = self.buf.split_off(len);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
                RecordCheck::Incomplete { needed } => needed,
            };
            let mut chunk = [0u8; CHUNK];
            let n = r
                .read(&mut chunk[..needed.min(CHUNK)])
                .await
                .map_err(TransportError::Read)?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    TransportError::Closed
                } else {
                    TransportError::Truncated
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The core's refusal, with the text this node always logged for an
/// oversized record.
fn too_large(e: RecordError) -> TransportError {
    match e {
        RecordError::TooLong { len, max } => TransportError::TooLarge {
            announced: len as u64,
            max,
        },
        e => TransportError::Record(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainmail_core::record::MAX_RECORD_BODY;

    fn record(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn splits_records() {
        let mut stream = record(b"hello, records!!!");
        stream.extend(record(&[7u8; 40_000]));
        let mut r = &stream[..];
        let mut rr = RecordReader::new();
        assert_eq!(rr.next(&mut r).await.unwrap(), record(b"hello, records!!!"));
        assert_eq!(rr.next(&mut r).await.unwrap(), record(&[7u8; 40_000]));
        assert!(matches!(rr.next(&mut r).await, Err(TransportError::Closed)));
    }

    #[tokio::test]
    async fn hostile_lengths() {
        let mut rr = RecordReader::new();
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            rr.next(&mut r).await,
            Err(TransportError::TooLarge {
                announced: 0xffff_ffff,
                ..
            })
        ));
        // Only the prefix was read for it.
        assert_eq!(rr.buffered(), 4);
        let mut rr = RecordReader::new();
        let mut r: &[u8] = &[0, 0];
        assert!(matches!(
            rr.next(&mut r).await,
            Err(TransportError::Truncated)
        ));
        let mut rr = RecordReader::new();
        let mut r: &[u8] = &[0, 0, 0, 20, 1, 2];
        assert!(matches!(
            rr.next(&mut r).await,
            Err(TransportError::Truncated)
        ));
        let mut rr = RecordReader::new();
        let over = ((MAX_RECORD_BODY + 1) as u32).to_be_bytes();
        let mut r: &[u8] = &over;
        assert!(matches!(
            rr.next(&mut r).await,
            Err(TransportError::TooLarge { .. })
        ));
        let mut rr = RecordReader::new();
        let mut r: &[u8] = &[0, 0, 0, 1, 9];
        assert!(matches!(
            rr.next(&mut r).await,
            Err(TransportError::Record(RecordError::TooShort { len: 1, .. }))
        ));
    }
}
