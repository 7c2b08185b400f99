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

use super::{Failure, exit};

mod node;
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

/// The hint of a failure that may pass.
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
            ChainError::FeeTooHigh { .. } => "FeeTooHigh",
            ChainError::ChainMismatch { .. } => "ChainMismatch",
            ChainError::NoDeployer { .. } => "NoDeployer",
            ChainError::StaleChainView { .. } => "StaleChainView",
            ChainError::ClockSkew { .. } => "ClockSkew",
            ChainError::QuorumFailed { .. } => "QuorumFailed",
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
            ChainError::FeeTooHigh { .. } => {
                "if the network really costs that much, raise --max-fee GWEI (or max_fee_gwei / gas_limit in config.toml); else use another RPC provider"
            }
            // The messages say what to do.
            ChainError::ChainMismatch { .. }
            | ChainError::NoDeployer { .. }
            | ChainError::StaleChainView { .. }
            | ChainError::ClockSkew { .. }
            | ChainError::QuorumFailed { .. } => "",
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
            | ChainError::Rpc(_)
            | ChainError::FeeTooHigh { .. }
            | ChainError::ChainMismatch { .. }
            | ChainError::NoDeployer { .. }
            | ChainError::StaleChainView { .. }
            | ChainError::ClockSkew { .. }
            | ChainError::QuorumFailed { .. } => exit::ERROR,
            _ => exit::ERROR,
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
mod tests;
