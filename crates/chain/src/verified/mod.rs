//! Proof-checked reads of the registry on an RPC chain (issue 14): every fact
//! is read with `eth_getProof` at one block and verified against that block
//! header's `stateRoot`, so a node cannot forge an ID's status or endpoint.

pub mod slots;
