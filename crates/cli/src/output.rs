//! What commands print: one report type per command, whose serde field names
//! are the `--json` interface of issue 6 (checked against
//! `schema/output.schema.json` by a test), and whose `human` form is the
//! default text. Times are Unix seconds, IDs EIP-55, absent values `null`.

use std::io::Write;

use serde::Serialize;

/// A command's result, printable both ways.
pub trait Report: Serialize {
    /// The text shown without `--json`.
    fn human(&self) -> String;
}

/// Prints `report` on stdout as JSON (one line) or text.
pub fn print<R: Report>(report: &R, json: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json {
        serde_json::to_string(report).unwrap_or_else(|e| {
            format!(r#"{{"error":{{"kind":"Internal","message":"cannot encode output: {e}"}}}}"#)
        })
    } else {
        report.human()
    };
    // A closed pipe (`chainmail inbox | head`) is not an error worth a panic.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// `init` and `id`.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityReport {
    /// EIP-55 ID.
    pub id: String,
    /// 0x + 128 hex (x‖y).
    pub public_key: String,
    /// Path of the keystore file.
    pub keystore: String,
}

impl Report for IdentityReport {
    fn human(&self) -> String {
        format!(
            "ID          {}\npublic key  {}\nkeystore    {}",
            self.id, self.public_key, self.keystore
        )
    }
}

/// `register`, `renew`, `revoke`, `endpoint`: a transaction about an ID.
#[derive(Debug, Clone, Serialize)]
pub struct TxReport {
    /// EIP-55 ID the transaction is about.
    pub id: String,
    /// 0x + 64 hex.
    pub tx_hash: String,
    /// Block it landed in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// Only for `register --endpoint`: the setEndpoint transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_tx_hash: Option<Option<String>>,
    /// What happened, for the human form ("registered", "revoked"…).
    #[serde(skip)]
    pub action: &'static str,
}

impl Report for TxReport {
    fn human(&self) -> String {
        let mut s = format!(
            "{} {}\ntx {} in block {} ({} gas)",
            self.id, self.action, self.tx_hash, self.block, self.gas_used
        );
        if let Some(Some(tx)) = &self.endpoint_tx_hash {
            s.push_str(&format!("\nendpoint published in tx {tx}"));
        }
        s
    }
}

/// `deploy`.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// EIP-55 address of the registry.
    pub address: String,
    /// 0x + 64 hex.
    pub tx_hash: String,
    /// Block it landed in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
}

impl Report for DeployReport {
    fn human(&self) -> String {
        format!(
            "registry deployed at {}\ntx {} in block {} ({} gas)\nuse it with --registry {} (or CHAINMAIL_REGISTRY)",
            self.address, self.tx_hash, self.block, self.gas_used, self.address
        )
    }
}

/// `lookup`.
#[derive(Debug, Clone, Serialize)]
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
}

impl Report for LookupReport {
    fn human(&self) -> String {
        if !self.registered {
            return format!("{} is not registered", self.id);
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
            "ID          {}\nstatus      {}\nissued      {}\nvalid until {}\nrevoked     {}\npublic key  {}\nendpoint    {}",
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

/// `send`.
#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    /// 0x + 32 hex.
    pub message_id: String,
    /// EIP-55 recipient.
    pub to: String,
    /// `delivered`, `queued` or `rejected`.
    pub status: &'static str,
    /// Why, when not delivered.
    pub reason: Option<String>,
}

impl Report for SendReport {
    fn human(&self) -> String {
        match &self.reason {
            None => format!("{} {} to {}", self.message_id, self.status, self.to),
            Some(r) => format!(
                "{} {} to {}: {}",
                self.message_id,
                self.status,
                self.to,
                printable(r)
            ),
        }
    }
}

/// One received message (`inbox`, and each line of `inbox --follow`).
#[derive(Debug, Clone, Serialize)]
pub struct MessageReport {
    /// 0x + 32 hex.
    pub message_id: String,
    /// EIP-55 sender.
    pub from: String,
    /// EIP-55 recipient (this identity).
    pub to: String,
    /// Unix seconds, the sender's clock (signed).
    pub sent_at: u64,
    /// Unix seconds, this node's clock.
    pub received_at: u64,
    /// The text.
    pub body: String,
    /// 0x + 130 hex: the sender's signature (on the message or on its batch).
    pub signature: String,
    /// 0x + 64 hex Merkle root when batch-signed, else null.
    pub batch_root: Option<String>,
    /// Merkle path (0x + 64 hex each) when batch-signed, else null.
    pub batch_path: Option<Vec<String>>,
    /// The sender's contact name, or null for a stranger (a request).
    pub contact: Option<String>,
    /// This message's leaf index in its batch when batch-signed, else null.
    pub batch_index: Option<u32>,
    /// Messages in its batch when batch-signed, else null.
    pub batch_count: Option<u32>,
}

impl Report for MessageReport {
    fn human(&self) -> String {
        format!(
            "[{}] {} → {} ({}): {}",
            fmt_time(self.sent_at),
            match &self.contact {
                Some(n) => format!("{} ({})", printable(n), self.from),
                None => format!("{} (request)", self.from),
            },
            self.to,
            self.message_id,
            // Continuation lines indented: a body cannot fake another message's line.
            printable(&self.body).replace('\n', "\n    ")
        )
    }
}

/// `inbox`.
#[derive(Debug, Clone, Serialize)]
pub struct InboxReport {
    /// Oldest first.
    pub messages: Vec<MessageReport>,
}

impl Report for InboxReport {
    fn human(&self) -> String {
        if self.messages.is_empty() {
            return "no messages".to_owned();
        }
        self.messages
            .iter()
            .map(Report::human)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One outbox message (`outbox`).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxMessageReport {
    /// 0x + 32 hex.
    pub message_id: String,
    /// EIP-55 recipient.
    pub to: String,
    /// `queued`, `delivered`, `rejected` or `expired`.
    pub status: &'static str,
    /// Why not delivered (the last error while queued; the refusal or the
    /// expiry otherwise), null when delivered.
    pub reason: Option<String>,
    /// Delivery attempts that failed so far.
    pub attempts: u32,
    /// Unix seconds, when it was queued.
    pub created_at: u64,
    /// Unix seconds, the next attempt (queued), else null.
    pub next_attempt_at: Option<u64>,
    /// Unix seconds, when it was delivered, rejected or expired, else null.
    pub finished_at: Option<u64>,
    /// The text.
    pub body: String,
}

/// `outbox`.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxReport {
    /// Newest first.
    pub messages: Vec<OutboxMessageReport>,
}

impl Report for OutboxReport {
    fn human(&self) -> String {
        if self.messages.is_empty() {
            return "outbox empty".to_owned();
        }
        self.messages
            .iter()
            .map(|m| {
                let mut line = format!(
                    "[{}] {} → {} {}",
                    fmt_time(m.created_at),
                    m.message_id,
                    m.to,
                    m.status
                );
                if let Some(r) = &m.reason {
                    line.push_str(": ");
                    line.push_str(&printable(r).replace('\n', " "));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Unix seconds as RFC 3339 UTC for the human form.
/// (values a hostile chain could make absurd are shown as plain numbers).
pub fn fmt_time(unix: u64) -> String {
    // 9999-12-31T23:59:59Z: past it RFC 3339 has no four-digit year.
    const LAST: u64 = 253_402_300_799;
    match std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(unix)) {
        Some(t) if unix <= LAST => humantime::format_rfc3339_seconds(t).to_string(),
        _ => format!("{unix} (Unix seconds)"),
    }
}

/// Text from peers or the chain made safe for a terminal: control characters
/// (escape sequences could rewrite the screen or fake another message) are
/// shown escaped. JSON output needs none of this: serde escapes them.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        assert_eq!(printable("hi\u{1b}[2Jthere\r"), "hi\\u{1b}[2Jthere\\r");
        assert_eq!(printable("line\nnext"), "line\nnext");
    }

    #[test]
    fn absurd_times_do_not_panic() {
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
        assert!(fmt_time(u64::MAX).contains("Unix seconds"));
    }
}
