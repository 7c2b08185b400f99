//! The other crates' errors as the user sees them: for each error enum the
//! cli reports, an explicit table from variant to `kind` (the stable name of
//! a `--json` error), hint (what to do) and exit code. Nested errors take
//! their inner error's kind (`NodeError::Store(StoreError::Busy)` is `Busy`).
//!
//! Every `match` here names each variant. The enums of the other crates are
//! `#[non_exhaustive]`, so a wildcard arm must stay, but
//! `clippy::wildcard_enum_match_arm` (denied below) fires as soon as that
//! arm covers a named variant: a new variant forces a decision here.

#![deny(clippy::wildcard_enum_match_arm)]

use std::borrow::Cow;
use std::fmt;

use chainmail_chain::{ChainError, ContractError};
use chainmail_core::AddressParseError;
use chainmail_node::NodeError;
use chainmail_node::archive::ArchiveError;
use chainmail_node::config::ConfigError;
use chainmail_node::contacts::NameError;
use chainmail_node::handshake::SessionError;
use chainmail_node::home::HomeError;
use chainmail_node::keystore::KeystoreError;
use chainmail_node::store::StoreError;

use super::{Failure, exit};
use crate::duration::DurationError;

/// An error with a stable kind, a hint and an exit code.
pub trait Kind: fmt::Display {
    /// The stable name (`AlreadyRegistered`, `Busy`…).
    fn kind(&self) -> &'static str;
    /// What to do about it (empty when the message already says).
    fn hint(&self) -> Cow<'static, str>;
    /// The exit code: [`exit::ERROR`] unless the command line was wrong.
    fn code(&self) -> u8 {
        exit::ERROR
    }
    /// The message shown (the error's `Display` unless it needs context).
    fn message(&self) -> String {
        self.to_string()
    }
}

impl<E: Kind> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::of(&e)
    }
}

impl Failure {
    /// The failure that reports `e`.
    pub fn of<E: Kind + ?Sized>(e: &E) -> Self {
        Failure {
            kind: e.kind().to_owned(),
            message: e.message(),
            hint: e.hint().into_owned(),
            code: e.code(),
        }
    }
}

const RETRY: &str = "retry; run with -v for details";

impl Kind for ContractError {
    fn kind(&self) -> &'static str {
        match self {
            ContractError::AlreadyRegistered(_) => "AlreadyRegistered",
            ContractError::UnknownIdentity(_) => "UnknownIdentity",
            ContractError::IdentityRevoked(_) => "IdentityRevoked",
            ContractError::IdentityExpired(_) => "IdentityExpired",
            ContractError::StaleTimestamp { .. } => "StaleTimestamp",
            ContractError::BadSignature => "BadSignature",
            ContractError::InvalidPublicKey => "InvalidPublicKey",
            ContractError::InvalidLifetime { .. } => "InvalidLifetime",
            ContractError::StaleRenewal { .. } => "StaleRenewal",
            ContractError::StaleSequence { .. } => "StaleSequence",
            ContractError::FutureSequence { .. } => "FutureSequence",
            ContractError::EndpointTooLong { .. } => "EndpointTooLong",
            ContractError::Unknown { .. } => "UnknownRevert",
            _ => "ContractError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ContractError::AlreadyRegistered(_) => {
                "an ID can be registered only once (§4.1.2 step 3b); `chainmail renew` extends it"
            }
            ContractError::UnknownIdentity(_) => "register it first (`chainmail register`)",
            ContractError::IdentityRevoked(_) => {
                "a revoked ID is final; create a new identity in another --home"
            }
            ContractError::IdentityExpired(_) => "renew it (`chainmail renew`)",
            ContractError::InvalidLifetime { .. } => "choose a shorter --valid-for",
            ContractError::FutureSequence { .. } => {
                "the sequence is this machine's clock in ms: set the clock right, then run `chainmail endpoint` again"
            }
            ContractError::StaleTimestamp { .. }
            | ContractError::BadSignature
            | ContractError::InvalidPublicKey
            | ContractError::StaleRenewal { .. }
            | ContractError::StaleSequence { .. }
            | ContractError::EndpointTooLong { .. }
            | ContractError::Unknown { .. } => "",
            _ => "",
        })
    }
}

impl Kind for ChainError {
    fn kind(&self) -> &'static str {
        match self {
            ChainError::Contract(c) => c.kind(),
            ChainError::Unreachable { .. } => "Unreachable",
            ChainError::InsufficientFunds { .. } => "InsufficientFunds",
            ChainError::Reverted { .. } => "Reverted",
            ChainError::Dropped { .. } => "Dropped",
            ChainError::WrongChainId { .. } => "WrongChainId",
            ChainError::NoContract(_) => "NoContract",
            ChainError::WrongContract(_) => "WrongContract",
            ChainError::ProofMismatch { .. } => "ProofMismatch",
            ChainError::NoPayer => "NoPayer",
            ChainError::Corrupt { .. } => "ChainCorrupt",
            ChainError::Storage(_) => "ChainStorage",
            ChainError::InvalidData(_) => "InvalidData",
            ChainError::InvalidArgument(_) => "InvalidArgument",
            ChainError::Rpc(_) => "Rpc",
            _ => "ChainError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ChainError::Contract(c) => return c.hint(),
            ChainError::InvalidArgument(_) => "see `chainmail --help`",
            ChainError::Unreachable { .. } => {
                "check --chain / CHAINMAIL_CHAIN and that the node runs"
            }
            ChainError::NoContract(_) => "check --registry / CHAINMAIL_REGISTRY",
            ChainError::WrongChainId { .. } => "check --chain and --registry name the same network",
            ChainError::InsufficientFunds { .. } | ChainError::NoPayer => {
                "set CHAINMAIL_PAYER_KEY to a funded key"
            }
            ChainError::Corrupt { .. } => "pick another file with --chain embedded:PATH",
            ChainError::Dropped { .. } | ChainError::Reverted { .. } => {
                "retry; `chainmail lookup` shows what the chain holds"
            }
            ChainError::WrongContract(_)
            | ChainError::ProofMismatch { .. }
            | ChainError::Storage(_)
            | ChainError::InvalidData(_)
            | ChainError::Rpc(_) => RETRY,
            _ => RETRY,
        })
    }

    fn code(&self) -> u8 {
        match self {
            ChainError::InvalidArgument(_) => exit::USAGE,
            ChainError::Contract(_)
            | ChainError::Unreachable { .. }
            | ChainError::InsufficientFunds { .. }
            | ChainError::Reverted { .. }
            | ChainError::Dropped { .. }
            | ChainError::WrongChainId { .. }
            | ChainError::NoContract(_)
            | ChainError::WrongContract(_)
            | ChainError::ProofMismatch { .. }
            | ChainError::NoPayer
            | ChainError::Corrupt { .. }
            | ChainError::Storage(_)
            | ChainError::InvalidData(_)
            | ChainError::Rpc(_) => exit::ERROR,
            _ => exit::ERROR,
        }
    }
}

impl Kind for StoreError {
    fn kind(&self) -> &'static str {
        match self {
            StoreError::Busy => "Busy",
            StoreError::TooNew { .. } => "TooNew",
            StoreError::Corrupt(_) => "Corrupt",
            StoreError::Invalid(_) => "Invalid",
            StoreError::DuplicateId => "DuplicateId",
            StoreError::Create(_) => "Create",
            StoreError::Sqlite(_) => "Sqlite",
            StoreError::Sealed(_) => "Sealed",
            _ => "StoreError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            StoreError::Busy => "another chainmail process holds the store; retry",
            StoreError::TooNew { .. } => "upgrade chainmail",
            StoreError::Corrupt(_) => "restore the store from an export",
            StoreError::Invalid(_) | StoreError::Create(_) => "",
            StoreError::DuplicateId => "retry",
            StoreError::Sqlite(_) => RETRY,
            StoreError::Sealed(_) => "check --home: the store belongs to this identity",
            _ => RETRY,
        })
    }

    fn message(&self) -> String {
        format!("message store: {self}")
    }
}

impl Kind for NodeError {
    fn kind(&self) -> &'static str {
        match self {
            NodeError::Store(s) => s.kind(),
            NodeError::Chain(c) => c.kind(),
            NodeError::BodyTooLarge { .. } => "BodyTooLarge",
            NodeError::SendToSelf => "SendToSelf",
            NodeError::QueuedMessageMissing(_) => "QueuedMessageMissing",
            NodeError::Io(_) => "Io",
            NodeError::Rng(_) => "Rng",
            NodeError::Task(_) => "Task",
            _ => "NodeError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            NodeError::Store(s) => return s.hint(),
            NodeError::Chain(c) => return c.hint(),
            NodeError::SendToSelf => "send to another ID",
            NodeError::BodyTooLarge { .. } => "send a shorter text",
            NodeError::QueuedMessageMissing(_)
            | NodeError::Io(_)
            | NodeError::Rng(_)
            | NodeError::Task(_) => RETRY,
            _ => RETRY,
        })
    }

    fn code(&self) -> u8 {
        match self {
            NodeError::Store(s) => s.code(),
            NodeError::Chain(c) => c.code(),
            NodeError::SendToSelf | NodeError::BodyTooLarge { .. } => exit::USAGE,
            NodeError::QueuedMessageMissing(_)
            | NodeError::Io(_)
            | NodeError::Rng(_)
            | NodeError::Task(_) => exit::ERROR,
            _ => exit::ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            NodeError::Store(s) => s.message(),
            NodeError::Chain(_)
            | NodeError::BodyTooLarge { .. }
            | NodeError::SendToSelf
            | NodeError::QueuedMessageMissing(_)
            | NodeError::Io(_)
            | NodeError::Rng(_)
            | NodeError::Task(_) => self.to_string(),
            _ => self.to_string(),
        }
    }
}

impl Kind for KeystoreError {
    fn kind(&self) -> &'static str {
        match self {
            KeystoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "KeystoreNotFound"
            }
            KeystoreError::Io { .. } => "Io",
            KeystoreError::AlreadyExists(_) => "AlreadyExists",
            KeystoreError::TooLarge => "TooLarge",
            KeystoreError::Malformed(_) => "Malformed",
            KeystoreError::UnsupportedVersion(_) => "UnsupportedVersion",
            KeystoreError::UnsupportedCipher(_) => "UnsupportedCipher",
            KeystoreError::UnsupportedKdf(_) => "UnsupportedKdf",
            KeystoreError::KdfParamOutOfBounds { .. } => "KdfParamOutOfBounds",
            KeystoreError::WrongPassword => "WrongPassword",
            KeystoreError::InvalidKey => "InvalidKey",
            KeystoreError::AddressMismatch { .. } => "AddressMismatch",
            KeystoreError::Rng(_) => "Rng",
            _ => "KeystoreError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            KeystoreError::WrongPassword => "check CHAINMAIL_PASSWORD or retype the password",
            KeystoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "check the path"
            }
            KeystoreError::AlreadyExists(_) => {
                "use another --home, or move the keystore away first"
            }
            KeystoreError::Io { .. }
            | KeystoreError::TooLarge
            | KeystoreError::Malformed(_)
            | KeystoreError::UnsupportedVersion(_)
            | KeystoreError::UnsupportedCipher(_)
            | KeystoreError::UnsupportedKdf(_)
            | KeystoreError::KdfParamOutOfBounds { .. }
            | KeystoreError::InvalidKey
            | KeystoreError::AddressMismatch { .. }
            | KeystoreError::Rng(_) => "check that the file is a Web3 Secret Storage (v3) keystore",
            _ => "check that the file is a Web3 Secret Storage (v3) keystore",
        })
    }

    fn message(&self) -> String {
        match self {
            KeystoreError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                format!("no keystore at {}", path.display())
            }
            KeystoreError::Io { .. }
            | KeystoreError::AlreadyExists(_)
            | KeystoreError::TooLarge
            | KeystoreError::Malformed(_)
            | KeystoreError::UnsupportedVersion(_)
            | KeystoreError::UnsupportedCipher(_)
            | KeystoreError::UnsupportedKdf(_)
            | KeystoreError::KdfParamOutOfBounds { .. }
            | KeystoreError::WrongPassword
            | KeystoreError::InvalidKey
            | KeystoreError::AddressMismatch { .. }
            | KeystoreError::Rng(_) => self.to_string(),
            _ => self.to_string(),
        }
    }
}

impl Kind for ArchiveError {
    fn kind(&self) -> &'static str {
        match self {
            ArchiveError::Io { .. } => "Io",
            ArchiveError::NotAnArchive
            | ArchiveError::TooLarge
            | ArchiveError::Truncated
            | ArchiveError::KeystoreTooLarge
            | ArchiveError::TruncatedKeystore
            | ArchiveError::TruncatedStore
            | ArchiveError::Undecryptable => "BadArchive",
            ArchiveError::Keystore(k) => k.kind(),
            ArchiveError::KeystoreTooLargeToSeal => "KeystoreTooLarge",
            ArchiveError::Rng(_) => "Rng",
            ArchiveError::Encrypt => "Encrypt",
            _ => "BadArchive",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        const UNMODIFIED: &str =
            "pass the file `chainmail export --with-messages` wrote, unmodified";
        Cow::Borrowed(match self {
            ArchiveError::Io { .. } => "check the path and permissions",
            ArchiveError::Keystore(k @ KeystoreError::WrongPassword) => return k.hint(),
            ArchiveError::NotAnArchive
            | ArchiveError::TooLarge
            | ArchiveError::Truncated
            | ArchiveError::KeystoreTooLarge
            | ArchiveError::TruncatedKeystore
            | ArchiveError::TruncatedStore
            | ArchiveError::Undecryptable
            | ArchiveError::Keystore(_) => UNMODIFIED,
            ArchiveError::KeystoreTooLargeToSeal | ArchiveError::Encrypt => RETRY,
            ArchiveError::Rng(_) => "",
            _ => UNMODIFIED,
        })
    }
}

impl Kind for HomeError {
    fn kind(&self) -> &'static str {
        match self {
            HomeError::NoDefault => "NoDefault",
            HomeError::Io { .. } => "Io",
            HomeError::NotADirectory(_) => "NotADirectory",
            _ => "HomeError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            HomeError::NoDefault => "pass --home DIR or set CHAINMAIL_HOME",
            HomeError::Io { .. } | HomeError::NotADirectory(_) => "choose a writable --home",
            _ => "choose a writable --home",
        })
    }
}

impl Kind for ConfigError {
    fn kind(&self) -> &'static str {
        match self {
            ConfigError::Io { .. } | ConfigError::TooLarge(_) | ConfigError::Invalid { .. } => {
                "BadConfig"
            }
            _ => "BadConfig",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        match self {
            ConfigError::Io { path, .. }
            | ConfigError::TooLarge(path)
            | ConfigError::Invalid { path, .. } => {
                Cow::Owned(format!("fix or remove {}", path.display()))
            }
            _ => Cow::Borrowed("fix or remove config.toml"),
        }
    }
}

impl Kind for AddressParseError {
    fn kind(&self) -> &'static str {
        match self {
            AddressParseError::MissingPrefix => "MissingPrefix",
            AddressParseError::WrongLength { .. } => "WrongLength",
            AddressParseError::InvalidHex => "InvalidHex",
            AddressParseError::BadChecksum => "BadChecksum",
            _ => "BadAddress",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed("write the ID as 0x and 40 hex digits (EIP-55, or all lower case)")
    }

    fn code(&self) -> u8 {
        exit::USAGE
    }
}

impl Kind for NameError {
    fn kind(&self) -> &'static str {
        match self {
            NameError::Empty => "BadContactNameEmpty",
            NameError::TooLong => "BadContactNameTooLong",
            NameError::Control => "BadContactNameControl",
            NameError::LooksLikeId => "BadContactNameLooksLikeId",
            _ => "BadContactName",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        Cow::Borrowed("pick another contact name")
    }

    fn code(&self) -> u8 {
        exit::USAGE
    }
}

impl Kind for DurationError {
    fn kind(&self) -> &'static str {
        DurationError::kind(self)
    }

    fn hint(&self) -> Cow<'static, str> {
        // The messages already end in what to do.
        Cow::Borrowed("")
    }

    fn code(&self) -> u8 {
        exit::USAGE
    }
}

/// The node's handshake errors (the demo names its refusals by them).
impl Kind for SessionError {
    fn kind(&self) -> &'static str {
        match self {
            SessionError::Timeout => "Timeout",
            SessionError::Transport(_) => "Transport",
            SessionError::Handshake(_) => "Handshake",
            SessionError::PeerNotValid { .. } => "PeerNotValid",
            SessionError::SelfNotValid { .. } => "SelfNotValid",
            SessionError::Replay(_) => "Replay",
            SessionError::NotConfirmed => "NotConfirmed",
            SessionError::Chain(c) => c.kind(),
            SessionError::RefusedOnChain { .. } => "RefusedOnChain",
            SessionError::Node(n) => n.kind(),
            SessionError::NotAdmitted(_) => "NotAdmitted",
            SessionError::Refused => "Refused",
            _ => "SessionError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        match self {
            SessionError::Chain(c) => c.hint(),
            SessionError::Node(n) => n.hint(),
            SessionError::Timeout
            | SessionError::Transport(_)
            | SessionError::Handshake(_)
            | SessionError::PeerNotValid { .. }
            | SessionError::SelfNotValid { .. }
            | SessionError::Replay(_)
            | SessionError::NotConfirmed
            | SessionError::RefusedOnChain { .. }
            | SessionError::NotAdmitted(_)
            | SessionError::Refused => Cow::Borrowed(RETRY),
            _ => Cow::Borrowed(RETRY),
        }
    }
}

/// The kind of a clap error that is not about one value (those carry the
/// value's own error: [`AddressParseError`], [`DurationError`]…).
pub fn clap_kind(kind: clap::error::ErrorKind) -> &'static str {
    use clap::error::ErrorKind as K;
    match kind {
        K::InvalidValue => "InvalidValue",
        K::UnknownArgument => "UnknownArgument",
        K::InvalidSubcommand => "InvalidSubcommand",
        K::NoEquals => "NoEquals",
        K::ValueValidation => "ValueValidation",
        K::TooManyValues => "TooManyValues",
        K::TooFewValues => "TooFewValues",
        K::WrongNumberOfValues => "WrongNumberOfValues",
        K::ArgumentConflict => "ArgumentConflict",
        K::MissingRequiredArgument => "MissingRequiredArgument",
        K::MissingSubcommand => "MissingSubcommand",
        K::InvalidUtf8 => "InvalidUtf8",
        K::DisplayHelp => "DisplayHelp",
        K::DisplayHelpOnMissingArgumentOrSubcommand => "DisplayHelpOnMissingArgumentOrSubcommand",
        K::DisplayVersion => "DisplayVersion",
        K::Io => "Io",
        K::Format => "Format",
        _ => "UsageError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
