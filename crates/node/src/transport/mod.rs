//! The secure stream: one authenticated, encrypted session over a
//! connection ([`Link`]: TCP, or an in-memory pipe in tests) — bytes in, records out (split by the core's record check),
//! opened and sealed by the core's session cipher. It knows nothing of the
//! node: the handshake that makes one is in [`crate::handshake`].

mod link;
pub mod memory;
mod records;

use chainmail_core::codec::{Codec, Malformed};
use chainmail_core::record::RecordError;
use chainmail_core::session::{OpenedInPlace, Session};
use chainmail_core::wire::Wire;
use chainmail_core::{Address, PublicKey};
use tokio::io::{AsyncRead, AsyncWriteExt};

pub use link::{Accept, BoxLink, DialFuture, Dialer, Link};
pub(crate) use records::RecordReader;

use crate::clock::Clock;

/// Why a record or a payload could not be moved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
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
    /// The announced length is not a record's (too short).
    #[error(transparent)]
    Record(RecordError),
    /// Reading from the socket failed.
    #[error("i/o: {0}")]
    Read(std::io::Error),
    /// Writing to the socket failed.
    #[error("write: {0}")]
    Write(#[from] std::io::Error),
    /// The session cipher refused a frame (tampered, replayed, expired).
    #[error("session: {0}")]
    Cipher(#[from] chainmail_core::session::SessionError),
    /// A payload that does not parse.
    #[error("bad payload: {0}")]
    Wire(#[from] Malformed),
}

/// An authenticated, encrypted session over a connection.
pub struct SecureStream {
    stream: BoxLink,
    clock: Clock,
    reader: RecordReader,
    session: Session,
    peer_key: PublicKey,
}

impl std::fmt::Debug for SecureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureStream")
            .field("peer", &self.session.peer())
            .finish_non_exhaustive()
    }
}

impl SecureStream {
    /// A stream over `stream` whose handshake produced `session` with the
    /// peer holding `peer_key`; `reader` keeps whatever it read past the
    /// handshake; frames are stamped and judged with `clock`'s time.
    pub(crate) fn new(
        stream: BoxLink,
        reader: RecordReader,
        session: Session,
        peer_key: PublicKey,
        clock: Clock,
    ) -> Self {
        Self {
            stream,
            clock,
            reader,
            session,
            peer_key,
        }
    }

    /// The authenticated peer's ID.
    pub fn peer(&self) -> Address {
        self.session.peer()
    }

    /// The authenticated peer's public key.
    pub fn peer_key(&self) -> PublicKey {
        self.peer_key
    }

    /// Whether this session can carry another exchange: it does not end
    /// within `margin_secs` of `now`, nothing unread waits in it, and the
    /// peer has not closed the connection or written to it (a `Close`
    /// after its idle timeout, say). Checked without blocking.
    pub fn is_reusable(&mut self, now: u64, margin_secs: u64) -> bool {
        if now.saturating_add(margin_secs) >= self.session.expires_at()
            || self.reader.buffered() > 0
        {
            return false;
        }
        // Readable means end of stream or unsolicited bytes: either way
        // this session is over. Only "would block" means idle and open.
        // Polled once with a waker that does nothing: `Pending` is "would
        // block" (a byte read here would end the session anyway).
        let mut probe = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut probe);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        std::pin::Pin::new(&mut self.stream)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    }

    /// Seals and sends one payload.
    pub async fn send(&mut self, payload: &Wire) -> Result<(), TransportError> {
        let mut out = Vec::new();
        self.session
            .seal(&payload.to_bytes(), self.clock.now_unix(), &mut out)?;
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Receives and opens one payload. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Wire, TransportError> {
        let mut record = self.reader.next(&mut self.stream).await?;
        // Decrypted where it lies: the record is ours, no copy needed.
        match self
            .session
            .open_in_place(&mut record, self.clock.now_unix())?
        {
            OpenedInPlace::Data(bytes) => Ok(Wire::decode(bytes)?),
            OpenedInPlace::Confirmed => {
                Err(chainmail_core::session::SessionError::UnexpectedConfirm.into())
            }
        }
    }
}
