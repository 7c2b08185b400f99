//! Reaching the chain from the settings: parsing the chain spec, the registry
//! address and the gas payer key, and opening the chain crate's `Registry`
//! (its `ChainError`s become failures through `error::Kind`). Used through
//! [`super::Context`].
//!
//! An rpc chain is pinned (issue 14): the first open from a home records the
//! chain id, genesis hash, registry address and code hash in config.toml's
//! `[pin]` and says so on stderr; every later open hands the pin to the chain
//! crate, which checks it before anything is signed or trusted
//! (`ChainMismatch`). The embedded chain is not pinned.

use std::path::Path;
use std::sync::Arc;

use chainmail_chain::{ChainPin, ChainSpec, Registry, RpcRegistry};
use chainmail_core::{Address, SecretKey};
use chainmail_node::clock::Clock;
use chainmail_node::config::{Config, Pin};
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::output::hex32;
use crate::settings::Settings;

/// The chain spec of these settings, parsed (a bad one is a usage error);
/// with several, the first (each an RPC URL, checked).
pub(crate) fn chain_spec(settings: &Settings) -> Result<ChainSpec, Failure> {
    let specs = settings
        .chains
        .iter()
        .map(|text| {
            text.parse::<ChainSpec>().map_err(|e| {
                Failure::usage(
                    "UnknownChain",
                    e.to_string(),
                    "pass --chain embedded, embedded:PATH or http(s)://…, or set CHAINMAIL_CHAIN",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if specs.len() > 1 && specs.iter().any(|s| matches!(s, ChainSpec::Embedded(_))) {
        return Err(Failure::usage(
            "UnknownChain",
            "several chains were given, not all of them RPC URLs: a quorum is of RPC providers of one chain",
            "give --chain once for the embedded chain, or several http(s)://… URLs",
        ));
    }
    specs.into_iter().next().ok_or_else(|| {
        Failure::usage(
            "UnknownChain",
            "no chain given",
            "pass --chain embedded, embedded:PATH or http(s)://…",
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
/// The embedded chain keeps time by `clock`, the node's. An rpc chain is
/// checked against this home's pin, or pinned on this first use.
pub(crate) async fn open_with_payer(
    settings: &Settings,
    payer: Option<&SecretKey>,
    clock: &Clock,
) -> Result<Arc<dyn Registry>, Failure> {
    let spec = chain_spec(settings)?;
    let registry = registry_address(settings)?;
    match spec {
        ChainSpec::Rpc(_) => {
            let registry = registry.unwrap_or_else(chainmail_chain::create2::registry_address);
            Ok(Arc::new(open_pinned(settings, registry, payer).await?))
        }
        embedded @ ChainSpec::Embedded(_) => Ok(chainmail_chain::open_with_clock(
            &embedded,
            registry,
            payer,
            &settings.rpc_options(),
            clock.chain_clock(),
        )
        .await?),
    }
}

/// Connects to `registry` on the rpc chain of the settings (one URL, or
/// several whose headers a quorum trusts), checked against this home's
/// pin; with none recorded yet, records what it found (trust on first use)
/// and says so on stderr.
pub(crate) async fn open_pinned(
    settings: &Settings,
    registry: Address,
    payer: Option<&SecretKey>,
) -> Result<RpcRegistry, Failure> {
    let recorded = recorded_pin(settings)?;
    let options = chainmail_chain::RpcOptions {
        pin: recorded,
        ..settings.rpc_options()
    };
    let reg =
        RpcRegistry::connect_quorum(&settings.chains, settings.quorum, registry, payer, options)
            .await?;
    if recorded.is_none() {
        let pin = reg.pin();
        record_pin(settings, &pin)?;
        eprintln!(
            "chainmail: first use of this rpc chain from {}: pinned chain id {}, genesis {}, registry {}, code hash {} in config.toml (trusted on first use, read through {}; later runs refuse any other chain)",
            settings.home.root().display(),
            pin.chain_id,
            hex32(&pin.genesis_hash),
            pin.registry,
            hex32(&pin.code_hash),
            chainmail_chain::Registry::trust(&reg)
        );
    }
    Ok(reg)
}

/// The pin in this home's config.toml, read afresh (an earlier open in this
/// run may have just recorded it); a damaged one is an error, not "none".
pub(crate) fn recorded_pin(settings: &Settings) -> Result<Option<ChainPin>, Failure> {
    let config = Config::load(&settings.home.config())?;
    config.pin.as_ref().map(from_config).transpose()
}

/// Writes `pin` as this home's `[pin]` (creating the home if needed),
/// keeping the rest of config.toml.
pub(crate) fn record_pin(settings: &Settings, pin: &ChainPin) -> Result<(), Failure> {
    settings.home.ensure()?;
    let path = settings.home.config();
    let mut config = Config::load(&path)?;
    config.pin = Some(Pin {
        chain_id: pin.chain_id,
        genesis_hash: hex32(&pin.genesis_hash),
        registry: pin.registry.to_string(),
        code_hash: hex32(&pin.code_hash),
    });
    config.save(&path)?;
    Ok(())
}

/// `deploy`: the registry at its CREATE2 address, the chain and that
/// address checked against the pin before anything is signed; on first use
/// the deployed registry is then pinned.
pub(crate) async fn deploy(
    settings: &Settings,
    url: &str,
    payer: &SecretKey,
) -> Result<(Address, Option<chainmail_chain::TxOutcome>), Failure> {
    let options = chainmail_chain::RpcOptions {
        pin: recorded_pin(settings)?,
        ..settings.rpc_options()
    };
    let (address, outcome) = chainmail_chain::rpc::deploy_with(url, payer, &options).await?;
    // Checks the pin again (or records it), now of the registry itself.
    open_pinned(settings, address, None).await?;
    Ok((address, outcome))
}

/// `chain pin [--force]`: connects to the rpc chain of the settings checked
/// against the recorded pin (`force`: not checked) and records what it found
/// unless that is the pin already; `recorded`, `unchanged` or `replaced`.
pub(crate) async fn pin_chain(
    settings: &Settings,
    force: bool,
) -> Result<(ChainPin, &'static str), Failure> {
    let ChainSpec::Rpc(_) = chain_spec(settings)? else {
        return Err(Failure::usage(
            "EmbeddedNotPinned",
            "the embedded chain is not pinned",
            "pass --chain http(s)://…",
        ));
    };
    let registry =
        registry_address(settings)?.unwrap_or_else(chainmail_chain::create2::registry_address);
    let recorded = recorded_pin(settings)?;
    let options = chainmail_chain::RpcOptions {
        pin: if force { None } else { recorded },
        ..settings.rpc_options()
    };
    let pin =
        RpcRegistry::connect_quorum(&settings.chains, settings.quorum, registry, None, options)
            .await?
            .pin();
    let status = match recorded {
        None => "recorded",
        Some(old) if old == pin => "unchanged",
        Some(_) => "replaced",
    };
    if status != "unchanged" {
        record_pin(settings, &pin)?;
    }
    Ok((pin, status))
}

fn from_config(pin: &Pin) -> Result<ChainPin, Failure> {
    let bad = |what: &str| {
        Failure::new(
            "BadPin",
            format!("config.toml's [pin] has a bad {what}"),
            "fix it, or remove the [pin] table and run `chainmail chain pin` to pin again",
        )
    };
    let hash = |text: &str, what: &str| -> Result<[u8; 32], Failure> {
        let digits = text.strip_prefix("0x").ok_or_else(|| bad(what))?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| bad(what))?;
        Ok(out)
    };
    Ok(ChainPin {
        chain_id: pin.chain_id,
        genesis_hash: hash(&pin.genesis_hash, "genesis_hash")?,
        registry: pin.registry.parse().map_err(|_| bad("registry"))?,
        code_hash: hash(&pin.code_hash, "code_hash")?,
    })
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
