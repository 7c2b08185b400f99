//! The handshake of §4.1.3 (DESIGN.md §4), Bob initiates, Alice responds:
//!
//! ```text
//! Bob (initiator)                                     Alice (responder)
//! T_B  = sign_B(SessionRequest(ID_B, ID_A, T, keccak(E_B)))
//! T_B1 = [v, 0x01, domain, ID_A, E_B] ‖ E_es(ID_B, T, K_pubB, T_B)  ──►
//!                                           checks (version … replay), then
//!        ◄──  T_A2 = [v, 0x02, E_A] ‖ E_es‖ee(ID_A, T+1, K_pubA,
//!                      sign_A(SessionResponse(ID_A, ID_B, T+1, keccak(E_A), keccak(T_B1))))
//! checks, then session keys from ss‖es‖ee
//! confirm frame  ──►                                  (accepts data only after it)
//! ```
//!
//! One type per expected message (rustls/snow style): [`Initiator::start`] →
//! [`ExpectT_A2`] → [`Session`](crate::session::Session); [`Responder::read_t_b1`] →
//! [`PendingT_B1`] (the caller fetches chain statuses, possibly asynchronously)
//! → [`PendingT_B1::judge`] (both statuses, the one judgment) →
//! [`AdmissibleT_B1`] (the caller checks its [`ReplayKey`] in its own store)
//! → [`AdmissibleT_B1::answer`] → `Session`; [`PendingT_B1::accept`] does
//! the last two with a [`ReplayCache`]. Every failure is a distinct
//! [`HandshakeError`] for the local user; the peer learns only
//! [`PEER_VISIBLE_FAILURE`].

mod initiator;
mod replay;
mod responder;

pub use initiator::{ExpectT_A2, Initiator};
pub use replay::{MemoryReplayCache, ReplayCache, ReplayError};
pub use responder::{AdmissibleT_B1, PendingT_B1, ReplayKey, Responder};

use zeroize::Zeroizing;

use crate::address::Address;
use crate::codec::Malformed;
use crate::keys::{PublicKey, SecretKey};
use crate::status::StatusError;

/// Protocol version carried in every handshake message.
pub const VERSION: u8 = 1;
/// Message type byte of T_B1.
pub const TYPE_T_B1: u8 = 0x01;
/// Message type byte of T_A2.
pub const TYPE_T_A2: u8 = 0x02;
/// Allowed clock difference for T (seconds), the contract's `SESSION_SKEW`.
pub const MAX_SKEW_SECS: u64 = 300;
/// Longest session lifetime (seconds); it also ends at either certificate's `validUntil`.
pub const SESSION_LIFETIME_SECS: u64 = 3600;
/// All the peer is ever told about a failed handshake.
pub const PEER_VISIBLE_FAILURE: &str = "handshake failed";

/// Clear header of T_B1: version, type, chain id, contract, ID_A, E_B.
pub const T_B1_HEADER_LEN: usize = 1 + 1 + 8 + 20 + 20 + 33;
/// Plaintext of T_B1's body: ID_B, T, K_pubB, signature.
pub const T_B1_PLAINTEXT_LEN: usize = 20 + 8 + 64 + 65;
/// Whole T_B1 record body (header + ciphertext + tag) = 256.
pub const T_B1_LEN: usize = T_B1_HEADER_LEN + T_B1_PLAINTEXT_LEN + crate::kdf::TAG_LEN;
/// Clear header of T_A2: version, type, E_A.
pub const T_A2_HEADER_LEN: usize = 1 + 1 + 33;
/// Plaintext of T_A2's body: ID_A, T+1, K_pubA, signature.
pub const T_A2_PLAINTEXT_LEN: usize = 20 + 8 + 64 + 65;
/// Whole T_A2 record body = 208.
pub const T_A2_LEN: usize = T_A2_HEADER_LEN + T_A2_PLAINTEXT_LEN + crate::kdf::TAG_LEN;

/// Why a handshake failed. For the local log and user only: the peer is told
/// [`PEER_VISIBLE_FAILURE`] and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes do not parse (record framing, message length, off-curve key).
    #[error("malformed handshake message: {0}")]
    Malformed(Malformed),
    /// A protocol version this node does not speak.
    #[error("unsupported protocol version {version} (this node speaks {VERSION})")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// A message type other than the one expected.
    #[error("unexpected handshake message type {message_type}")]
    UnexpectedType {
        /// The type byte received.
        message_type: u8,
    },
    /// Our own message came back (a T_A2 offered as T_B1 or the reverse, our
    /// own ID as the peer, or the peer's ephemeral key equal to ours).
    #[error("reflected handshake message (our own message or key sent back to us)")]
    Reflected,
    /// The T_B1 names another registry (chain id or contract).
    #[error("the request is for another registry (chain {chain_id}, contract {contract})")]
    WrongRegistry {
        /// The chain id in the message.
        chain_id: u64,
        /// The contract in the message.
        contract: Address,
    },
    /// The T_B1 is addressed to another ID.
    #[error("the request is addressed to {to}, not to us")]
    WrongRecipient {
        /// The recipient named in the message.
        to: Address,
    },
    /// The encrypted body does not authenticate (tampered, or not made for
    /// this key / this handshake).
    #[error("the encrypted handshake body does not authenticate")]
    DecryptFailed,
    /// The public key in the body does not hash to the ID beside it, or is
    /// not the key we expected for that peer.
    #[error("the peer's public key does not match its ID {id}")]
    KeyMismatch {
        /// The ID claimed.
        id: Address,
    },
    /// T is outside ±MAX_SKEW_SECS of our clock.
    #[error("timestamp {timestamp} is more than {MAX_SKEW_SECS} s from our clock ({now})")]
    StaleTimestamp {
        /// T in the message.
        timestamp: u64,
        /// Our clock.
        now: u64,
    },
    /// T_A2's timestamp is not T+1.
    #[error("the response's timestamp {timestamp} is not the request's plus one ({expected})")]
    TimestampMismatch {
        /// Received.
        timestamp: u64,
        /// Expected (T+1).
        expected: u64,
    },
    /// The signature is not by the key in the message.
    #[error("bad signature by {id}")]
    BadSignature {
        /// The claimed signer.
        id: Address,
    },
    /// The ID is not registered in this registry.
    #[error("{id} is not registered in this registry")]
    UnknownId {
        /// The ID.
        id: Address,
    },
    /// The ID was revoked.
    #[error("{id} was revoked at unix time {revoked_at}")]
    Revoked {
        /// The ID.
        id: Address,
        /// When.
        revoked_at: u64,
    },
    /// The ID's certificate expired.
    #[error("{id}'s certificate expired at unix time {valid_until}")]
    Expired {
        /// The ID.
        id: Address,
        /// When.
        valid_until: u64,
    },
    /// This (ID_B, E_B) was already seen: a replayed T_B1.
    #[error("replayed session request from {id}")]
    Replay {
        /// The initiator.
        id: Address,
    },
    /// The replay cache refused to record the request (full, or T before the
    /// node's start): refused rather than risk accepting a replay.
    #[error("replay protection unavailable: {0}")]
    ReplayCache(ReplayError),
}

impl HandshakeError {
    /// What the peer may be told: always the same words, whatever happened.
    pub fn peer_visible(&self) -> &'static str {
        PEER_VISIBLE_FAILURE
    }

    pub(crate) fn from_status(id: Address, error: StatusError) -> Self {
        match error {
            StatusError::Unknown => HandshakeError::UnknownId { id },
            StatusError::Revoked { revoked_at } => HandshakeError::Revoked { id, revoked_at },
            StatusError::Expired { valid_until } => HandshakeError::Expired { id, valid_until },
        }
    }
}

impl From<Malformed> for HandshakeError {
    fn from(m: Malformed) -> Self {
        HandshakeError::Malformed(m)
    }
}

/// `ss`: the static–static ECDH secret of two identities (the paper's
/// shared secret). The same for every session between two peers, so a node
/// may cache it per peer (bounded, dropped — and so zeroized — on eviction)
/// to save one scalar multiplication per handshake.
pub struct StaticShared(Zeroizing<[u8; 32]>);

impl StaticShared {
    /// Computes `ss` = x(own · peer).
    pub fn compute(own: &SecretKey, peer: &PublicKey) -> Self {
        StaticShared(own.diffie_hellman(peer))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for StaticShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticShared(<elided>)")
    }
}

/// Checks T against `now` with the contract's inclusive ±skew rule.
pub(crate) fn check_skew(timestamp: u64, now: u64) -> Result<(), HandshakeError> {
    if timestamp.saturating_add(MAX_SKEW_SECS) < now
        || timestamp > now.saturating_add(MAX_SKEW_SECS)
    {
        return Err(HandshakeError::StaleTimestamp { timestamp, now });
    }
    Ok(())
}

/// Session keys from ss ‖ es ‖ ee with salt keccak(T_B1 ‖ T_A2); returns
/// (initiator→responder, responder→initiator, transcript hash).
pub(crate) fn session_keys(
    ss: &[u8; 32],
    es: &[u8; 32],
    ee: &[u8; 32],
    t_b1: &[u8],
    t_a2: &[u8],
) -> (crate::kdf::Key, crate::kdf::Key, [u8; 32]) {
    let transcript = crate::hash::keccak256_concat(&[t_b1, t_a2]);
    let mut ikm = Zeroizing::new([0u8; 96]);
    ikm[..32].copy_from_slice(ss);
    ikm[32..64].copy_from_slice(es);
    ikm[64..].copy_from_slice(ee);
    let i2r = crate::kdf::derive(
        &transcript,
        &ikm[..],
        crate::kdf::LABEL_INITIATOR_TO_RESPONDER,
    );
    let r2i = crate::kdf::derive(
        &transcript,
        &ikm[..],
        crate::kdf::LABEL_RESPONDER_TO_INITIATOR,
    );
    (i2r, r2i, transcript)
}

/// The T_A2 key from es ‖ ee with salt keccak(T_B1).
pub(crate) fn t_a2_key(es: &[u8; 32], ee: &[u8; 32], t_b1_hash: &[u8; 32]) -> crate::kdf::Key {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(es);
    ikm[32..].copy_from_slice(ee);
    crate::kdf::derive(t_b1_hash, &ikm[..], crate::kdf::LABEL_T_A2)
}

/// The T_B1 key from es (empty salt: es is fresh per attempt).
pub(crate) fn t_b1_key(es: &[u8; 32]) -> crate::kdf::Key {
    crate::kdf::derive(&[], es, crate::kdf::LABEL_T_B1)
}

#[cfg(test)]
pub(crate) mod tests;
