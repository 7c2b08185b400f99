//! `contact add|list|remove|verify|block|unblock` and `verify`: local names
//! for IDs (never on chain), the out-of-band check of a peer's key (safety
//! number and QR code), and blocking. Contacts live in the sealed store, so
//! every command here unlocks the identity.

use chainmail_core::Address;
use chainmail_node::contacts::Contact;
use chainmail_node::store::Store;
use serde::Serialize;

use crate::commands::chain::open_registry;
use crate::commands::identity::unlock;
use crate::commands::messaging::open_store;
use crate::commands::runtime;
use crate::error::{Failure, exit};
use crate::output::{self, Report, printable};
use crate::peer::{self, Peer};
use crate::safety;
use crate::settings::Settings;

/// One contact as printed.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

fn open(settings: &Settings) -> Result<Store, Failure> {
    let secret = unlock(settings)?;
    open_store(settings, &secret)
}

fn print(c: &Contact, action: &'static str, json: bool) {
    let mut r = ContactReport::from(c);
    r.action = action;
    output::print(&r, json);
}

/// The record of `peer`: an existing one, or (for an ID) a fresh one.
fn existing(store: &Store, peer: &Peer) -> Result<Option<Contact>, Failure> {
    let id = peer.resolve(store)?;
    store.contact(&id).map_err(Failure::from)
}

fn put(store: &Store, c: &Contact) -> Result<(), Failure> {
    store.put_contact(c).map_err(|e| match e {
        chainmail_node::store::StoreError::Invalid(what) if what.contains("already used") => {
            Failure::new(
                "NameTaken",
                "another contact already has this name",
                "pick another name, or `chainmail contact remove` the other one",
            )
        }
        e => Failure::from(e),
    })
}

/// The stored record of `id`, or a fresh one (no name, not verified, not
/// blocked, added now) for the caller to fill in and `put`.
fn contact_or_new(store: &Store, id: Address) -> Result<Contact, Failure> {
    Ok(store
        .contact(&id)
        ?
        .unwrap_or(Contact {
            id,
            name: None,
            verified: false,
            blocked: false,
            added_at: crate::commands::registry::unix_now(),
        }))
}

/// `contact add NAME ID`: names (or renames) an ID.
pub fn add(settings: &Settings, name: &str, id: Address) -> Result<u8, Failure> {
    let store = open(settings)?;
    let mut c = contact_or_new(&store, id)?;
    c.name = Some(name.to_owned());
    put(&store, &c)?;
    print(&c, "added", settings.json);
    Ok(exit::OK)
}

/// `contact list`.
pub fn list(settings: &Settings) -> Result<u8, Failure> {
    let store = open(settings)?;
    let contacts = store.contacts()?;
    output::print(
        &ContactListReport {
            contacts: contacts.iter().map(ContactReport::from).collect(),
        },
        settings.json,
    );
    Ok(exit::OK)
}

/// `contact remove NAME|ID`: forgets the name, the verified mark and any block.
pub fn remove(settings: &Settings, peer: &Peer) -> Result<u8, Failure> {
    let store = open(settings)?;
    let c = existing(&store, peer)?.ok_or_else(|| not_a_contact(peer))?;
    store.remove_contact(&c.id)?;
    print(&c, "removed", settings.json);
    Ok(exit::OK)
}

/// `contact verify NAME|ID`: marks a contact verified.
pub fn mark_verified(settings: &Settings, peer: &Peer) -> Result<u8, Failure> {
    let store = open(settings)?;
    let mut c = existing(&store, peer)?
        .filter(|c| c.name.is_some())
        .ok_or_else(|| not_a_contact(peer))?;
    c.verified = true;
    put(&store, &c)?;
    print(&c, "verified", settings.json);
    Ok(exit::OK)
}

/// `contact block|unblock NAME|ID`.
pub fn set_blocked(settings: &Settings, peer: &Peer, blocked: bool) -> Result<u8, Failure> {
    let store = open(settings)?;
    let id = peer.resolve(&store)?;
    let mut c = contact_or_new(&store, id)?;
    c.blocked = blocked;
    if !blocked && c.name.is_none() {
        // A stranger that is no longer blocked needs no record at all.
        store.remove_contact(&id)?;
    } else {
        put(&store, &c)?;
    }
    print(
        &c,
        if blocked { "blocked" } else { "unblocked" },
        settings.json,
    );
    Ok(exit::OK)
}

fn not_a_contact(peer: &Peer) -> Failure {
    match peer {
        Peer::Name(n) => peer::unknown(n),
        Peer::Id(id) => Failure::new(
            "UnknownContact",
            format!("{id} is not a contact"),
            "add it first: `chainmail contact add NAME ID`",
        ),
    }
}

/// `verify NAME|ID`.
#[derive(Debug, Clone, Serialize)]
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
    #[serde(skip)]
    qr: Option<String>,
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

/// `verify NAME|ID [--no-qr]`: the safety number of this identity and the
/// peer, whose key comes from the chain (and hashes to its ID).
pub fn verify(settings: &Settings, peer: &Peer, qr: bool) -> Result<u8, Failure> {
    let secret = unlock(settings)?;
    let store = open_store(settings, &secret)?;
    let id = peer.resolve(&store)?;
    let contact = store.contact(&id)?;
    let rt = runtime()?;
    let key = rt.block_on(async {
        let registry = open_registry(settings, None).await?;
        registry.public_key(id).await.map_err(Failure::from)
    })?;
    let key = key.filter(|k| k.address() == id).ok_or_else(|| {
        Failure::new(
            "UnknownIdentity",
            format!("{id} is not registered on this chain: no key to compare"),
            "check the ID (`chainmail lookup ID`) and --chain",
        )
    })?;
    let own = secret.public_key();
    let payload = safety::qr_payload(&own, &key);
    output::print(
        &VerifyReport {
            id: own.address().to_string(),
            peer: id.to_string(),
            contact: contact.as_ref().and_then(|c| c.name.clone()),
            safety_number: safety::grouped(&safety::digits(&own, &key)),
            verified: contact.as_ref().is_some_and(|c| c.verified),
            qr: if qr && !settings.json {
                safety::qr_text(&payload)
            } else {
                None
            },
            qr_payload: payload,
        },
        settings.json,
    );
    Ok(exit::OK)
}
