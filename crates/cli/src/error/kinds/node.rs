//! The node crate's errors: the message store, the node, the keystore, the
//! export archive, the home, `config.toml`, contact names and handshakes.

use std::borrow::Cow;

use chainmail_node::NodeError;
use chainmail_node::archive::ArchiveError;
use chainmail_node::config::ConfigError;
use chainmail_node::contacts::NameError;
use chainmail_node::handshake::SessionError;
use chainmail_node::home::HomeError;
use chainmail_node::keystore::KeystoreError;
use chainmail_node::store::{EventsError, StoreError};

use super::{Kind, RETRY};
use crate::error::exit;

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
            SessionError::LookupBudget(_) => "LookupBudget",
            SessionError::KeyMismatch(_) => "KeyMismatch",
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
            | SessionError::Refused
            | SessionError::LookupBudget(_)
            | SessionError::KeyMismatch(_) => Cow::Borrowed(RETRY),
            _ => Cow::Borrowed(RETRY),
        }
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

impl Kind for EventsError {
    fn kind(&self) -> &'static str {
        match self {
            EventsError::CursorExpired { .. } => "CursorExpired",
            EventsError::Store(e) => e.kind(),
            _ => "StoreError",
        }
    }

    fn hint(&self) -> Cow<'static, str> {
        match self {
            EventsError::CursorExpired { .. } => Cow::Borrowed(
                "subscribe without a cursor (new events only) and re-read `inbox` and `outbox` to catch up",
            ),
            EventsError::Store(e) => e.hint(),
            _ => Cow::Borrowed(RETRY),
        }
    }

    fn message(&self) -> String {
        match self {
            EventsError::Store(e) => e.message(),
            e @ EventsError::CursorExpired { .. } | e => e.to_string(),
        }
    }
}
