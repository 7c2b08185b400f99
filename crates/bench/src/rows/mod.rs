//! The seven rows of issue 7, one module each (rows 2–4 share one), and
//! row 8 of issue 14 (what a proof-checked chain read costs), row 9 of
//! issue 16 (`send` through the daemon API beside the one-shot CLI).

pub mod chain;
pub mod daemon;
pub mod gas;
pub mod handshakes;
pub mod memory;
pub mod messages;
pub mod node;
pub mod proofs;
