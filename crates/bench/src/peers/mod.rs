//! The protocols a user would pick instead of chainmail, set up the way their
//! own documentation shows: rustls mutual TLS 1.3 and snow Noise. Only their
//! public APIs are used; nothing of theirs is copied.

pub mod noise;
pub mod tls;
