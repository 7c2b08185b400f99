//! Unit tests of the handshake: the round trip, every check of §4.1.3 made
//! to fail on its own, and every single-bit flip of T_B1 and T_A2 refused.

use rand::{CryptoRng, RngCore, SeedableRng};

use super::*;
use crate::codec::Malformed;
use crate::eip712::{Domain, SessionRequest, Signed, TypedData};
use crate::hash::keccak256;
use crate::kdf;
use crate::record::write_record;
use crate::session::{Opened, Session, SessionError};
use crate::status::IdStatus;

/// Hands out fixed bytes, so tests know every ephemeral secret.
pub(crate) struct FixedRng(pub Vec<u8>);
impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        assert!(self.0.len() >= dst.len(), "FixedRng exhausted");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
    }
}
impl CryptoRng for FixedRng {}

const NOW: u64 = 1_764_000_000;

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32]).unwrap()
}
fn domain() -> Domain {
    Domain {
        chain_id: 31337,
        verifying_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap(),
    }
}
fn live() -> IdStatus {
    IdStatus {
        valid_until: NOW + 86_400,
        issued_at: NOW - 86_400,
        revoked_at: 0,
        registered_block: 1,
    }
}
fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(42)
}

struct Parties {
    alice: SecretKey,
    bob: SecretKey,
}
fn parties() -> Parties {
    Parties {
        alice: key(0xa1),
        bob: key(0xb0),
    }
}

/// A full handshake; returns (bob's session, alice's session, T_B1, T_A2, confirm).
fn handshake(p: &Parties) -> (Session, Session, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut rng = rng();
    let (expect, t_b1) = Initiator::start(
        &p.bob,
        &domain(),
        &p.alice.public_key(),
        &live(),
        NOW,
        &mut rng,
    )
    .unwrap();
    let responder = Responder::new(&p.alice, domain());
    let pending = responder.read_t_b1(&t_b1, NOW + 1).unwrap();
    assert_eq!(pending.initiator(), p.bob.address());
    let mut cache = MemoryReplayCache::new(0, 100);
    let (t_a2, alice) = pending
        .accept(&live(), &live(), &mut cache, NOW + 1, &mut rng)
        .unwrap();
    let (bob, confirm) = expect.read_t_a2(&t_a2).unwrap();
    (bob, alice, t_b1, t_a2, confirm)
}

#[test]
fn round_trip_sizes_and_data_both_ways() {
    let p = parties();
    let (mut bob, mut alice, t_b1, t_a2, confirm) = handshake(&p);
    assert_eq!(t_b1.len(), 4 + T_B1_LEN);
    assert_eq!(t_b1.len(), 260);
    assert_eq!(t_a2.len(), 4 + T_A2_LEN);
    assert_eq!(bob.transcript_hash(), alice.transcript_hash());
    assert_eq!(bob.peer(), p.alice.address());
    assert_eq!(alice.peer(), p.bob.address());
    assert_eq!(alice.expires_at(), NOW + 1 + SESSION_LIFETIME_SECS);

    // Alice neither sends nor accepts data before the confirm frame.
    assert!(!alice.is_confirmed());
    let mut out = Vec::new();
    assert_eq!(
        alice.seal(b"early", NOW + 1, &mut out),
        Err(SessionError::NotConfirmed)
    );
    assert_eq!(alice.open(&confirm, NOW + 2), Ok(Opened::Confirmed));
    assert!(alice.is_confirmed());

    let mut frame = Vec::new();
    bob.seal(b"hello alice", NOW + 2, &mut frame).unwrap();
    assert_eq!(
        alice.open(&frame, NOW + 2),
        Ok(Opened::Data(b"hello alice".to_vec()))
    );
    frame.clear();
    alice.seal(b"hi bob", NOW + 2, &mut frame).unwrap();
    assert_eq!(
        bob.open(&frame, NOW + 2),
        Ok(Opened::Data(b"hi bob".to_vec()))
    );
}

#[test]
fn data_before_confirm_is_refused() {
    let p = parties();
    let (mut bob, mut alice, _, _, _confirm) = handshake(&p);
    let mut frame = Vec::new();
    bob.seal(b"skip confirm", NOW + 2, &mut frame).unwrap();
    // Bob's second frame (counter 1) arrives without the confirm (counter 0):
    // it does not even authenticate.
    assert_eq!(alice.open(&frame, NOW + 2), Err(SessionError::BadFrame));
    assert_eq!(alice.open(&frame, NOW + 2), Err(SessionError::Poisoned));
}

#[test]
fn confirm_cannot_be_replayed_or_sent_by_alice() {
    let p = parties();
    let (mut bob, mut alice, _, _, confirm) = handshake(&p);
    alice.open(&confirm, NOW + 2).unwrap();
    assert_eq!(alice.open(&confirm, NOW + 2), Err(SessionError::BadFrame));
    // Bob receiving a frame Alice never sealed fails too.
    assert_eq!(bob.open(&confirm, NOW + 2), Err(SessionError::BadFrame));
}

// ---- the responder's checks, in order --------------------------------------

fn t_b1_for(p: &Parties, d: &Domain, to: &PublicKey, now: u64) -> Vec<u8> {
    Initiator::start(&p.bob, d, to, &live(), now, &mut rng())
        .unwrap()
        .1
}

fn read(p: &Parties, t_b1: &[u8], now: u64) -> Result<(), HandshakeError> {
    Responder::new(&p.alice, domain())
        .read_t_b1(t_b1, now)
        .map(|_| ())
}

#[test]
fn unsupported_version_and_unknown_type() {
    let p = parties();
    let mut t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    t[4] = 2;
    assert_eq!(
        read(&p, &t, NOW),
        Err(HandshakeError::UnsupportedVersion { version: 2 })
    );
    t[4] = VERSION;
    t[5] = 0x07;
    assert_eq!(
        read(&p, &t, NOW),
        Err(HandshakeError::UnexpectedType { message_type: 7 })
    );
}

#[test]
fn t_b1_for_another_registry_is_refused() {
    let p = parties();
    let other = Domain {
        chain_id: 1,
        ..domain()
    };
    let t = t_b1_for(&p, &other, &p.alice.public_key(), NOW);
    assert_eq!(
        read(&p, &t, NOW),
        Err(HandshakeError::WrongRegistry {
            chain_id: 1,
            contract: domain().verifying_contract
        })
    );
    let other = Domain {
        verifying_contract: crate::Address([9; 20]),
        ..domain()
    };
    let t = t_b1_for(&p, &other, &p.alice.public_key(), NOW);
    assert!(matches!(
        read(&p, &t, NOW),
        Err(HandshakeError::WrongRegistry { .. })
    ));
}

#[test]
fn t_b1_for_someone_else_is_refused() {
    let p = parties();
    let carol = key(0xc0);
    let t = t_b1_for(&p, &domain(), &carol.public_key(), NOW);
    assert_eq!(
        read(&p, &t, NOW),
        Err(HandshakeError::WrongRecipient {
            to: carol.address()
        })
    );
}

#[test]
fn reflected_t_a2_sent_as_t_b1_is_refused() {
    let p = parties();
    let (_, _, _, t_a2, _) = handshake(&p);
    // Alice's own T_A2 bounced back to her as if it were a T_B1.
    assert_eq!(read(&p, &t_a2, NOW), Err(HandshakeError::Reflected));
    // And Bob's T_B1 bounced back to Bob as if it were a T_A2.
    let (expect, t_b1) = Initiator::start(
        &p.bob,
        &domain(),
        &p.alice.public_key(),
        &live(),
        NOW,
        &mut rng(),
    )
    .unwrap();
    assert_eq!(
        expect.read_t_a2(&t_b1).unwrap_err(),
        HandshakeError::Reflected
    );
}

#[test]
fn handshake_with_oneself_is_refused() {
    let p = parties();
    assert_eq!(
        Initiator::start(
            &p.alice,
            &domain(),
            &p.alice.public_key(),
            &live(),
            NOW,
            &mut rng()
        )
        .unwrap_err(),
        HandshakeError::Reflected
    );
    // A T_B1 claiming Alice's own ID (crafted: it needs her key to sign).
    let e = key(0xe1);
    let t = craft_t_b1(&domain(), &p.alice.public_key(), &e, &p.alice, NOW, None);
    assert_eq!(read(&p, &t, NOW), Err(HandshakeError::Reflected));
}

#[test]
fn tampered_ciphertext_does_not_decrypt() {
    let p = parties();
    let mut t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    let last = t.len() - 1;
    t[last] ^= 0x80;
    assert_eq!(read(&p, &t, NOW), Err(HandshakeError::DecryptFailed));
}

/// Builds a T_B1 by hand from an ephemeral secret, so every inner field can
/// be chosen. `signer` signs the SessionRequest; `claimed` overrides
/// (ID_B, K_pubB) in the body.
fn craft_t_b1(
    d: &Domain,
    alice: &PublicKey,
    e_b: &SecretKey,
    signer: &SecretKey,
    t: u64,
    claimed: Option<(crate::Address, PublicKey)>,
) -> Vec<u8> {
    let e_b_c = e_b.public_key().compressed();
    let request = Signed::sign(
        signer,
        d,
        SessionRequest {
            from: signer.address(),
            to: alice.address(),
            timestamp: t,
            ephemeral_key_hash: keccak256(&e_b_c),
        },
    );
    let (id_b, k_b) = claimed.unwrap_or((signer.address(), signer.public_key()));
    let mut body = vec![VERSION, TYPE_T_B1];
    body.extend_from_slice(&d.chain_id.to_be_bytes());
    body.extend_from_slice(d.verifying_contract.as_bytes());
    body.extend_from_slice(alice.address().as_bytes());
    body.extend_from_slice(&e_b_c);
    let mut pt = Vec::new();
    pt.extend_from_slice(id_b.as_bytes());
    pt.extend_from_slice(&t.to_be_bytes());
    pt.extend_from_slice(k_b.as_xy());
    pt.extend_from_slice(request.signature.as_bytes());
    let es = e_b.diffie_hellman(alice);
    kdf::seal(&kdf::cipher(&t_b1_key(&es)), 0, &body, &mut pt);
    body.extend_from_slice(&pt);
    let mut rec = Vec::new();
    write_record(&body, &mut rec);
    rec
}

#[test]
fn crafted_t_b1_matches_the_real_one() {
    // The crafting helper is the real layout: same ephemeral → same bytes.
    let p = parties();
    let e = [0x5e; 32];
    let real = Initiator::start(
        &p.bob,
        &domain(),
        &p.alice.public_key(),
        &live(),
        NOW,
        &mut FixedRng(e.to_vec()),
    )
    .unwrap()
    .1;
    let crafted = craft_t_b1(
        &domain(),
        &p.alice.public_key(),
        &SecretKey::from_bytes(&e).unwrap(),
        &p.bob,
        NOW,
        None,
    );
    assert_eq!(real, crafted);
}

#[test]
fn key_that_does_not_hash_to_the_id_is_refused() {
    let p = parties();
    let mallory = key(0x66);
    // Mallory signs, but claims to be Bob while shipping her own key.
    let t = craft_t_b1(
        &domain(),
        &p.alice.public_key(),
        &key(0xe2),
        &mallory,
        NOW,
        Some((p.bob.address(), mallory.public_key())),
    );
    assert_eq!(
        read(&p, &t, NOW),
        Err(HandshakeError::KeyMismatch {
            id: p.bob.address()
        })
    );
}

#[test]
fn signature_by_another_key_is_refused() {
    let p = parties();
    let mallory = key(0x66);
    // Bob's ID and key in the body, but Mallory's signature.
    let t = craft_t_b1(
        &domain(),
        &p.alice.public_key(),
        &key(0xe3),
        &mallory,
        NOW,
        Some((p.bob.address(), p.bob.public_key())),
    );
    assert_eq!(
        read(&p, &t, NOW),
        Err(HandshakeError::BadSignature {
            id: p.bob.address()
        })
    );
}

#[test]
fn signature_for_another_registry_is_refused() {
    // Header says our registry, but Bob signed the request for chain 1:
    // a signature lifted from another registry.
    let p = parties();
    let e_b = key(0xe4);
    let other = Domain {
        chain_id: 1,
        ..domain()
    };
    let lifted = craft_t_b1(&other, &p.alice.public_key(), &e_b, &p.bob, NOW, None);
    // Re-wrap the lifted signature under our header.
    let es = e_b.diffie_hellman(&p.alice.public_key());
    let k = kdf::cipher(&t_b1_key(&es));
    let mut pt = lifted[4 + T_B1_HEADER_LEN..].to_vec();
    kdf::open(&k, 0, &lifted[4..4 + T_B1_HEADER_LEN], &mut pt).unwrap();
    let mut body = lifted[4..4 + T_B1_HEADER_LEN].to_vec();
    body[2..10].copy_from_slice(&domain().chain_id.to_be_bytes());
    kdf::seal(&k, 0, &body, &mut pt);
    body.extend_from_slice(&pt);
    let mut rec = Vec::new();
    write_record(&body, &mut rec);
    assert_eq!(
        read(&p, &rec, NOW),
        Err(HandshakeError::BadSignature {
            id: p.bob.address()
        })
    );
}

#[test]
fn timestamp_skew_boundaries() {
    let p = parties();
    let t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    assert_eq!(read(&p, &t, NOW + MAX_SKEW_SECS), Ok(()));
    assert_eq!(read(&p, &t, NOW - MAX_SKEW_SECS), Ok(()));
    assert_eq!(
        read(&p, &t, NOW + MAX_SKEW_SECS + 1),
        Err(HandshakeError::StaleTimestamp {
            timestamp: NOW,
            now: NOW + MAX_SKEW_SECS + 1
        })
    );
    assert!(matches!(
        read(&p, &t, NOW - MAX_SKEW_SECS - 1),
        Err(HandshakeError::StaleTimestamp { .. })
    ));
    // Fresh at read time, stale by the time the chain answered.
    let pending = Responder::new(&p.alice, domain())
        .read_t_b1(&t, NOW)
        .unwrap();
    let err = pending
        .accept(
            &live(),
            &live(),
            &mut MemoryReplayCache::new(0, 10),
            NOW + MAX_SKEW_SECS + 1,
            &mut rng(),
        )
        .unwrap_err();
    assert!(matches!(err, HandshakeError::StaleTimestamp { .. }));
}

fn accept_with(
    p: &Parties,
    initiator: IdStatus,
    own: IdStatus,
) -> Result<(Vec<u8>, Session), HandshakeError> {
    let t = t_b1_for(p, &domain(), &p.alice.public_key(), NOW);
    let pending = Responder::new(&p.alice, domain())
        .read_t_b1(&t, NOW)
        .unwrap();
    pending.accept(
        &initiator,
        &own,
        &mut MemoryReplayCache::new(0, 10),
        NOW,
        &mut rng(),
    )
}

#[test]
fn chain_status_of_both_ids_is_required() {
    let p = parties();
    let b = p.bob.address();
    let a = p.alice.address();
    assert_eq!(
        accept_with(&p, IdStatus::default(), live()).unwrap_err(),
        HandshakeError::UnknownId { id: b }
    );
    let revoked = IdStatus {
        revoked_at: NOW - 5,
        ..live()
    };
    assert_eq!(
        accept_with(&p, revoked, live()).unwrap_err(),
        HandshakeError::Revoked {
            id: b,
            revoked_at: NOW - 5
        }
    );
    let expired = IdStatus {
        valid_until: NOW,
        ..live()
    };
    assert_eq!(
        accept_with(&p, expired, live()).unwrap_err(),
        HandshakeError::Expired {
            id: b,
            valid_until: NOW
        }
    );
    assert_eq!(
        accept_with(&p, live(), revoked).unwrap_err(),
        HandshakeError::Revoked {
            id: a,
            revoked_at: NOW - 5
        }
    );
    // Bob checks Alice's status before sending anything.
    assert_eq!(
        Initiator::start(
            &p.bob,
            &domain(),
            &p.alice.public_key(),
            &expired,
            NOW,
            &mut rng()
        )
        .unwrap_err(),
        HandshakeError::Expired {
            id: a,
            valid_until: NOW
        }
    );
}

#[test]
fn session_lifetime_is_capped_by_certificates() {
    let p = parties();
    let short = IdStatus {
        valid_until: NOW + 60,
        ..live()
    };
    let (_, mut alice) = accept_with(&p, short, live()).unwrap();
    assert_eq!(alice.expires_at(), NOW + 60);
    assert_eq!(
        alice.open(
            &[
                0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ],
            NOW + 60
        ),
        Err(SessionError::Expired {
            expires_at: NOW + 60
        })
    );
}

#[test]
fn replayed_t_b1_is_refused_after_all_other_checks() {
    let p = parties();
    let t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    let responder = Responder::new(&p.alice, domain());
    let mut cache = MemoryReplayCache::new(0, 10);
    responder
        .read_t_b1(&t, NOW)
        .unwrap()
        .accept(&live(), &live(), &mut cache, NOW, &mut rng())
        .unwrap();
    // A rejected attempt (unknown ID) does not touch the cache …
    let t2 = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    let before = cache.len();
    let _ = responder.read_t_b1(&t2, NOW).unwrap().accept(
        &IdStatus::default(),
        &live(),
        &mut cache,
        NOW,
        &mut rng(),
    );
    assert_eq!(cache.len(), before);
    // … while the replay is caught.
    let err = responder
        .read_t_b1(&t, NOW + 10)
        .unwrap()
        .accept(&live(), &live(), &mut cache, NOW + 10, &mut rng())
        .unwrap_err();
    assert_eq!(
        err,
        HandshakeError::Replay {
            id: p.bob.address()
        }
    );
    assert_eq!(err.peer_visible(), "handshake failed");
}

#[test]
fn replay_cache_horizon_and_capacity() {
    let p = parties();
    let t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    let pending = Responder::new(&p.alice, domain())
        .read_t_b1(&t, NOW)
        .unwrap();
    // The node started after T: an earlier run may have accepted it.
    let err = pending
        .accept(
            &live(),
            &live(),
            &mut MemoryReplayCache::new(NOW + 1, 10),
            NOW,
            &mut rng(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::ReplayCache(ReplayError::BeforeHorizon { .. })
    ));

    let mut cache = MemoryReplayCache::new(0, 1);
    let b = p.bob.address();
    cache.check_and_insert(&b, &[2; 33], NOW, NOW).unwrap();
    assert_eq!(
        cache.check_and_insert(&b, &[3; 33], NOW, NOW),
        Err(ReplayError::Full { capacity: 1 })
    );
    // Once the first entry's T leaves the window, it is pruned.
    cache
        .check_and_insert(&b, &[3; 33], NOW + 301, NOW + MAX_SKEW_SECS + 1)
        .unwrap();
    assert_eq!(cache.len(), 1);
}

// ---- the initiator's checks ---------------------------------------------

#[test]
fn t_a2_replayed_into_another_handshake_is_refused() {
    let p = parties();
    let (_, _, _, old_t_a2, _) = handshake(&p);
    let (expect, _) = Initiator::start(
        &p.bob,
        &domain(),
        &p.alice.public_key(),
        &live(),
        NOW,
        &mut FixedRng(vec![0x77; 32]),
    )
    .unwrap();
    assert_eq!(
        expect.read_t_a2(&old_t_a2).unwrap_err(),
        HandshakeError::DecryptFailed
    );
}

/// Builds a T_A2 by hand for a T_B1 whose ephemeral secret the test knows.
fn craft_t_a2(
    alice_like: &SecretKey,
    bob_id: crate::Address,
    e_b: &SecretKey,
    e_a: &SecretKey,
    t_b1: &[u8],
    timestamp: u64,
    alice_static_for_es: &PublicKey,
) -> Vec<u8> {
    let es = e_b.diffie_hellman(alice_static_for_es);
    let ee = e_a.diffie_hellman(&e_b.public_key());
    let h = keccak256(&t_b1[4..]);
    let e_a_c = e_a.public_key().compressed();
    let resp = Signed::sign(
        alice_like,
        &domain(),
        crate::eip712::SessionResponse {
            from: alice_like.address(),
            to: bob_id,
            timestamp,
            ephemeral_key_hash: keccak256(&e_a_c),
            request_hash: h,
        },
    );
    let mut body = vec![VERSION, TYPE_T_A2];
    body.extend_from_slice(&e_a_c);
    let mut pt = Vec::new();
    pt.extend_from_slice(alice_like.address().as_bytes());
    pt.extend_from_slice(&timestamp.to_be_bytes());
    pt.extend_from_slice(alice_like.public_key().as_xy());
    pt.extend_from_slice(resp.signature.as_bytes());
    kdf::seal(&kdf::cipher(&t_a2_key(&es, &ee, &h)), 0, &body, &mut pt);
    body.extend_from_slice(&pt);
    let mut rec = Vec::new();
    write_record(&body, &mut rec);
    rec
}

fn bob_start_fixed(p: &Parties, e: [u8; 32]) -> (ExpectT_A2, Vec<u8>, SecretKey) {
    let (x, t) = Initiator::start(
        &p.bob,
        &domain(),
        &p.alice.public_key(),
        &live(),
        NOW,
        &mut FixedRng(e.to_vec()),
    )
    .unwrap();
    (x, t, SecretKey::from_bytes(&e).unwrap())
}

#[test]
fn crafted_t_a2_is_accepted_when_honest() {
    let p = parties();
    let (x, t_b1, e_b) = bob_start_fixed(&p, [0x31; 32]);
    let t_a2 = craft_t_a2(
        &p.alice,
        p.bob.address(),
        &e_b,
        &key(0x32),
        &t_b1,
        NOW + 1,
        &p.alice.public_key(),
    );
    x.read_t_a2(&t_a2).unwrap();
}

#[test]
fn t_a2_with_wrong_timestamp_is_refused() {
    let p = parties();
    let (x, t_b1, e_b) = bob_start_fixed(&p, [0x31; 32]);
    let t_a2 = craft_t_a2(
        &p.alice,
        p.bob.address(),
        &e_b,
        &key(0x32),
        &t_b1,
        NOW + 2,
        &p.alice.public_key(),
    );
    assert_eq!(
        x.read_t_a2(&t_a2).unwrap_err(),
        HandshakeError::TimestampMismatch {
            timestamp: NOW + 2,
            expected: NOW + 1
        }
    );
}

#[test]
fn t_a2_from_another_key_is_refused() {
    // Someone who learned es (here: the test) but is not Alice signs T_A2.
    let p = parties();
    let mallory = key(0x66);
    let (x, t_b1, e_b) = bob_start_fixed(&p, [0x31; 32]);
    let t_a2 = craft_t_a2(
        &mallory,
        p.bob.address(),
        &e_b,
        &key(0x32),
        &t_b1,
        NOW + 1,
        &p.alice.public_key(),
    );
    assert_eq!(
        x.read_t_a2(&t_a2).unwrap_err(),
        HandshakeError::KeyMismatch {
            id: mallory.address()
        }
    );
}

#[test]
fn t_a2_echoing_our_ephemeral_is_refused() {
    let p = parties();
    let (x, t_b1, e_b) = bob_start_fixed(&p, [0x31; 32]);
    let e_b_again = SecretKey::from_bytes(&[0x31; 32]).unwrap();
    let t_a2 = craft_t_a2(
        &p.alice,
        p.bob.address(),
        &e_b,
        &e_b_again,
        &t_b1,
        NOW + 1,
        &p.alice.public_key(),
    );
    assert_eq!(x.read_t_a2(&t_a2).unwrap_err(), HandshakeError::Reflected);
}

#[test]
fn truncated_and_padded_records_are_malformed() {
    let p = parties();
    let t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    // Prefix kept, one byte missing: not a complete record.
    assert!(matches!(
        read(&p, &t[..t.len() - 1], NOW),
        Err(HandshakeError::Malformed(_))
    ));
    // Consistent prefix, wrong length for T_B1.
    let mut body = t[4..].to_vec();
    body.push(0);
    let mut rec = Vec::new();
    write_record(&body, &mut rec);
    assert_eq!(
        read(&p, &rec, NOW),
        Err(HandshakeError::Malformed(Malformed::Invalid {
            field: "T_B1 length"
        }))
    );
}

// ---- exhaustive bit flips ---------------------------------------------------

#[test]
fn every_single_bit_flip_of_t_b1_is_refused() {
    let p = parties();
    let t = t_b1_for(&p, &domain(), &p.alice.public_key(), NOW);
    let responder = Responder::new(&p.alice, domain());
    for bit in 0..t.len() * 8 {
        let mut m = t.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        assert!(responder.read_t_b1(&m, NOW).is_err(), "bit {bit} accepted");
    }
}

#[test]
fn every_single_bit_flip_of_t_a2_is_refused() {
    let p = parties();
    let e = [0x31; 32];
    let (_, t_b1, _) = bob_start_fixed(&p, e);
    let mut cache = MemoryReplayCache::new(0, 10);
    let (t_a2, _) = Responder::new(&p.alice, domain())
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .accept(&live(), &live(), &mut cache, NOW, &mut rng())
        .unwrap();
    for bit in 0..t_a2.len() * 8 {
        let (x, _, _) = bob_start_fixed(&p, e);
        let mut m = t_a2.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        assert!(x.read_t_a2(&m).is_err(), "bit {bit} accepted");
    }
    // And unflipped it is accepted (the loop above tests something).
    let (x, _, _) = bob_start_fixed(&p, e);
    x.read_t_a2(&t_a2).unwrap();
}

#[test]
fn the_tests_use_the_signed_type() {
    assert_eq!(
        SessionRequest::TYPE,
        "SessionRequest(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash)"
    );
}

#[test]
fn states_can_move_between_tasks() {
    // The node holds these across awaits in spawned tasks.
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<ExpectT_A2>();
    send::<PendingT_B1<'static>>();
    send::<Session>();
    send::<SecretKey>();
    sync::<SecretKey>();
    send::<MemoryReplayCache>();
}

// ---- past the AEAD: arbitrary plaintext inside a correctly encrypted body ----

fn seal_t_b1_plaintext(alice: &PublicKey, e_b: &SecretKey, plaintext: &[u8]) -> Vec<u8> {
    let d = domain();
    let mut body = vec![VERSION, TYPE_T_B1];
    body.extend_from_slice(&d.chain_id.to_be_bytes());
    body.extend_from_slice(d.verifying_contract.as_bytes());
    body.extend_from_slice(alice.address().as_bytes());
    body.extend_from_slice(&e_b.public_key().compressed());
    let mut pt = plaintext.to_vec();
    let es = e_b.diffie_hellman(alice);
    kdf::seal(&kdf::cipher(&t_b1_key(&es)), 0, &body, &mut pt);
    body.extend_from_slice(&pt);
    let mut rec = Vec::new();
    write_record(&body, &mut rec);
    rec
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// A body that decrypts but holds arbitrary fields — or Bob's real ID and
    /// key with an arbitrary signature — is refused with a named error.
    #[test]
    fn decrypted_garbage_is_refused(
        random in proptest::collection::vec(proptest::prelude::any::<u8>(), T_B1_PLAINTEXT_LEN),
        keep_identity in proptest::prelude::any::<bool>(),
    ) {
        let p = parties();
        let mut pt = random.clone();
        if keep_identity {
            pt[..20].copy_from_slice(p.bob.address().as_bytes());
            pt[20..28].copy_from_slice(&NOW.to_be_bytes());
            pt[28..92].copy_from_slice(p.bob.public_key().as_xy());
        }
        let rec = seal_t_b1_plaintext(&p.alice.public_key(), &key(0xe9), &pt);
        let err = read(&p, &rec, NOW).unwrap_err();
        proptest::prop_assert!(matches!(
            err,
            HandshakeError::Malformed(_)
                | HandshakeError::KeyMismatch { .. }
                | HandshakeError::BadSignature { .. }
                | HandshakeError::StaleTimestamp { .. }
                | HandshakeError::Reflected
        ), "{err:?}");
    }

    #[test]
    fn decrypted_plaintext_of_wrong_length_is_refused(
        len in 0usize..400,
    ) {
        proptest::prop_assume!(len != T_B1_PLAINTEXT_LEN);
        let p = parties();
        let rec = seal_t_b1_plaintext(&p.alice.public_key(), &key(0xe9), &vec![7u8; len]);
        proptest::prop_assert!(read(&p, &rec, NOW).is_err());
    }
}

#[test]
fn sealing_helper_matches_the_real_layout() {
    // So the property tests above really get past decryption.
    let p = parties();
    let e = key(0xe9);
    let t = craft_t_b1(&domain(), &p.alice.public_key(), &e, &p.bob, NOW, None);
    let es = e.diffie_hellman(&p.alice.public_key());
    let mut pt = t[4 + T_B1_HEADER_LEN..].to_vec();
    kdf::open(
        &kdf::cipher(&t_b1_key(&es)),
        0,
        &t[4..4 + T_B1_HEADER_LEN],
        &mut pt,
    )
    .unwrap();
    assert_eq!(seal_t_b1_plaintext(&p.alice.public_key(), &e, &pt), t);
    assert_eq!(read(&p, &t, NOW), Ok(()));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Bob's side: a T_A2 that decrypts (the test knows E_B) but holds
    /// arbitrary fields, or Alice's real ID/key/T+1 with an arbitrary
    /// signature, is refused by name.
    #[test]
    fn decrypted_garbage_t_a2_is_refused(
        random in proptest::collection::vec(proptest::prelude::any::<u8>(), T_A2_PLAINTEXT_LEN),
        keep_identity in proptest::prelude::any::<bool>(),
    ) {
        let p = parties();
        let (x, t_b1, e_b) = bob_start_fixed(&p, [0x31; 32]);
        let e_a = key(0x32);
        let mut pt = random.clone();
        if keep_identity {
            pt[..20].copy_from_slice(p.alice.address().as_bytes());
            pt[20..28].copy_from_slice(&(NOW + 1).to_be_bytes());
            pt[28..92].copy_from_slice(p.alice.public_key().as_xy());
        }
        let es = e_b.diffie_hellman(&p.alice.public_key());
        let ee = e_a.diffie_hellman(&e_b.public_key());
        let mut body = vec![VERSION, TYPE_T_A2];
        body.extend_from_slice(&e_a.public_key().compressed());
        kdf::seal(&kdf::cipher(&t_a2_key(&es, &ee, &keccak256(&t_b1[4..]))), 0, &body, &mut pt);
        body.extend_from_slice(&pt);
        let mut rec = Vec::new();
        write_record(&body, &mut rec);
        let err = x.read_t_a2(&rec).unwrap_err();
        proptest::prop_assert!(matches!(
            err,
            HandshakeError::Malformed(_)
                | HandshakeError::KeyMismatch { .. }
                | HandshakeError::BadSignature { .. }
                | HandshakeError::TimestampMismatch { .. }
        ), "{err:?}");
    }
}

/// The split responder (judge, then answer with the caller's replay
/// verdict): a status refusal comes from `judge`, before any replay key is
/// handed out; the verdict decides `answer`; a judged request's session
/// ends at the earlier certificate.
#[test]
fn judge_then_answer_with_the_callers_replay_verdict() {
    let p = parties();
    let start = |rng: &mut rand::rngs::StdRng| {
        Initiator::start(&p.bob, &domain(), &p.alice.public_key(), &live(), NOW, rng)
            .unwrap()
            .1
    };
    let mut rng = rng();
    let responder = Responder::new(&p.alice, domain());
    let ss = StaticShared::compute(&p.alice, &p.bob.public_key());
    let revoked = IdStatus {
        revoked_at: NOW - 1,
        ..live()
    };
    let t_b1 = start(&mut rng);
    let judged = responder
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .judge(&revoked, &live(), NOW);
    assert!(matches!(judged, Err(HandshakeError::Revoked { id, .. }) if id == p.bob.address()));
    let judged = responder
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .judge(&live(), &revoked, NOW);
    assert!(matches!(judged, Err(HandshakeError::Revoked { id, .. }) if id == p.alice.address()));

    let admissible = responder
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .judge(&live(), &live(), NOW)
        .unwrap();
    let key = admissible.replay_key();
    assert_eq!(key.initiator, p.bob.address());
    assert_eq!(key.timestamp, NOW);
    assert_eq!(
        admissible
            .answer(&ss, Err(ReplayError::Seen), NOW, &mut rng)
            .err(),
        Some(HandshakeError::Replay {
            id: p.bob.address()
        })
    );
    let short = IdStatus {
        valid_until: NOW + 100,
        ..live()
    };
    let (_t_a2, session) = responder
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .judge(&live(), &short, NOW)
        .unwrap()
        .answer(&ss, Ok(()), NOW, &mut rng)
        .unwrap();
    assert_eq!(session.expires_at(), NOW + 100);
}
