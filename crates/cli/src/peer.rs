//! Where a command takes an ID it also takes a contact name (`send alice
//! "hi"`). Text starting with `0x` or made of 40 hex digits is read as an ID
//! (strictly, so a typo is reported as a bad ID); anything else is a name,
//! looked up in this identity's (sealed) contact list.

use chainmail_core::{Address, AddressParseError};
use chainmail_node::contacts::{self, NameError};
use chainmail_node::store::Store;

use crate::error::Failure;

/// An ID or a contact name, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An ID.
    Id(Address),
    /// A contact name, to be looked up.
    Name(String),
}

/// Whether `text` is shaped like an ID (and so must parse as one).
pub fn looks_like_id(text: &str) -> bool {
    text.starts_with("0x")
        || text.starts_with("0X")
        || (text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()))
}

/// clap's parser: an ID (strict EIP-55) or a well-formed name. The error is
/// the address's or the name's own, so the usage error names it
/// (`BadChecksum`, `LooksLikeId`…).
pub fn parse(text: &str) -> Result<Peer, Box<dyn std::error::Error + Send + Sync>> {
    if looks_like_id(text) {
        return text
            .parse::<Address>()
            .map(Peer::Id)
            .map_err(|e: AddressParseError| Box::new(e) as _);
    }
    contacts::check_name(text)
        .map(|()| Peer::Name(text.to_owned()))
        .map_err(|e: NameError| Box::new(e) as _)
}

impl Peer {
    /// As typed: the ID (EIP-55) or the name (what the daemon API takes).
    pub fn text(&self) -> String {
        match self {
            Peer::Id(a) => a.to_string(),
            Peer::Name(n) => n.clone(),
        }
    }

    /// The ID: itself, or the contact's.
    pub fn resolve(&self, store: &Store) -> Result<Address, Failure> {
        match self {
            Peer::Id(a) => Ok(*a),
            Peer::Name(name) => store
                .contact_named(name)
                .map_err(Failure::from)?
                .map(|c| c.id)
                .ok_or_else(|| unknown(name)),
        }
    }
}

/// No contact of that name.
pub fn unknown(name: &str) -> Failure {
    Failure::new(
        "UnknownContact",
        format!(
            "no contact named `{}`",
            crate::output::printable(name).replace('\n', " ")
        ),
        "`chainmail contact list` shows them; `chainmail contact add NAME ID` adds one",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let id = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
        assert_eq!(parse(id).unwrap(), Peer::Id(id.parse().unwrap()));
        assert_eq!(parse("alice").unwrap(), Peer::Name("alice".into()));
        assert!(parse("0x1234").unwrap_err().is::<AddressParseError>());
        assert!(parse(&id[2..]).unwrap_err().is::<AddressParseError>());
        assert!(parse("").unwrap_err().is::<NameError>());
        assert!(parse("a\u{1b}b").unwrap_err().is::<NameError>());
    }
}
