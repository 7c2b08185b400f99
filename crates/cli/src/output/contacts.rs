//! What the contact commands and `verify` print.

use chainmail_node::contacts::Contact;
use serde::{Deserialize, Serialize};

use super::{Report, printable};

/// One contact as printed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContactReport {
    /// EIP-55 ID.
    pub id: String,
    /// Local name; null for an ID that is only blocked.
    pub name: Option<String>,
    /// Marked verified (`contact verify`).
    pub verified: bool,
    /// Refused at the handshake.
    pub blocked: bool,
    /// Unix seconds.
    pub added_at: u64,
    /// What the command did, for the human form.
    #[serde(skip)]
    pub action: &'static str,
}

impl From<&Contact> for ContactReport {
    fn from(c: &Contact) -> Self {
        ContactReport {
            id: c.id.to_string(),
            name: c.name.clone(),
            verified: c.verified,
            blocked: c.blocked,
            added_at: c.added_at,
            action: "",
        }
    }
}

impl ContactReport {
    fn line(&self) -> String {
        let mut flags = Vec::new();
        if self.verified {
            flags.push("verified");
        }
        if self.blocked {
            flags.push("BLOCKED");
        }
        format!(
            "{:<20} {} {}",
            self.name
                .as_deref()
                .map(printable)
                .unwrap_or_else(|| "-".into()),
            self.id,
            flags.join(" ")
        )
        .trim_end()
        .to_owned()
    }
}

impl Report for ContactReport {
    fn human(&self) -> String {
        format!("{}: {}", self.action, self.line())
    }
}

/// `contact list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContactListReport {
    /// Named contacts by name, then blocked strangers.
    pub contacts: Vec<ContactReport>,
}

impl Report for ContactListReport {
    fn human(&self) -> String {
        if self.contacts.is_empty() {
            return "no contacts".into();
        }
        self.contacts
            .iter()
            .map(ContactReport::line)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `verify NAME|ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// This identity.
    pub id: String,
    /// The peer.
    pub peer: String,
    /// The peer's contact name, or null.
    pub contact: Option<String>,
    /// 60 digits in 12 groups of 5, the same on both sides.
    pub safety_number: String,
    /// What the QR code holds.
    pub qr_payload: String,
    /// Whether the peer is already marked verified.
    pub verified: bool,
    /// The QR code drawn for a terminal (not in the JSON).
    #[serde(skip)]
    pub qr: Option<String>,
}

impl Report for VerifyReport {
    fn human(&self) -> String {
        let who = match &self.contact {
            Some(n) => format!("{} ({})", printable(n), self.peer),
            None => self.peer.clone(),
        };
        let groups: Vec<&str> = self.safety_number.split(' ').collect();
        let rows: Vec<String> = groups.chunks(4).map(|c| c.join(" ")).collect();
        format!(
            "Safety number with {who}:\n\n    {}\n\n{}Compare it with what `chainmail verify` shows on {}'s side \
             (in person, or over a channel you trust), or scan the code.\n\
             If they match, run `chainmail contact verify {}`. A key never changes under an ID \
             (the ID is the key's hash), so a number once compared stays valid.{}",
            rows.join("\n    "),
            self.qr
                .as_deref()
                .map(|q| format!("{q}\n"))
                .unwrap_or_default(),
            self.contact
                .as_deref()
                .map(printable)
                .unwrap_or_else(|| "the other".into()),
            self.contact
                .as_deref()
                .map(printable)
                .unwrap_or_else(|| self.peer.clone()),
            if self.verified {
                "\nAlready marked verified."
            } else {
                ""
            }
        )
    }
}
