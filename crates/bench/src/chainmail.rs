//! chainmail through its public core API: two identities (Alice answers,
//! Bob initiates), in-memory handshakes with the chain's answer taken from a
//! status cache (or, for one row, from the embedded chain with the
//! contract's real `verifySession`), and established sessions as transport
//! endpoints — unsigned frames, per-message signatures, or Merkle-batch
//! signatures, exactly the `Deliver` the node sends.

use std::collections::HashMap;
use std::time::Duration;

use crate::measure::Cpu;

use anyhow::{Context, Result, bail};
use chainmail_chain::{EmbeddedRegistry, Registry};
use chainmail_core::codec::Codec;
use chainmail_core::eip712::Domain;
use chainmail_core::record::{MAX_PAYLOAD, RecordCheck, check_record};
use chainmail_core::wire::{Ack, Deliver, Envelope, Wire};
use chainmail_core::{
    Address, IdStatus, Initiator, MemoryReplayCache, Opened, PublicKey, Responder, SecretKey,
    Session, StaticShared,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::transport::Endpoint;

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Alice (responder) and Bob (initiator), their registry domain and the
/// status cache the node would hold.
pub struct Pair {
    /// The responder.
    pub alice: SecretKey,
    /// The initiator.
    pub bob: SecretKey,
    /// The registry both are registered in.
    pub domain: Domain,
    statuses: HashMap<Address, IdStatus>,
    ss_alice: StaticShared,
    ss_bob: StaticShared,
}

/// Where the responder gets the chain's answer.
pub enum ChainAnswer<'a> {
    /// The node's status cache (a hash map hit), `ss` cached per peer.
    Cached,
    /// As `Cached`, but both static–static ECDHs computed each time.
    CachedNoSs,
    /// The embedded chain: `status` of both IDs and the contract's
    /// `verifySession(T_B)` executed by revm against the SQLite file.
    Embedded(&'a EmbeddedRegistry, &'a tokio::runtime::Runtime),
}

impl Pair {
    /// Two identities valid for a day in `domain` (statuses as the chain would give).
    pub fn new(alice: SecretKey, bob: SecretKey, domain: Domain, now: u64) -> Self {
        let live = IdStatus {
            valid_until: now + 86_400,
            issued_at: now - 60,
            revoked_at: 0,
            registered_block: 1,
        };
        let statuses = HashMap::from([(alice.address(), live), (bob.address(), live)]);
        let ss_alice = StaticShared::compute(&alice, &bob.public_key());
        let ss_bob = StaticShared::compute(&bob, &alice.public_key());
        Pair {
            alice,
            bob,
            domain,
            statuses,
            ss_alice,
            ss_bob,
        }
    }

    fn cached(&self, id: &Address) -> Result<IdStatus> {
        self.statuses.get(id).copied().context("status not cached")
    }

    /// One full handshake in memory: T_B1 →, ← T_A2, confirm →. Returns the
    /// CPU time spent on the responder's side (read T_B1, chain answer, replay
    /// check, T_A2, open the confirm frame), the total, and both sessions.
    pub fn handshake(
        &self,
        answer: &ChainAnswer<'_>,
        replay: &mut MemoryReplayCache,
        rng: &mut StdRng,
    ) -> Result<(Duration, Duration, Session, Session)> {
        let start = Cpu::start();
        let now = unix_now();
        let alice_id = self.alice.address();
        let alice_key = self.alice.public_key();
        let status_a = self.cached(&alice_id)?;
        let (expect, t_b1) = match answer {
            ChainAnswer::CachedNoSs => {
                Initiator::start(&self.bob, &self.domain, &alice_key, &status_a, now, rng)?
            }
            _ => Initiator::start_with_ss(
                &self.bob,
                &self.ss_bob,
                &self.domain,
                &alice_key,
                &status_a,
                now,
                rng,
            )?,
        };

        let t = Cpu::start();
        let pending = Responder::new(&self.alice, self.domain).read_t_b1(&t_b1, now)?;
        let (t_a2, mut alice) = match answer {
            ChainAnswer::Cached => {
                let status_b = self.cached(&pending.initiator())?;
                let own = self.cached(&alice_id)?;
                pending.accept_with_ss(&self.ss_alice, &status_b, &own, replay, now, rng)?
            }
            ChainAnswer::CachedNoSs => {
                let status_b = self.cached(&pending.initiator())?;
                let own = self.cached(&alice_id)?;
                pending.accept(&status_b, &own, replay, now, rng)?
            }
            ChainAnswer::Embedded(chain, rt) => {
                let status_b = chain.status_blocking(pending.initiator())?;
                let own = chain.status_blocking(alice_id)?;
                rt.block_on(chain.verify_session(pending.session_request()))?;
                pending.accept_with_ss(&self.ss_alice, &status_b, &own, replay, now, rng)?
            }
        };
        let mut in_responder = t.elapsed();

        let (bob, confirm) = expect.read_t_a2(&t_a2)?;
        let t = Cpu::start();
        match alice.open(&confirm, now)? {
            Opened::Confirmed => {}
            Opened::Data(_) => bail!("expected the confirm frame"),
        }
        in_responder += t.elapsed();
        Ok((in_responder, start.elapsed(), bob, alice))
    }

    /// An established (bob, alice) endpoint pair signing as `signing`.
    pub fn endpoints(&self, signing: Signing) -> Result<(ChainmailEndpoint, ChainmailEndpoint)> {
        let mut rng = StdRng::from_os_rng();
        let mut replay = MemoryReplayCache::new(0, 1 << 20);
        let (_, _, bob, alice) = self.handshake(&ChainAnswer::Cached, &mut replay, &mut rng)?;
        let b = ChainmailEndpoint::new(bob, self.bob.clone_key(), self.domain, signing);
        let a = ChainmailEndpoint::new(alice, self.alice.clone_key(), self.domain, signing);
        Ok((b, a))
    }
}

/// How chat messages are signed inside the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// No `Deliver`, no signature: bare session frames (the cipher alone).
    None,
    /// One `Deliver` per message, signed on its own (`Deliver::sign_each`).
    Each,
    /// One `Deliver` per batch, one `MessageBatch` signature over the Merkle
    /// root; each stored message keeps its path (`Deliver::sign_batch`).
    Batch,
}

/// A chainmail session as a transport endpoint.
pub struct ChainmailEndpoint {
    session: Session,
    key: SecretKey,
    peer_key: PublicKey,
    local: Address,
    domain: Domain,
    signing: Signing,
    now: u64,
    rng: StdRng,
    inbuf: Vec<u8>,
    last_ids: Vec<[u8; 16]>,
}

impl ChainmailEndpoint {
    fn new(session: Session, key: SecretKey, domain: Domain, signing: Signing) -> Self {
        ChainmailEndpoint {
            peer_key: *session.peer_key(),
            local: session.local(),
            session,
            key,
            domain,
            signing,
            now: unix_now(),
            rng: StdRng::from_os_rng(),
            inbuf: Vec::with_capacity(256 * 1024),
            last_ids: Vec::new(),
        }
    }

    /// Signs with another key from now on (to test that the receiver refuses it).
    #[cfg(test)]
    pub fn sign_as(&mut self, key: SecretKey) {
        self.key = key;
    }

    fn seal_wire(&mut self, wire: &Wire, out: &mut Vec<u8>) -> Result<()> {
        self.session.seal(&wire.to_bytes(), self.now, out)?;
        Ok(())
    }

    fn envelope(&mut self, body: &[u8]) -> Envelope {
        Envelope::new(body.to_vec(), self.now, &mut self.rng)
    }
}

/// The most `len`-byte messages one batch-signed `Deliver` carries in one
/// frame (the node splits its outbox the same way).
pub fn batch_that_fits(len: usize) -> usize {
    let key = SecretKey::from_bytes(&[0x5a; 32]).expect("constant key");
    let domain = Domain {
        chain_id: 1,
        verifying_contract: Address([0; 20]),
    };
    let mut rng = StdRng::seed_from_u64(0);
    (1..=1024usize)
        .take_while(|&n| {
            let envs = (0..n)
                .map(|_| Envelope::new(vec![0; len], 0, &mut rng))
                .collect();
            Deliver::sign_batch(&key, &domain, Address([1; 20]), envs)
                .map(|d| Wire::Deliver(d).to_bytes().len() <= MAX_PAYLOAD)
                .unwrap_or(false)
        })
        .last()
        .unwrap_or(1)
}

impl Endpoint for ChainmailEndpoint {
    fn seal(&mut self, messages: &[&[u8]], out: &mut Vec<u8>) -> Result<()> {
        let to = self.peer_key.address();
        match self.signing {
            Signing::None => {
                for m in messages {
                    self.session.seal(m, self.now, out)?;
                }
            }
            Signing::Each => {
                for m in messages {
                    let env = self.envelope(m);
                    let d = Deliver::sign_each(&self.key, &self.domain, to, vec![env])?;
                    self.seal_wire(&Wire::Deliver(d), out)?;
                }
            }
            Signing::Batch => {
                let envs = messages.iter().map(|m| self.envelope(m)).collect();
                let d = Deliver::sign_batch(&self.key, &self.domain, to, envs)
                    .context("empty batch")?;
                self.seal_wire(&Wire::Deliver(d), out)?;
            }
        }
        Ok(())
    }

    fn feed(&mut self, input: &[u8]) -> Result<usize> {
        self.inbuf.extend_from_slice(input);
        let mut at = 0;
        let mut delivered = 0;
        while let RecordCheck::Complete { len } = check_record(&self.inbuf[at..])? {
            let record = &self.inbuf[at..at + len];
            at += len;
            let payload = match self.session.open(record, self.now)? {
                Opened::Data(p) => p,
                Opened::Confirmed => bail!("unexpected confirm frame"),
            };
            if self.signing == Signing::None {
                delivered += payload.len();
                continue;
            }
            match Wire::decode(&payload)? {
                Wire::Deliver(d) => {
                    let verified = d.verify(&self.domain, &self.peer_key, &self.local)?;
                    self.last_ids.clear();
                    for v in &verified {
                        delivered += v.body.len();
                        self.last_ids.push(v.message.id);
                    }
                }
                Wire::Ack(a) => delivered += 16 * a.ids.len(),
                Wire::Close(_) => bail!("peer closed"),
            }
        }
        self.inbuf.drain(..at);
        Ok(delivered)
    }

    fn ack(&mut self, _messages: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.signing == Signing::None {
            self.session.seal(&[0u8; 16], self.now, out)?;
            return Ok(());
        }
        let ids = std::mem::take(&mut self.last_ids);
        self.seal_wire(&Wire::Ack(Ack { ids }), out)
    }
}
