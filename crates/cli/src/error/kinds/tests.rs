//! The kinds of nested errors, of value errors and of a missing keystore.

use chainmail_chain::{ChainError, ContractError};
use chainmail_core::AddressParseError;
use chainmail_node::NodeError;
use chainmail_node::contacts::NameError;
use chainmail_node::handshake::SessionError;
use chainmail_node::keystore::KeystoreError;
use chainmail_node::store::StoreError;

use super::Kind;
use crate::error::{Failure, exit};

#[test]
fn nested_errors_report_the_inner_kind() {
    let f = Failure::from(NodeError::Store(StoreError::Busy));
    assert_eq!((f.kind.as_str(), f.code), ("Busy", exit::ERROR));
    assert_eq!(f.hint, StoreError::Busy.hint());
    assert!(f.message.starts_with("message store: "), "{}", f.message);
    let f = Failure::from(NodeError::Store(StoreError::DuplicateId));
    assert_eq!(f.kind, "DuplicateId");
    let c = ContractError::AlreadyRegistered(chainmail_core::Address([1; 20]));
    let f = Failure::from(NodeError::Chain(ChainError::Contract(c)));
    assert_eq!(f.kind, "AlreadyRegistered");
    assert!(f.hint.contains("only once"));
    let f = Failure::from(ChainError::InvalidArgument("x".into()));
    assert_eq!((f.kind.as_str(), f.code), ("InvalidArgument", exit::USAGE));
    let f = Failure::from(NodeError::SendToSelf);
    assert_eq!((f.kind.as_str(), f.code), ("SendToSelf", exit::USAGE));
}

#[test]
fn a_busy_store_inside_a_handshake_is_busy() {
    // The demo names refusals by kind; under the Debug parsing this was `Node`.
    let e = SessionError::Node(NodeError::Store(StoreError::Busy));
    assert_eq!(e.kind(), "Busy");
    let c = ContractError::IdentityRevoked(chainmail_core::Address([2; 20]));
    let e = SessionError::Chain(ChainError::Contract(c));
    assert_eq!(e.kind(), "IdentityRevoked");
}

#[test]
fn a_missing_keystore_is_named() {
    let e = KeystoreError::Io {
        path: "/nowhere/keystore.json".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    };
    let f = Failure::from(e);
    assert_eq!(f.kind, "KeystoreNotFound");
    assert_eq!(f.message, "no keystore at /nowhere/keystore.json");
    assert_eq!(
        Failure::from(KeystoreError::WrongPassword).kind,
        "WrongPassword"
    );
}

#[test]
fn value_errors_are_usage_errors() {
    let f = Failure::from(AddressParseError::BadChecksum);
    assert_eq!((f.kind.as_str(), f.code), ("BadChecksum", exit::USAGE));
    let f = Failure::from(NameError::LooksLikeId);
    assert_eq!(f.kind, "BadContactNameLooksLikeId");
}
