//! What travels inside an established session (after T_B1/T_A2, inside the
//! core's encrypted frames): chat messages with their signatures, acks and a
//! close with a reason. One application payload per session frame.
//!
//! ```text
//! payload = tag:u8 ‖ fields
//!   0x01 Message  id:16 ‖ sent_at:u64 ‖ body_len:u32 ‖ body ‖ signature:65
//!   0x02 Ack      count:u16 ‖ id:16 × count
//!   0x03 Close    reason:u8                (1 = bye, 2 = peer revoked/expired, 3 = protocol error)
//! ```
//!
//! `from` and `to` are not on the wire: they are the two authenticated ends of
//! the session, so a message can only claim the sender the handshake proved
//! and the receiver rebuilds `Message(from, to, …)` from them before checking
//! the signature.

use crate::store::MessageId;

/// Largest message body in bytes (UTF-8): one message fits one session frame
/// (64 KiB payload) with its header and signature.
pub const MAX_BODY: usize = 60 * 1024;
/// Largest number of ids in one ack.
pub const MAX_ACK: usize = 1024;

/// One application payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A signed chat message.
    Message {
        /// Random id.
        id: MessageId,
        /// Sender's clock, Unix seconds.
        sent_at: u64,
        /// UTF-8 text.
        body: String,
        /// Signature on `Message(from, to, id, sentAt, keccak(body))`.
        signature: [u8; 65],
    },
    /// These messages are stored (committed) at the receiver.
    Ack(Vec<MessageId>),
    /// The sender is closing the session.
    Close(CloseReason),
}

/// Why a session is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Done.
    Bye,
    /// The peer's identity is revoked or expired on the chain.
    PeerRevoked,
    /// The peer broke the protocol.
    ProtocolError,
}

/// Why a payload does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Empty payload or a field cut short.
    #[error("truncated payload")]
    Truncated,
    /// Bytes after the payload.
    #[error("trailing bytes after the payload")]
    Trailing,
    /// Unknown tag.
    #[error("unknown payload tag {0}")]
    UnknownTag(u8),
    /// Body above [`MAX_BODY`] or an ack above [`MAX_ACK`].
    #[error("{0} above its limit")]
    TooLong(&'static str),
    /// The body is not UTF-8.
    #[error("message body is not UTF-8")]
    NotUtf8,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

impl Payload {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Payload::Message {
                id,
                sent_at,
                body,
                signature,
            } => {
                out.push(1);
                out.extend_from_slice(id);
                out.extend_from_slice(&sent_at.to_be_bytes());
                out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                out.extend_from_slice(body.as_bytes());
                out.extend_from_slice(signature);
            }
            Payload::Ack(ids) => {
                out.push(2);
                out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
                for id in ids {
                    out.extend_from_slice(id);
                }
            }
            Payload::Close(r) => {
                out.push(3);
                out.push(match r {
                    CloseReason::Bye => 1,
                    CloseReason::PeerRevoked => 2,
                    CloseReason::ProtocolError => 3,
                });
            }
        }
        out
    }

    /// Parses one payload, refusing trailing bytes; lengths are checked
    /// against their limits and the input before anything is allocated.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut c = Cursor(bytes);
        let tag = c.array::<1>()?[0];
        let p = match tag {
            1 => {
                let id = c.array::<16>()?;
                let sent_at = u64::from_be_bytes(c.array()?);
                let len = u32::from_be_bytes(c.array()?) as usize;
                if len > MAX_BODY {
                    return Err(WireError::TooLong("message body"));
                }
                let body = std::str::from_utf8(c.take(len)?)
                    .map_err(|_| WireError::NotUtf8)?
                    .to_owned();
                let signature = c.array::<65>()?;
                Payload::Message {
                    id,
                    sent_at,
                    body,
                    signature,
                }
            }
            2 => {
                let n = u16::from_be_bytes(c.array()?) as usize;
                if n > MAX_ACK {
                    return Err(WireError::TooLong("ack"));
                }
                let raw = c.take(n * 16)?;
                Payload::Ack(
                    raw.chunks_exact(16)
                        .map(|ch| {
                            let mut id = [0u8; 16];
                            id.copy_from_slice(ch);
                            id
                        })
                        .collect(),
                )
            }
            3 => Payload::Close(match c.array::<1>()?[0] {
                1 => CloseReason::Bye,
                2 => CloseReason::PeerRevoked,
                _ => CloseReason::ProtocolError,
            }),
            t => return Err(WireError::UnknownTag(t)),
        };
        if !c.0.is_empty() {
            return Err(WireError::Trailing);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for p in [
            Payload::Message {
                id: [1; 16],
                sent_at: 42,
                body: "héllo".into(),
                signature: [9; 65],
            },
            Payload::Ack(vec![[1; 16], [2; 16]]),
            Payload::Ack(vec![]),
            Payload::Close(CloseReason::PeerRevoked),
        ] {
            assert_eq!(Payload::decode(&p.encode()).unwrap(), p);
        }
    }

    #[test]
    fn hostile_payloads() {
        assert_eq!(Payload::decode(&[]), Err(WireError::Truncated));
        assert_eq!(Payload::decode(&[9]), Err(WireError::UnknownTag(9)));
        let mut m = Payload::Message {
            id: [1; 16],
            sent_at: 1,
            body: "x".into(),
            signature: [0; 65],
        }
        .encode();
        m.push(0);
        assert_eq!(Payload::decode(&m), Err(WireError::Trailing));
        // A body length of 4 GiB is refused before reading or allocating.
        let mut big = vec![1];
        big.extend_from_slice(&[0; 24]);
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Payload::decode(&big),
            Err(WireError::TooLong("message body"))
        );
        let mut bad_utf8 = vec![1];
        bad_utf8.extend_from_slice(&[0; 24]);
        bad_utf8.extend_from_slice(&1u32.to_be_bytes());
        bad_utf8.push(0xff);
        bad_utf8.extend_from_slice(&[0; 65]);
        assert_eq!(Payload::decode(&bad_utf8), Err(WireError::NotUtf8));
        assert_eq!(
            Payload::decode(&[2, 0xff, 0xff]),
            Err(WireError::TooLong("ack"))
        );
        assert_eq!(Payload::decode(&[2, 0, 2, 1]), Err(WireError::Truncated));
    }
}
