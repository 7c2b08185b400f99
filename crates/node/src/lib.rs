#![doc = include_str!("../README.md")]

pub mod config;
pub mod home;
pub mod keystore;
pub mod store;
