//! The session cipher (§4.1.4, DESIGN.md §5): after the handshake, every
//! record is a frame `length ‖ AES-256-GCM(kind ‖ payload)` under the
//! direction's key, with the record's 4-byte length prefix as associated data
//! and the frame counter as nonce. The counter is never sent: a replayed,
//! dropped or reordered frame simply fails to authenticate, and the first
//! failure poisons the session for good. Keys roll forward (HKDF, label
//! "chainmail v1 rekey") every [`REKEY_INTERVAL`] frames, long before the
//! 64-bit counter could wrap; the session ends at `expires_at`.

use crate::address::Address;
use crate::kdf::{self, Key};
use crate::keys::PublicKey;
use crate::record::{LENGTH_PREFIX, MAX_PAYLOAD, record_body};

/// Frames per key before both sides derive the next one (2^20: one key
/// protects at most 64 GiB, keeping AES-GCM far inside its limits).
pub const REKEY_INTERVAL: u64 = 1 << 20;
/// Frame kind: key confirmation, the initiator's first frame (empty payload).
pub const KIND_CONFIRM: u8 = 0x00;
/// Frame kind: application data.
pub const KIND_DATA: u8 = 0x01;

/// Which side of the handshake this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Bob, who sent T_B1.
    Initiator,
    /// Alice, who answered with T_A2.
    Responder,
}

/// Why a frame cannot be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session's lifetime is over: handshake again.
    #[error("the session expired at unix time {expires_at}")]
    Expired {
        /// End of the session.
        expires_at: u64,
    },
    /// The payload is above the 64 KiB frame limit.
    #[error("payload of {len} bytes is above the frame limit {max}")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame failed to authenticate: tampered, replayed, reordered or
    /// dropped in between. The session is unusable from now on.
    #[error("frame failed to authenticate (tampered, replayed or out of order)")]
    BadFrame,
    /// The record's length prefix does not match its size.
    #[error("malformed frame record")]
    Malformed,
    /// The responder got data (or tried to send) before the initiator's confirm frame.
    #[error("data before key confirmation")]
    NotConfirmed,
    /// A confirm frame where none belongs.
    #[error("unexpected key-confirmation frame")]
    UnexpectedConfirm,
    /// A frame kind this version does not know.
    #[error("unknown frame kind {kind}")]
    UnknownKind {
        /// The kind byte.
        kind: u8,
    },
    /// An earlier error ended the session.
    #[error("the session failed earlier and is closed")]
    Poisoned,
}

/// What an opened frame held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The initiator's key confirmation: the responder may now send and receive data.
    Confirmed,
    /// Application bytes (decode with [`crate::wire::Wire`]).
    Data(Vec<u8>),
}

/// What an opened frame held, borrowed from the record it was decrypted in
/// ([`Session::open_in_place`]).
#[derive(Debug, PartialEq, Eq)]
pub enum OpenedInPlace<'a> {
    /// The initiator's key confirmation: the responder may now send and receive data.
    Confirmed,
    /// Application bytes (decode with [`crate::wire::Wire`]), inside the record.
    Data(&'a mut [u8]),
}

/// One direction's key state.
struct Direction {
    /// The raw key, zeroized on drop (ring's key schedule in `cipher` is opaque).
    key: Key,
    cipher: kdf::Cipher,
    counter: u64,
    epoch: u64,
}

impl Direction {
    fn new(key: Key) -> Self {
        let cipher = kdf::cipher(&key);
        Direction {
            key,
            cipher,
            counter: 0,
            epoch: 0,
        }
    }

    /// The nonce for this frame; rolls the key forward when an interval ends.
    fn next_counter(&mut self) -> u64 {
        if self.counter == REKEY_INTERVAL {
            self.key = kdf::derive(&[], &self.key[..], kdf::LABEL_REKEY);
            self.cipher = kdf::cipher(&self.key);
            self.counter = 0;
            self.epoch += 1;
        }
        let c = self.counter;
        self.counter += 1;
        c
    }
}

/// An established session: seal frames to the peer, open frames from it.
pub struct Session {
    role: Role,
    local: Address,
    peer: PublicKey,
    send: Direction,
    recv: Direction,
    transcript: [u8; 32],
    expires_at: u64,
    confirmed: bool,
    poisoned: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("local", &self.local)
            .field("peer", &self.peer.address())
            .field("expires_at", &self.expires_at)
            .field("confirmed", &self.confirmed)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        role: Role,
        local: Address,
        peer: PublicKey,
        send: Key,
        recv: Key,
        transcript: [u8; 32],
        expires_at: u64,
    ) -> Self {
        Session {
            role,
            local,
            peer,
            send: Direction::new(send),
            recv: Direction::new(recv),
            transcript,
            expires_at,
            // The initiator has seen the responder's signature bound to its
            // own ephemeral key; only the responder waits for confirmation.
            confirmed: role == Role::Initiator,
            poisoned: false,
        }
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Our ID.
    pub fn local(&self) -> Address {
        self.local
    }

    /// The authenticated peer's ID.
    pub fn peer(&self) -> Address {
        self.peer.address()
    }

    /// The authenticated peer's public key.
    pub fn peer_key(&self) -> &PublicKey {
        &self.peer
    }

    /// keccak(T_B1 ‖ T_A2): names this session (channel binding).
    pub fn transcript_hash(&self) -> [u8; 32] {
        self.transcript
    }

    /// Unix seconds at which the session stops sealing and opening.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether the initiator's key confirmation has arrived (always true for the initiator).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Key epochs used so far for sending (rekeys done).
    pub fn send_epoch(&self) -> u64 {
        self.send.epoch
    }

    /// The current (send, receive) keys, for the known-answer vectors.
    #[cfg(test)]
    pub(crate) fn keys_for_test(&self) -> ([u8; 32], [u8; 32]) {
        (*self.send.key, *self.recv.key)
    }

    fn check_live(&self, now: u64) -> Result<(), SessionError> {
        if self.poisoned {
            return Err(SessionError::Poisoned);
        }
        if now >= self.expires_at {
            return Err(SessionError::Expired {
                expires_at: self.expires_at,
            });
        }
        Ok(())
    }

    /// Appends `length ‖ kind ‖ payload` to `out`, encrypts `kind ‖ payload`
    /// there in place and appends the tag: the payload is copied once.
    fn seal_kind(&mut self, kind: u8, payload: &[u8], out: &mut Vec<u8>) {
        let body_len = 1 + payload.len() + kdf::TAG_LEN;
        // body_len ≤ MAX_RECORD_BODY (callers check the payload): fits the u32 prefix.
        let prefix = (body_len as u32).to_be_bytes();
        out.reserve(LENGTH_PREFIX + body_len);
        let start = out.len();
        out.extend_from_slice(&prefix);
        out.push(kind);
        out.extend_from_slice(payload);
        let counter = self.send.next_counter();
        let tag = kdf::seal_in_place(
            &self.send.cipher,
            counter,
            &prefix,
            &mut out[start + LENGTH_PREFIX..],
        );
        out.extend_from_slice(&tag);
    }

    pub(crate) fn confirm_frame(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LENGTH_PREFIX + 1 + kdf::TAG_LEN);
        self.seal_kind(KIND_CONFIRM, &[], &mut out);
        out
    }

    /// Seals `payload` (≤ 64 KiB) as one frame record appended to `out`.
    /// The responder may not send before the initiator's confirmation.
    pub fn seal(
        &mut self,
        payload: &[u8],
        now: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), SessionError> {
        self.check_live(now)?;
        if !self.confirmed {
            return Err(SessionError::NotConfirmed);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(SessionError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        self.seal_kind(KIND_DATA, payload, out);
        Ok(())
    }

    /// Opens one complete frame record (as split by
    /// [`check_record`](crate::record::check_record)), returning the payload
    /// as an owned copy. Any failure poisons the session. Where the record is
    /// in a mutable buffer, [`open_in_place`](Self::open_in_place) saves the copy.
    pub fn open(&mut self, record: &[u8], now: u64) -> Result<Opened, SessionError> {
        self.check_live(now)?;
        let mut buf = record.to_vec();
        let opened = match self.open_in_place_live(&mut buf) {
            Ok(OpenedInPlace::Confirmed) => return Ok(Opened::Confirmed),
            Ok(OpenedInPlace::Data(payload)) => payload.len(),
            Err(e) => return Err(e),
        };
        // The payload sits after the prefix and the kind byte.
        buf.truncate(LENGTH_PREFIX + 1 + opened);
        buf.drain(..LENGTH_PREFIX + 1);
        Ok(Opened::Data(buf))
    }

    /// Opens one complete frame record (as split by
    /// [`check_record`](crate::record::check_record)) by decrypting it where
    /// it lies: on success the payload is a slice of `record` (no copy); on
    /// failure `record`'s contents are unspecified. Any failure poisons the session.
    pub fn open_in_place<'a>(
        &mut self,
        record: &'a mut [u8],
        now: u64,
    ) -> Result<OpenedInPlace<'a>, SessionError> {
        self.check_live(now)?;
        self.open_in_place_live(record)
    }

    fn open_in_place_live<'a>(
        &mut self,
        record: &'a mut [u8],
    ) -> Result<OpenedInPlace<'a>, SessionError> {
        let result = self.open_inner(record);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn open_inner<'a>(&mut self, record: &'a mut [u8]) -> Result<OpenedInPlace<'a>, SessionError> {
        if record_body(record).is_none() {
            return Err(SessionError::Malformed);
        }
        let (prefix, body) = record.split_at_mut(LENGTH_PREFIX);
        let counter = self.recv.next_counter();
        let plaintext = kdf::open_in_place(&self.recv.cipher, counter, prefix, body)
            .map_err(|()| SessionError::BadFrame)?;
        let (&mut kind, payload) = plaintext.split_first_mut().ok_or(SessionError::Malformed)?;
        match kind {
            KIND_CONFIRM => {
                if self.role == Role::Initiator || self.confirmed || !payload.is_empty() {
                    return Err(SessionError::UnexpectedConfirm);
                }
                self.confirmed = true;
                Ok(OpenedInPlace::Confirmed)
            }
            KIND_DATA => {
                if !self.confirmed {
                    return Err(SessionError::NotConfirmed);
                }
                Ok(OpenedInPlace::Data(payload))
            }
            kind => Err(SessionError::UnknownKind { kind }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;
    use crate::record::{MAX_RECORD_BODY, RecordCheck, check_record};
    use proptest::prelude::*;
    use zeroize::Zeroizing;

    fn pair(expires_at: u64) -> (Session, Session) {
        let a = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
        let b = SecretKey::from_bytes(&[0xb0; 32]).unwrap();
        let k1 = Zeroizing::new([1u8; 32]);
        let k2 = Zeroizing::new([2u8; 32]);
        let bob = Session::new(
            Role::Initiator,
            b.address(),
            a.public_key(),
            k1.clone(),
            k2.clone(),
            [0; 32],
            expires_at,
        );
        let alice = Session::new(
            Role::Responder,
            a.address(),
            b.public_key(),
            k2,
            k1,
            [0; 32],
            expires_at,
        );
        (bob, alice)
    }

    fn confirmed_pair() -> (Session, Session) {
        let (mut bob, mut alice) = pair(1_000);
        let c = bob.confirm_frame();
        assert_eq!(alice.open(&c, 0), Ok(Opened::Confirmed));
        (bob, alice)
    }

    #[test]
    fn frames_round_trip_up_to_the_limit() {
        let (mut bob, mut alice) = confirmed_pair();
        for len in [0usize, 1, 64, 1024, 16 * 1024, MAX_PAYLOAD] {
            let payload = vec![0x5a; len];
            let mut out = Vec::new();
            bob.seal(&payload, 0, &mut out).unwrap();
            assert_eq!(
                check_record(&out),
                Ok(RecordCheck::Complete { len: out.len() })
            );
            assert_eq!(alice.open(&out, 0), Ok(Opened::Data(payload)));
        }
        let mut out = Vec::new();
        assert_eq!(
            bob.seal(&vec![0; MAX_PAYLOAD + 1], 0, &mut out),
            Err(SessionError::PayloadTooLarge {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
        assert!(out.is_empty());
        assert_eq!(4 + 1 + MAX_PAYLOAD + 16, 4 + MAX_RECORD_BODY);
    }

    #[test]
    fn open_in_place_matches_open_and_poisons_on_failure() {
        let (mut bob, mut alice) = confirmed_pair();
        for len in [0usize, 1, 1024, MAX_PAYLOAD] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = vec![0xee; 3]; // sealing appends after what is there
            bob.seal(&payload, 0, &mut out).unwrap();
            assert_eq!(&out[..3], &[0xee; 3]);
            let record = &mut out[3..];
            assert_eq!(
                alice.open_in_place(record, 0),
                Ok(OpenedInPlace::Data(&mut payload.clone()[..]))
            );
        }
        // The confirm frame opens in place too.
        let (mut bob, mut alice) = pair(1_000);
        let mut c = bob.confirm_frame();
        assert_eq!(alice.open_in_place(&mut c, 0), Ok(OpenedInPlace::Confirmed));
        // A tampered frame fails and the session stays closed.
        let mut f = Vec::new();
        bob.seal(b"secret", 0, &mut f).unwrap();
        let last = f.len() - 1;
        f[last] ^= 1;
        assert_eq!(alice.open_in_place(&mut f, 0), Err(SessionError::BadFrame));
        let mut g = Vec::new();
        bob.seal(b"next", 0, &mut g).unwrap();
        assert_eq!(alice.open_in_place(&mut g, 0), Err(SessionError::Poisoned));
        // Too short for a tag, and a prefix that lies about the size.
        let (_, mut alice) = confirmed_pair();
        assert_eq!(
            alice.open_in_place(&mut [0, 0, 0, 1, 7], 0),
            Err(SessionError::Malformed)
        );
        let (_, mut alice) = confirmed_pair();
        assert_eq!(
            alice.open_in_place(&mut [0, 0, 0, 40, 7], 0),
            Err(SessionError::Malformed)
        );
    }

    #[test]
    fn replayed_reordered_and_dropped_frames_fail() {
        let (mut bob, mut alice) = confirmed_pair();
        let mut f1 = Vec::new();
        let mut f2 = Vec::new();
        bob.seal(b"one", 0, &mut f1).unwrap();
        bob.seal(b"two", 0, &mut f2).unwrap();
        // Reordered.
        assert_eq!(alice.open(&f2, 0), Err(SessionError::BadFrame));
        assert_eq!(alice.open(&f1, 0), Err(SessionError::Poisoned));

        let (mut bob, mut alice) = confirmed_pair();
        let mut f1 = Vec::new();
        bob.seal(b"one", 0, &mut f1).unwrap();
        alice.open(&f1, 0).unwrap();
        // Replayed.
        assert_eq!(alice.open(&f1, 0), Err(SessionError::BadFrame));

        // A frame reflected back to its sender.
        let (mut bob, _) = confirmed_pair();
        let mut f = Vec::new();
        bob.seal(b"mine", 0, &mut f).unwrap();
        assert_eq!(bob.open(&f, 0), Err(SessionError::BadFrame));
    }

    #[test]
    fn rekey_happens_in_step_on_both_sides() {
        let (mut bob, mut alice) = confirmed_pair();
        bob.send.counter = REKEY_INTERVAL - 1;
        alice.recv.counter = REKEY_INTERVAL - 1;
        for i in 0..3u8 {
            let mut f = Vec::new();
            bob.seal(&[i], 0, &mut f).unwrap();
            assert_eq!(alice.open(&f, 0), Ok(Opened::Data(vec![i])));
        }
        assert_eq!(bob.send_epoch(), 1);
        assert_eq!(alice.recv.epoch, 1);
        assert_ne!(*bob.send.key, [1u8; 32]);
    }

    #[test]
    fn frames_stop_at_expiry() {
        let (mut bob, mut alice) = confirmed_pair();
        let mut f = Vec::new();
        assert_eq!(
            bob.seal(b"x", 1_000, &mut f),
            Err(SessionError::Expired { expires_at: 1_000 })
        );
        bob.seal(b"x", 999, &mut f).unwrap();
        assert_eq!(
            alice.open(&f, 1_000),
            Err(SessionError::Expired { expires_at: 1_000 })
        );
    }

    #[test]
    fn malformed_records_are_refused() {
        let (_, mut alice) = confirmed_pair();
        assert_eq!(alice.open(&[0, 0, 0, 17], 0), Err(SessionError::Malformed));
        let (_, mut alice) = confirmed_pair();
        assert_eq!(alice.open(&[0, 0, 0, 0], 0), Err(SessionError::Malformed));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_single_bit_flip_in_a_frame_is_rejected(
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
            bit in any::<proptest::sample::Index>(),
        ) {
            let (mut bob, mut alice) = confirmed_pair();
            let mut f = Vec::new();
            bob.seal(&payload, 0, &mut f).unwrap();
            let bit = bit.index(f.len() * 8);
            let mut flipped = f.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(alice.open(&flipped, 0).is_err());
            // And the untouched frame opens in a fresh pair (the test can fail).
            let (mut bob2, mut alice2) = confirmed_pair();
            let mut g = Vec::new();
            bob2.seal(&payload, 0, &mut g).unwrap();
            prop_assert_eq!(alice2.open(&g, 0), Ok(Opened::Data(payload)));
        }
    }
}
