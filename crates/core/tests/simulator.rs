//! A two-party simulator in the style of quinn-proto's test `Pair`: Bob and
//! Alice exchange bytes through in-memory links with latency, in virtual
//! time, cut into arbitrary chunks (so the incremental record decoder is
//! exercised), with the chain's answers delivered later than the request
//! (as the node's async lookups are). No sockets, no sleeps, no clock.

// One state value per simulated party: size differences between states do not matter here.
#![allow(clippy::large_enum_variant)]

use std::collections::{HashMap, VecDeque};

use chainmail_core::codec::Codec;
use chainmail_core::eip712::Domain;
use chainmail_core::record::{RecordCheck, check_record};
use chainmail_core::wire::{Ack, Close, CloseReason, Deliver, Envelope, Wire};
use chainmail_core::{
    Address, ExpectT_A2, IdStatus, Initiator, MemoryReplayCache, Opened, PendingT_B1, Responder,
    SecretKey, Session, SessionError,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

const START: u64 = 1_764_000_000;

/// The registry's answers: the only chain input the protocol takes.
struct Chain(HashMap<Address, IdStatus>);

impl Chain {
    fn status(&self, id: &Address) -> IdStatus {
        self.0.get(id).copied().unwrap_or_default()
    }
}

/// Bytes in flight in one direction: (delivery time, chunk).
#[derive(Default)]
struct Link(VecDeque<(u64, Vec<u8>)>);

enum BobState {
    Idle,
    Expect(ExpectT_A2),
    Open(Box<Session>),
    Failed(String),
}

enum AliceState<'k> {
    Listening,
    /// T_B1 passed the local checks; the chain lookup answers at the given time.
    Looking(PendingT_B1<'k>, u64),
    Open(Box<Session>),
    Failed(String),
}

struct Pair<'k> {
    time: u64,
    latency: u64,
    chain_latency: u64,
    domain: Domain,
    chain: Chain,
    rng: StdRng,
    bob_key: &'k SecretKey,
    alice_key: &'k SecretKey,
    bob: BobState,
    alice: AliceState<'k>,
    to_alice: Link,
    to_bob: Link,
    alice_buf: Vec<u8>,
    bob_buf: Vec<u8>,
    replay: MemoryReplayCache,
    alice_inbox: Vec<Vec<u8>>,
    bob_acked: Vec<[u8; 16]>,
    bob_closed: Option<CloseReason>,
    /// Drop the n-th chunk sent to Alice (a lossy/hostile link).
    drop_to_alice: Option<usize>,
    sent_to_alice: usize,
}

impl<'k> Pair<'k> {
    fn new(bob_key: &'k SecretKey, alice_key: &'k SecretKey, seed: u64) -> Self {
        let live = IdStatus {
            valid_until: START + 30 * 86_400,
            issued_at: START - 86_400,
            revoked_at: 0,
            registered_block: 1,
        };
        let chain = Chain(HashMap::from([
            (bob_key.address(), live),
            (alice_key.address(), live),
        ]));
        Pair {
            time: START,
            latency: 40,
            chain_latency: 2,
            domain: Domain {
                chain_id: 0x636d,
                verifying_contract: Address([0xc0; 20]),
            },
            chain,
            rng: StdRng::seed_from_u64(seed),
            bob_key,
            alice_key,
            bob: BobState::Idle,
            alice: AliceState::Listening,
            to_alice: Link::default(),
            to_bob: Link::default(),
            alice_buf: Vec::new(),
            bob_buf: Vec::new(),
            replay: MemoryReplayCache::new(START - 1_000, 1_000),
            alice_inbox: Vec::new(),
            bob_acked: Vec::new(),
            bob_closed: None,
            drop_to_alice: None,
            sent_to_alice: 0,
        }
    }

    /// Cuts `bytes` into random chunks, each arriving after the latency.
    fn send(&mut self, to_alice: bool, bytes: Vec<u8>) {
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = self.rng.random_range(1..=rest.len().min(97));
            let chunk = rest[..n].to_vec();
            rest = &rest[n..];
            if to_alice {
                self.sent_to_alice += 1;
                if self.drop_to_alice == Some(self.sent_to_alice) {
                    continue;
                }
                self.to_alice.0.push_back((self.time + self.latency, chunk));
            } else {
                self.to_bob.0.push_back((self.time + self.latency, chunk));
            }
        }
    }

    fn bob_connect(&mut self) {
        let status = self.chain.status(&self.alice_key.address());
        match Initiator::start(
            self.bob_key,
            &self.domain,
            &self.alice_key.public_key(),
            &status,
            self.time,
            &mut self.rng,
        ) {
            Ok((expect, t_b1)) => {
                self.bob = BobState::Expect(expect);
                self.send(true, t_b1);
            }
            Err(e) => self.bob = BobState::Failed(e.to_string()),
        }
    }

    fn bob_send(&mut self, bodies: &[&str]) {
        let envelopes = bodies
            .iter()
            .map(|b| Envelope::new(b.as_bytes().to_vec(), self.time, &mut self.rng))
            .collect();
        let deliver = Deliver::sign_batch(
            self.bob_key,
            &self.domain,
            self.alice_key.address(),
            envelopes,
        )
        .expect("non-empty");
        let BobState::Open(session) = &mut self.bob else {
            panic!("bob has no session")
        };
        let mut out = Vec::new();
        session
            .seal(&Wire::Deliver(deliver).to_bytes(), self.time, &mut out)
            .unwrap();
        self.send(true, out);
    }

    /// Moves time to the next event and handles everything due.
    fn step(&mut self) -> bool {
        let next = [
            self.to_alice.0.front().map(|c| c.0),
            self.to_bob.0.front().map(|c| c.0),
            match &self.alice {
                AliceState::Looking(_, at) => Some(*at),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.time = self.time.max(next);
        while self.to_alice.0.front().is_some_and(|c| c.0 <= self.time) {
            let (_, chunk) = self.to_alice.0.pop_front().unwrap();
            self.alice_buf.extend_from_slice(&chunk);
        }
        while self.to_bob.0.front().is_some_and(|c| c.0 <= self.time) {
            let (_, chunk) = self.to_bob.0.pop_front().unwrap();
            self.bob_buf.extend_from_slice(&chunk);
        }
        self.alice_chain_answer();
        self.alice_read();
        self.bob_read();
        true
    }

    fn drive(&mut self) {
        let mut guard = 0;
        while self.step() {
            guard += 1;
            assert!(guard < 10_000, "simulation does not settle");
        }
    }

    fn alice_chain_answer(&mut self) {
        let AliceState::Looking(_, at) = &self.alice else {
            return;
        };
        if *at > self.time {
            return;
        }
        let AliceState::Looking(pending, _) =
            std::mem::replace(&mut self.alice, AliceState::Listening)
        else {
            unreachable!()
        };
        let b = self.chain.status(&pending.initiator());
        let a = self.chain.status(&self.alice_key.address());
        match pending.accept(&b, &a, &mut self.replay, self.time, &mut self.rng) {
            Ok((t_a2, session)) => {
                self.alice = AliceState::Open(Box::new(session));
                self.send(false, t_a2);
            }
            Err(e) => self.alice = AliceState::Failed(e.to_string()),
        }
    }

    fn take_record(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        match check_record(buf).map_err(|e| e.to_string())? {
            RecordCheck::Incomplete { .. } => Ok(None),
            RecordCheck::Complete { len } => Ok(Some(buf.drain(..len).collect())),
        }
    }

    fn alice_read(&mut self) {
        loop {
            if matches!(self.alice, AliceState::Looking(..) | AliceState::Failed(_)) {
                return;
            }
            let record = match Self::take_record(&mut self.alice_buf) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    self.alice = AliceState::Failed(e);
                    return;
                }
            };
            match &mut self.alice {
                AliceState::Listening => {
                    match Responder::new(self.alice_key, self.domain).read_t_b1(&record, self.time)
                    {
                        Ok(pending) => {
                            self.alice =
                                AliceState::Looking(pending, self.time + self.chain_latency)
                        }
                        Err(e) => self.alice = AliceState::Failed(e.to_string()),
                    }
                    return;
                }
                AliceState::Open(session) => match session.open(&record, self.time) {
                    Ok(Opened::Confirmed) => {}
                    Ok(Opened::Data(bytes)) => {
                        let Ok(Wire::Deliver(d)) = Wire::decode(&bytes) else {
                            self.alice = AliceState::Failed("not a delivery".into());
                            return;
                        };
                        let verified = d
                            .verify(&self.domain, session.peer_key(), &session.local())
                            .expect("valid delivery");
                        let ids = verified.iter().map(|v| v.message.id).collect();
                        self.alice_inbox
                            .extend(verified.into_iter().map(|v| v.body));
                        let mut out = Vec::new();
                        session
                            .seal(&Wire::Ack(Ack { ids }).to_bytes(), self.time, &mut out)
                            .unwrap();
                        self.send(false, out);
                    }
                    Err(e) => {
                        self.alice = AliceState::Failed(e.to_string());
                        return;
                    }
                },
                _ => return,
            }
        }
    }

    fn bob_read(&mut self) {
        loop {
            let record = match Self::take_record(&mut self.bob_buf) {
                Ok(Some(r)) => r,
                _ => return,
            };
            match std::mem::replace(&mut self.bob, BobState::Idle) {
                BobState::Expect(expect) => match expect.read_t_a2(&record) {
                    Ok((session, confirm)) => {
                        self.bob = BobState::Open(Box::new(session));
                        self.send(true, confirm);
                    }
                    Err(e) => self.bob = BobState::Failed(e.to_string()),
                },
                BobState::Open(mut session) => {
                    match session.open(&record, self.time) {
                        Ok(Opened::Data(bytes)) => match Wire::decode(&bytes) {
                            Ok(Wire::Ack(a)) => self.bob_acked.extend(a.ids),
                            Ok(Wire::Close(c)) => self.bob_closed = Some(c.reason),
                            _ => {}
                        },
                        other => panic!("bob got {other:?}"),
                    }
                    self.bob = BobState::Open(session);
                }
                other => self.bob = other,
            }
        }
    }

    /// Alice's periodic status re-check (DESIGN.md §4 step 7).
    fn alice_recheck(&mut self) {
        let AliceState::Open(session) = &mut self.alice else {
            return;
        };
        let status = self.chain.status(&session.peer());
        if status.check(self.time).is_err() {
            let mut out = Vec::new();
            let close = Wire::Close(Close {
                reason: CloseReason::PeerRevoked,
            });
            session
                .seal(&close.to_bytes(), self.time, &mut out)
                .unwrap();
            self.alice = AliceState::Failed("peer revoked".into());
            self.send(false, out);
        }
    }
}

fn keys() -> (SecretKey, SecretKey) {
    (
        SecretKey::from_bytes(&[0xb0; 32]).unwrap(),
        SecretKey::from_bytes(&[0xa1; 32]).unwrap(),
    )
}

#[test]
fn handshake_and_messages_over_chunked_links() {
    let (bob, alice) = keys();
    for seed in 0..20 {
        let mut pair = Pair::new(&bob, &alice, seed);
        pair.bob_connect();
        pair.drive();
        assert!(matches!(pair.bob, BobState::Open(_)));
        assert!(matches!(&pair.alice, AliceState::Open(s) if s.is_confirmed()));
        // T_B1 → lookup → T_A2 → confirm: one round trip plus the chain's answer.
        assert_eq!(pair.time, START + 3 * pair.latency + pair.chain_latency);
        pair.bob_send(&["hello", "how are you?", "bye"]);
        pair.drive();
        assert_eq!(
            pair.alice_inbox,
            vec![b"hello".to_vec(), b"how are you?".to_vec(), b"bye".to_vec()]
        );
        assert_eq!(pair.bob_acked.len(), 3);
    }
}

#[test]
fn unknown_initiator_never_gets_a_session() {
    let (bob, alice) = keys();
    let mut pair = Pair::new(&bob, &alice, 1);
    pair.chain.0.remove(&bob.address());
    pair.bob_connect();
    pair.drive();
    assert!(matches!(&pair.alice, AliceState::Failed(e) if e.contains("not registered")));
    assert!(matches!(pair.bob, BobState::Expect(_)));
}

#[test]
fn revocation_during_a_session_closes_it() {
    let (bob, alice) = keys();
    let mut pair = Pair::new(&bob, &alice, 2);
    pair.bob_connect();
    pair.drive();
    pair.time += 600;
    pair.chain.0.get_mut(&bob.address()).unwrap().revoked_at = pair.time;
    pair.alice_recheck();
    pair.drive();
    assert_eq!(pair.bob_closed, Some(CloseReason::PeerRevoked));
}

#[test]
fn session_expires_in_virtual_time() {
    let (bob, alice) = keys();
    let mut pair = Pair::new(&bob, &alice, 3);
    pair.bob_connect();
    pair.drive();
    let BobState::Open(session) = &mut pair.bob else {
        panic!()
    };
    let expires = session.expires_at();
    let mut out = Vec::new();
    assert!(session.seal(b"x", expires - 1, &mut out).is_ok());
    assert_eq!(
        session.seal(b"x", expires, &mut out),
        Err(SessionError::Expired {
            expires_at: expires
        })
    );
}

#[test]
fn a_lost_chunk_breaks_the_session_not_the_protocol() {
    let (bob, alice) = keys();
    let mut pair = Pair::new(&bob, &alice, 4);
    pair.bob_connect();
    pair.drive();
    // Lose one chunk of the next delivery: Alice must refuse what follows.
    pair.drop_to_alice = Some(pair.sent_to_alice + 1);
    pair.bob_send(&["this frame loses its first chunk"]);
    pair.bob_send(&["and this one must not be accepted"]);
    pair.drive();
    assert!(pair.alice_inbox.is_empty());
    assert!(matches!(
        pair.alice,
        AliceState::Failed(_) | AliceState::Open(_)
    ));
}

#[test]
fn replayed_handshake_gets_no_second_session() {
    let (bob, alice) = keys();
    let mut pair = Pair::new(&bob, &alice, 5);
    pair.bob_connect();
    // Capture T_B1 as it goes on the wire.
    let captured: Vec<u8> = pair.to_alice.0.iter().flat_map(|c| c.1.clone()).collect();
    pair.drive();
    // The attacker replays it to a fresh Alice sharing the same replay cache.
    let replay = std::mem::replace(&mut pair.replay, MemoryReplayCache::new(0, 1));
    let mut second = Pair::new(&bob, &alice, 6);
    second.replay = replay;
    second.time = pair.time;
    second.send(true, captured);
    second.drive();
    assert!(matches!(&second.alice, AliceState::Failed(e) if e.contains("replayed")));
}

#[test]
fn bob_does_not_call_an_expired_alice() {
    let (bob, alice) = keys();
    let mut pair = Pair::new(&bob, &alice, 7);
    pair.chain.0.get_mut(&alice.address()).unwrap().valid_until = START;
    pair.bob_connect();
    assert!(matches!(&pair.bob, BobState::Failed(e) if e.contains("expired")));
    assert!(pair.to_alice.0.is_empty());
}
