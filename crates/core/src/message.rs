//! Signing and verifying the chat messages a `Deliver` carries (§4.1.4).
//! Every message is signed by its sender — individually, or as a
//! `MessageBatch` Merkle root — so a stored message can later be proved to
//! anyone with only the sender's public key ([`verify_stored`]). The bytes
//! on the wire are [`crate::wire`]'s.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::eip712::{Domain, Message, MessageBatch, TypedData, signing_hash_of};
use crate::hash::keccak256;
use crate::keys::{PublicKey, SecretKey};
use crate::merkle;
use crate::record::MAX_PAYLOAD;
use crate::signature::Signature;
use crate::wire::{Auth, Deliver, Envelope, MAX_BODY, MAX_MESSAGES_PER_DELIVER};

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
    /// A body above [`MAX_BODY`] bytes.
    #[error("a message body of {len} bytes is above the {MAX_BODY}-byte limit")]
    BodyTooLarge {
        /// Body length.
        len: usize,
    },
    /// The messages fit the limits one by one but not one session frame
    /// together: split them over several `Deliver`s.
    #[error("a delivery of {len} bytes does not fit one {MAX_PAYLOAD}-byte session frame")]
    TooLargeForFrame {
        /// Encoded length of the `Deliver`.
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
    /// The Merkle root the batch signature covers, when batch-signed (what
    /// `verify` computed to check it, so that nobody recomputes it).
    pub batch_root: Option<[u8; 32]>,
}

/// What every signer checks first, so that no signed `Deliver` is one the
/// session would refuse to seal: a count in range, every body within
/// [`MAX_BODY`], the whole encoding within one frame.
fn check_sendable(messages: &[Envelope], each: bool) -> Result<(), MessageError> {
    if messages.is_empty() || messages.len() > MAX_MESSAGES_PER_DELIVER {
        return Err(MessageError::BadCount {
            count: messages.len(),
        });
    }
    if let Some(m) = messages.iter().find(|m| m.body.len() > MAX_BODY) {
        return Err(MessageError::BodyTooLarge { len: m.body.len() });
    }
    let len = Deliver::encoded_len(messages, each);
    if len > MAX_PAYLOAD {
        return Err(MessageError::TooLargeForFrame { len });
    }
    Ok(())
}

impl Deliver {
    /// Signs each message on its own (one signature per message). Fails
    /// for 0 or more than `MAX_MESSAGES_PER_DELIVER` messages, a body above
    /// [`MAX_BODY`] or a whole too large for one frame (such a `Deliver`
    /// could not be sent).
    pub fn sign_each(
        sender: &SecretKey,
        domain: &Domain,
        to: Address,
        messages: Vec<Envelope>,
    ) -> Result<Self, MessageError> {
        check_sendable(&messages, true)?;
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
        check_sendable(&messages, false)?;
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
        self.verify_unseen(domain, peer, local, |_| false)
    }

    /// [`Deliver::verify`] of the messages whose id `seen` does not know
    /// (the caller's dedup, asked before any signature is checked): a
    /// `Deliver` replayed costs no signature check. Seen messages are
    /// neither checked nor returned; with `Auth::Batch` the one signature
    /// is checked unless every message was seen. `from` and `to` are
    /// checked whatever `seen` says.
    pub fn verify_unseen(
        &self,
        domain: &Domain,
        peer: &PublicKey,
        local: &Address,
        seen: impl Fn(&[u8; 16]) -> bool,
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
        let (proofs, batch_root): (Vec<MessageProof>, _) = match &self.auth {
            Auth::Each(sigs) => {
                if sigs.len() != messages.len() {
                    return Err(MessageError::CountMismatch {
                        messages: messages.len(),
                        signatures: sigs.len(),
                    });
                }
                let separator = domain.separator();
                for ((m, s), env) in messages.iter().zip(sigs).zip(&self.messages) {
                    if seen(&env.id) {
                        continue;
                    }
                    s.verify(&signing_hash_of(&separator, &m.struct_hash()), peer)
                        .map_err(|_| MessageError::BadSignature { from: self.from })?;
                }
                let proofs = sigs
                    .iter()
                    .map(|s| MessageProof::Single { signature: *s })
                    .collect();
                (proofs, None)
            }
            Auth::Batch(_) if self.messages.iter().all(|e| seen(&e.id)) => {
                return Ok(Vec::new());
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
                let proofs = (0..leaves.len())
                    .map(|i| MessageProof::Batch {
                        signature: *signature,
                        count,
                        index: i as u32,
                        path: merkle::path_in(&levels, i).unwrap_or_default(),
                    })
                    .collect();
                (proofs, Some(root))
            }
        };
        Ok(messages
            .into_iter()
            .zip(&self.messages)
            .zip(proofs)
            .filter(|((_, env), _)| !seen(&env.id))
            .map(|((message, env), proof)| VerifiedMessage {
                message,
                body: env.body.clone(),
                proof,
                batch_root,
            })
            .collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::wire::Wire;

    /// A fixed key.
    pub(crate) fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32]).unwrap()
    }
    /// A fixed registry domain.
    pub(crate) fn domain() -> Domain {
        Domain {
            chain_id: 31337,
            verifying_contract: Address([0x5f; 20]),
        }
    }
    /// `n` envelopes with fixed ids and times.
    pub(crate) fn envelopes(n: usize) -> Vec<Envelope> {
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
    fn seen_messages_are_neither_checked_nor_returned() {
        let (bob, alice) = (key(0xb0), key(0xa1));
        let (d, p) = (domain(), bob.public_key());
        let seen = |id: &[u8; 16]| id[0] < 2;
        let mut each = Deliver::sign_each(&bob, &d, alice.address(), envelopes(3)).unwrap();
        let ids = |v: Vec<VerifiedMessage>| v.iter().map(|m| m.message.id[0]).collect::<Vec<_>>();
        assert_eq!(
            ids(each.verify_unseen(&d, &p, &alice.address(), seen).unwrap()),
            [2]
        );
        // A bad signature on a seen message is not looked at; on an unseen
        // one it fails the whole `Deliver`.
        let Auth::Each(sigs) = &mut each.auth else {
            unreachable!()
        };
        let good = sigs[2];
        sigs[0] = good;
        assert!(each.verify_unseen(&d, &p, &alice.address(), seen).is_ok());
        assert!(each.verify(&d, &p, &alice.address()).is_err());
        let Auth::Each(sigs) = &mut each.auth else {
            unreachable!()
        };
        sigs[2] = sigs[1];
        assert!(each.verify_unseen(&d, &p, &alice.address(), seen).is_err());

        let batch = Deliver::sign_batch(&bob, &d, alice.address(), envelopes(3)).unwrap();
        let unseen = batch.verify_unseen(&d, &p, &alice.address(), seen).unwrap();
        assert_eq!(ids(unseen.clone()), [2]);
        // Its proof is the one `verify` gives for that message.
        let all = batch.verify(&d, &p, &alice.address()).unwrap();
        assert_eq!(unseen[0], all[2]);
        // All seen: nothing to check, nothing returned; `to` still checked.
        assert!(
            batch
                .verify_unseen(&d, &p, &alice.address(), |_| true)
                .unwrap()
                .is_empty()
        );
        assert!(
            batch
                .verify_unseen(&d, &p, &bob.address(), |_| true)
                .is_err()
        );
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
            body: vec![0; MAX_BODY + 1],
        }];
        assert_eq!(
            Deliver::sign_each(&bob, &domain(), alice.address(), big),
            Err(MessageError::BodyTooLarge { len: MAX_BODY + 1 })
        );
        // Each body at the limit, but three of them exceed one frame: the
        // signer refuses what the session could not seal.
        let full: Vec<Envelope> = (0..3)
            .map(|i| Envelope {
                id: [i; 16],
                sent_at: 0,
                body: vec![0; MAX_BODY],
            })
            .collect();
        let len = Deliver::encoded_len(&full, false);
        assert!(len > MAX_PAYLOAD);
        assert_eq!(
            Deliver::sign_batch(&bob, &domain(), alice.address(), full),
            Err(MessageError::TooLargeForFrame { len })
        );
        // Two at the limit fit, and their encoding is the length computed.
        let two: Vec<Envelope> = (0..2)
            .map(|i| Envelope {
                id: [i; 16],
                sent_at: 0,
                body: vec![0; MAX_BODY],
            })
            .collect();
        let d = Deliver::sign_each(&bob, &domain(), alice.address(), two.clone()).unwrap();
        assert_eq!(
            Wire::Deliver(d).to_bytes().len(),
            Deliver::encoded_len(&two, true)
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
}
