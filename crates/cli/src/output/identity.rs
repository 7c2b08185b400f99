//! What `init` and `id` print.

use serde::Serialize;

use super::Report;

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
