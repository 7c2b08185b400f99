//! # chainmail-core
//!
//! The sans-IO protocol core of chainmail (Khacef & Pujolle, §4.1.2–4.1.4):
//! identities and their keys, EIP-712 certificates and signatures, and —
//! built on them — the handshake and the session cipher. No sockets, no
//! async, no clock and no RNG of its own: time comes in as `now: u64` unix
//! seconds, randomness as `&mut impl rand::CryptoRng`, and the chain's answer
//! as an [`IdStatus`]. See `PROTOCOL.md` at the repository root for every byte.
//!
//! ```text
//!  keys ──► Address (ID) ──► eip712::{Domain, Certificate, …, Signed<T>}
//!                                   │
//!  IdStatus (from the chain) ───────┤
//!                                   ▼
//!                     handshake (T_B1 / T_A2) ──► session (frames)
//! ```
#![forbid(unsafe_code)]

mod address;
pub mod eip712;
pub mod hash;
mod keys;
mod serde_hex;
mod signature;
mod status;

pub use address::{Address, AddressLengthError, AddressParseError};
pub use keys::{KeyError, PublicKey, SecretKey};
pub use signature::{Signature, SignatureError};
pub use status::{IdStatus, StatusError};

pub mod codec;
pub mod handshake;
mod kdf;
pub mod merkle;
pub mod message;
pub mod record;
pub mod session;
pub mod wire;

pub use handshake::{
    ExpectT_A2, HandshakeError, Initiator, MemoryReplayCache, PendingT_B1, ReplayCache, Responder,
    StaticShared,
};
pub use session::{Opened, OpenedInPlace, Session, SessionError};

#[cfg(test)]
mod vector_tests;
