//! Reaching the chain from the settings: parsing the chain spec, the registry
//! address and the gas payer key, opening the chain crate's `Registry`, and
//! turning `ChainError`s into failures that say what to do.

use std::path::Path;
use std::sync::Arc;

use chainmail_chain::{ChainError, ChainSpec, ContractError, Registry};
use chainmail_core::{Address, SecretKey};
use zeroize::Zeroizing;

use crate::error::{Failure, variant_name};
use crate::settings::Settings;

/// The chain spec of these settings, parsed (a bad one is a usage error).
pub fn chain_spec(settings: &Settings) -> Result<ChainSpec, Failure> {
    settings.chain.parse::<ChainSpec>().map_err(|e| {
        Failure::usage(
            "UnknownChain",
            e.to_string(),
            "pass --chain embedded, embedded:PATH or http(s)://…, or set CHAINMAIL_CHAIN",
        )
    })
}

/// The registry address of these settings, if any (a bad one is a usage error).
pub fn registry_address(settings: &Settings) -> Result<Option<Address>, Failure> {
    settings
        .registry
        .as_deref()
        .map(|text| {
            text.parse::<Address>().map_err(|e| {
                Failure::usage(
                    "BadRegistryAddress",
                    format!("the registry address is invalid: {e}"),
                    "pass --registry 0x… (as printed by `chainmail deploy`)",
                )
            })
        })
        .transpose()
}

/// The gas payer key: `--payer-key` / `CHAINMAIL_PAYER_KEY` (hex), else the
/// file `payer_key_file` of config.toml names; `None` when neither is set.
pub fn payer_key(settings: &Settings) -> Result<Option<SecretKey>, Failure> {
    let text: Zeroizing<String> = if let Some(hex) = settings.payer_key.as_ref() {
        hex.clone()
    } else if let Some(file) = settings.config.payer_key_file.as_deref() {
        read_key_file(file)?
    } else {
        return Ok(None);
    };
    let bad = || {
        Failure::usage(
            "BadPayerKey",
            "the payer key is not 32 bytes of hex (0x optional)",
            "check --payer-key / CHAINMAIL_PAYER_KEY / payer_key_file",
        )
    };
    let digits = text.trim();
    let digits = digits.strip_prefix("0x").unwrap_or(digits);
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits, bytes.as_mut()).map_err(|_| bad())?;
    SecretKey::from_bytes(&bytes).map(Some).map_err(|_| bad())
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>, Failure> {
    use std::io::Read;
    let fail =
        |what: String| Failure::new("BadPayerKey", what, "check payer_key_file in config.toml");
    let file = std::fs::File::open(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let mut text = Zeroizing::new(String::new());
    // A key file is 64–66 characters and a newline; read a little more to notice junk.
    file.take(256)
        .read_to_string(&mut text)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    Ok(text)
}

/// Opens the registry named by the settings; `payer` pays gas on rpc chains.
pub async fn open_with_payer(
    settings: &Settings,
    payer: Option<&SecretKey>,
) -> Result<Arc<dyn Registry>, Failure> {
    let spec = chain_spec(settings)?;
    let registry = registry_address(settings)?;
    chainmail_chain::open(&spec, registry, payer)
        .await
        .map_err(|e| chain_failure(&e))
}

/// Opens the registry with the configured payer, else `fallback` (the
/// identity key pays its own gas when no payer is configured; the embedded
/// chain needs none).
pub async fn open_registry(
    settings: &Settings,
    fallback: Option<&SecretKey>,
) -> Result<Arc<dyn Registry>, Failure> {
    let payer = payer_key(settings)?;
    open_with_payer(settings, payer.as_ref().or(fallback)).await
}

/// A chain error as the user sees it: the contract's custom error by name
/// (`AlreadyRegistered`…), else the `ChainError` variant, with what to do.
pub fn chain_failure(e: &ChainError) -> Failure {
    let message = e.to_string();
    match e {
        ChainError::Contract(c) => {
            let hint = match c {
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
                _ => "",
            };
            Failure::new(variant_name(&format!("{c:?}")), message, hint)
        }
        ChainError::InvalidArgument(_) => {
            Failure::usage("InvalidArgument", message, "see `chainmail --help`")
        }
        _ => {
            let hint = match e {
                ChainError::Unreachable { .. } => {
                    "check --chain / CHAINMAIL_CHAIN and that the node runs"
                }
                ChainError::NoContract(_) => "check --registry / CHAINMAIL_REGISTRY",
                ChainError::WrongChainId { .. } => {
                    "check --chain and --registry name the same network"
                }
                ChainError::InsufficientFunds { .. } | ChainError::NoPayer => {
                    "set CHAINMAIL_PAYER_KEY to a funded key"
                }
                ChainError::Corrupt { .. } => "pick another file with --chain embedded:PATH",
                ChainError::Dropped { .. } | ChainError::Reverted { .. } => {
                    "retry; `chainmail lookup` shows what the chain holds"
                }
                _ => "retry; run with -v for details",
            };
            Failure::new(variant_name(&format!("{e:?}")), message, hint)
        }
    }
}
