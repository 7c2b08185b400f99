//! Moving an identity between machines: `export` writes the V3 keystore
//! (as it is: encrypted under the password); `export --with-messages`
//! writes one encrypted archive holding the keystore and a snapshot of the
//! message store; `init --from-keystore FILE` takes either.
//!
//! Archive format (version 1):
//!
//! ```text
//! "CHAINMAIL-ARCHIVE-1\n"              magic (20 bytes)
//! u32 BE n, n bytes                    the V3 keystore JSON (n ≤ 64 KiB)
//! 12 bytes                             nonce (random)
//! rest                                 AES-256-GCM(archive key, snapshot of store.db),
//!                                      AAD = magic ‖ n ‖ keystore bytes
//! ```
//!
//! The archive key is HKDF-SHA256(identity secret key, salt
//! `chainmail/archive-key/v1`, info = ID): only the keystore's password
//! opens it, and the keystore cannot be swapped (it is in the AAD). Inside,
//! bodies and contacts are still sealed under the store key (derived from
//! the same identity key, so they open on the new machine as they are).

use std::io::Read;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chainmail_core::SecretKey;
use chainmail_node::keystore;
use rand::TryRngCore;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::commands::identity::unlock;
use crate::commands::messaging::open_store;
use crate::error::{Failure, exit};
use crate::output::{self, Report};
use crate::settings::Settings;

/// First bytes of an archive.
pub const MAGIC: &[u8; 20] = b"CHAINMAIL-ARCHIVE-1\n";
/// Largest keystore inside an archive.
const MAX_KEYSTORE: usize = 64 * 1024;
/// Largest archive read (the message store is held in memory once).
pub const MAX_ARCHIVE: u64 = 1 << 30;

/// `export`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// EIP-55 ID exported.
    pub id: String,
    /// The file written (null: the keystore went to stdout).
    pub file: Option<String>,
    /// Whether the message store is in it.
    pub with_messages: bool,
    /// Inbox messages in the archive (null without `--with-messages`).
    pub inbox: Option<u64>,
    /// Outbox messages in the archive (null without `--with-messages`).
    pub outbox: Option<u64>,
    /// Size of the file written, bytes.
    pub bytes: u64,
}

impl Report for ExportReport {
    fn human(&self) -> String {
        let what = if self.with_messages {
            format!(
                "keystore and message store ({} received, {} sent)",
                self.inbox.unwrap_or(0),
                self.outbox.unwrap_or(0)
            )
        } else {
            "keystore".into()
        };
        format!(
            "{} exported: {what} in {} ({} bytes)\nimport it with `chainmail init --from-keystore FILE` (same password)",
            self.id,
            self.file.as_deref().unwrap_or("-"),
            self.bytes
        )
    }
}

fn archive_cipher(secret: &SecretKey) -> Aes256Gcm {
    let ikm = secret.to_bytes();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"chainmail/archive-key/v1"), &ikm[..]);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is within HKDF-SHA256's output limit: cannot fail.
    let _ = hk.expand(&secret.address().0, &mut key[..]);
    Aes256Gcm::new((&*key).into())
}

fn aad(keystore: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(MAGIC.len() + 4 + keystore.len());
    a.extend_from_slice(MAGIC);
    a.extend_from_slice(&(keystore.len() as u32).to_be_bytes());
    a.extend_from_slice(keystore);
    a
}

fn io_failure(what: String) -> Failure {
    Failure::new("Io", what, "check the path and permissions")
}

/// Writes `bytes` to a new file (0600), refusing to overwrite.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::new(
                    "AlreadyExists",
                    format!("{} already exists", path.display()),
                    "pick another --out FILE, or move that one away",
                )
            } else {
                io_failure(format!("cannot write {}: {e}", path.display()))
            }
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_failure(format!("cannot write {}: {e}", path.display())))
}

/// `export [--with-messages] [--out FILE]`.
pub fn export(settings: &Settings, out: Option<&Path>, with_messages: bool) -> Result<u8, Failure> {
    let secret = unlock(settings)?;
    let keystore_bytes = std::fs::read(settings.home.keystore()).map_err(|e| {
        io_failure(format!(
            "cannot read {}: {e}",
            settings.home.keystore().display()
        ))
    })?;
    let id = secret.address().to_string();
    if !with_messages {
        let bytes = keystore_bytes.len() as u64;
        match out {
            Some(path) => {
                write_new(path, &keystore_bytes)?;
                output::print(
                    &ExportReport {
                        id,
                        file: Some(path.display().to_string()),
                        with_messages: false,
                        inbox: None,
                        outbox: None,
                        bytes,
                    },
                    settings.json,
                );
            }
            None => {
                // The keystore itself (encrypted JSON) is the output.
                use std::io::Write;
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(&keystore_bytes);
                let _ = o.write_all(b"\n");
            }
        }
        return Ok(exit::OK);
    }
    let path = out.ok_or_else(|| {
        Failure::usage(
            "OutRequired",
            "an archive with messages is binary and is written to a file",
            "pass --out FILE",
        )
    })?;
    if keystore_bytes.len() > MAX_KEYSTORE {
        return Err(io_failure("the keystore is larger than 64 KiB".into()));
    }
    let store = open_store(settings, &secret)?;
    let (inbox, outbox) = store.counts()?;
    // The snapshot goes to a private temporary directory in the home (0700);
    // its content is sealed anyway.
    let tmp = tempfile::Builder::new()
        .prefix(".export")
        .tempdir_in(settings.home.root())
        .map_err(|e| io_failure(format!("cannot create a temporary directory: {e}")))?;
    let snap = tmp.path().join("store.db");
    store.snapshot_to(&snap)?;
    let db =
        std::fs::read(&snap).map_err(|e| io_failure(format!("cannot read the snapshot: {e}")))?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| Failure::new("Rng", format!("the OS random generator failed: {e}"), ""))?;
    let ct = archive_cipher(&secret)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &db,
                aad: &aad(&keystore_bytes),
            },
        )
        .map_err(|_| io_failure("cannot encrypt the archive".into()))?;
    let mut archive = aad(&keystore_bytes);
    archive.extend_from_slice(&nonce);
    archive.extend_from_slice(&ct);
    write_new(path, &archive)?;
    output::print(
        &ExportReport {
            id,
            file: Some(path.display().to_string()),
            with_messages: true,
            inbox: Some(inbox),
            outbox: Some(outbox),
            bytes: archive.len() as u64,
        },
        settings.json,
    );
    Ok(exit::OK)
}

/// What `init --from-keystore` found in the file.
pub enum Imported {
    /// A plain V3 keystore.
    Keystore(SecretKey),
    /// An archive: the key and the message store's bytes.
    Archive(SecretKey, Zeroizing<Vec<u8>>),
}

fn bad_archive(file: &Path, why: &str) -> Failure {
    Failure::new(
        "BadArchive",
        format!(
            "{} is not a readable chainmail archive: {why}",
            file.display()
        ),
        "pass the file `chainmail export --with-messages` wrote, unmodified",
    )
}

/// Reads a V3 keystore or an archive from `file`, unlocking with `password`.
pub fn import(file: &Path, password: &[u8]) -> Result<Imported, Failure> {
    let mut head = [0u8; 20];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    if n < MAGIC.len() || &head != MAGIC {
        return keystore::load(file, password)
            .map(Imported::Keystore)
            .map_err(Failure::from);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_ARCHIVE + 1).read_to_end(&mut bytes))
        .map_err(|e| io_failure(format!("cannot read {}: {e}", file.display())))?;
    if bytes.len() as u64 > MAX_ARCHIVE {
        return Err(bad_archive(file, "larger than 1 GiB"));
    }
    let rest = &bytes[MAGIC.len()..];
    let len = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| bad_archive(file, "truncated"))?;
    if len > MAX_KEYSTORE {
        return Err(bad_archive(file, "keystore too large"));
    }
    let ks = rest
        .get(4..4 + len)
        .ok_or_else(|| bad_archive(file, "truncated keystore"))?;
    let after = &rest[4 + len..];
    if after.len() < 12 + 16 {
        return Err(bad_archive(file, "truncated store"));
    }
    let secret = keystore::decrypt(ks, password).map_err(|e| {
        let message = format!("the archive's keystore: {e}");
        let wrong_password = matches!(e, keystore::KeystoreError::WrongPassword);
        let f = Failure::from(e).with_message(message);
        if wrong_password {
            f
        } else {
            f.with_hint("pass the file `chainmail export --with-messages` wrote, unmodified")
        }
    })?;
    let db = archive_cipher(&secret)
        .decrypt(
            Nonce::from_slice(&after[..12]),
            Payload {
                msg: &after[12..],
                aad: &aad(ks),
            },
        )
        .map_err(|_| bad_archive(file, "the store does not decrypt (altered or truncated)"))?;
    Ok(Imported::Archive(secret, Zeroizing::new(db)))
}
