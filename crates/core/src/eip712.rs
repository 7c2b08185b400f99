//! EIP-712 typed data: the registry domain, the eight chainmail structs of
//! DESIGN.md §2 and `Signed<T>`. Written by hand (no alloy in core) and proved
//! against `cast wallet sign --data` and the contract by vectors.
//!
//! One struct per meaning, so a signature made for one purpose is never
//! accepted for another, and the domain (chain id + registry contract) stops
//! replay across chains and registries.

use std::sync::OnceLock;

use keccak_asm::{Digest, Keccak256};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::hash::keccak256;
use crate::keys::{PublicKey, SecretKey};
use crate::signature::{Signature, SignatureError};

/// The EIP-712 domain name of every chainmail signature.
pub const DOMAIN_NAME: &str = "chainmail";
/// The EIP-712 domain version of every chainmail signature.
pub const DOMAIN_VERSION: &str = "1";
/// The EIP-712 domain type.
pub const DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

/// The registry a signature is for: `{name: "chainmail", version: "1", chainId, verifyingContract}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The `IdentityRegistry` contract's address.
    pub verifying_contract: Address,
}

impl Domain {
    /// The EIP-712 domain separator (`hashStruct(EIP712Domain)`).
    pub fn separator(&self) -> [u8; 32] {
        // typeHash, keccak(name) and keccak(version) are the same for every
        // domain: hashed once per process instead of three times per signature.
        static CONSTANT_WORDS: OnceLock<[[u8; 32]; 3]> = OnceLock::new();
        let [type_hash, name, version] = CONSTANT_WORDS.get_or_init(|| {
            [
                keccak256(DOMAIN_TYPE.as_bytes()),
                keccak256(DOMAIN_NAME.as_bytes()),
                keccak256(DOMAIN_VERSION.as_bytes()),
            ]
        });
        let mut enc = Encoder(Keccak256::new());
        enc.bytes32(type_hash);
        enc.bytes32(name);
        enc.bytes32(version);
        enc.uint(self.chain_id);
        enc.address(&self.verifying_contract);
        enc.finish()
    }
}

/// Incremental `hashStruct`: keccak(typeHash ‖ encodeData), each field one
/// 32-byte word, streamed into the hasher (no buffer).
struct Encoder(Keccak256);

impl Encoder {
    /// Starts `hashStruct` of the type `type_string`; its type hash is
    /// computed once per process into `type_hash` (one keccak less per
    /// struct: a batch hashes one `Message` per message).
    fn new(type_string: &str, type_hash: &'static OnceLock<[u8; 32]>) -> Self {
        let mut hasher = Keccak256::new();
        hasher.update(type_hash.get_or_init(|| keccak256(type_string.as_bytes())));
        Encoder(hasher)
    }
    fn bytes32(&mut self, word: &[u8; 32]) {
        self.0.update(word);
    }
    /// `uint64`/`uint32`/`uint256` values: big-endian, left-padded.
    fn uint(&mut self, value: u64) {
        let mut word = [0u8; 32];
        word[24..].copy_from_slice(&value.to_be_bytes());
        self.0.update(word);
    }
    fn address(&mut self, address: &Address) {
        let mut word = [0u8; 32];
        word[12..].copy_from_slice(address.as_bytes());
        self.0.update(word);
    }
    /// `bytes16`: left-aligned, right-padded (fixed-size bytesN rule).
    fn bytes16(&mut self, value: &[u8; 16]) {
        let mut word = [0u8; 32];
        word[..16].copy_from_slice(value);
        self.0.update(word);
    }
    /// `bytes` and `string`: the keccak of the contents.
    fn dynamic(&mut self, value: &[u8]) {
        self.0.update(keccak256(value));
    }
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// A struct that can be signed as EIP-712 typed data under a [`Domain`].
pub trait TypedData {
    /// The EIP-712 type string, e.g. `Revocation(address id,uint64 revokedAt)`.
    const TYPE: &'static str;

    /// `keccak256(TYPE)`.
    fn type_hash() -> [u8; 32] {
        keccak256(Self::TYPE.as_bytes())
    }

    /// `hashStruct(self)` = keccak(typeHash ‖ encodeData(self)).
    fn struct_hash(&self) -> [u8; 32];

    /// The digest that is signed: keccak(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct).
    fn signing_hash(&self, domain: &Domain) -> [u8; 32] {
        signing_hash_of(&domain.separator(), &self.struct_hash())
    }
}

/// keccak(0x19 ‖ 0x01 ‖ separator ‖ struct_hash), for callers that cache the separator.
pub fn signing_hash_of(separator: &[u8; 32], struct_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update([0x19, 0x01]);
    hasher.update(separator);
    hasher.update(struct_hash);
    hasher.finalize().into()
}

/// `Certificate(address id,bytes publicKey,uint64 validUntil,uint64 issuedAt)` —
/// registration (§4.1.2): the key vouches for itself under its ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// The ID, `keccak(publicKey)[12..]`.
    pub id: Address,
    /// The 64-byte x‖y public key.
    pub public_key: PublicKey,
    /// Unix seconds: end of validity.
    pub valid_until: u64,
    /// Unix seconds: time of issue.
    pub issued_at: u64,
}

impl Certificate {
    /// A certificate for `public_key`, its ID derived from the key.
    pub fn new(public_key: PublicKey, valid_until: u64, issued_at: u64) -> Self {
        Certificate {
            id: public_key.address(),
            public_key,
            valid_until,
            issued_at,
        }
    }
}

impl TypedData for Certificate {
    const TYPE: &'static str =
        "Certificate(address id,bytes publicKey,uint64 validUntil,uint64 issuedAt)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.id);
        enc.dynamic(self.public_key.as_xy());
        enc.uint(self.valid_until);
        enc.uint(self.issued_at);
        enc.finish()
    }
}

/// `Renewal(address id,uint64 validUntil,uint64 issuedAt)` — extends validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    /// The ID renewed.
    pub id: Address,
    /// New end of validity.
    pub valid_until: u64,
    /// Time of issue; must grow with every renewal.
    pub issued_at: u64,
}

impl TypedData for Renewal {
    const TYPE: &'static str = "Renewal(address id,uint64 validUntil,uint64 issuedAt)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.id);
        enc.uint(self.valid_until);
        enc.uint(self.issued_at);
        enc.finish()
    }
}

/// `Revocation(address id,uint64 revokedAt)` — final revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// The ID revoked.
    pub id: Address,
    /// Time the revocation was signed (may be long before it is submitted).
    pub revoked_at: u64,
}

impl TypedData for Revocation {
    const TYPE: &'static str = "Revocation(address id,uint64 revokedAt)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.id);
        enc.uint(self.revoked_at);
        enc.finish()
    }
}

/// `Endpoint(address id,string endpoint,uint64 sequence)` — where to reach an ID (§4.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The ID.
    pub id: Address,
    /// e.g. `203.0.113.7:7400`.
    pub endpoint: String,
    /// Strictly growing (milliseconds since the epoch by convention).
    pub sequence: u64,
}

impl TypedData for Endpoint {
    const TYPE: &'static str = "Endpoint(address id,string endpoint,uint64 sequence)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.id);
        enc.dynamic(self.endpoint.as_bytes());
        enc.uint(self.sequence);
        enc.finish()
    }
}

/// `SessionRequest(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash)` —
/// T_B, Bob's signed session request (§4.1.3 step 1); what `verifySession` checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    /// ID_B, the initiator.
    pub from: Address,
    /// ID_A, the responder.
    pub to: Address,
    /// T, unix seconds.
    pub timestamp: u64,
    /// keccak256 of E_B's 33-byte compressed encoding.
    #[serde(with = "crate::serde_hex")]
    pub ephemeral_key_hash: [u8; 32],
}

impl TypedData for SessionRequest {
    const TYPE: &'static str =
        "SessionRequest(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.from);
        enc.address(&self.to);
        enc.uint(self.timestamp);
        enc.bytes32(&self.ephemeral_key_hash);
        enc.finish()
    }
}

/// `SessionResponse(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash,bytes32 requestHash)` —
/// Alice's answer in T_A2, bound to the exact T_B1 it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    /// ID_A, the responder.
    pub from: Address,
    /// ID_B, the initiator.
    pub to: Address,
    /// T + 1.
    pub timestamp: u64,
    /// keccak256 of E_A's 33-byte compressed encoding.
    #[serde(with = "crate::serde_hex")]
    pub ephemeral_key_hash: [u8; 32],
    /// keccak256 of the whole T_B1 message.
    #[serde(with = "crate::serde_hex")]
    pub request_hash: [u8; 32],
}

impl TypedData for SessionResponse {
    const TYPE: &'static str = "SessionResponse(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash,bytes32 requestHash)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.from);
        enc.address(&self.to);
        enc.uint(self.timestamp);
        enc.bytes32(&self.ephemeral_key_hash);
        enc.bytes32(&self.request_hash);
        enc.finish()
    }
}

/// `Message(address from,address to,bytes16 id,uint64 sentAt,bytes32 bodyHash)` — one chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Sender ID.
    pub from: Address,
    /// Recipient ID.
    pub to: Address,
    /// 128-bit random message id.
    #[serde(with = "crate::serde_hex")]
    pub id: [u8; 16],
    /// Unix seconds at sending.
    pub sent_at: u64,
    /// keccak256 of the body bytes.
    #[serde(with = "crate::serde_hex")]
    pub body_hash: [u8; 32],
}

impl TypedData for Message {
    const TYPE: &'static str =
        "Message(address from,address to,bytes16 id,uint64 sentAt,bytes32 bodyHash)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.from);
        enc.address(&self.to);
        enc.bytes16(&self.id);
        enc.uint(self.sent_at);
        enc.bytes32(&self.body_hash);
        enc.finish()
    }
}

/// `MessageBatch(address from,address to,bytes32 root,uint32 count)` — one
/// signature over a Merkle root of `count` `Message` struct hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBatch {
    /// Sender ID.
    pub from: Address,
    /// Recipient ID.
    pub to: Address,
    /// Merkle root over the messages' struct hashes.
    #[serde(with = "crate::serde_hex")]
    pub root: [u8; 32],
    /// Number of leaves.
    pub count: u32,
}

impl TypedData for MessageBatch {
    const TYPE: &'static str = "MessageBatch(address from,address to,bytes32 root,uint32 count)";
    fn struct_hash(&self) -> [u8; 32] {
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(Self::TYPE, &TYPE_HASH);
        enc.address(&self.from);
        enc.address(&self.to);
        enc.bytes32(&self.root);
        enc.uint(u64::from(self.count));
        enc.finish()
    }
}

/// A typed payload with its signer's signature over `payload.signing_hash(domain)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// What was signed.
    pub payload: T,
    /// r‖s‖v over the EIP-712 digest.
    pub signature: Signature,
}

impl<T: TypedData> Signed<T> {
    /// Signs `payload` under `domain`.
    pub fn sign(key: &SecretKey, domain: &Domain, payload: T) -> Self {
        let signature = key.sign_digest(&payload.signing_hash(domain));
        Signed { payload, signature }
    }

    /// The public key that signed (recovery: one `ecrecover`).
    pub fn signer(&self, domain: &Domain) -> Result<PublicKey, SignatureError> {
        self.signature.recover(&self.payload.signing_hash(domain))
    }

    /// Checks the signature recovers to `expected_signer` under `domain`.
    pub fn verify(&self, domain: &Domain, expected_signer: &Address) -> Result<(), SignatureError> {
        let found = self.signer(domain)?.address();
        if &found != expected_signer {
            return Err(SignatureError::WrongSigner {
                expected: *expected_signer,
                found,
            });
        }
        Ok(())
    }

    /// Checks the signature against a known public key (verification, cheaper
    /// than recovery).
    pub fn verify_key(&self, domain: &Domain, key: &PublicKey) -> Result<(), SignatureError> {
        self.signature
            .verify(&self.payload.signing_hash(domain), key)
    }
}

/// Why a self-signed certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The certificate's ID is not the hash of its public key.
    #[error(
        "the certificate's ID {id} is not the hash of its public key (that key's ID is {key_id})"
    )]
    KeyMismatch {
        /// The ID stated.
        id: Address,
        /// The ID the key hashes to.
        key_id: Address,
    },
    /// The signature is bad.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl Signed<Certificate> {
    /// Checks a certificate the way the contract does at registration: the ID
    /// is the key's hash and the key itself signed it.
    pub fn verify_self_signed(&self, domain: &Domain) -> Result<(), CertificateError> {
        let key_id = self.payload.public_key.address();
        if key_id != self.payload.id {
            return Err(CertificateError::KeyMismatch {
                id: self.payload.id,
                key_id,
            });
        }
        self.verify_key(domain, &self.payload.public_key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        Domain {
            chain_id: 31337,
            verifying_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
        }
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32]).unwrap()
    }

    #[test]
    fn type_hashes_are_of_the_design_strings() {
        // Spelled out again here so a typo in either place fails.
        assert_eq!(
            Certificate::type_hash(),
            keccak256(b"Certificate(address id,bytes publicKey,uint64 validUntil,uint64 issuedAt)")
        );
        assert_eq!(
            MessageBatch::type_hash(),
            keccak256(b"MessageBatch(address from,address to,bytes32 root,uint32 count)")
        );
    }

    #[test]
    fn eip712_spec_mail_example_domain_separator() {
        // The EIP-712 reference example ("Ether Mail", chainId 1, contract
        // 0xCcCC…cCCC) has the well-known separator 0xf2cee375…; recompute it
        // with our Encoder to prove the word encodings.
        static TYPE_HASH: OnceLock<[u8; 32]> = OnceLock::new();
        let mut enc = Encoder::new(DOMAIN_TYPE, &TYPE_HASH);
        enc.bytes32(&keccak256(b"Ether Mail"));
        enc.bytes32(&keccak256(b"1"));
        enc.uint(1);
        enc.address(
            &"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            hex::encode(enc.finish()),
            "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
        );
    }

    #[test]
    fn signed_round_trip_and_wrong_signer() {
        let k = key(1);
        let signed = Signed::sign(
            &k,
            &domain(),
            Revocation {
                id: k.address(),
                revoked_at: 1_700_000_000,
            },
        );
        signed.verify(&domain(), &k.address()).unwrap();
        signed.verify_key(&domain(), &k.public_key()).unwrap();
        assert!(matches!(
            signed.verify(&domain(), &key(2).address()),
            Err(SignatureError::WrongSigner { .. })
        ));
        // Another registry: the same bytes recover to someone else.
        let other = Domain {
            chain_id: 1,
            ..domain()
        };
        assert!(signed.verify(&other, &k.address()).is_err());
    }

    #[test]
    fn same_fields_different_struct_different_digest() {
        let id = key(1).address();
        let renewal = Renewal {
            id,
            valid_until: 5,
            issued_at: 6,
        };
        let revocation = Revocation { id, revoked_at: 5 };
        assert_ne!(
            renewal.signing_hash(&domain()),
            revocation.signing_hash(&domain())
        );
    }

    #[test]
    fn certificate_self_signed_checks() {
        let k = key(1);
        let cert = Certificate::new(k.public_key(), 2_000_000_000, 1_700_000_000);
        let signed = Signed::sign(&k, &domain(), cert.clone());
        signed.verify_self_signed(&domain()).unwrap();
        let mut wrong_id = Signed::sign(
            &k,
            &domain(),
            Certificate {
                id: key(2).address(),
                ..cert
            },
        );
        assert!(matches!(
            wrong_id.verify_self_signed(&domain()),
            Err(CertificateError::KeyMismatch { .. })
        ));
        wrong_id.payload.id = k.address();
        assert!(matches!(
            wrong_id.verify_self_signed(&domain()),
            Err(CertificateError::Signature(_))
        ));
    }

    #[test]
    fn signed_serde_round_trip() {
        let k = key(1);
        let signed = Signed::sign(&k, &domain(), Certificate::new(k.public_key(), 9, 8));
        let json = serde_json::to_string(&signed).unwrap();
        assert!(json.contains("publicKey") && json.contains("validUntil"));
        let back: Signed<Certificate> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, signed);
        let msg = Message {
            from: k.address(),
            to: key(2).address(),
            id: [0xab; 16],
            sent_at: 1,
            body_hash: [0xcd; 32],
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.contains(&format!("0x{}", "ab".repeat(16))));
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), msg);
    }
}
