//! Blocks of the embedded chain: the transaction and receipt encodings that
//! are hashed, and the block hash that links each block to its parent.

use alloy::primitives::{Address, B256, Bytes, keccak256};

/// Domain tag of the block hash, so no other hash in the system can collide with it.
const BLOCK_TAG: &[u8] = b"chainmail/embedded/block/v1";

/// A transaction as executed by the embedded chain.
#[derive(Debug, Clone)]
pub struct TxRecord {
    /// The submitting account.
    pub from: Address,
    /// Its nonce.
    pub nonce: u64,
    /// `None` for a contract creation.
    pub to: Option<Address>,
    /// Calldata (or init code).
    pub input: Bytes,
    /// Gas limit it ran with.
    pub gas_limit: u64,
}

/// One log of a receipt.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Emitting contract.
    pub address: Address,
    /// Topics (at most four).
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

/// The result of a transaction.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Gas used (as Ethereum reports it, after refunds).
    pub gas_used: u64,
    /// Address of the created contract, if any.
    pub contract_address: Option<Address>,
    /// Logs, in order.
    pub logs: Vec<LogRecord>,
}

/// Appends a length-prefixed byte string.
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

impl TxRecord {
    /// Canonical encoding (stored and hashed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.input.len());
        out.extend_from_slice(self.from.as_slice());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        match self.to {
            Some(to) => {
                out.push(1);
                out.extend_from_slice(to.as_slice());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.gas_limit.to_be_bytes());
        put_bytes(&mut out, &self.input);
        out
    }
}

impl Receipt {
    /// Canonical encoding (stored and hashed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.gas_used.to_be_bytes());
        match self.contract_address {
            Some(a) => {
                out.push(1);
                out.extend_from_slice(a.as_slice());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&(self.logs.len() as u64).to_be_bytes());
        for log in &self.logs {
            out.extend_from_slice(log.address.as_slice());
            out.push(log.topics.len() as u8);
            for t in &log.topics {
                out.extend_from_slice(t.as_slice());
            }
            put_bytes(&mut out, &log.data);
        }
        out
    }
}

/// The fields of a block header that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Chain id of the file (binds every block to its chain).
    pub chain_id: u64,
    /// Block number, 0 for genesis.
    pub number: u64,
    /// Hash of the previous block (zero for genesis).
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
    /// keccak256 of the encoded transaction.
    pub tx_hash: B256,
    /// keccak256 of the encoded receipt.
    pub receipt_hash: B256,
    /// State commitment after the block (see `state::entry_hash`).
    pub state_root: B256,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(BLOCK_TAG.len() + 8 * 3 + 32 * 4);
        buf.extend_from_slice(BLOCK_TAG);
        buf.extend_from_slice(&self.chain_id.to_be_bytes());
        buf.extend_from_slice(&self.number.to_be_bytes());
        buf.extend_from_slice(self.parent_hash.as_slice());
        buf.extend_from_slice(&self.timestamp.to_be_bytes());
        buf.extend_from_slice(self.tx_hash.as_slice());
        buf.extend_from_slice(self.receipt_hash.as_slice());
        buf.extend_from_slice(self.state_root.as_slice());
        keccak256(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hash_covers_every_field() {
        let h = Header {
            chain_id: 7,
            number: 1,
            parent_hash: B256::repeat_byte(1),
            timestamp: 2,
            tx_hash: B256::repeat_byte(3),
            receipt_hash: B256::repeat_byte(4),
            state_root: B256::repeat_byte(5),
        };
        let base = h.hash();
        let variants = [
            Header { chain_id: 8, ..h },
            Header { number: 2, ..h },
            Header {
                parent_hash: B256::repeat_byte(9),
                ..h
            },
            Header { timestamp: 3, ..h },
            Header {
                tx_hash: B256::repeat_byte(9),
                ..h
            },
            Header {
                receipt_hash: B256::repeat_byte(9),
                ..h
            },
            Header {
                state_root: B256::repeat_byte(9),
                ..h
            },
        ];
        for v in variants {
            assert_ne!(v.hash(), base);
        }
    }

    #[test]
    fn encodings_are_unambiguous_for_create_and_call() {
        let a = TxRecord {
            from: Address::ZERO,
            nonce: 0,
            to: None,
            input: Bytes::from_static(&[1]),
            gas_limit: 1,
        };
        let b = TxRecord {
            to: Some(Address::ZERO),
            ..a.clone()
        };
        assert_ne!(a.encode(), b.encode());
    }
}
