//! The relayer flow, for users with no ether: `register|renew|revoke|endpoint
//! --sign-only` write the signed payload to stdout as a [`SignedFile`]
//! without sending anything; `submit FILE`, run by anyone with a payer key,
//! checks it locally (chain, registry, signature — a bad file costs no gas)
//! and submits it. The contract takes signed payloads from any sender.
//!
//! Resubmitting what is already on chain is success (`already_on_chain`:
//! true): the same certificate (`AlreadyRegistered` with equal `issuedAt`
//! and `validUntil`), the same renewal, an ID already revoked, the same
//! endpoint and sequence. Something else already on chain is an error that
//! shows both (`DifferentCertificate`).
//!
//! The revocation certificate that `init` and `register` save is a
//! `SignedFile` with `action: "revoke"` (older files without `action` are
//! read as revocations).

use std::path::Path;

use chainmail_chain::{ChainError, ContractError, Registry, TxOutcome};
use chainmail_core::eip712::{Certificate, Domain, Endpoint, Renewal, Revocation, Signed};
use chainmail_core::{Address, SecretKey};
use serde::{Deserialize, Serialize};

use crate::commands::chain::open_registry;
use crate::commands::registry::hex32;
use crate::commands::runtime;
use crate::error::{Failure, exit};
use crate::output::{self, Report};
use crate::progress::Spinner;
use crate::settings::Settings;

/// Largest signed file read (a real one is under 2 KiB).
pub const MAX_SIGNED_FILE: u64 = 16 * 1024;

/// What a signed file asks the registry to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `register(Certificate)` (and `setEndpoint` when `endpoint` is set).
    Register,
    /// `renew(Renewal)`.
    Renew,
    /// `revoke(Revocation)`.
    Revoke,
    /// `setEndpoint(Endpoint)`.
    Endpoint,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Renew => "renew",
            Action::Revoke => "revoke",
            Action::Endpoint => "endpoint",
        }
    }
}

fn revoke_action() -> Action {
    Action::Revoke
}

/// A signed registry payload bound to one chain and registry (the EIP-712
/// domain), ready for anyone to submit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedFile {
    /// What to do with `certificate`.
    #[serde(default = "revoke_action")]
    pub action: Action,
    /// The chain the signature is bound to.
    pub chain_id: u64,
    /// The registry the signature is bound to.
    pub registry: Address,
    /// `Signed<Certificate|Renewal|Revocation|Endpoint>` per `action`.
    pub certificate: serde_json::Value,
    /// `register` only: a signed endpoint to publish after registering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Signed<Endpoint>>,
}

impl SignedFile {
    /// Wraps a signed payload for `domain`.
    pub fn new<T: Serialize>(action: Action, domain: &Domain, signed: &Signed<T>) -> Self {
        SignedFile {
            action,
            chain_id: domain.chain_id,
            registry: domain.verifying_contract,
            certificate: serde_json::to_value(signed).unwrap_or(serde_json::Value::Null),
            endpoint: None,
        }
    }

    /// Pretty JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// A revocation of `secret`'s ID dated now, for `domain`: valid forever
/// (the contract accepts any `revokedAt` up to now + 5 minutes).
pub fn revocation_file(secret: &SecretKey, domain: &Domain, now: u64) -> SignedFile {
    let signed = Signed::sign(
        secret,
        domain,
        Revocation {
            id: secret.address(),
            revoked_at: now,
        },
    );
    SignedFile::new(Action::Revoke, domain, &signed)
}

/// Prints a signed file on stdout (it is JSON with or without `--json`) and
/// a note on stderr.
pub fn print_signed(file: &SignedFile, json: bool) -> Result<u8, Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&file.to_bytes());
    let _ = out.flush();
    if !json {
        eprintln!(
            "note: nothing was sent. Anyone with a payer key can submit this with \
             `chainmail submit FILE`{}",
            match file.action {
                Action::Register | Action::Renew =>
                    " within 1 day (the contract's issuedAt window)",
                _ => "",
            }
        );
    }
    Ok(exit::OK)
}

/// `submit`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitReport {
    /// EIP-55 ID the payload is about.
    pub id: String,
    /// `register`, `renew`, `revoke` or `endpoint`.
    pub action: &'static str,
    /// True when exactly this was already on chain (nothing sent).
    pub already_on_chain: bool,
    /// 0x + 64 hex; null when already on chain.
    pub tx_hash: Option<String>,
    /// Block it landed in; null when already on chain.
    pub block: Option<u64>,
    /// Gas used; null when already on chain.
    pub gas_used: Option<u64>,
    /// `register` with an endpoint: the setEndpoint transaction (null if
    /// none was sent).
    pub endpoint_tx_hash: Option<String>,
}

impl Report for SubmitReport {
    fn human(&self) -> String {
        match (&self.tx_hash, self.block, self.gas_used) {
            (Some(tx), Some(b), Some(g)) => format!(
                "{}: {} submitted\ntx {tx} in block {b} ({g} gas)",
                self.id, self.action
            ),
            _ => format!(
                "{}: {} already on chain, identical; nothing sent",
                self.id, self.action
            ),
        }
    }
}

fn bad(what: String) -> Failure {
    Failure::new(
        "BadCertificate",
        what,
        "pass a file made by `chainmail … --sign-only` (or the revocation certificate) for this chain",
    )
}

/// Reads and parses a signed file (bounded).
pub fn read(file: &Path) -> Result<SignedFile, Failure> {
    use std::io::Read;
    let mut text = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_SIGNED_FILE + 1).read_to_end(&mut text))
        .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
    if text.len() as u64 > MAX_SIGNED_FILE {
        return Err(bad(format!(
            "{} is too large for a signed certificate",
            file.display()
        )));
    }
    serde_json::from_slice(&text).map_err(|e| {
        bad(format!(
            "{} is not a signed certificate: {e}",
            file.display()
        ))
    })
}

fn payload<T: serde::de::DeserializeOwned>(f: &SignedFile) -> Result<Signed<T>, Failure> {
    serde_json::from_value(f.certificate.clone()).map_err(|e| {
        bad(format!(
            "the certificate is not a signed {}: {e}",
            f.action.as_str()
        ))
    })
}

fn sig_err(id: Address, e: impl std::fmt::Display) -> Failure {
    bad(format!("the signature is not {id}'s: {e}"))
}

/// `submit FILE` (and `revoke --certificate FILE`, with `only` = revoke).
pub fn submit(settings: &Settings, file: &Path, only: Option<Action>) -> Result<u8, Failure> {
    let f = read(file)?;
    if let Some(a) = only
        && a != f.action
    {
        return Err(bad(format!(
            "{} holds a signed {}, not a {}",
            file.display(),
            f.action.as_str(),
            a.as_str()
        )));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let registry = open_registry(settings, None).await?;
        let domain = registry.domain();
        // Checked here first: another chain's or registry's payload, or a bad
        // signature, would only burn gas on a revert.
        if domain.chain_id != f.chain_id || domain.verifying_contract != f.registry {
            return Err(bad(format!(
                "the certificate is for registry {} on chain {}, not this one ({} on chain {})",
                f.registry, f.chain_id, domain.verifying_contract, domain.chain_id
            )));
        }
        let spin = Spinner::start("waiting for the transaction");
        let report = match f.action {
            Action::Register => submit_register(&*registry, &domain, &f).await?,
            Action::Renew => {
                let s: Signed<Renewal> = payload(&f)?;
                let id = s.payload.id;
                s.verify(&domain, &id).map_err(|e| sig_err(id, e))?;
                let r = registry.renew(&s).await;
                let status = || async { registry.status(id).await };
                let outcome = match r {
                    Err(ChainError::Contract(ContractError::StaleRenewal { .. })) => {
                        let st = status().await?;
                        if st.issued_at == s.payload.issued_at
                            && st.valid_until == s.payload.valid_until
                        {
                            None
                        } else {
                            return Err(different(
                                id,
                                "renewal",
                                (st.issued_at, st.valid_until),
                                (s.payload.issued_at, s.payload.valid_until),
                            ));
                        }
                    }
                    r => Some(r?),
                };
                report(id, Action::Renew, outcome, None)
            }
            Action::Revoke => {
                let s: Signed<Revocation> = payload(&f)?;
                let id = s.payload.id;
                s.verify(&domain, &id).map_err(|e| sig_err(id, e))?;
                let outcome = match registry.revoke(&s).await {
                    Err(ChainError::Contract(ContractError::IdentityRevoked(_))) => None,
                    r => Some(r?),
                };
                report(id, Action::Revoke, outcome, None)
            }
            Action::Endpoint => {
                let s: Signed<Endpoint> = payload(&f)?;
                let id = s.payload.id;
                s.verify(&domain, &id).map_err(|e| sig_err(id, e))?;
                let outcome = submit_endpoint(&*registry, &s).await?;
                report(id, Action::Endpoint, outcome, None)
            }
        };
        drop(spin); // cleared before the report is printed
        output::print(&report, settings.json);
        Ok(exit::OK)
    })
}

async fn submit_register(
    registry: &dyn Registry,
    domain: &Domain,
    f: &SignedFile,
) -> Result<SubmitReport, Failure> {
    let s: Signed<Certificate> = payload(f)?;
    let id = s.payload.id;
    s.verify_self_signed(domain)
        .map_err(|e| bad(format!("the certificate is not self-signed by {id}: {e}")))?;
    if let Some(e) = &f.endpoint {
        if e.payload.id != id {
            return Err(bad("the endpoint is signed for another ID".into()));
        }
        e.verify(domain, &id).map_err(|e| sig_err(id, e))?;
    }
    let outcome = match registry.register(&s).await {
        Err(ChainError::Contract(ContractError::AlreadyRegistered(_))) => {
            let st = registry.status(id).await?;
            if st.issued_at == s.payload.issued_at && st.valid_until == s.payload.valid_until {
                None
            } else {
                return Err(different(
                    id,
                    "certificate",
                    (st.issued_at, st.valid_until),
                    (s.payload.issued_at, s.payload.valid_until),
                ));
            }
        }
        r => Some(r?),
    };
    let endpoint_tx = match &f.endpoint {
        Some(e) => submit_endpoint(registry, e)
            .await?
            .map(|o| hex32(&o.tx_hash)),
        None => None,
    };
    Ok(report(id, Action::Register, outcome, endpoint_tx))
}

/// `None` when the same endpoint and sequence are already on chain.
async fn submit_endpoint(
    registry: &dyn Registry,
    s: &Signed<Endpoint>,
) -> Result<Option<TxOutcome>, Failure> {
    match registry.set_endpoint(s).await {
        Err(ChainError::Contract(ContractError::StaleSequence { .. })) => {
            let current = registry
                .endpoint(s.payload.id)
                .await
                ?;
            match current {
                Some(c) if c.endpoint == s.payload.endpoint && c.sequence == s.payload.sequence => {
                    Ok(None)
                }
                _ => Err(Failure::new(
                    "DifferentCertificate",
                    format!(
                        "a newer endpoint for {} is already on chain; this one (sequence {}) was not submitted",
                        s.payload.id, s.payload.sequence
                    ),
                    "nothing to do if the newer one is right; `chainmail lookup ID` shows it",
                )),
            }
        }
        r => Ok(Some(r?)),
    }
}

fn different(id: Address, what: &str, chain: (u64, u64), file: (u64, u64)) -> Failure {
    Failure::new(
        "DifferentCertificate",
        format!(
            "a different {what} for {id} is already on chain (issued at {}, valid until {}); \
             the file's (issued at {}, valid until {}) was not submitted",
            chain.0, chain.1, file.0, file.1
        ),
        "nothing to do if the one on chain is yours; `chainmail lookup ID` shows it",
    )
}

fn report(
    id: Address,
    action: Action,
    outcome: Option<TxOutcome>,
    endpoint_tx_hash: Option<String>,
) -> SubmitReport {
    SubmitReport {
        id: id.to_string(),
        action: action.as_str(),
        already_on_chain: outcome.is_none(),
        tx_hash: outcome.as_ref().map(|o| hex32(&o.tx_hash)),
        block: outcome.as_ref().map(|o| o.block),
        gas_used: outcome.as_ref().map(|o| o.gas_used),
        endpoint_tx_hash,
    }
}
