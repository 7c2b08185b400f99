//! Alice's side (the responder): checks T_B1 in the order of DESIGN.md §4
//! step 3, split in two so the caller can fetch chain statuses (and, on the
//! paper-faithful path, call `verifySession`) between the local checks and
//! the rest; then answers with T_A2 (§4.1.3 steps 3–4).

use rand::CryptoRng;

use crate::address::Address;
use crate::codec::{Malformed, Reader};
use crate::eip712::{Domain, SessionRequest, SessionResponse, Signed};
use crate::hash::keccak256;
use crate::kdf;
use crate::keys::{PublicKey, SecretKey};
use crate::record::{record_body, write_record};
use crate::session::{Role, Session};
use crate::signature::Signature;
use crate::status::IdStatus;

use super::{
    HandshakeError, ReplayCache, ReplayError, SESSION_LIFETIME_SECS, StaticShared, T_A2_HEADER_LEN,
    T_A2_LEN, T_B1_HEADER_LEN, T_B1_LEN, TYPE_T_A2, TYPE_T_B1, VERSION, check_skew, session_keys,
    t_a2_key, t_b1_key,
};

/// Alice's identity and registry, ready to read T_B1s.
#[derive(Debug)]
pub struct Responder<'k> {
    identity: &'k SecretKey,
    domain: Domain,
}

/// A T_B1 that passed every local check (version, type, registry,
/// recipient, decryption, key↔ID, clock skew, Bob's signature). Still to do:
/// both IDs' chain status, then the replay check — [`PendingT_B1::accept`].
#[allow(non_camel_case_types)] // named after the paper's message
pub struct PendingT_B1<'k> {
    identity: &'k SecretKey,
    domain: Domain,
    initiator_key: PublicKey,
    ephemeral: PublicKey,
    ephemeral_compressed: [u8; 33],
    es: kdf::Key,
    t_b1: Vec<u8>,
    request: Signed<SessionRequest>,
}

impl std::fmt::Debug for PendingT_B1<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingT_B1")
            .field("initiator", &self.initiator())
            .field("timestamp", &self.request.payload.timestamp)
            .finish_non_exhaustive()
    }
}

fn malformed(field: &'static str) -> HandshakeError {
    HandshakeError::Malformed(Malformed::Invalid { field })
}

impl<'k> Responder<'k> {
    /// Alice with her identity key, answering for the registry `domain`.
    pub fn new(identity: &'k SecretKey, domain: Domain) -> Self {
        Responder { identity, domain }
    }

    /// Step 3, local part: reads T_B1 (a complete record) and checks, in
    /// order: version, type, registry, recipient, decryption, K_pubB ↔ ID_B,
    /// |T − now| ≤ 300 s, Bob's signature. Costs one ECDH and one verify.
    pub fn read_t_b1(&self, record: &[u8], now: u64) -> Result<PendingT_B1<'k>, HandshakeError> {
        let body = record_body(record).ok_or_else(|| malformed("record length"))?;
        let mut r = Reader::new(body);
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(HandshakeError::UnsupportedVersion { version });
        }
        match r.u8("type")? {
            TYPE_T_B1 => {}
            TYPE_T_A2 => return Err(HandshakeError::Reflected),
            other => {
                return Err(HandshakeError::UnexpectedType {
                    message_type: other,
                });
            }
        }
        if body.len() != T_B1_LEN {
            return Err(malformed("T_B1 length"));
        }
        let chain_id = r.u64("chain id")?;
        let contract = Address(r.array("contract")?);
        if chain_id != self.domain.chain_id || contract != self.domain.verifying_contract {
            return Err(HandshakeError::WrongRegistry { chain_id, contract });
        }
        let to = Address(r.array("ID_A")?);
        let own = self.identity.address();
        if to != own {
            return Err(HandshakeError::WrongRecipient { to });
        }
        let ephemeral_compressed: [u8; 33] = r.array("E_B")?;
        let ephemeral =
            PublicKey::from_compressed(&ephemeral_compressed).map_err(|_| malformed("E_B"))?;

        // es = ECDH(static A, E_B)
        let es = self.identity.diffie_hellman(&ephemeral);
        let key = t_b1_key(&es);
        let mut plaintext = body[T_B1_HEADER_LEN..].to_vec();
        kdf::open(
            &kdf::cipher(&key),
            0,
            &body[..T_B1_HEADER_LEN],
            &mut plaintext,
        )
        .map_err(|()| HandshakeError::DecryptFailed)?;

        let mut p = Reader::new(&plaintext);
        let from = Address(p.array("ID_B")?);
        let timestamp = p.u64("T")?;
        let initiator_key =
            PublicKey::from_xy(p.take(64, "K_pubB")?).map_err(|_| malformed("K_pubB"))?;
        let signature = Signature::from_bytes(p.take(65, "signature")?)
            .map_err(|_| HandshakeError::BadSignature { id: from })?;
        p.finish()?;

        if initiator_key.address() != from {
            return Err(HandshakeError::KeyMismatch { id: from });
        }
        if from == own {
            // Our own request (or our own ID claimed by someone holding our key).
            return Err(HandshakeError::Reflected);
        }
        check_skew(timestamp, now)?;
        // Bob's signature, verified here, always — whatever the chain says.
        let request = Signed {
            payload: SessionRequest {
                from,
                to,
                timestamp,
                ephemeral_key_hash: keccak256(&ephemeral_compressed),
            },
            signature,
        };
        request
            .verify_key(&self.domain, &initiator_key)
            .map_err(|_| HandshakeError::BadSignature { id: from })?;

        Ok(PendingT_B1 {
            identity: self.identity,
            domain: self.domain,
            initiator_key,
            ephemeral,
            ephemeral_compressed,
            es,
            t_b1: body.to_vec(),
            request,
        })
    }
}

impl<'k> PendingT_B1<'k> {
    /// ID_B, whose chain status the caller must look up.
    pub fn initiator(&self) -> Address {
        self.request.payload.from
    }

    /// K_pubB (already checked to hash to ID_B).
    pub fn initiator_key(&self) -> &PublicKey {
        &self.initiator_key
    }

    /// T_B: Bob's signed `SessionRequest`, for the contract's `verifySession`.
    pub fn session_request(&self) -> &Signed<SessionRequest> {
        &self.request
    }

    /// E_B as received (33 bytes compressed): the replay-cache key with ID_B.
    pub fn ephemeral_key(&self) -> &[u8; 33] {
        &self.ephemeral_compressed
    }

    /// Step 3, chain part: both IDs valid by the chain at `now` and T still
    /// within the skew at `now` (the status lookup may have taken a while).
    /// The one place the responder judges statuses. Yields the request
    /// still to be checked for replay, with its key — the shape of
    /// quinn-proto's `Incoming`: the caller decides (its own replay store,
    /// possibly asynchronous), then calls [`AdmissibleT_B1::answer`].
    pub fn judge(
        self,
        initiator_status: &IdStatus,
        own_status: &IdStatus,
        now: u64,
    ) -> Result<AdmissibleT_B1<'k>, HandshakeError> {
        let id_b = self.initiator();
        let id_a = self.identity.address();
        initiator_status
            .check(now)
            .map_err(|e| HandshakeError::from_status(id_b, e))?;
        own_status
            .check(now)
            .map_err(|e| HandshakeError::from_status(id_a, e))?;
        check_skew(self.request.payload.timestamp, now)?;
        Ok(AdmissibleT_B1 {
            pending: self,
            valid_until: initiator_status.valid_until.min(own_status.valid_until),
        })
    }

    /// Steps 3 (rest) and 4 in one call: [`PendingT_B1::judge`], the replay
    /// check-and-insert in `replay` (last), then T_A2. Returns T_A2 (a
    /// complete record) and the session, which accepts data only after
    /// Bob's confirm frame. Computes `ss` (one ECDH); use
    /// [`PendingT_B1::accept_with_ss`] with a cached one.
    pub fn accept<C: ReplayCache + ?Sized, R: CryptoRng + ?Sized>(
        self,
        initiator_status: &IdStatus,
        own_status: &IdStatus,
        replay: &mut C,
        now: u64,
        rng: &mut R,
    ) -> Result<(Vec<u8>, Session), HandshakeError> {
        let ss = StaticShared::compute(self.identity, &self.initiator_key);
        self.accept_with_ss(&ss, initiator_status, own_status, replay, now, rng)
    }

    /// As [`PendingT_B1::accept`] with `ss` =
    /// `StaticShared::compute(own identity, initiator_key())` from a cache.
    pub fn accept_with_ss<C: ReplayCache + ?Sized, R: CryptoRng + ?Sized>(
        self,
        ss: &StaticShared,
        initiator_status: &IdStatus,
        own_status: &IdStatus,
        replay: &mut C,
        now: u64,
        rng: &mut R,
    ) -> Result<(Vec<u8>, Session), HandshakeError> {
        let admissible = self.judge(initiator_status, own_status, now)?;
        let key = admissible.replay_key();
        let verdict =
            replay.check_and_insert(&key.initiator, &key.ephemeral_key, key.timestamp, now);
        admissible.answer(ss, verdict, now, rng)
    }
}

/// What the replay check of one T_B1 is about: the pair (ID_B, E_B) and
/// the request's T (an entry need live only while T is within the skew).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayKey {
    /// ID_B.
    pub initiator: Address,
    /// E_B as received (33 bytes compressed).
    pub ephemeral_key: [u8; 33],
    /// T.
    pub timestamp: u64,
}

/// A T_B1 that passed every check but the replay check: the local ones
/// ([`Responder::read_t_b1`]) and both chain statuses
/// ([`PendingT_B1::judge`]). The caller checks [`AdmissibleT_B1::replay_key`]
/// against its replay store and hands the verdict to
/// [`AdmissibleT_B1::answer`]; dropping it refuses the request.
#[allow(non_camel_case_types)] // named after the paper's message
pub struct AdmissibleT_B1<'k> {
    pending: PendingT_B1<'k>,
    /// The earlier of both certificates' `validUntil`: the session ends there.
    valid_until: u64,
}

impl std::fmt::Debug for AdmissibleT_B1<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmissibleT_B1")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl<'k> AdmissibleT_B1<'k> {
    /// ID_B.
    pub fn initiator(&self) -> Address {
        self.pending.initiator()
    }

    /// K_pubB (already checked to hash to ID_B).
    pub fn initiator_key(&self) -> &PublicKey {
        &self.pending.initiator_key
    }

    /// T_B: Bob's signed `SessionRequest`, for the contract's `verifySession`.
    pub fn session_request(&self) -> &Signed<SessionRequest> {
        &self.pending.request
    }

    /// The key of the replay check still to do.
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey {
            initiator: self.pending.initiator(),
            ephemeral_key: self.pending.ephemeral_compressed,
            timestamp: self.pending.request.payload.timestamp,
        }
    }

    /// Step 4: takes the caller's replay verdict for
    /// [`AdmissibleT_B1::replay_key`] (`Ok` = recorded now, never seen
    /// before) and answers with T_A2. Returns T_A2 (a complete record) and
    /// the session, which accepts data only after Bob's confirm frame.
    /// `ss` = `StaticShared::compute(own identity, initiator_key())`.
    pub fn answer<R: CryptoRng + ?Sized>(
        self,
        ss: &StaticShared,
        replay_verdict: Result<(), ReplayError>,
        now: u64,
        rng: &mut R,
    ) -> Result<(Vec<u8>, Session), HandshakeError> {
        let valid_until = self.valid_until;
        let this = self.pending;
        let id_b = this.initiator();
        let id_a = this.identity.address();
        let timestamp = this.request.payload.timestamp;
        replay_verdict.map_err(|e| match e {
            ReplayError::Seen => HandshakeError::Replay { id: id_b },
            other => HandshakeError::ReplayCache(other),
        })?;

        // E_A: fresh, drawn from the caller's RNG.
        let ephemeral = SecretKey::generate(rng);
        let e_a = ephemeral.public_key().compressed();
        // ee = ECDH(E_A, E_B)
        let ee = ephemeral.diffie_hellman(&this.ephemeral);
        let t_b1_hash = keccak256(&this.t_b1);
        let response = Signed::sign(
            this.identity,
            &this.domain,
            SessionResponse {
                from: id_a,
                to: id_b,
                timestamp: timestamp.saturating_add(1),
                ephemeral_key_hash: keccak256(&e_a),
                request_hash: t_b1_hash,
            },
        );

        // T_A2 = [v, 0x02, E_A] ‖ E_{es‖ee}(ID_A, T+1, K_pubA, sig_A)
        let mut body = Vec::with_capacity(T_A2_LEN);
        body.push(VERSION);
        body.push(TYPE_T_A2);
        body.extend_from_slice(&e_a);
        debug_assert_eq!(body.len(), T_A2_HEADER_LEN);
        let mut plaintext = Vec::with_capacity(super::T_A2_PLAINTEXT_LEN + kdf::TAG_LEN);
        plaintext.extend_from_slice(id_a.as_bytes());
        plaintext.extend_from_slice(&response.payload.timestamp.to_be_bytes());
        plaintext.extend_from_slice(this.identity.public_key().as_xy());
        plaintext.extend_from_slice(response.signature.as_bytes());
        let key = t_a2_key(&this.es, &ee, &t_b1_hash);
        kdf::seal(&kdf::cipher(&key), 0, &body, &mut plaintext);
        body.extend_from_slice(&plaintext);
        debug_assert_eq!(body.len(), T_A2_LEN);

        let (i2r, r2i, transcript) = session_keys(ss.bytes(), &this.es, &ee, &this.t_b1, &body);
        let expires_at = now.saturating_add(SESSION_LIFETIME_SECS).min(valid_until);
        let session = Session::new(
            Role::Responder,
            id_a,
            this.initiator_key,
            r2i,
            i2r,
            transcript,
            expires_at,
        );
        let mut record = Vec::with_capacity(4 + body.len());
        write_record(&body, &mut record);
        Ok((record, session))
    }
}
