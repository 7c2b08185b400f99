//! Bob's side (the initiator): builds T_B (the signed `SessionRequest`) and
//! T_B1, then checks Alice's T_A2 and derives the session (§4.1.3 steps 1–2
//! and 5).

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
    HandshakeError, SESSION_LIFETIME_SECS, StaticShared, T_A2_HEADER_LEN, T_A2_LEN,
    T_B1_HEADER_LEN, TYPE_T_A2, TYPE_T_B1, VERSION, session_keys, t_a2_key, t_b1_key,
};

/// Entry point of the initiator (Bob).
#[derive(Debug)]
pub struct Initiator;

/// Bob after sending T_B1, waiting for Alice's T_A2.
#[allow(non_camel_case_types)] // named after the paper's message
pub struct ExpectT_A2 {
    local: Address,
    domain: Domain,
    responder: PublicKey,
    ephemeral: SecretKey,
    ephemeral_compressed: [u8; 33],
    es: kdf::Key,
    ss: StaticShared,
    timestamp: u64,
    t_b1: Vec<u8>,
    request: Signed<SessionRequest>,
    expires_at: u64,
}

impl std::fmt::Debug for ExpectT_A2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpectT_A2")
            .field("local", &self.local)
            .field("responder", &self.responder.address())
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Steps 1–2: checks Alice's chain status, then builds T_B1 (as a
    /// complete record, length prefix included) to send to `responder`.
    ///
    /// `responder` is Alice's public key from the registry's `Registered`
    /// event (it hashes to her ID, so whoever delivered it needs no trust);
    /// `responder_status` is the registry's `status(ID_A)`. Draws 32 bytes
    /// from `rng` for the ephemeral key E_B.
    pub fn start<R: CryptoRng + ?Sized>(
        identity: &SecretKey,
        domain: &Domain,
        responder: &PublicKey,
        responder_status: &IdStatus,
        now: u64,
        rng: &mut R,
    ) -> Result<(ExpectT_A2, Vec<u8>), HandshakeError> {
        let ss = StaticShared::compute(identity, responder);
        Self::start_with_ss(identity, &ss, domain, responder, responder_status, now, rng)
    }

    /// As [`Initiator::start`], with `ss` = `StaticShared::compute(identity, responder)`
    /// taken from the caller's per-peer cache.
    pub fn start_with_ss<R: CryptoRng + ?Sized>(
        identity: &SecretKey,
        ss: &StaticShared,
        domain: &Domain,
        responder: &PublicKey,
        responder_status: &IdStatus,
        now: u64,
        rng: &mut R,
    ) -> Result<(ExpectT_A2, Vec<u8>), HandshakeError> {
        responder_status
            .check(now)
            .map_err(|e| HandshakeError::from_status(responder.address(), e))?;
        Self::start_judged(
            identity,
            ss,
            domain,
            responder,
            responder_status.valid_until,
            now,
            rng,
        )
    }

    /// As [`Initiator::start_with_ss`] for a caller that has already judged
    /// the responder's status at `now` (a node that must refuse an invalid
    /// recipient before it even dials, and judges once): takes only the
    /// status's `valid_until`, where the session will end at the latest.
    pub fn start_judged<R: CryptoRng + ?Sized>(
        identity: &SecretKey,
        ss: &StaticShared,
        domain: &Domain,
        responder: &PublicKey,
        responder_valid_until: u64,
        now: u64,
        rng: &mut R,
    ) -> Result<(ExpectT_A2, Vec<u8>), HandshakeError> {
        let id_a = responder.address();
        let id_b = identity.address();
        if id_a == id_b {
            return Err(HandshakeError::Reflected);
        }

        // E_B: fresh for every attempt, never reused (not even on retry).
        let ephemeral = SecretKey::generate(rng);
        let ephemeral_compressed = ephemeral.public_key().compressed();
        // es = ECDH(E_B, static A)
        let es = ephemeral.diffie_hellman(responder);

        // T_B = sign_B(SessionRequest(ID_B, ID_A, T, keccak(E_B)))
        let request = Signed::sign(
            identity,
            domain,
            SessionRequest {
                from: id_b,
                to: id_a,
                timestamp: now,
                ephemeral_key_hash: keccak256(&ephemeral_compressed),
            },
        );

        // T_B1 = [v, 0x01, chainId, contract, ID_A, E_B] ‖ E_es(ID_B, T, K_pubB, T_B)
        let mut body = Vec::with_capacity(super::T_B1_LEN);
        body.push(VERSION);
        body.push(TYPE_T_B1);
        body.extend_from_slice(&domain.chain_id.to_be_bytes());
        body.extend_from_slice(domain.verifying_contract.as_bytes());
        body.extend_from_slice(id_a.as_bytes());
        body.extend_from_slice(&ephemeral_compressed);
        debug_assert_eq!(body.len(), T_B1_HEADER_LEN);
        let mut plaintext = Vec::with_capacity(super::T_B1_PLAINTEXT_LEN + kdf::TAG_LEN);
        plaintext.extend_from_slice(id_b.as_bytes());
        plaintext.extend_from_slice(&now.to_be_bytes());
        plaintext.extend_from_slice(identity.public_key().as_xy());
        plaintext.extend_from_slice(request.signature.as_bytes());
        let key = t_b1_key(&es);
        kdf::seal(&kdf::cipher(&key), 0, &body, &mut plaintext);
        body.extend_from_slice(&plaintext);
        debug_assert_eq!(body.len(), super::T_B1_LEN);

        let mut record = Vec::with_capacity(4 + body.len());
        write_record(&body, &mut record);
        let expires_at = now
            .saturating_add(SESSION_LIFETIME_SECS)
            .min(responder_valid_until);
        let state = ExpectT_A2 {
            local: id_b,
            domain: *domain,
            responder: *responder,
            ephemeral,
            ephemeral_compressed,
            es,
            ss: StaticShared(zeroize::Zeroizing::new(*ss.bytes())),
            timestamp: now,
            t_b1: body,
            request,
            expires_at,
        };
        Ok((state, record))
    }
}

impl ExpectT_A2 {
    /// T_B, the signed session request (what the contract's `verifySession` checks).
    pub fn session_request(&self) -> &Signed<SessionRequest> {
        &self.request
    }

    /// The responder's ID.
    pub fn responder(&self) -> Address {
        self.responder.address()
    }

    /// Step 5: checks T_A2 (a complete record) and derives the session.
    /// Returns the session and the confirm frame to send at once: Alice
    /// accepts no data before it.
    pub fn read_t_a2(self, record: &[u8]) -> Result<(Session, Vec<u8>), HandshakeError> {
        let body = record_body(record).ok_or(HandshakeError::Malformed(Malformed::Invalid {
            field: "record length",
        }))?;
        let mut r = Reader::new(body);
        let version = r.u8("version")?;
        if version != VERSION {
            return Err(HandshakeError::UnsupportedVersion { version });
        }
        match r.u8("type")? {
            TYPE_T_A2 => {}
            TYPE_T_B1 => return Err(HandshakeError::Reflected),
            other => {
                return Err(HandshakeError::UnexpectedType {
                    message_type: other,
                });
            }
        }
        if body.len() != T_A2_LEN {
            return Err(HandshakeError::Malformed(Malformed::Invalid {
                field: "T_A2 length",
            }));
        }
        let e_a_bytes: [u8; 33] = r.array("E_A")?;
        if e_a_bytes == self.ephemeral_compressed {
            return Err(HandshakeError::Reflected);
        }
        let e_a = PublicKey::from_compressed(&e_a_bytes)
            .map_err(|_| Malformed::Invalid { field: "E_A" })?;

        // ee = ECDH(E_B, E_A); body key from es ‖ ee, salt keccak(T_B1).
        let ee = self.ephemeral.diffie_hellman(&e_a);
        let t_b1_hash = keccak256(&self.t_b1);
        let key = t_a2_key(&self.es, &ee, &t_b1_hash);
        let mut plaintext = body[T_A2_HEADER_LEN..].to_vec();
        kdf::open(
            &kdf::cipher(&key),
            0,
            &body[..T_A2_HEADER_LEN],
            &mut plaintext,
        )
        .map_err(|()| HandshakeError::DecryptFailed)?;

        let mut p = Reader::new(&plaintext);
        let id_a = crate::Address(p.array("ID_A")?);
        let timestamp = p.u64("T+1")?;
        let key_a = PublicKey::from_xy(p.take(64, "K_pubA")?)
            .map_err(|_| Malformed::Invalid { field: "K_pubA" })?;
        let signature = Signature::from_bytes(p.take(65, "signature")?)
            .map_err(|_| HandshakeError::BadSignature { id: id_a })?;
        p.finish()?;

        // K_pubA must be the key Bob encrypted to, and hash to ID_A.
        if key_a != self.responder || id_a != self.responder.address() {
            return Err(HandshakeError::KeyMismatch { id: id_a });
        }
        let expected = self.timestamp.saturating_add(1);
        if timestamp != expected {
            return Err(HandshakeError::TimestampMismatch {
                timestamp,
                expected,
            });
        }
        let response = Signed {
            payload: SessionResponse {
                from: id_a,
                to: self.local,
                timestamp,
                ephemeral_key_hash: keccak256(&e_a_bytes),
                request_hash: t_b1_hash,
            },
            signature,
        };
        response
            .verify_key(&self.domain, &key_a)
            .map_err(|_| HandshakeError::BadSignature { id: id_a })?;

        let (i2r, r2i, transcript) = session_keys(self.ss.bytes(), &self.es, &ee, &self.t_b1, body);
        let mut session = Session::new(
            Role::Initiator,
            self.local,
            self.responder,
            i2r,
            r2i,
            transcript,
            self.expires_at,
        );
        let confirm = session.confirm_frame();
        Ok((session, confirm))
    }
}
