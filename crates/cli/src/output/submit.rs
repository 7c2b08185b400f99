//! What `submit` and `revoke --from-file` print.

use serde::Serialize;

use super::Report;

/// `submit`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitReport {
    /// EIP-55 ID the payload is about.
    pub id: String,
    /// `register`, `renew`, `revoke` or `endpoint`.
    pub action: &'static str,
    /// True when exactly this was already on chain (nothing sent).
    pub already_on_chain: bool,
    /// 0x + 64 hex; null when already on chain.
    pub tx_hash: Option<String>,
    /// Block it landed in; null when already on chain.
    pub block: Option<u64>,
    /// Gas used; null when already on chain.
    pub gas_used: Option<u64>,
    /// `register` with an endpoint: the setEndpoint transaction (null if
    /// none was sent).
    pub endpoint_tx_hash: Option<String>,
}

impl Report for SubmitReport {
    fn human(&self) -> String {
        match (&self.tx_hash, self.block, self.gas_used) {
            (Some(tx), Some(b), Some(g)) => format!(
                "{}: {} submitted\ntx {tx} in block {b} ({g} gas)",
                self.id, self.action
            ),
            _ => format!(
                "{}: {} already on chain, identical; nothing sent",
                self.id, self.action
            ),
        }
    }
}
