//! What the messaging commands print: `send`, `inbox` (and each line of
//! `inbox --follow`), `outbox` and `serve`.

use serde::{Deserialize, Serialize};

use super::{Report, fmt_time, printable};

/// `send`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendReport {
    /// 0x + 32 hex.
    pub message_id: String,
    /// EIP-55 recipient.
    pub to: String,
    /// `delivered`, `queued` or `rejected`.
    pub status: String,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMessageReport {
    /// 0x + 32 hex.
    pub message_id: String,
    /// EIP-55 recipient.
    pub to: String,
    /// `queued`, `delivered`, `rejected` or `expired`.
    pub status: String,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// What `serve` prints once listening.
#[derive(Debug, Serialize)]
pub struct ServeReport {
    /// This identity.
    pub id: String,
    /// The address actually bound (the real port when 0 was asked).
    pub listen: String,
    /// The daemon API's socket path, or null with `--no-api`.
    pub api: Option<String>,
}

impl Report for ServeReport {
    fn human(&self) -> String {
        let api = match &self.api {
            Some(p) => format!(", API on {}", printable(p)),
            None => String::new(),
        };
        format!(
            "{} listening on {}{api} (Ctrl-C to stop)",
            self.id, self.listen
        )
    }
}
