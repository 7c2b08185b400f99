//! The codec of the application messages inside session frames (§4.1.4,
//! §4.2.1): `Deliver` carries signed chat messages, `Ack` confirms what was
//! stored, `Close` ends the session with a reason. Bytes in, typed values
//! out, every length bounded before anything is allocated. Signing and
//! verifying the messages a `Deliver` carries is [`crate::message`]'s.

use crate::address::Address;
use crate::codec::{Codec, Malformed, Reader};
use crate::eip712::Message;
use crate::hash::keccak256;
use crate::signature::Signature;

/// Largest message body, in bytes: the one limit every transport honours (a
/// `Deliver` of one message fits a session frame with room to spare, and a
/// mailbox envelope fits NIP-44's 65,535-byte plaintext and common relay
/// event caps after base64). Checked at the edge (`send`), by the signer and
/// by the decoder.
pub const MAX_BODY: usize = 32_000;

/// The oldest message a receiver accepts, by its `sentAt`: a week, how
/// long a sender retries by default (queued and mailbox messages keep their
/// original `sentAt`). With the clock skew allowed on top, a receiver keeps
/// its dedup rows longer than this window, so a message replayed after its
/// row is pruned is refused as too old rather than stored twice.
pub const MAX_MESSAGE_AGE_SECS: u64 = 7 * 24 * 3600;

/// Whether a message sent at `sent_at` (Unix seconds) is one a receiver
/// accepts at `now`: at most [`MAX_SKEW_SECS`](crate::handshake::MAX_SKEW_SECS)
/// ahead of its clock, and at most [`MAX_MESSAGE_AGE_SECS`] plus that skew
/// behind it.
pub fn sent_at_in_window(sent_at: u64, now: u64) -> bool {
    use crate::handshake::MAX_SKEW_SECS;
    sent_at <= now.saturating_add(MAX_SKEW_SECS)
        && sent_at.saturating_add(MAX_MESSAGE_AGE_SECS + MAX_SKEW_SECS) >= now
}

/// Most messages in one `Deliver`.
pub const MAX_MESSAGES_PER_DELIVER: usize = 1024;
/// Most ids in one `Ack`.
pub const MAX_ACK_IDS: usize = 4096;

const TAG_DELIVER: u8 = 0x01;
const TAG_ACK: u8 = 0x02;
const TAG_CLOSE: u8 = 0x03;
const AUTH_EACH: u8 = 0x00;
const AUTH_BATCH: u8 = 0x01;
/// id ‖ sent_at ‖ body length: the smallest encoded envelope.
const MIN_ENVELOPE: usize = 16 + 8 + 4;

/// One chat message as carried: id, send time, body. `from`/`to` are the
/// `Deliver`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// 128-bit random id (dedup key with the sender).
    pub id: [u8; 16],
    /// Unix seconds at sending.
    pub sent_at: u64,
    /// The body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

impl Envelope {
    /// A new message with a random id drawn from `rng` (16 bytes).
    pub fn new<R: rand::CryptoRng + ?Sized>(body: Vec<u8>, sent_at: u64, rng: &mut R) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        Envelope { id, sent_at, body }
    }

    /// The signed typed struct `Message(from, to, id, sentAt, keccak(body))`.
    pub fn message(&self, from: Address, to: Address) -> Message {
        Message {
            from,
            to,
            id: self.id,
            sent_at: self.sent_at,
            body_hash: keccak256(&self.body),
        }
    }
}

/// How a `Deliver`'s messages are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// One `Message` signature per envelope, in order.
    Each(Vec<Signature>),
    /// One `MessageBatch(from, to, root, count)` signature over all envelopes.
    Batch(Signature),
}

/// Signed chat messages from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// Sender ID; must be the session's authenticated peer.
    pub from: Address,
    /// Recipient ID; must be the receiver itself.
    pub to: Address,
    /// The messages (1 to `MAX_MESSAGES_PER_DELIVER`).
    pub messages: Vec<Envelope>,
    /// Their signature(s).
    pub auth: Auth,
}

/// Message ids the receiver has verified and stored durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The ids.
    pub ids: Vec<[u8; 16]>,
}

/// Why a session is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Nothing more to say.
    Normal,
    /// The peer's ID was revoked (or expired) on the chain.
    PeerRevoked,
    /// The session's lifetime ended; handshake again.
    SessionExpired,
    /// The peer broke the protocol.
    ProtocolError,
    /// The node is shutting down.
    Shutdown,
    /// Sent right after the `Ack` (if any) of a `Deliver` whose messages
    /// verified but some bodies are not UTF-8 text: every message of that
    /// `Deliver` the receiver did not ack is refused for good (the sender
    /// should mark it rejected, not retry it).
    NotText,
    /// Sent right after the `Ack` (if any) of a `Deliver` when the
    /// receiver holds as many messages from this sender — a stranger to
    /// it, not a contact — as it accepts: every message of that `Deliver`
    /// it did not ack is not stored. Not a refusal for good: the sender
    /// keeps them queued and retries later (the quota frees when the
    /// recipient accepts the request or deletes messages).
    QuotaFull,
    /// Sent right after the `Ack` (if any) of a `Deliver` some of whose
    /// messages have a `sentAt` outside the receiver's window
    /// ([`sent_at_in_window`]: more than 300 s ahead of its clock, or older
    /// than a week and 300 s): every message of that `Deliver` the receiver
    /// did not ack is refused for good (the sender marks it rejected).
    SentAtOutOfWindow,
}

impl CloseReason {
    fn code(self) -> u8 {
        match self {
            CloseReason::Normal => 0,
            CloseReason::PeerRevoked => 1,
            CloseReason::SessionExpired => 2,
            CloseReason::ProtocolError => 3,
            CloseReason::Shutdown => 4,
            CloseReason::NotText => 5,
            CloseReason::QuotaFull => 6,
            CloseReason::SentAtOutOfWindow => 7,
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => CloseReason::Normal,
            1 => CloseReason::PeerRevoked,
            2 => CloseReason::SessionExpired,
            3 => CloseReason::ProtocolError,
            4 => CloseReason::Shutdown,
            5 => CloseReason::NotText,
            6 => CloseReason::QuotaFull,
            7 => CloseReason::SentAtOutOfWindow,
            _ => return None,
        })
    }
}

/// The end of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// Why.
    pub reason: CloseReason,
}

/// Everything that travels in a data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// Signed chat messages.
    Deliver(Deliver),
    /// Stored ids.
    Ack(Ack),
    /// End of session.
    Close(Close),
}

fn read_signature(r: &mut Reader<'_>) -> Result<Signature, Malformed> {
    Signature::from_bytes(r.take(65, "signature")?)
        .map_err(|_| Malformed::Invalid { field: "signature" })
}

impl Codec for Envelope {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.sent_at.to_be_bytes());
        out.extend_from_slice(&(self.body.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.body);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Malformed> {
        let id = r.array("message id")?;
        let sent_at = r.u64("sent at")?;
        let len = r.u32("body length")? as usize;
        let len = r.count(len, MAX_BODY, 1, "body length")?;
        let body = r.take(len, "body")?.to_vec();
        Ok(Envelope { id, sent_at, body })
    }
}

impl Envelope {
    /// The encoded length of an envelope whose body is `body_len` bytes.
    pub const fn encoded_len(body_len: usize) -> usize {
        MIN_ENVELOPE + body_len
    }
}

impl Deliver {
    /// The length of `Wire::Deliver` carrying `messages` (tag included),
    /// signed one by one (`each`) or as a batch: what a sender needs to pack
    /// messages into frames without encoding them first.
    pub fn encoded_len(messages: &[Envelope], each: bool) -> usize {
        let signatures = if each { messages.len() } else { 1 };
        let bodies: usize = messages
            .iter()
            .map(|m| Envelope::encoded_len(m.body.len()))
            .sum();
        1 + 20 + 20 + 2 + bodies + 1 + 65 * signatures
    }
}

impl Codec for Deliver {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.from.as_bytes());
        out.extend_from_slice(self.to.as_bytes());
        out.extend_from_slice(&(self.messages.len() as u16).to_be_bytes());
        for m in &self.messages {
            m.encode(out);
        }
        match &self.auth {
            Auth::Each(sigs) => {
                out.push(AUTH_EACH);
                for s in sigs {
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Auth::Batch(s) => {
                out.push(AUTH_BATCH);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Malformed> {
        let from = Address(r.array("from")?);
        let to = Address(r.array("to")?);
        let n = r.u16("message count")? as usize;
        if n == 0 {
            return Err(Malformed::Invalid {
                field: "message count (zero)",
            });
        }
        let n = r.count(n, MAX_MESSAGES_PER_DELIVER, MIN_ENVELOPE, "message count")?;
        let mut messages = Vec::with_capacity(n);
        for _ in 0..n {
            messages.push(Envelope::read(r)?);
        }
        let auth = match r.u8("auth")? {
            AUTH_EACH => {
                let n = r.count(n, MAX_MESSAGES_PER_DELIVER, 65, "signatures")?;
                let mut sigs = Vec::with_capacity(n);
                for _ in 0..n {
                    sigs.push(read_signature(r)?);
                }
                Auth::Each(sigs)
            }
            AUTH_BATCH => Auth::Batch(read_signature(r)?),
            tag => return Err(Malformed::UnknownTag { field: "auth", tag }),
        };
        Ok(Deliver {
            from,
            to,
            messages,
            auth,
        })
    }
}

impl Codec for Ack {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.ids.len() as u16).to_be_bytes());
        for id in &self.ids {
            out.extend_from_slice(id);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Malformed> {
        let n = r.u16("ack count")? as usize;
        let n = r.count(n, MAX_ACK_IDS, 16, "ack count")?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(r.array("ack id")?);
        }
        Ok(Ack { ids })
    }
}

impl Codec for Close {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.reason.code());
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Malformed> {
        let tag = r.u8("close reason")?;
        let reason = CloseReason::from_code(tag).ok_or(Malformed::UnknownTag {
            field: "close reason",
            tag,
        })?;
        Ok(Close { reason })
    }
}

impl Codec for Wire {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Wire::Deliver(d) => {
                out.push(TAG_DELIVER);
                d.encode(out);
            }
            Wire::Ack(a) => {
                out.push(TAG_ACK);
                a.encode(out);
            }
            Wire::Close(c) => {
                out.push(TAG_CLOSE);
                c.encode(out);
            }
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, Malformed> {
        match r.u8("wire tag")? {
            TAG_DELIVER => Ok(Wire::Deliver(Deliver::read(r)?)),
            TAG_ACK => Ok(Wire::Ack(Ack::read(r)?)),
            TAG_CLOSE => Ok(Wire::Close(Close::read(r)?)),
            tag => Err(Malformed::UnknownTag {
                field: "wire tag",
                tag,
            }),
        }
    }
}

pub use crate::message::{MessageError, MessageProof, VerifiedMessage, verify_stored};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::{domain, envelopes, key};
    use proptest::prelude::*;

    #[test]
    fn the_sent_at_window_is_300_s_ahead_and_a_week_and_300_s_behind() {
        let now = 1_893_456_000;
        let behind = MAX_MESSAGE_AGE_SECS + 300;
        assert!(sent_at_in_window(now, now));
        assert!(sent_at_in_window(now + 300, now));
        assert!(!sent_at_in_window(now + 301, now));
        assert!(sent_at_in_window(now - behind, now));
        assert!(!sent_at_in_window(now - behind - 1, now));
        // No overflow at the ends of u64.
        assert!(!sent_at_in_window(u64::MAX, now));
        assert!(!sent_at_in_window(0, now));
        assert!(sent_at_in_window(u64::MAX, u64::MAX));
    }

    #[test]
    fn hostile_encodings_are_refused_without_allocating() {
        // Deliver claiming 65535 messages in a 50-byte input.
        let mut b = vec![TAG_DELIVER];
        b.extend_from_slice(&[0; 40]);
        b.extend_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(Wire::decode(&b), Err(Malformed::TooLong { .. })));
        // Body length of 4 GiB.
        let mut b = vec![TAG_DELIVER];
        b.extend_from_slice(&[0; 40]);
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&[0; 24]);
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Wire::decode(&b), Err(Malformed::TooLong { .. })));
        // A body one byte above MAX_BODY, with every byte present: refused
        // by the decoder as it is by `send` and the signer; at the limit it
        // decodes.
        for (len, ok) in [(MAX_BODY, true), (MAX_BODY + 1, false)] {
            let d = Deliver {
                from: Address([1; 20]),
                to: Address([2; 20]),
                messages: vec![Envelope {
                    id: [3; 16],
                    sent_at: 4,
                    body: vec![b'x'; len],
                }],
                auth: Auth::Each(vec![key(0x11).sign_digest(&[3; 32])]),
            };
            let bytes = Wire::Deliver(d).to_bytes();
            assert_eq!(
                bytes.len(),
                Deliver::encoded_len(
                    &[Envelope {
                        id: [0; 16],
                        sent_at: 0,
                        body: vec![0; len]
                    }],
                    true
                )
            );
            match Wire::decode(&bytes) {
                Ok(_) => assert!(ok, "a {len}-byte body decoded"),
                Err(e) => assert!(
                    !ok && matches!(e, Malformed::TooLong { .. }),
                    "{len}: {e:?}"
                ),
            }
        }
        // Zero messages.
        let mut b = vec![TAG_DELIVER];
        b.extend_from_slice(&[0; 40]);
        b.extend_from_slice(&0u16.to_be_bytes());
        assert!(matches!(Wire::decode(&b), Err(Malformed::Invalid { .. })));
        // Unknown tags and trailing bytes.
        assert_eq!(
            Wire::decode(&[9]),
            Err(Malformed::UnknownTag {
                field: "wire tag",
                tag: 9
            })
        );
        assert!(matches!(
            Wire::decode(&[TAG_CLOSE, 8]),
            Err(Malformed::UnknownTag { .. })
        ));
        assert_eq!(
            Wire::decode(&[TAG_CLOSE, 0, 0]),
            Err(Malformed::TrailingBytes { count: 1 })
        );
        assert!(Wire::decode(&[]).is_err());
        // A high-s signature inside a Deliver is a malformed encoding.
        let bob = key(0xb0);
        let d = Deliver::sign_each(&bob, &domain(), Address([1; 20]), envelopes(1)).unwrap();
        let mut bytes = Wire::Deliver(d).to_bytes();
        let n = bytes.len();
        bytes[n - 1] = 30; // v
        assert_eq!(
            Wire::decode(&bytes),
            Err(Malformed::Invalid { field: "signature" })
        );
    }

    fn arb_envelope() -> impl Strategy<Value = Envelope> {
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(id, sent_at, body)| Envelope { id, sent_at, body })
    }

    fn arb_wire() -> impl Strategy<Value = Wire> {
        let sig = key(0x11).sign_digest(&[3; 32]);
        prop_oneof![
            (
                any::<[u8; 20]>(),
                any::<[u8; 20]>(),
                proptest::collection::vec(arb_envelope(), 1..6),
                any::<bool>()
            )
                .prop_map(move |(f, t, messages, batch)| {
                    let auth = if batch {
                        Auth::Batch(sig)
                    } else {
                        Auth::Each(vec![sig; messages.len()])
                    };
                    Wire::Deliver(Deliver {
                        from: Address(f),
                        to: Address(t),
                        messages,
                        auth,
                    })
                }),
            proptest::collection::vec(any::<[u8; 16]>(), 0..20)
                .prop_map(|ids| Wire::Ack(Ack { ids })),
            (0u8..=7).prop_map(|c| Wire::Close(Close {
                reason: CloseReason::from_code(c).unwrap()
            })),
        ]
    }

    proptest! {
        #[test]
        fn wire_round_trips(w in arb_wire()) {
            let bytes = w.to_bytes();
            prop_assert_eq!(Wire::decode(&bytes), Ok(w.clone()));
            // Any strict prefix fails; any extra byte fails.
            if !bytes.is_empty() {
                prop_assert!(Wire::decode(&bytes[..bytes.len() - 1]).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(Wire::decode(&longer).is_err());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Wire::decode(&bytes);
        }
    }
}
