//! Splitting a socket's bytes into records: a 4-byte big-endian length, then
//! that many bytes (the core's record format, `PROTOCOL.md`). Everything on a
//! chainmail connection (T_B1, T_A2, every session frame) is one record; the
//! core parses them, this module only moves them, prefix included.
//!
//! The length is hostile: it is checked against the maximum as soon as the 4
//! prefix bytes are in, *before* anything is buffered for the body, so a peer
//! announcing 4 GiB costs a few bytes of memory and a named error. The reader
//! is cancel-safe (bytes read stay in its buffer), so it can sit in a
//! `select!` beside timers. Time bounds (slowloris) are the caller's.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;
/// Bytes asked of the socket per read: bounds the buffer's overshoot.
const CHUNK: usize = 16 * 1024;

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the connection between records.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a record.
    #[error("connection closed in the middle of a record")]
    Truncated,
    /// The announced length exceeds the maximum.
    #[error("record of {announced} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The length the peer announced.
        announced: u64,
        /// The limit.
        max: usize,
    },
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A cancel-safe record reader with a bounded buffer.
#[derive(Debug)]
pub struct RecordReader {
    buf: Vec<u8>,
    max_body: usize,
}

impl RecordReader {
    /// A reader refusing record bodies above `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_body,
        }
    }

    /// Bytes buffered and not yet returned (bounded by the maximum record
    /// plus one read chunk).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// A whole record from the buffer, if there is one.
    fn split(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.buf.len() < PREFIX {
            return Ok(None);
        }
        let announced = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if announced as u64 > self.max_body as u64 {
            return Err(FrameError::TooLarge {
                announced: announced as u64,
                max: self.max_body,
            });
        }
        let total = PREFIX + announced as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }

    /// The next record, prefix included. Cancel-safe.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, FrameError> {
        loop {
            if let Some(record) = self.split()? {
                return Ok(record);
            }
            // Ask for no more than the current record still needs (or the
            // prefix), so the buffer never exceeds one record plus a chunk.
            let want = if self.buf.len() < PREFIX {
                PREFIX - self.buf.len()
            } else {
                let announced =
                    u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                PREFIX + announced as usize - self.buf.len()
            };
            let mut chunk = [0u8; CHUNK];
            let n = r.read(&mut chunk[..want.min(CHUNK)]).await?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    FrameError::Closed
                } else {
                    FrameError::Truncated
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn splits_records() {
        let mut stream = record(b"hello");
        stream.extend(record(&[7u8; 40_000]));
        let mut r = &stream[..];
        let mut rr = RecordReader::new(64 * 1024);
        assert_eq!(rr.next(&mut r).await.unwrap(), record(b"hello"));
        assert_eq!(rr.next(&mut r).await.unwrap(), record(&[7u8; 40_000]));
        assert!(matches!(rr.next(&mut r).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn hostile_lengths() {
        let mut rr = RecordReader::new(1000);
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            rr.next(&mut r).await,
            Err(FrameError::TooLarge {
                announced: 0xffff_ffff,
                ..
            })
        ));
        // Only the prefix was read for it.
        assert_eq!(rr.buffered(), 4);
        let mut rr = RecordReader::new(1000);
        let mut r: &[u8] = &[0, 0];
        assert!(matches!(rr.next(&mut r).await, Err(FrameError::Truncated)));
        let mut rr = RecordReader::new(1000);
        let mut r: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(matches!(rr.next(&mut r).await, Err(FrameError::Truncated)));
        let mut rr = RecordReader::new(1000);
        let mut r: &[u8] = &[0, 0, 3, 233];
        assert!(matches!(
            rr.next(&mut r).await,
            Err(FrameError::TooLarge {
                announced: 1001,
                ..
            })
        ));
    }
}
