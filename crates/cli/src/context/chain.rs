//! Reaching the chain from the settings: parsing the chain spec, the registry
//! address and the gas payer key, and opening the chain crate's `Registry`
//! (its `ChainError`s become failures through `error::Kind`). Used through
//! [`super::Context`].

use std::path::Path;
use std::sync::Arc;

use chainmail_chain::{ChainSpec, Registry};
use chainmail_core::{Address, SecretKey};
use chainmail_node::clock::Clock;
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::settings::Settings;

/// The chain spec of these settings, parsed (a bad one is a usage error).
pub(crate) fn chain_spec(settings: &Settings) -> Result<ChainSpec, Failure> {
    settings.chain.parse::<ChainSpec>().map_err(|e| {
        Failure::usage(
            "UnknownChain",
            e.to_string(),
            "pass --chain embedded, embedded:PATH or http(s)://…, or set CHAINMAIL_CHAIN",
        )
    })
}

/// The registry address of these settings, if any (a bad one is a usage error).
pub(crate) fn registry_address(settings: &Settings) -> Result<Option<Address>, Failure> {
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
pub(crate) fn payer_key(settings: &Settings) -> Result<Option<SecretKey>, Failure> {
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
/// The embedded chain keeps time by `clock`, the node's.
pub(crate) async fn open_with_payer(
    settings: &Settings,
    payer: Option<&SecretKey>,
    clock: &Clock,
) -> Result<Arc<dyn Registry>, Failure> {
    let spec = chain_spec(settings)?;
    let registry = registry_address(settings)?;
    Ok(chainmail_chain::open_with_clock(
        &spec,
        registry,
        payer,
        &settings.rpc_options(),
        clock.chain_clock(),
    )
    .await?)
}

/// Opens the registry with the configured payer, else `fallback` (the
/// identity key pays its own gas when no payer is configured; the embedded
/// chain needs none).
pub(crate) async fn open_registry(
    settings: &Settings,
    fallback: Option<&SecretKey>,
    clock: &Clock,
) -> Result<Arc<dyn Registry>, Failure> {
    let payer = payer_key(settings)?;
    open_with_payer(settings, payer.as_ref().or(fallback), clock).await
}
