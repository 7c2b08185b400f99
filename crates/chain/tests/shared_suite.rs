//! One test suite, two backends: every case is a generic async fn run against
//! the embedded chain and against the rpc backend on a real anvil, so the two
//! are proved to agree.

mod common;

use chainmail_chain::{ChainError, ContractError};
use chainmail_core::eip712::{Endpoint, Renewal, Revocation, SessionRequest};
use common::{Backend, certificate, id, key, sign};

/// Expands each case into `case::embedded` and `case::rpc` tests.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$case(&super::Backend::embedded().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rpc() {
                super::$case(&super::Backend::rpc().await).await;
            }
        }
    )*};
}

both_backends!(
    register_then_lookup,
    re_register_refused,
    renew_extends_and_refuses_stale,
    revoke_then_lookup,
    revocation_signed_days_earlier_accepted,
    endpoint_sequence_rules,
    endpoint_sequence_bounded_by_block_time,
    verify_session_errors_by_name,
    public_key_found_through_registered_block,
    bad_inputs_refused_by_name,
);

fn contract_err(r: Result<impl std::fmt::Debug, ChainError>) -> ContractError {
    match r {
        Err(ChainError::Contract(e)) => e,
        other => panic!("expected a contract error, got {other:?}"),
    }
}

async fn register_then_lookup(b: &Backend) {
    let k = key();
    let cert = certificate(b, &k).await;
    let unknown = b.reg.status(id(&k)).await.unwrap();
    assert!(!unknown.is_registered(), "{}", b.name);
    assert!(!b.reg.is_valid(id(&k)).await.unwrap());
    let outcome = b.reg.register(&cert).await.unwrap();
    assert!(
        outcome.gas_used > 21_000 && outcome.gas_used <= 60_000,
        "{}: gas {}",
        b.name,
        outcome.gas_used
    );
    let status = b.reg.status(id(&k)).await.unwrap();
    assert_eq!(status.valid_until, cert.payload.valid_until);
    assert_eq!(status.issued_at, cert.payload.issued_at);
    assert_eq!(status.revoked_at, 0);
    assert_eq!(status.registered_block, outcome.block);
    assert!(b.reg.is_valid(id(&k)).await.unwrap());
}

async fn re_register_refused(b: &Backend) {
    let k = key();
    b.reg.register(&certificate(b, &k).await).await.unwrap();
    // A fresh certificate for the same key: the ID was registered, so never again.
    b.advance(10).await;
    let again = certificate(b, &k).await;
    assert_eq!(
        contract_err(b.reg.register(&again).await),
        ContractError::AlreadyRegistered(id(&k)),
        "{}",
        b.name
    );
}

async fn renew_extends_and_refuses_stale(b: &Backend) {
    let k = key();
    let cert = certificate(b, &k).await;
    b.reg.register(&cert).await.unwrap();
    b.advance(60).await;
    let now = b.reg.now().await.unwrap();
    let renewal = sign(
        &k,
        &b.domain(),
        Renewal {
            id: id(&k),
            valid_until: now + 90 * 86_400,
            issued_at: now,
        },
    );
    b.reg.renew(&renewal).await.unwrap();
    let status = b.reg.status(id(&k)).await.unwrap();
    assert_eq!(
        (status.valid_until, status.issued_at),
        (now + 90 * 86_400, now)
    );
    // The same renewal again is not newer than the stored one.
    assert_eq!(
        contract_err(b.reg.renew(&renewal).await),
        ContractError::StaleRenewal {
            issued_at: now,
            current: now
        },
        "{}",
        b.name
    );
    // Renewing an unknown ID.
    let stranger = key();
    let r = sign(
        &stranger,
        &b.domain(),
        Renewal {
            id: id(&stranger),
            valid_until: now + 86_400,
            issued_at: now,
        },
    );
    assert_eq!(
        contract_err(b.reg.renew(&r).await),
        ContractError::UnknownIdentity(id(&stranger))
    );
}

async fn revoke_then_lookup(b: &Backend) {
    let k = key();
    b.reg.register(&certificate(b, &k).await).await.unwrap();
    let now = b.reg.now().await.unwrap();
    let outcome = b
        .reg
        .revoke(&sign(
            &k,
            &b.domain(),
            Revocation {
                id: id(&k),
                revoked_at: now,
            },
        ))
        .await
        .unwrap();
    assert!(outcome.block > 0);
    let status = b.reg.status(id(&k)).await.unwrap();
    assert!(
        status.revoked_at >= now,
        "{}: stored revokedAt is the block time",
        b.name
    );
    assert!(!b.reg.is_valid(id(&k)).await.unwrap());
    // Revoked is final: no renewal, no re-registration.
    let later = now + 10;
    let renewal = sign(
        &k,
        &b.domain(),
        Renewal {
            id: id(&k),
            valid_until: later + 86_400,
            issued_at: later,
        },
    );
    assert_eq!(
        contract_err(b.reg.renew(&renewal).await),
        ContractError::IdentityRevoked(id(&k))
    );
    assert_eq!(
        contract_err(b.reg.register(&certificate(b, &k).await).await),
        ContractError::AlreadyRegistered(id(&k))
    );
    // Revoking an ID that was never registered.
    let stranger = key();
    let r = sign(
        &stranger,
        &b.domain(),
        Revocation {
            id: id(&stranger),
            revoked_at: now,
        },
    );
    assert_eq!(
        contract_err(b.reg.revoke(&r).await),
        ContractError::UnknownIdentity(id(&stranger))
    );
}

async fn revocation_signed_days_earlier_accepted(b: &Backend) {
    let k = key();
    let now = b.reg.now().await.unwrap();
    // Signed at creation and kept offline…
    let kept = sign(
        &k,
        &b.domain(),
        Revocation {
            id: id(&k),
            revoked_at: now,
        },
    );
    b.reg.register(&certificate(b, &k).await).await.unwrap();
    // …used three days later, after the key is lost.
    b.advance(3 * 86_400).await;
    b.reg.revoke(&kept).await.unwrap();
    let status = b.reg.status(id(&k)).await.unwrap();
    assert!(
        status.revoked_at >= now + 3 * 86_400,
        "{}: effective time is the block time",
        b.name
    );
    assert!(!b.reg.is_valid(id(&k)).await.unwrap());
}

async fn endpoint_sequence_rules(b: &Backend) {
    let k = key();
    assert_eq!(b.reg.endpoint(id(&k)).await.unwrap(), None);
    b.reg.register(&certificate(b, &k).await).await.unwrap();
    assert_eq!(b.reg.endpoint(id(&k)).await.unwrap(), None, "{}", b.name);
    let d = b.domain();
    let ep = |s: &str, seq| {
        sign(
            &k,
            &d,
            Endpoint {
                id: id(&k),
                endpoint: s.to_string(),
                sequence: seq,
            },
        )
    };
    b.reg
        .set_endpoint(&ep("203.0.113.7:7400", 5))
        .await
        .unwrap();
    let got = b.reg.endpoint(id(&k)).await.unwrap().unwrap();
    assert_eq!(
        (got.endpoint.as_str(), got.sequence),
        ("203.0.113.7:7400", 5)
    );
    assert_eq!(
        contract_err(b.reg.set_endpoint(&ep("203.0.113.8:7400", 5)).await),
        ContractError::StaleSequence {
            sequence: 5,
            current: 5
        }
    );
    assert_eq!(
        contract_err(b.reg.set_endpoint(&ep("203.0.113.8:7400", 4)).await),
        ContractError::StaleSequence {
            sequence: 4,
            current: 5
        }
    );
    b.reg
        .set_endpoint(&ep("203.0.113.8:7400", 6))
        .await
        .unwrap();
    assert_eq!(
        b.reg.endpoint(id(&k)).await.unwrap().unwrap().endpoint,
        "203.0.113.8:7400"
    );
    let long = "x".repeat(256);
    assert_eq!(
        contract_err(b.reg.set_endpoint(&ep(&long, 7)).await),
        ContractError::EndpointTooLong { length: 256 }
    );
    // 255 bytes is the limit, and allowed.
    b.reg.set_endpoint(&ep(&"y".repeat(255), 8)).await.unwrap();
    assert_eq!(
        b.reg
            .endpoint(id(&k))
            .await
            .unwrap()
            .unwrap()
            .endpoint
            .len(),
        255
    );
}

async fn endpoint_sequence_bounded_by_block_time(b: &Backend) {
    let k = key();
    b.reg.register(&certificate(b, &k).await).await.unwrap();
    let d = b.domain();
    let ep = |seq| {
        sign(
            &k,
            &d,
            Endpoint {
                id: id(&k),
                endpoint: "203.0.113.7:7400".to_string(),
                sequence: seq,
            },
        )
    };
    let now = b.reg.now().await.unwrap();
    // A clock an hour ahead: refused by name, with the limit the block allowed.
    let ahead = (now + 3600) * 1000;
    let err = contract_err(b.reg.set_endpoint(&ep(ahead)).await);
    match err {
        ContractError::FutureSequence { sequence, limit } => {
            assert_eq!(sequence, ahead, "{}", b.name);
            assert!(
                limit >= (now + 300) * 1000 && limit < ahead,
                "{}: limit {limit} for block time ~{now}",
                b.name
            );
        }
        ref other => panic!("{}: expected FutureSequence, got {other:?}", b.name),
    }
    assert!(err.to_string().contains("set the clock right"), "{err}");
    // The sequence that would freeze the endpoint for good.
    assert!(matches!(
        contract_err(b.reg.set_endpoint(&ep(u64::MAX)).await),
        ContractError::FutureSequence {
            sequence: u64::MAX,
            ..
        }
    ));
    assert_eq!(b.reg.endpoint(id(&k)).await.unwrap(), None, "{}", b.name);
    // What the CLI signs, this machine's clock in milliseconds, is inside the bound.
    let wall_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    b.reg.set_endpoint(&ep(wall_ms)).await.unwrap();
    assert_eq!(
        b.reg.endpoint(id(&k)).await.unwrap().unwrap().sequence,
        wall_ms
    );
}

async fn verify_session_errors_by_name(b: &Backend) {
    let (alice, bob, stranger) = (key(), key(), key());
    b.reg.register(&certificate(b, &alice).await).await.unwrap();
    b.reg.register(&certificate(b, &bob).await).await.unwrap();
    let d = b.domain();
    let now = b.reg.now().await.unwrap();
    let req = |signer: &chainmail_core::SecretKey, from, to, t| {
        sign(
            signer,
            &d,
            SessionRequest {
                from,
                to,
                timestamp: t,
                ephemeral_key_hash: [7; 32],
            },
        )
    };
    b.reg
        .verify_session(&req(&bob, id(&bob), id(&alice), now))
        .await
        .unwrap();
    assert_eq!(
        contract_err(
            b.reg
                .verify_session(&req(&stranger, id(&stranger), id(&alice), now))
                .await
        ),
        ContractError::UnknownIdentity(id(&stranger)),
        "{}",
        b.name
    );
    assert_eq!(
        contract_err(
            b.reg
                .verify_session(&req(&bob, id(&bob), id(&stranger), now))
                .await
        ),
        ContractError::UnknownIdentity(id(&stranger))
    );
    assert_eq!(
        contract_err(
            b.reg
                .verify_session(&req(&alice, id(&bob), id(&alice), now))
                .await
        ),
        ContractError::BadSignature
    );
    match contract_err(
        b.reg
            .verify_session(&req(&bob, id(&bob), id(&alice), now - 1000))
            .await,
    ) {
        ContractError::StaleTimestamp {
            timestamp,
            block_timestamp,
        } => {
            assert_eq!(timestamp, now - 1000);
            // The block's time, not the request's: `now` is this process's
            // clock in whole seconds, anvil's pending block is stamped by
            // its own, and the two can fall either side of a second tick.
            assert!(block_timestamp + 1 >= now, "{block_timestamp} < {now}");
        }
        other => panic!("{}: expected StaleTimestamp, got {other:?}", b.name),
    }
    // Revoked peer.
    let carol = key();
    b.reg.register(&certificate(b, &carol).await).await.unwrap();
    let now = b.reg.now().await.unwrap();
    b.reg
        .revoke(&sign(
            &carol,
            &d,
            Revocation {
                id: id(&carol),
                revoked_at: now,
            },
        ))
        .await
        .unwrap();
    let now = b.reg.now().await.unwrap();
    assert_eq!(
        contract_err(
            b.reg
                .verify_session(&req(&carol, id(&carol), id(&alice), now))
                .await
        ),
        ContractError::IdentityRevoked(id(&carol))
    );
    // Expired peer: certificates are valid 30 days; jump 31.
    b.advance(31 * 86_400).await;
    let now = b.reg.now().await.unwrap();
    assert_eq!(
        contract_err(
            b.reg
                .verify_session(&req(&bob, id(&bob), id(&alice), now))
                .await
        ),
        ContractError::IdentityExpired(id(&bob))
    );
    assert!(!b.reg.is_valid(id(&bob)).await.unwrap());
}

async fn public_key_found_through_registered_block(b: &Backend) {
    let (k, other) = (key(), key());
    assert_eq!(b.reg.public_key(id(&k)).await.unwrap(), None);
    b.reg.register(&certificate(b, &other).await).await.unwrap();
    b.reg.register(&certificate(b, &k).await).await.unwrap();
    assert_eq!(
        b.reg.public_key(id(&k)).await.unwrap(),
        Some(k.public_key()),
        "{}",
        b.name
    );
    assert_eq!(
        b.reg.public_key(id(&other)).await.unwrap(),
        Some(other.public_key())
    );
}

async fn bad_inputs_refused_by_name(b: &Backend) {
    let (k, thief) = (key(), key());
    let now = b.reg.now().await.unwrap();
    let d = b.domain();
    // A certificate signed by another key.
    let mut forged = sign(
        &thief,
        &d,
        chainmail_core::eip712::Certificate::new(k.public_key(), now + 86_400, now),
    );
    assert_eq!(
        contract_err(b.reg.register(&forged).await),
        ContractError::BadSignature,
        "{}",
        b.name
    );
    // Lifetime beyond five years.
    forged = sign(
        &k,
        &d,
        chainmail_core::eip712::Certificate::new(k.public_key(), now + 6 * 365 * 86_400, now),
    );
    assert!(matches!(
        contract_err(b.reg.register(&forged).await),
        ContractError::InvalidLifetime { .. }
    ));
    // Issued two days ago (outside the one-day skew).
    forged = sign(
        &k,
        &d,
        chainmail_core::eip712::Certificate::new(k.public_key(), now + 86_400, now - 2 * 86_400),
    );
    assert!(matches!(
        contract_err(b.reg.register(&forged).await),
        ContractError::StaleTimestamp { .. }
    ));
    // A signature for another registry (wrong chain id) is worthless here.
    let other_domain = chainmail_core::eip712::Domain {
        chain_id: d.chain_id ^ 1,
        ..d
    };
    forged = sign(
        &k,
        &other_domain,
        chainmail_core::eip712::Certificate::new(k.public_key(), now + 86_400, now),
    );
    assert_eq!(
        contract_err(b.reg.register(&forged).await),
        ContractError::BadSignature
    );
    assert!(!b.reg.status(id(&k)).await.unwrap().is_registered());
}
