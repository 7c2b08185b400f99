//! The registry writes — `register`, `endpoint`, `renew`, `revoke` — each
//! signing its EIP-712 payload with the identity key (§4.1.2 steps 1–2: the self-signed certificate) and handing it to the
//! chain crate's `Registry`, which submits it and names any refusal.

use std::sync::Arc;
use std::time::Duration;

use chainmail_chain::{ChainError, ContractError, Registry, TxOutcome};
use chainmail_core::SecretKey;
use chainmail_core::eip712::{Certificate, Endpoint, Renewal, Revocation, Signed};

use crate::clock::unix_millis;
use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, TxReport, hex32};
use crate::progress::Spinner;
use crate::signed_file::{self, Payload, SignedFile, revocation_file};

/// Longest endpoint the contract stores (bytes).
pub const MAX_ENDPOINT: usize = 255;

/// `register [--valid-for DUR] [--endpoint HOST:PORT]`.
pub fn register(
    ctx: &Context,
    valid_for: Duration,
    endpoint: Option<&str>,
    sign_only: bool,
) -> Result<u8, Failure> {
    if let Some(e) = endpoint {
        check_endpoint(e)?;
    }
    let secret = ctx.identity()?;
    if sign_only {
        return sign_only_file(ctx, secret, |registry, secret| {
            Box::pin(async move {
                let domain = registry.domain();
                let now = registry.now().await?;
                let certificate = Certificate::new(
                    secret.public_key(),
                    now.saturating_add(valid_for.as_secs()),
                    now,
                );
                let certificate = Signed::sign(secret, &domain, certificate);
                let endpoint = endpoint.map(|e| {
                    Signed::sign(
                        secret,
                        &domain,
                        Endpoint {
                            id: secret.address(),
                            endpoint: e.to_owned(),
                            sequence: unix_millis(),
                        },
                    )
                });
                Ok(SignedFile::new(
                    &domain,
                    Payload::Register {
                        certificate,
                        endpoint,
                    },
                ))
            })
        });
    }
    ctx.block_on(async {
        let registry = ctx.paying_registry().await?;
        let spin = Spinner::start("registering the certificate");
        let certificate = sign_certificate(&*registry, secret, valid_for).await?;
        let outcome = register_or_identical(&*registry, &certificate).await?;
        signed_file::save_revocation(ctx.settings(), &registry.domain(), secret);
        let endpoint_tx = match endpoint {
            Some(e) => Some(publish_endpoint(&*registry, secret, e).await?.tx_hash),
            None => None,
        };
        drop(spin); // cleared before the report is printed
        output::print(
            &match outcome {
                Registered::Now(outcome) => TxReport {
                    already_on_chain: Some(false),
                    endpoint_tx_hash: Some(endpoint_tx.map(|h| hex32(&h))),
                    ..TxReport::new(secret.address(), "registered", &outcome)
                },
                Registered::Already { block } => TxReport {
                    id: secret.address().to_string(),
                    tx_hash: None,
                    block,
                    gas_used: None,
                    endpoint_tx_hash: Some(endpoint_tx.map(|h| hex32(&h))),
                    already_on_chain: Some(true),
                    action: "registered (this certificate was on chain already)",
                },
            },
            ctx.json(),
        );
        Ok(exit::OK)
    })
}

/// Signs and submits the self-signed certificate (ID, K_pub, t, T) of
/// §4.1.2 step 2: `t` = now + `valid_for`, `T` = now. "Now" is the chain's
/// pending-block time, the clock the contract judges `issuedAt` by.
pub async fn register_with(
    registry: &dyn Registry,
    secret: &SecretKey,
    valid_for: Duration,
) -> Result<TxOutcome, ChainError> {
    let signed = sign_certificate(registry, secret, valid_for).await?;
    registry.register(&signed).await
}

/// The self-signed certificate of [`register_with`], not yet submitted.
pub async fn sign_certificate(
    registry: &dyn Registry,
    secret: &SecretKey,
    valid_for: Duration,
) -> Result<Signed<Certificate>, ChainError> {
    let now = registry.now().await?;
    let certificate = Certificate::new(
        secret.public_key(),
        now.saturating_add(valid_for.as_secs()),
        now,
    );
    Ok(Signed::sign(secret, &registry.domain(), certificate))
}

/// How `register` ended.
#[derive(Debug)]
pub enum Registered {
    /// Our transaction registered the certificate.
    Now(TxOutcome),
    /// The very certificate we signed was on chain already, in `block`:
    /// someone sent it first (a relayer, or a copy of our pending
    /// transaction taken from the mempool). That is what we asked for.
    Already {
        /// The block that registered it.
        block: u64,
    },
}

/// Submits `signed`; when the contract answers `AlreadyRegistered` and what
/// it holds is this certificate (same `issuedAt` and `validUntil`: the ID
/// binds the key), that is success, as `submit` counts it. Another
/// certificate under the ID stays the contract's refusal.
pub async fn register_or_identical(
    registry: &dyn Registry,
    signed: &Signed<Certificate>,
) -> Result<Registered, ChainError> {
    match registry.register(signed).await {
        Ok(outcome) => Ok(Registered::Now(outcome)),
        Err(e @ ChainError::Contract(ContractError::AlreadyRegistered(_))) => {
            let st = registry.status(signed.payload.id).await?;
            if st.issued_at == signed.payload.issued_at
                && st.valid_until == signed.payload.valid_until
            {
                Ok(Registered::Already {
                    block: st.registered_block,
                })
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// Signs and submits `setEndpoint`; the sequence is milliseconds since the
/// epoch, so a newer endpoint always wins over an older signed one.
pub async fn publish_endpoint(
    registry: &dyn Registry,
    secret: &SecretKey,
    endpoint: &str,
) -> Result<TxOutcome, ChainError> {
    let payload = Endpoint {
        id: secret.address(),
        endpoint: endpoint.to_owned(),
        sequence: unix_millis(),
    };
    let signed = Signed::sign(secret, &registry.domain(), payload);
    registry.set_endpoint(&signed).await
}

/// Signs and submits a revocation dated now.
pub async fn revoke_with(
    registry: &dyn Registry,
    secret: &SecretKey,
) -> Result<TxOutcome, ChainError> {
    let now = registry.now().await?;
    let payload = Revocation {
        id: secret.address(),
        revoked_at: now,
    };
    let signed = Signed::sign(secret, &registry.domain(), payload);
    registry.revoke(&signed).await
}

type FileFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<SignedFile, ChainError>> + 'a>>;

/// `--sign-only`: signs with the identity key against the chain's domain
/// (and clock) and prints the file; no payer, nothing sent.
fn sign_only_file<'a, F>(ctx: &Context, secret: &'a SecretKey, f: F) -> Result<u8, Failure>
where
    F: FnOnce(Arc<dyn Registry>, &'a SecretKey) -> FileFuture<'a>,
{
    let file = ctx.block_on(async {
        let registry = ctx.signing_registry().await?;
        Ok(f(registry, secret).await?)
    })?;
    signed_file::print(&file, ctx.json())
}

/// `endpoint HOST:PORT [--sign-only]`.
pub fn endpoint(ctx: &Context, endpoint: &str, sign_only: bool) -> Result<u8, Failure> {
    check_endpoint(endpoint)?;
    let secret = ctx.identity()?;
    if sign_only {
        return sign_only_file(ctx, secret, |registry, secret| {
            Box::pin(async move {
                let domain = registry.domain();
                let payload = Endpoint {
                    id: secret.address(),
                    endpoint: endpoint.to_owned(),
                    sequence: unix_millis(),
                };
                let signed = Signed::sign(secret, &domain, payload);
                Ok(SignedFile::new(&domain, Payload::Endpoint(signed)))
            })
        });
    }
    tx_command(ctx, secret, "endpoint published", |registry, secret| {
        Box::pin(async move { publish_endpoint(&*registry, secret, endpoint).await })
    })
}

/// `renew [--valid-for DUR] [--sign-only]`.
pub fn renew(ctx: &Context, valid_for: Duration, sign_only: bool) -> Result<u8, Failure> {
    let secret = ctx.identity()?;
    if sign_only {
        return sign_only_file(ctx, secret, |registry, secret| {
            Box::pin(async move {
                let domain = registry.domain();
                let now = registry.now().await?;
                // Strictly after the stored issuedAt, as `renew` below.
                let stored = registry.status(secret.address()).await?.issued_at;
                let payload = Renewal {
                    id: secret.address(),
                    valid_until: now.saturating_add(valid_for.as_secs()),
                    issued_at: now.max(stored.saturating_add(1)),
                };
                let signed = Signed::sign(secret, &domain, payload);
                Ok(SignedFile::new(&domain, Payload::Renew(signed)))
            })
        });
    }
    tx_command(ctx, secret, "renewed", move |registry, secret| {
        Box::pin(async move {
            let now = registry.now().await?;
            // The contract wants issuedAt strictly after the stored one: a
            // renewal in the same second as the registration (or another
            // renewal) takes the next second, well inside the allowed skew.
            let stored = registry.status(secret.address()).await?.issued_at;
            let issued_at = now.max(stored.saturating_add(1));
            let payload = Renewal {
                id: secret.address(),
                valid_until: now.saturating_add(valid_for.as_secs()),
                issued_at,
            };
            let signed = Signed::sign(secret, &registry.domain(), payload);
            registry.renew(&signed).await
        })
    })
}

/// `revoke [--yes] [--sign-only]` (`--from-file` is `submit`'s, after
/// [`confirm_revocation`]).
pub fn revoke(ctx: &Context, yes: bool, sign_only: bool) -> Result<u8, Failure> {
    if sign_only {
        // Signing sends nothing: no confirmation needed.
        let secret = ctx.identity()?;
        return sign_only_file(ctx, secret, |registry, secret| {
            Box::pin(async move {
                let now = registry.now().await?;
                Ok(revocation_file(secret, &registry.domain(), now))
            })
        });
    }
    if !yes {
        confirm_revocation()?;
    }
    let secret = ctx.identity()?;
    tx_command(ctx, secret, "revoked (for good)", |registry, secret| {
        Box::pin(async move { revoke_with(&*registry, secret).await })
    })
}

type TxFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<TxOutcome, ChainError>> + 'a>>;

/// Opens the registry, runs one transaction under a spinner, prints its report.
fn tx_command<'a, F>(
    ctx: &Context,
    secret: &'a SecretKey,
    action: &'static str,
    f: F,
) -> Result<u8, Failure>
where
    F: FnOnce(Arc<dyn Registry>, &'a SecretKey) -> TxFuture<'a>,
{
    ctx.block_on(async {
        let registry = ctx.paying_registry().await?;
        let spin = Spinner::start("waiting for the transaction");
        let outcome = f(registry, secret).await?;
        drop(spin); // cleared before the report is printed
        output::print(
            &TxReport::new(secret.address(), action, &outcome),
            ctx.json(),
        );
        Ok(exit::OK)
    })
}

/// Asks on the terminal; without one, `--yes` is required.
pub fn confirm_revocation() -> Result<(), Failure> {
    use std::io::{BufRead, IsTerminal, Read, Write};
    let no_tty = || {
        Failure::usage(
            "ConfirmationRequired",
            "revoking is final and there is no terminal to confirm on",
            "pass --yes to revoke without asking",
        )
    };
    if !std::io::stdin().is_terminal() {
        return Err(no_tty());
    }
    eprint!(
        "Revoke this identity for good? It can never be registered again. Type `revoke` to confirm: "
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    // Bounded read: one short line is all we want.
    std::io::stdin()
        .lock()
        .take(64)
        .read_line(&mut line)
        .map_err(|_| no_tty())?;
    if line.trim() != "revoke" {
        return Err(Failure::new(
            "NotConfirmed",
            "revocation not confirmed; nothing was sent",
            "",
        ));
    }
    Ok(())
}

/// `HOST:PORT` with a non-empty host, a numeric port and the contract's length bound.
pub fn check_endpoint(endpoint: &str) -> Result<(), Failure> {
    let bad = |why: &str| {
        Failure::usage(
            "BadEndpoint",
            format!("`{}` is not HOST:PORT ({why})", truncate(endpoint, 80)),
            "write it like 203.0.113.7:7400 or [2001:db8::1]:7400",
        )
    };
    if endpoint.len() > MAX_ENDPOINT {
        return Err(bad("longer than 255 bytes"));
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("contains spaces or control characters"));
    }
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(bad("the port is not a number from 1 to 65535")),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chainmail_chain::EmbeddedRegistry;

    use super::*;

    #[test]
    fn endpoints() {
        assert!(check_endpoint("127.0.0.1:7400").is_ok());
        assert!(check_endpoint("[::1]:7400").is_ok());
        assert!(check_endpoint("example.org:1").is_ok());
        for bad in [
            "",
            "host",
            ":7400",
            "h:0",
            "h:70000",
            "h:x",
            "a b:1",
            &format!("{}:1", "a".repeat(300)),
        ] {
            assert_eq!(
                check_endpoint(bad).unwrap_err().kind,
                "BadEndpoint",
                "{bad}"
            );
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test]
    async fn the_same_certificate_on_chain_already_is_success_another_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A still clock, so that signing twice gives the same certificate.
        let t = 1_893_456_000;
        let reg =
            EmbeddedRegistry::open_with_clock(&dir.path().join("chain.db"), Arc::new(move || t))
                .await
                .unwrap();
        let key = SecretKey::generate(&mut rand::rng());
        let cert = sign_certificate(&reg, &key, DAY).await.unwrap();
        // Someone else (a relayer, a mempool copier) sends it first.
        let first = reg.register(&cert).await.unwrap();
        match register_or_identical(&reg, &cert).await.unwrap() {
            Registered::Already { block } => assert_eq!(block, first.block),
            other => panic!("expected the certificate on chain already, got {other:?}"),
        }
        // Another certificate under the ID stays the contract's refusal.
        let other = sign_certificate(&reg, &key, 2 * DAY).await.unwrap();
        let refused = register_or_identical(&reg, &other).await;
        assert!(
            matches!(
                refused,
                Err(ChainError::Contract(ContractError::AlreadyRegistered(_)))
            ),
            "{refused:?}"
        );
    }
}
