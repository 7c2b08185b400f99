#![doc = include_str!("../README.md")]

pub mod config;
pub mod frame;
pub mod home;
pub mod keystore;
pub mod limits;
pub mod status_cache;
pub mod store;
pub mod wire;
