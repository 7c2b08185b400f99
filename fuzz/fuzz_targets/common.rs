//! Fixed parties and helpers shared by the fuzz targets: deterministic keys
//! and RNG so a crash reproduces from its input alone.

#![allow(dead_code)]

use chainmail_core::eip712::Domain;
use chainmail_core::{Address, IdStatus, SecretKey};
use rand::{SeedableRng, rngs::StdRng};

pub const NOW: u64 = 1_764_000_000;

pub fn alice() -> SecretKey {
    SecretKey::from_bytes(&[0xa1; 32]).unwrap()
}

pub fn bob() -> SecretKey {
    SecretKey::from_bytes(&[0xb0; 32]).unwrap()
}

pub fn domain() -> Domain {
    Domain {
        chain_id: 31337,
        verifying_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap(),
    }
}

pub fn live() -> IdStatus {
    IdStatus {
        valid_until: NOW + 86_400,
        issued_at: NOW - 86_400,
        revoked_at: 0,
        registered_block: 1,
    }
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn unused(_: Address) {}
