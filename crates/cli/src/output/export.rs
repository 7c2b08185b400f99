//! What `export --out FILE` prints.

use serde::Serialize;

use super::Report;

/// `export`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// EIP-55 ID exported.
    pub id: String,
    /// The file written (null: the keystore went to stdout).
    pub file: Option<String>,
    /// Whether the message store is in it.
    pub with_messages: bool,
    /// Inbox messages in the archive (null without `--with-messages`).
    pub inbox: Option<u64>,
    /// Outbox messages in the archive (null without `--with-messages`).
    pub outbox: Option<u64>,
    /// Size of the file written, bytes.
    pub bytes: u64,
}

impl Report for ExportReport {
    fn human(&self) -> String {
        let what = if self.with_messages {
            format!(
                "keystore and message store ({} received, {} sent)",
                self.inbox.unwrap_or(0),
                self.outbox.unwrap_or(0)
            )
        } else {
            "keystore".into()
        };
        format!(
            "{} exported: {what} in {} ({} bytes)\nimport it with `chainmail init --from-keystore FILE` (same password)",
            self.id,
            self.file.as_deref().unwrap_or("-"),
            self.bytes
        )
    }
}
