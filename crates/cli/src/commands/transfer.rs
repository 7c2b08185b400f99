//! Moving an identity between machines: `export` writes the V3 keystore
//! (as it is: encrypted under the password); `export --with-messages`
//! writes one encrypted archive holding the keystore and a snapshot of the
//! message store (the format is the node crate's `archive` module);
//! `init --from-keystore FILE` takes either.

use std::path::Path;

use chainmail_node::archive;

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, ExportReport};

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
pub fn export(ctx: &Context, out: Option<&Path>, with_messages: bool) -> Result<u8, Failure> {
    let secret = ctx.identity()?;
    let keystore_bytes = std::fs::read(ctx.settings().home.keystore()).map_err(|e| {
        io_failure(format!(
            "cannot read {}: {e}",
            ctx.settings().home.keystore().display()
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
                    ctx.json(),
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
    let store = ctx.store()?;
    let (inbox, outbox) = store.counts()?;
    // The snapshot goes to a private temporary directory in the home (0700);
    // its content is sealed anyway.
    let tmp = tempfile::Builder::new()
        .prefix(".export")
        .tempdir_in(ctx.settings().home.root())
        .map_err(|e| io_failure(format!("cannot create a temporary directory: {e}")))?;
    let snap = tmp.path().join("store.db");
    store.snapshot_to(&snap)?;
    let db =
        std::fs::read(&snap).map_err(|e| io_failure(format!("cannot read the snapshot: {e}")))?;
    let archive = archive::seal(secret, &keystore_bytes, &db)?;
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
        ctx.json(),
    );
    Ok(exit::OK)
}
