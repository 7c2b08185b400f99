//! The file of the relayer flow: a signed registry payload bound to one chain
//! and registry (the EIP-712 domain), written by `register|renew|revoke|endpoint
//! --sign-only` (and saved as `revocation-<chain id>-<registry>.json`) and read by
//! `submit`.
//!
//! On disk (the `signed_file` object of `schema/output.schema.json`):
//!
//! ```json
//! { "action": "register", "chain_id": 31337, "registry": "0x…",
//!   "certificate": { "payload": {…}, "signature": "0x…" },
//!   "endpoint": { "payload": {…}, "signature": "0x…" } }
//! ```
//!
//! `certificate` is a `Signed<Certificate|Renewal|Revocation|Endpoint>` as
//! `action` says, `endpoint` (register only, optional) a `Signed<Endpoint>`
//! to publish after registering. Older revocation files have no `action`:
//! they are read as revocations. In memory the payload is typed
//! ([`Payload`]): a file whose `certificate` is not what its `action` says is
//! refused when read, and writing one cannot fail silently.

use std::path::Path;

use chainmail_core::eip712::{Certificate, Domain, Endpoint, Renewal, Revocation, Signed};
use chainmail_core::{Address, SecretKey};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::error::{Failure, exit};
use crate::settings::Settings;

/// Largest signed file read (a real one is under 2 KiB).
pub const MAX_SIGNED_FILE: u64 = 16 * 1024;

/// What a signed file asks the registry to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `register(Certificate)` (and `setEndpoint` when an endpoint is set).
    Register,
    /// `renew(Renewal)`.
    Renew,
    /// `revoke(Revocation)`.
    Revoke,
    /// `setEndpoint(Endpoint)`.
    Endpoint,
}

impl Action {
    /// The name in the file and in `submit`'s report.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Renew => "renew",
            Action::Revoke => "revoke",
            Action::Endpoint => "endpoint",
        }
    }
}

/// The signed payload of a file, by action.
// One per command run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A self-signed certificate, and optionally an endpoint to publish next.
    Register {
        /// The certificate.
        certificate: Signed<Certificate>,
        /// The endpoint, signed by the same key.
        endpoint: Option<Signed<Endpoint>>,
    },
    /// A renewal.
    Renew(Signed<Renewal>),
    /// A revocation.
    Revoke(Signed<Revocation>),
    /// An endpoint.
    Endpoint(Signed<Endpoint>),
}

impl Payload {
    /// The action of this payload.
    pub fn action(&self) -> Action {
        match self {
            Payload::Register { .. } => Action::Register,
            Payload::Renew(_) => Action::Renew,
            Payload::Revoke(_) => Action::Revoke,
            Payload::Endpoint(_) => Action::Endpoint,
        }
    }
}

/// A signed registry payload bound to one chain and registry, ready for
/// anyone to submit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawFile")]
pub struct SignedFile {
    /// The chain the signature is bound to.
    pub chain_id: u64,
    /// The registry the signature is bound to.
    pub registry: Address,
    /// What is signed.
    pub payload: Payload,
}

impl SignedFile {
    /// Wraps a signed payload for `domain`.
    pub fn new(domain: &Domain, payload: Payload) -> Self {
        SignedFile {
            chain_id: domain.chain_id,
            registry: domain.verifying_contract,
            payload,
        }
    }

    /// What the file asks for.
    pub fn action(&self) -> Action {
        self.payload.action()
    }

    /// Pretty JSON and a newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Failure> {
        let mut v = serde_json::to_vec_pretty(self).map_err(|e| {
            Failure::new(
                "Internal",
                format!("cannot encode the signed file: {e}"),
                "report this bug",
            )
        })?;
        v.push(b'\n');
        Ok(v)
    }
}

impl Serialize for SignedFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let endpoint = match &self.payload {
            Payload::Register { endpoint, .. } => endpoint.as_ref(),
            Payload::Renew(_) | Payload::Revoke(_) | Payload::Endpoint(_) => None,
        };
        let mut st = s.serialize_struct("SignedFile", 4 + usize::from(endpoint.is_some()))?;
        st.serialize_field("action", &self.action())?;
        st.serialize_field("chain_id", &self.chain_id)?;
        st.serialize_field("registry", &self.registry)?;
        match &self.payload {
            Payload::Register { certificate, .. } => {
                st.serialize_field("certificate", certificate)?
            }
            Payload::Renew(p) => st.serialize_field("certificate", p)?,
            Payload::Revoke(p) => st.serialize_field("certificate", p)?,
            Payload::Endpoint(p) => st.serialize_field("certificate", p)?,
        }
        if let Some(e) = endpoint {
            st.serialize_field("endpoint", e)?;
        }
        st.end()
    }
}

fn revoke_action() -> Action {
    Action::Revoke
}

/// The file as parsed, before `certificate` is read as what `action` says.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default = "revoke_action")]
    action: Action,
    chain_id: u64,
    registry: Address,
    certificate: serde_json::Value,
    #[serde(default)]
    endpoint: Option<Signed<Endpoint>>,
}

impl TryFrom<RawFile> for SignedFile {
    type Error = String;

    fn try_from(raw: RawFile) -> Result<Self, String> {
        fn signed<T: serde::de::DeserializeOwned>(
            v: serde_json::Value,
            action: Action,
        ) -> Result<Signed<T>, String> {
            serde_json::from_value(v)
                .map_err(|e| format!("the certificate is not a signed {}: {e}", action.as_str()))
        }
        let action = raw.action;
        if raw.endpoint.is_some() && action != Action::Register {
            return Err(format!(
                "only a register file holds an endpoint, not a {} file",
                action.as_str()
            ));
        }
        let payload = match action {
            Action::Register => Payload::Register {
                certificate: signed(raw.certificate, action)?,
                endpoint: raw.endpoint,
            },
            Action::Renew => Payload::Renew(signed(raw.certificate, action)?),
            Action::Revoke => Payload::Revoke(signed(raw.certificate, action)?),
            Action::Endpoint => Payload::Endpoint(signed(raw.certificate, action)?),
        };
        Ok(SignedFile {
            chain_id: raw.chain_id,
            registry: raw.registry,
            payload,
        })
    }
}

/// A revocation of `secret`'s ID dated `now`, for `domain`: valid forever
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
    SignedFile::new(domain, Payload::Revoke(signed))
}

/// Signs and saves the revocation certificate for `domain`
/// (`revocation-<chain id>-<registry>.json`, a file with action `revoke`)
/// if the home has none for it yet. Best effort: called after `init` (for
/// the chain configured then) and after a registration (for the chain the
/// ID is registered on), so a failure is a warning. Local time is fine: the
/// contract accepts any `revokedAt` up to now + 5 minutes, and records the
/// block time of the revocation itself.
pub fn save_revocation(settings: &Settings, domain: &Domain, secret: &SecretKey) {
    let path = settings
        .home
        .revocation_for(domain.chain_id, &domain.verifying_contract);
    if path.exists() {
        return;
    }
    let file = revocation_file(secret, domain, crate::clock::unix_now());
    let written = file.to_bytes().map_err(|e| e.line()).and_then(|bytes| {
        settings
            .home
            .write_revocation_for(domain.chain_id, &domain.verifying_contract, &bytes)
            .map_err(|e| e.to_string())
    });
    match written {
        Ok(()) if !settings.json => eprintln!(
            "note: a signed revocation certificate for chain {} (registry {}) is in {} — keep a copy offline; \
             `chainmail revoke --from-file FILE` revokes this ID there even without the key",
            domain.chain_id,
            domain.verifying_contract,
            crate::output::printable(&path.display().to_string())
        ),
        Ok(()) => {}
        Err(e) => tracing::warn!(error = %e, "no revocation certificate saved"),
    }
}

/// The home's revocation certificate for `domain`, if it holds one: the
/// file named for it, or an older `revocation.json` signed for it.
pub fn revocation_for_domain(settings: &Settings, domain: &Domain) -> Option<std::path::PathBuf> {
    let named = settings
        .home
        .revocation_for(domain.chain_id, &domain.verifying_contract);
    if named.exists() {
        return Some(named);
    }
    settings.home.revocations().into_iter().find(|p| {
        read(p).is_ok_and(|f| {
            f.action() == Action::Revoke
                && f.chain_id == domain.chain_id
                && f.registry == domain.verifying_contract
        })
    })
}

/// Prints a signed file on stdout (it is JSON with or without `--json`) and
/// a note on stderr.
pub fn print(file: &SignedFile, json: bool) -> Result<u8, Failure> {
    use std::io::Write;
    let bytes = file.to_bytes()?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&bytes);
    let _ = out.flush();
    if !json {
        eprintln!(
            "note: nothing was sent. Anyone with a payer key can submit this with \
             `chainmail submit FILE`{}",
            match file.action() {
                Action::Register | Action::Renew =>
                    " within 1 day (the contract's issuedAt window)",
                Action::Revoke | Action::Endpoint => "",
            }
        );
    }
    Ok(exit::OK)
}

/// A file that is not a usable signed file.
pub fn bad(what: String) -> Failure {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        Domain {
            chain_id: 31337,
            verifying_contract: Address([7; 20]),
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[5u8; 32]).unwrap()
    }

    #[test]
    fn files_round_trip_in_the_documented_shape() {
        let k = key();
        let d = domain();
        let endpoint = Signed::sign(
            &k,
            &d,
            Endpoint {
                id: k.address(),
                endpoint: "127.0.0.1:7400".into(),
                sequence: 9,
            },
        );
        let cert = Signed::sign(&k, &d, Certificate::new(k.public_key(), 200, 100));
        for payload in [
            Payload::Register {
                certificate: cert.clone(),
                endpoint: Some(endpoint.clone()),
            },
            Payload::Register {
                certificate: cert,
                endpoint: None,
            },
            Payload::Endpoint(endpoint),
            revocation_file(&k, &d, 50).payload,
        ] {
            let file = SignedFile::new(&d, payload);
            let bytes = file.to_bytes().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            let mut want = vec!["action", "chain_id", "registry", "certificate"];
            if matches!(
                file.payload,
                Payload::Register {
                    endpoint: Some(_),
                    ..
                }
            ) {
                want.push("endpoint");
            }
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            want.sort_unstable();
            assert_eq!(sorted, want);
            assert_eq!(v["action"], file.action().as_str());
            assert!(v["certificate"]["payload"].is_object());
            assert!(v["certificate"]["signature"].is_string());
            let back: SignedFile = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(back, file);
        }
    }

    #[test]
    fn a_file_without_action_is_a_revocation_and_mislabelled_files_are_refused() {
        let k = key();
        let d = domain();
        let file = revocation_file(&k, &d, 50);
        let mut v = serde_json::to_value(&file).unwrap();
        v.as_object_mut().unwrap().remove("action");
        let back: SignedFile = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, file);
        v["action"] = "renew".into();
        let e = serde_json::from_value::<SignedFile>(v).unwrap_err();
        assert!(e.to_string().contains("not a signed renew"), "{e}");
    }
}
