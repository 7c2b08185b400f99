#![doc = include_str!("../README.md")]

pub mod config;
pub mod deliver;
pub mod frame;
pub mod home;
pub mod keystore;
pub mod limits;
pub mod node;
pub mod seal;
pub mod server;
pub mod session;
pub mod status_cache;
pub mod store;

pub use store::contacts;

pub use deliver::{
    DeliveryOutcome, DeliveryReport, SendOutcome, SendStatus, close_idle_sessions, deliver,
    run_outbox, send,
};
pub use node::{Node, NodeError, NodeOptions};
pub use server::{run, serve};
