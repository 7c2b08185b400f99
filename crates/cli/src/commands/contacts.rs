//! `contact add|list|remove|verify|block|unblock` and `verify`: local names
//! for IDs (never on chain), the out-of-band check of a peer's key (safety
//! number and QR code), and blocking. Contacts live in the sealed store, so
//! every command here unlocks the identity.

use chainmail_chain::Registry;
use chainmail_core::{Address, PublicKey};
use chainmail_node::contacts::Contact;
use chainmail_node::store::Store;
use serde_json::json;

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, ContactListReport, ContactReport, VerifyReport};
use crate::peer::{self, Peer};
use crate::safety;

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
    Ok(store.contact(&id)?.unwrap_or(Contact {
        id,
        name: None,
        verified: false,
        blocked: false,
        added_at: crate::clock::unix_now(),
    }))
}

/// A contact command's change, on a store (the CLI's and the daemon's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// `contact add NAME ID`: names (or renames) an ID.
    Add(&'a str, Address),
    /// `contact remove NAME|ID`: forgets the name, the mark and any block.
    Remove(&'a Peer),
    /// `contact verify NAME|ID`: marks a contact verified.
    Verify(&'a Peer),
    /// `contact block|unblock NAME|ID`.
    Block(&'a Peer, bool),
}

/// Applies `change` to `store`; the contact as it is now, with the action
/// done (`added`, `removed`, `verified`, `blocked`, `unblocked`).
pub fn apply(store: &Store, change: Change<'_>) -> Result<ContactReport, Failure> {
    let (c, action) = match change {
        Change::Add(name, id) => {
            let mut c = contact_or_new(store, id)?;
            c.name = Some(name.to_owned());
            put(store, &c)?;
            (c, "added")
        }
        Change::Remove(peer) => {
            let c = existing(store, peer)?.ok_or_else(|| not_a_contact(peer))?;
            store.remove_contact(&c.id)?;
            (c, "removed")
        }
        Change::Verify(peer) => {
            let mut c = existing(store, peer)?
                .filter(|c| c.name.is_some())
                .ok_or_else(|| not_a_contact(peer))?;
            c.verified = true;
            put(store, &c)?;
            (c, "verified")
        }
        Change::Block(peer, blocked) => {
            let id = peer.resolve(store)?;
            let mut c = contact_or_new(store, id)?;
            c.blocked = blocked;
            if !blocked && c.name.is_none() {
                // A stranger that is no longer blocked needs no record at all.
                store.remove_contact(&id)?;
            } else {
                put(store, &c)?;
            }
            (c, if blocked { "blocked" } else { "unblocked" })
        }
    };
    let mut r = ContactReport::from(&c);
    r.action = action;
    Ok(r)
}

/// `contact add|remove|verify|block|unblock` (through the daemon if one runs).
pub fn change(ctx: &Context, change: Change<'_>) -> Result<u8, Failure> {
    let report = match crate::daemon::connect(ctx) {
        Some(mut daemon) => {
            let (method, params, action) = match change {
                Change::Add(name, id) => (
                    "contacts.add",
                    json!({ "name": name, "id": id.to_string() }),
                    "added",
                ),
                Change::Remove(p) => ("contacts.remove", json!({ "peer": p.text() }), "removed"),
                Change::Verify(p) => ("contacts.verify", json!({ "peer": p.text() }), "verified"),
                Change::Block(p, true) => {
                    ("contacts.block", json!({ "peer": p.text() }), "blocked")
                }
                Change::Block(p, false) => {
                    ("contacts.unblock", json!({ "peer": p.text() }), "unblocked")
                }
            };
            let mut r: ContactReport = daemon.call(method, params)?;
            r.action = action;
            r
        }
        None => apply(ctx.store()?, change)?,
    };
    output::print(&report, ctx.json());
    Ok(exit::OK)
}

/// `contact list`, as printed.
pub fn list_report(store: &Store) -> Result<ContactListReport, Failure> {
    Ok(ContactListReport {
        contacts: store.contacts()?.iter().map(ContactReport::from).collect(),
    })
}

/// `contact list`.
pub fn list(ctx: &Context) -> Result<u8, Failure> {
    let report: ContactListReport = match crate::daemon::connect(ctx) {
        Some(mut daemon) => daemon.call("contacts.list", json!({}))?,
        None => list_report(ctx.store()?)?,
    };
    output::print(&report, ctx.json());
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

/// The safety number of `own` and `peer`, whose key comes from the chain
/// (and must hash to its ID); `qr` draws the code for a terminal.
pub async fn verify_report(
    own: &PublicKey,
    store: &Store,
    registry: &dyn Registry,
    peer: &Peer,
    qr: bool,
) -> Result<VerifyReport, Failure> {
    let id = peer.resolve(store)?;
    let contact = store.contact(&id)?;
    let key = registry.public_key(id).await?;
    let key = key.filter(|k| k.address() == id).ok_or_else(|| {
        Failure::new(
            "UnknownIdentity",
            format!("{id} is not registered on this chain: no key to compare"),
            "check the ID (`chainmail lookup ID`) and --chain",
        )
    })?;
    let payload = safety::qr_payload(own, &key);
    Ok(VerifyReport {
        id: own.address().to_string(),
        peer: id.to_string(),
        contact: contact.as_ref().and_then(|c| c.name.clone()),
        safety_number: safety::grouped(&safety::digits(own, &key)),
        verified: contact.as_ref().is_some_and(|c| c.verified),
        qr: if qr { safety::qr_text(&payload) } else { None },
        qr_payload: payload,
    })
}

/// `verify NAME|ID [--no-qr]`.
pub fn verify(ctx: &Context, peer: &Peer, qr: bool) -> Result<u8, Failure> {
    if let Some(mut daemon) = crate::daemon::connect(ctx) {
        let mut report: VerifyReport =
            daemon.call("safety_number", json!({ "peer": peer.text() }))?;
        if qr && !ctx.json() {
            report.qr = safety::qr_text(&report.qr_payload);
        }
        output::print(&report, ctx.json());
        return Ok(exit::OK);
    }
    let own = ctx.identity()?.public_key();
    let store = ctx.store()?;
    let report = ctx.block_on(async {
        let registry = ctx.registry().await?;
        verify_report(&own, store, &*registry, peer, qr && !ctx.json()).await
    })?;
    output::print(&report, ctx.json());
    Ok(exit::OK)
}
