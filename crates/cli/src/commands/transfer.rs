//! Moving an identity between machines: `export` writes the V3 keystore
//! (as it is: encrypted under the password); `export --with-messages`
//! writes one encrypted archive holding the keystore and a snapshot of the
//! message store (the format is the node crate's `archive` module);
//! `init --from-keystore FILE` takes either.

use std::path::Path;

use chainmail_core::SecretKey;
use chainmail_node::archive;
use chainmail_node::keystore;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::commands::identity::unlock;
use crate::commands::messaging::open_store;
use crate::error::{Failure, exit};
use crate::output::{self, Report};
use crate::settings::Settings;

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
    let archive = archive::seal(&secret, &keystore_bytes, &db)?;
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

/// Reads a V3 keystore or an archive from `file`, unlocking with `password`.
pub fn import(file: &Path, password: &[u8]) -> Result<Imported, Failure> {
    if !archive::file_is_archive(file) {
        return Ok(Imported::Keystore(keystore::load(file, password)?));
    }
    let (secret, db) = archive::open_file(file, password).map_err(|e| {
        let f = Failure::from(e);
        if f.kind == "BadArchive" {
            let message = format!(
                "{} is not a readable chainmail archive: {}",
                file.display(),
                f.message
            );
            f.with_message(message)
        } else {
            f
        }
    })?;
    Ok(Imported::Archive(secret, db))
}
