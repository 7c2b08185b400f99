#![doc = include_str!("../README.md")]

pub mod archive;
pub mod clock;
pub mod config;
pub mod daemon_client;
pub mod handshake;
pub mod home;
pub mod inbound;
pub mod keystore;
pub mod limits;
pub mod node;
pub mod outbound;
pub mod seal;
pub mod status_cache;
pub mod store;
pub mod transport;

pub use store::contacts;

pub use clock::Clock;
pub use inbound::{run, serve};
pub use node::{Node, NodeError, NodeOptions};
pub use outbound::{
    DeliveryError, DeliveryOutcome, DeliveryReport, SendOutcome, SendStatus, close_idle_sessions,
    deliver, run_outbox, send,
};
pub use transport::SecureStream;
