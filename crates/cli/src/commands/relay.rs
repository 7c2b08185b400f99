//! The relayer flow, for users with no ether: `register|renew|revoke|endpoint
//! --sign-only` write the signed payload to stdout as a [`SignedFile`](crate::signed_file::SignedFile)
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
//! The file format is in [`crate::signed_file`].

use std::path::Path;

use chainmail_chain::{ChainError, ContractError, Registry, TxOutcome};
use chainmail_core::Address;
use chainmail_core::eip712::{Certificate, Domain, Endpoint, Signed};

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, SubmitReport, hex32};
use crate::progress::Spinner;
use crate::signed_file::{self, Action, Payload, bad};

fn sig_err(id: Address, e: impl std::fmt::Display) -> Failure {
    bad(format!("the signature is not {id}'s: {e}"))
}

/// `submit FILE` (and `revoke --from-file FILE`, with `only` = revoke).
pub fn submit(ctx: &Context, file: &Path, only: Option<Action>) -> Result<u8, Failure> {
    let f = signed_file::read(file)?;
    if let Some(a) = only
        && a != f.action()
    {
        return Err(bad(format!(
            "{} holds a signed {}, not a {}",
            file.display(),
            f.action().as_str(),
            a.as_str()
        )));
    }
    ctx.block_on(async {
        let registry = ctx.registry().await?;
        let domain = registry.domain();
        // Checked here first: another chain's or registry's payload, or a bad
        // signature, would only burn gas on a revert.
        if domain.chain_id != f.chain_id || domain.verifying_contract != f.registry {
            let wrong = bad(format!(
                "the certificate is for registry {} on chain {}, not this one ({} on chain {})",
                f.registry, f.chain_id, domain.verifying_contract, domain.chain_id
            ));
            // A revocation signed for another chain: point at the one that
            // fits, if the home has it (a home used on several chains keeps
            // one per chain).
            return Err(match (f.action(), signed_file::revocation_for_domain(ctx.settings(), &domain)) {
                (Action::Revoke, Some(p)) => wrong.with_hint(format!(
                    "this home holds the revocation for this chain: pass --from-file {}",
                    p.display()
                )),
                (Action::Revoke, None) => wrong.with_hint(
                    "no revocation certificate of this home is for this chain (one is saved at `register`); pass --chain/--registry of the chain the file names, or sign one with `revoke --sign-only` while the key is at hand",
                ),
                _ => wrong,
            });
        }
        let spin = Spinner::start("waiting for the transaction");
        let report = match &f.payload {
            Payload::Register {
                certificate,
                endpoint,
            } => submit_register(&*registry, &domain, certificate, endpoint.as_ref()).await?,
            Payload::Renew(s) => {
                let id = s.payload.id;
                s.verify(&domain, &id).map_err(|e| sig_err(id, e))?;
                let r = registry.renew(s).await;
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
            Payload::Revoke(s) => {
                let id = s.payload.id;
                s.verify(&domain, &id).map_err(|e| sig_err(id, e))?;
                let outcome = match registry.revoke(s).await {
                    Err(ChainError::Contract(ContractError::IdentityRevoked(_))) => None,
                    r => Some(r?),
                };
                report(id, Action::Revoke, outcome, None)
            }
            Payload::Endpoint(s) => {
                let id = s.payload.id;
                s.verify(&domain, &id).map_err(|e| sig_err(id, e))?;
                let outcome = submit_endpoint(&*registry, s).await?;
                report(id, Action::Endpoint, outcome, None)
            }
        };
        drop(spin); // cleared before the report is printed
        if let Payload::Register { certificate, .. } = &f.payload {
            save_own_revocation(ctx, &domain, certificate.payload.id);
        }
        output::print(&report, ctx.json());
        Ok(exit::OK)
    })
}

/// When the certificate just submitted is this home's own (its
/// `--sign-only` file, the gas paid by someone else's key), keeps its
/// revocation for this chain as `register` does. The keystore's clear
/// `address` says whose home this is, so a relayer's home is never asked
/// for a password; the key is unlocked as usual (CHAINMAIL_PASSWORD or the
/// terminal), and if it cannot be, a note says how to make one.
fn save_own_revocation(ctx: &Context, domain: &Domain, id: Address) {
    let settings = ctx.settings();
    if signed_file::revocation_for_domain(settings, domain).is_some()
        || keystore_address(&settings.home.keystore()) != Some(id)
    {
        return;
    }
    match ctx.identity() {
        Ok(secret) => signed_file::save_revocation(settings, domain, secret),
        Err(e) if !settings.json => eprintln!(
            "note: no revocation certificate saved for chain {} ({}): while the key is at hand, \
             `chainmail revoke --sign-only > FILE` signs one",
            domain.chain_id,
            e.line()
        ),
        Err(e) => tracing::warn!(error = %e.line(), "no revocation certificate saved"),
    }
}

/// The `address` a V3 keystore file names in clear, if it is one.
fn keystore_address(path: &Path) -> Option<Address> {
    // A keystore is a few hundred bytes: anything much larger is not one.
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > 64 * 1024 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let text = v["address"].as_str()?;
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()?;
    Some(Address(bytes.try_into().ok()?))
}

async fn submit_register(
    registry: &dyn Registry,
    domain: &Domain,
    s: &Signed<Certificate>,
    endpoint: Option<&Signed<Endpoint>>,
) -> Result<SubmitReport, Failure> {
    let id = s.payload.id;
    s.verify_self_signed(domain)
        .map_err(|e| bad(format!("the certificate is not self-signed by {id}: {e}")))?;
    if let Some(e) = endpoint {
        if e.payload.id != id {
            return Err(bad("the endpoint is signed for another ID".into()));
        }
        e.verify(domain, &id).map_err(|e| sig_err(id, e))?;
    }
    let outcome = match registry.register(s).await {
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
    let endpoint_tx = match endpoint {
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
            let current = registry.endpoint(s.payload.id).await?;
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
