//! What the registry commands print: `register`, `renew`, `revoke`,
//! `endpoint` (a transaction), `deploy` and `lookup`.

use serde::{Deserialize, Serialize};

use super::{Report, fmt_time, printable};

/// `register`, `renew`, `revoke`, `endpoint`: a transaction about an ID.
#[derive(Debug, Clone, Serialize)]
pub struct TxReport {
    /// EIP-55 ID the transaction is about.
    pub id: String,
    /// 0x + 64 hex; `null` only for a `register` whose certificate was on
    /// chain already (sent by someone else first).
    pub tx_hash: Option<String>,
    /// Block it landed in (or the certificate did).
    pub block: u64,
    /// Gas it used (`null` with `tx_hash`).
    pub gas_used: Option<u64>,
    /// Only for `register --endpoint`: the setEndpoint transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_tx_hash: Option<Option<String>>,
    /// Only for `register`: whether this very certificate was on chain
    /// before our transaction (success, nothing sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_on_chain: Option<bool>,
    /// What happened, for the human form ("registered", "revoked"…).
    #[serde(skip)]
    pub action: &'static str,
}

impl TxReport {
    /// The report of `outcome`, a transaction about `id`.
    pub fn new(
        id: chainmail_core::Address,
        action: &'static str,
        outcome: &chainmail_chain::TxOutcome,
    ) -> Self {
        TxReport {
            id: id.to_string(),
            tx_hash: Some(super::hex32(&outcome.tx_hash)),
            block: outcome.block,
            gas_used: Some(outcome.gas_used),
            endpoint_tx_hash: None,
            already_on_chain: None,
            action,
        }
    }
}

impl Report for TxReport {
    fn human(&self) -> String {
        let mut s = format!(
            "{} {}
",
            self.id, self.action
        );
        match (&self.tx_hash, self.gas_used) {
            (Some(tx), Some(gas)) => {
                s.push_str(&format!("tx {tx} in block {} ({gas} gas)", self.block))
            }
            _ => s.push_str(&format!("in block {}", self.block)),
        }
        if let Some(Some(tx)) = &self.endpoint_tx_hash {
            s.push_str(&format!("\nendpoint published in tx {tx}"));
        }
        s
    }
}

/// `deploy`.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// EIP-55 address of the registry (the same on every chain).
    pub address: String,
    /// The registry was there already with this build's code: nothing was
    /// sent, and the three transaction fields are null.
    pub already_deployed: bool,
    /// 0x + 64 hex.
    pub tx_hash: Option<String>,
    /// Block it landed in.
    pub block: Option<u64>,
    /// Gas it used.
    pub gas_used: Option<u64>,
}

impl Report for DeployReport {
    fn human(&self) -> String {
        let how = match (&self.tx_hash, self.block, self.gas_used) {
            (Some(tx), Some(block), Some(gas)) => {
                format!(
                    "registry deployed at {}\ntx {tx} in block {block} ({gas} gas)",
                    self.address
                )
            }
            _ => format!(
                "registry already deployed at {} with this build's code; nothing sent",
                self.address
            ),
        };
        format!("{how}\nthis is the default registry on rpc chains (no --registry needed)")
    }
}

/// `chain pin`.
#[derive(Debug, Clone, Serialize)]
pub struct PinReport {
    /// `recorded` (first pin), `unchanged` (the chain matches the pin) or
    /// `replaced` (`--force` over another pin).
    pub status: &'static str,
    /// The chain id.
    pub chain_id: u64,
    /// 0x + 64 hex: block 0's hash.
    pub genesis_hash: String,
    /// EIP-55 address of the registry.
    pub registry: String,
    /// 0x + 64 hex: keccak256 of the registry's runtime code.
    pub code_hash: String,
}

impl Report for PinReport {
    fn human(&self) -> String {
        let what = match self.status {
            "recorded" => "pinned this home to",
            "replaced" => "re-pinned this home to",
            _ => "this home is pinned to, and the chain matches,",
        };
        format!(
            "{what} chain id {}\ngenesis   {}\nregistry  {}\ncode hash {}",
            self.chain_id, self.genesis_hash, self.registry, self.code_hash
        )
    }
}

/// `lookup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LookupReport {
    /// EIP-55 ID asked about.
    pub id: String,
    /// Ever registered.
    pub registered: bool,
    /// Registered, not revoked, not expired (by this machine's clock).
    pub valid: bool,
    /// Unix seconds, null when not registered.
    pub valid_until: Option<u64>,
    /// Unix seconds, null when not registered.
    pub issued_at: Option<u64>,
    /// Unix seconds, null when not revoked.
    pub revoked_at: Option<u64>,
    /// 0x + 128 hex, null when not registered.
    pub public_key: Option<String>,
    /// host:port, null when none published.
    pub endpoint: Option<String>,
    /// What the answer rests on: `embedded`, `single-rpc` (proof-checked
    /// against one provider's header) or `quorum K/n` (against a header K
    /// of n providers agree on).
    pub trust: String,
    /// The block the answer was proof-checked at (rpc chains; the highest
    /// of the reads lookup made), null on the embedded chain.
    pub verified_block: Option<u64>,
}

impl Report for LookupReport {
    fn human(&self) -> String {
        let verified = match self.verified_block {
            Some(b) => format!("{}, block {b}", self.trust),
            None => self.trust.clone(),
        };
        if !self.registered {
            return format!("{} is not registered\nverified    {verified}", self.id);
        }
        let state = if self.revoked_at.is_some() {
            "REVOKED"
        } else if self.valid {
            "valid"
        } else {
            "EXPIRED"
        };
        let opt = |v: Option<u64>| v.map(fmt_time).unwrap_or_else(|| "-".to_owned());
        format!(
            "ID          {}\nstatus      {}\nissued      {}\nvalid until {}\nrevoked     {}\npublic key  {}\nendpoint    {}\nverified    {verified}",
            self.id,
            state,
            opt(self.issued_at),
            opt(self.valid_until),
            opt(self.revoked_at),
            self.public_key.as_deref().unwrap_or("-"),
            self.endpoint
                .as_deref()
                .map(printable)
                .unwrap_or_else(|| "-".to_owned()),
        )
    }
}
