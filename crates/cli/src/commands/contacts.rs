//! `contact add|list|remove|verify|block|unblock` and `verify`: local names
//! for IDs (never on chain), the out-of-band check of a peer's key (safety
//! number and QR code), and blocking. Contacts live in the sealed store, so
//! every command here unlocks the identity.

use chainmail_core::Address;
use chainmail_node::contacts::Contact;
use chainmail_node::store::Store;

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, ContactListReport, ContactReport, VerifyReport};
use crate::peer::{self, Peer};
use crate::safety;

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
    Ok(store.contact(&id)?.unwrap_or(Contact {
        id,
        name: None,
        verified: false,
        blocked: false,
        added_at: crate::clock::unix_now(),
    }))
}

/// `contact add NAME ID`: names (or renames) an ID.
pub fn add(ctx: &Context, name: &str, id: Address) -> Result<u8, Failure> {
    let store = ctx.store()?;
    let mut c = contact_or_new(store, id)?;
    c.name = Some(name.to_owned());
    put(store, &c)?;
    print(&c, "added", ctx.json());
    Ok(exit::OK)
}

/// `contact list`.
pub fn list(ctx: &Context) -> Result<u8, Failure> {
    let store = ctx.store()?;
    let contacts = store.contacts()?;
    output::print(
        &ContactListReport {
            contacts: contacts.iter().map(ContactReport::from).collect(),
        },
        ctx.json(),
    );
    Ok(exit::OK)
}

/// `contact remove NAME|ID`: forgets the name, the verified mark and any block.
pub fn remove(ctx: &Context, peer: &Peer) -> Result<u8, Failure> {
    let store = ctx.store()?;
    let c = existing(store, peer)?.ok_or_else(|| not_a_contact(peer))?;
    store.remove_contact(&c.id)?;
    print(&c, "removed", ctx.json());
    Ok(exit::OK)
}

/// `contact verify NAME|ID`: marks a contact verified.
pub fn mark_verified(ctx: &Context, peer: &Peer) -> Result<u8, Failure> {
    let store = ctx.store()?;
    let mut c = existing(store, peer)?
        .filter(|c| c.name.is_some())
        .ok_or_else(|| not_a_contact(peer))?;
    c.verified = true;
    put(store, &c)?;
    print(&c, "verified", ctx.json());
    Ok(exit::OK)
}

/// `contact block|unblock NAME|ID`.
pub fn set_blocked(ctx: &Context, peer: &Peer, blocked: bool) -> Result<u8, Failure> {
    let store = ctx.store()?;
    let id = peer.resolve(store)?;
    let mut c = contact_or_new(store, id)?;
    c.blocked = blocked;
    if !blocked && c.name.is_none() {
        // A stranger that is no longer blocked needs no record at all.
        store.remove_contact(&id)?;
    } else {
        put(store, &c)?;
    }
    print(
        &c,
        if blocked { "blocked" } else { "unblocked" },
        ctx.json(),
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

/// `verify NAME|ID [--no-qr]`: the safety number of this identity and the
/// peer, whose key comes from the chain (and hashes to its ID).
pub fn verify(ctx: &Context, peer: &Peer, qr: bool) -> Result<u8, Failure> {
    let secret = ctx.identity()?;
    let store = ctx.store()?;
    let id = peer.resolve(store)?;
    let contact = store.contact(&id)?;
    let key = ctx.block_on(async {
        let registry = ctx.registry().await?;
        Ok(registry.public_key(id).await?)
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
            qr: if qr && !ctx.json() {
                safety::qr_text(&payload)
            } else {
                None
            },
            qr_payload: payload,
        },
        ctx.json(),
    );
    Ok(exit::OK)
}
