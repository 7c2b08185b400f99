//! Application messages inside session frames (§4.1.4, §4.2.1): `Deliver`
//! carries signed chat messages, `Ack` confirms what was stored, `Close`
//! ends the session with a reason. Every chat message is signed by its
//! sender — individually, or as a `MessageBatch` Merkle root — so a stored
//! message can later be proved to anyone with only the sender's public key
//! ([`verify_stored`]).

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::codec::{Codec, Malformed, Reader};
use crate::eip712::{Domain, Message, MessageBatch, TypedData, signing_hash_of};
use crate::hash::keccak256;
use crate::keys::{PublicKey, SecretKey};
use crate::merkle;
use crate::record::MAX_PAYLOAD;
use crate::signature::Signature;

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
    /// The body (≤ 64 KiB; the whole `Deliver` must fit one frame).
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
        let len = r.count(len, MAX_PAYLOAD, 1, "body length")?;
        let body = r.take(len, "body")?.to_vec();
        Ok(Envelope { id, sent_at, body })
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

/// Why received or stored messages are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// `from` is not the session's authenticated peer (e.g. a forwarded message).
    #[error("message from {from} arrived over a session with {peer}")]
    NotFromPeer {
        /// The `from` field.
        from: Address,
        /// The authenticated peer.
        peer: Address,
    },
    /// `to` is not us.
    #[error("message addressed to {to}, not to us")]
    NotForMe {
        /// The `to` field.
        to: Address,
    },
    /// A signature does not verify by the sender's key.
    #[error("bad message signature by {from}")]
    BadSignature {
        /// The claimed sender.
        from: Address,
    },
    /// Per-message signatures do not match the message count.
    #[error("{signatures} signatures for {messages} messages")]
    CountMismatch {
        /// Messages.
        messages: usize,
        /// Signatures.
        signatures: usize,
    },
    /// The body does not hash to the signed `bodyHash`.
    #[error("the body does not match the signed body hash")]
    BodyMismatch,
    /// The key given is not the sender's (does not hash to `from`).
    #[error("the public key is not {from}'s")]
    WrongKey {
        /// The claimed sender.
        from: Address,
    },
    /// Zero messages, or more than `MAX_MESSAGES_PER_DELIVER`, in one `Deliver`.
    #[error("a delivery holds 1 to {MAX_MESSAGES_PER_DELIVER} messages, not {count}")]
    BadCount {
        /// Messages given.
        count: usize,
    },
    /// A body above 64 KiB.
    #[error("a message body of {len} bytes is above the 64 KiB limit")]
    BodyTooLarge {
        /// Body length.
        len: usize,
    },
    /// The Merkle path does not lead to a root (wrong length, index or count).
    #[error("the batch proof is malformed")]
    BadProof,
}

/// The proof kept with a stored message: enough, with the sender's public
/// key and the registry domain, to convince anyone the sender sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum MessageProof {
    /// A `Message` signature.
    Single {
        /// Over `Message(from, to, id, sentAt, bodyHash)`.
        signature: Signature,
    },
    /// A `MessageBatch` signature and this message's Merkle path.
    Batch {
        /// Over `MessageBatch(from, to, root, count)`.
        signature: Signature,
        /// Leaves in the batch.
        count: u32,
        /// This message's leaf index.
        index: u32,
        /// Sibling hashes, leaf to root.
        #[serde(with = "path_hex")]
        path: Vec<[u8; 32]>,
    },
}

mod path_hex {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(path: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(path.len()))?;
        for h in path {
            seq.serialize_element(&format!("0x{}", hex::encode(h)))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        if items.len() > 32 {
            return Err(serde::de::Error::custom("Merkle path longer than 32"));
        }
        items
            .iter()
            .map(|s| {
                let digits = s
                    .strip_prefix("0x")
                    .ok_or_else(|| serde::de::Error::custom("expected 0x"))?;
                let mut out = [0u8; 32];
                hex::decode_to_slice(digits, &mut out).map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}

impl MessageProof {
    /// Checks that `sender` signed `message` under `domain`.
    pub fn verify(
        &self,
        domain: &Domain,
        message: &Message,
        sender: &PublicKey,
    ) -> Result<(), MessageError> {
        let bad = || MessageError::BadSignature { from: message.from };
        match self {
            MessageProof::Single { signature } => signature
                .verify(&message.signing_hash(domain), sender)
                .map_err(|_| bad()),
            MessageProof::Batch {
                signature,
                count,
                index,
                path,
            } => {
                let root = merkle::root_from_path(&message.struct_hash(), *index, *count, path)
                    .ok_or(MessageError::BadProof)?;
                let batch = MessageBatch {
                    from: message.from,
                    to: message.to,
                    root,
                    count: *count,
                };
                signature
                    .verify(&batch.signing_hash(domain), sender)
                    .map_err(|_| bad())
            }
        }
    }
}

/// Proves a stored message to a third party from the sender's public key
/// alone: the key hashes to `message.from`, the body hashes to
/// `message.bodyHash`, and the proof's signature is the key's. (Whether the
/// key was valid at `sentAt` is a question for the registry.)
pub fn verify_stored(
    domain: &Domain,
    message: &Message,
    body: &[u8],
    proof: &MessageProof,
    sender: &PublicKey,
) -> Result<(), MessageError> {
    if sender.address() != message.from {
        return Err(MessageError::WrongKey { from: message.from });
    }
    if keccak256(body) != message.body_hash {
        return Err(MessageError::BodyMismatch);
    }
    proof.verify(domain, message, sender)
}

/// A received message that passed every check, ready to store (with its proof) and ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMessage {
    /// The signed struct (from = peer, to = us).
    pub message: Message,
    /// The body.
    pub body: Vec<u8>,
    /// The proof to keep.
    pub proof: MessageProof,
}

fn check_sendable(messages: &[Envelope]) -> Result<(), MessageError> {
    if messages.is_empty() || messages.len() > MAX_MESSAGES_PER_DELIVER {
        return Err(MessageError::BadCount {
            count: messages.len(),
        });
    }
    if let Some(m) = messages.iter().find(|m| m.body.len() > MAX_PAYLOAD) {
        return Err(MessageError::BodyTooLarge { len: m.body.len() });
    }
    Ok(())
}

impl Deliver {
    /// Signs each message on its own (one signature per message). Fails
    /// for 0 or more than `MAX_MESSAGES_PER_DELIVER` messages or a body
    /// above 64 KiB (such a `Deliver` could not be sent).
    pub fn sign_each(
        sender: &SecretKey,
        domain: &Domain,
        to: Address,
        messages: Vec<Envelope>,
    ) -> Result<Self, MessageError> {
        check_sendable(&messages)?;
        let from = sender.address();
        // One domain separator for the whole flush, not one per message.
        let separator = domain.separator();
        let sigs = messages
            .iter()
            .map(|m| {
                let hash = signing_hash_of(&separator, &m.message(from, to).struct_hash());
                sender.sign_digest(&hash)
            })
            .collect();
        Ok(Deliver {
            from,
            to,
            messages,
            auth: Auth::Each(sigs),
        })
    }

    /// Signs all messages with one `MessageBatch` signature over their
    /// Merkle root (one signature per flush). Same limits as [`Deliver::sign_each`].
    pub fn sign_batch(
        sender: &SecretKey,
        domain: &Domain,
        to: Address,
        messages: Vec<Envelope>,
    ) -> Result<Self, MessageError> {
        check_sendable(&messages)?;
        let from = sender.address();
        let leaves: Vec<[u8; 32]> = messages
            .iter()
            .map(|m| m.message(from, to).struct_hash())
            .collect();
        let root = merkle::root(&leaves).ok_or(MessageError::BadCount { count: 0 })?;
        let batch = MessageBatch {
            from,
            to,
            root,
            count: leaves.len() as u32,
        };
        let signature = sender.sign_digest(&batch.signing_hash(domain));
        Ok(Deliver {
            from,
            to,
            messages,
            auth: Auth::Batch(signature),
        })
    }

    /// The receiver's checks: `from` is the session's peer, `to` is us, every
    /// signature verifies by the peer's key. Returns each message with the
    /// proof to store. Dedup on (from, id) is the caller's (it needs storage).
    pub fn verify(
        &self,
        domain: &Domain,
        peer: &PublicKey,
        local: &Address,
    ) -> Result<Vec<VerifiedMessage>, MessageError> {
        let peer_id = peer.address();
        if self.from != peer_id {
            return Err(MessageError::NotFromPeer {
                from: self.from,
                peer: peer_id,
            });
        }
        if &self.to != local {
            return Err(MessageError::NotForMe { to: self.to });
        }
        let messages: Vec<Message> = self
            .messages
            .iter()
            .map(|m| m.message(self.from, self.to))
            .collect();
        let proofs: Vec<MessageProof> = match &self.auth {
            Auth::Each(sigs) => {
                if sigs.len() != messages.len() {
                    return Err(MessageError::CountMismatch {
                        messages: messages.len(),
                        signatures: sigs.len(),
                    });
                }
                let separator = domain.separator();
                for (m, s) in messages.iter().zip(sigs) {
                    s.verify(&signing_hash_of(&separator, &m.struct_hash()), peer)
                        .map_err(|_| MessageError::BadSignature { from: self.from })?;
                }
                sigs.iter()
                    .map(|s| MessageProof::Single { signature: *s })
                    .collect()
            }
            Auth::Batch(signature) => {
                let leaves: Vec<[u8; 32]> = messages.iter().map(|m| m.struct_hash()).collect();
                let levels = merkle::levels(&leaves);
                let root = levels.last().map(|l| l[0]).ok_or(MessageError::BadProof)?;
                let count = u32::try_from(leaves.len()).map_err(|_| MessageError::BadProof)?;
                let batch = MessageBatch {
                    from: self.from,
                    to: self.to,
                    root,
                    count,
                };
                signature
                    .verify(&batch.signing_hash(domain), peer)
                    .map_err(|_| MessageError::BadSignature { from: self.from })?;
                (0..leaves.len())
                    .map(|i| MessageProof::Batch {
                        signature: *signature,
                        count,
                        index: i as u32,
                        path: merkle::path_in(&levels, i).unwrap_or_default(),
                    })
                    .collect()
            }
        };
        Ok(messages
            .into_iter()
            .zip(&self.messages)
            .zip(proofs)
            .map(|((message, env), proof)| VerifiedMessage {
                message,
                body: env.body.clone(),
                proof,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32]).unwrap()
    }
    fn domain() -> Domain {
        Domain {
            chain_id: 31337,
            verifying_contract: Address([0x5f; 20]),
        }
    }
    fn envelopes(n: usize) -> Vec<Envelope> {
        (0..n)
            .map(|i| Envelope {
                id: [i as u8; 16],
                sent_at: 1_764_000_000 + i as u64,
                body: format!("message {i}").into_bytes(),
            })
            .collect()
    }

    #[test]
    fn individually_signed_delivery_verifies_and_proves() {
        let (bob, alice) = (key(0xb0), key(0xa1));
        let d = Deliver::sign_each(&bob, &domain(), alice.address(), envelopes(3)).unwrap();
        let wire = Wire::Deliver(d.clone());
        let decoded = Wire::decode(&wire.to_bytes()).unwrap();
        assert_eq!(decoded, wire);
        let verified = d
            .verify(&domain(), &bob.public_key(), &alice.address())
            .unwrap();
        assert_eq!(verified.len(), 3);
        for v in &verified {
            verify_stored(&domain(), &v.message, &v.body, &v.proof, &bob.public_key()).unwrap();
        }
    }

    #[test]
    fn batch_signed_delivery_proves_each_message_alone() {
        let (bob, alice) = (key(0xb0), key(0xa1));
        for n in [1usize, 2, 3, 7, 64] {
            let d = Deliver::sign_batch(&bob, &domain(), alice.address(), envelopes(n)).unwrap();
            let verified = d
                .verify(&domain(), &bob.public_key(), &alice.address())
                .unwrap();
            for v in &verified {
                // A third party holding only this message, its proof and Bob's key.
                verify_stored(&domain(), &v.message, &v.body, &v.proof, &bob.public_key()).unwrap();
                let json = serde_json::to_string(&v.proof).unwrap();
                let proof: MessageProof = serde_json::from_str(&json).unwrap();
                assert_eq!(proof, v.proof);
            }
            // Tampering with any proven message fails.
            let v = &verified[n / 2];
            let mut body = v.body.clone();
            body.push(b'!');
            assert_eq!(
                verify_stored(&domain(), &v.message, &body, &v.proof, &bob.public_key()),
                Err(MessageError::BodyMismatch)
            );
            let mut moved = v.message.clone();
            moved.sent_at += 1;
            assert!(
                verify_stored(&domain(), &moved, &v.body, &v.proof, &bob.public_key()).is_err()
            );
            assert_eq!(
                verify_stored(
                    &domain(),
                    &v.message,
                    &v.body,
                    &v.proof,
                    &alice.public_key()
                ),
                Err(MessageError::WrongKey {
                    from: bob.address()
                })
            );
            if let MessageProof::Batch {
                signature,
                count,
                index,
                path,
            } = &v.proof
            {
                let bad = MessageProof::Batch {
                    signature: *signature,
                    count: *count + 1,
                    index: *index,
                    path: path.clone(),
                };
                assert!(
                    verify_stored(&domain(), &v.message, &v.body, &bad, &bob.public_key()).is_err()
                );
            } else {
                panic!("expected a batch proof");
            }
        }
        assert_eq!(
            Deliver::sign_batch(&bob, &domain(), alice.address(), vec![]),
            Err(MessageError::BadCount { count: 0 })
        );
        assert_eq!(
            Deliver::sign_each(
                &bob,
                &domain(),
                alice.address(),
                envelopes(MAX_MESSAGES_PER_DELIVER + 1)
            ),
            Err(MessageError::BadCount {
                count: MAX_MESSAGES_PER_DELIVER + 1
            })
        );
        let big = vec![Envelope {
            id: [0; 16],
            sent_at: 0,
            body: vec![0; MAX_PAYLOAD + 1],
        }];
        assert_eq!(
            Deliver::sign_each(&bob, &domain(), alice.address(), big),
            Err(MessageError::BodyTooLarge {
                len: MAX_PAYLOAD + 1
            })
        );
    }

    #[test]
    fn forwarded_message_signed_by_a_third_party_is_refused() {
        let (bob, alice, carol) = (key(0xb0), key(0xa1), key(0xc0));
        // Carol's genuine messages to Alice, forwarded by Bob over his session.
        let from_carol =
            Deliver::sign_each(&carol, &domain(), alice.address(), envelopes(2)).unwrap();
        assert_eq!(
            from_carol.verify(&domain(), &bob.public_key(), &alice.address()),
            Err(MessageError::NotFromPeer {
                from: carol.address(),
                peer: bob.address()
            })
        );
        // Bob relabels them as his own: Carol's signatures no longer fit.
        let relabeled = Deliver {
            from: bob.address(),
            ..from_carol.clone()
        };
        assert_eq!(
            relabeled.verify(&domain(), &bob.public_key(), &alice.address()),
            Err(MessageError::BadSignature {
                from: bob.address()
            })
        );
        let batch = Deliver::sign_batch(&carol, &domain(), alice.address(), envelopes(2)).unwrap();
        let relabeled = Deliver {
            from: bob.address(),
            ..batch
        };
        assert!(matches!(
            relabeled.verify(&domain(), &bob.public_key(), &alice.address()),
            Err(MessageError::BadSignature { .. })
        ));
    }

    #[test]
    fn messages_for_someone_else_and_count_mismatch_are_refused() {
        let (bob, alice, carol) = (key(0xb0), key(0xa1), key(0xc0));
        let to_carol = Deliver::sign_each(&bob, &domain(), carol.address(), envelopes(1)).unwrap();
        assert_eq!(
            to_carol.verify(&domain(), &bob.public_key(), &alice.address()),
            Err(MessageError::NotForMe {
                to: carol.address()
            })
        );
        let mut d = Deliver::sign_each(&bob, &domain(), alice.address(), envelopes(2)).unwrap();
        if let Auth::Each(sigs) = &mut d.auth {
            sigs.pop();
        }
        assert_eq!(
            d.verify(&domain(), &bob.public_key(), &alice.address()),
            Err(MessageError::CountMismatch {
                messages: 2,
                signatures: 1
            })
        );
        // Swapped signatures: each is Bob's, but for the other message.
        let mut d = Deliver::sign_each(&bob, &domain(), alice.address(), envelopes(2)).unwrap();
        if let Auth::Each(sigs) = &mut d.auth {
            sigs.swap(0, 1);
        }
        assert!(
            d.verify(&domain(), &bob.public_key(), &alice.address())
                .is_err()
        );
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
            Wire::decode(&[TAG_CLOSE, 7]),
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
            (0u8..6).prop_map(|c| Wire::Close(Close {
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
