//! `init` and `id`: the identity key pair and ID of Fig. 2 (§4.1.2 step 1),
//! kept in the home's Web3 Secret Storage keystore. `init --from-keystore`
//! imports a V3 keystore or an export archive (the node's `archive`).

use std::path::Path;

use chainmail_core::SecretKey;
use chainmail_node::{archive, keystore};
use zeroize::Zeroizing;

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, IdentityReport};
use crate::password::{self, Purpose};
use crate::signed_file;

/// `init [--from-keystore FILE]`.
pub fn init(ctx: &Context, from_keystore: Option<&Path>) -> Result<u8, Failure> {
    let path = ctx.settings().home.keystore();
    // Checked before asking for a password: saying "already exists" after
    // the user typed it twice would be rude. `keystore::save` re-checks
    // atomically (a concurrent init cannot clobber a key).
    if path.exists() {
        return Err(Failure::new(
            "AlreadyInitialized",
            format!("{} already holds an identity", path.display()),
            "use another --home, or move the keystore away first",
        ));
    }
    ctx.settings()
        .home
        .ensure()
        .map_err(|e| Failure::from(e).with_hint("choose a writable --home"))?;
    let secret = match from_keystore {
        Some(file) => {
            let password = password::read(Purpose::Unlock)?;
            match import(file, password.as_bytes())? {
                Imported::Keystore(secret) => {
                    save(&path, &secret, password.as_bytes())?;
                    secret
                }
                Imported::Archive(secret, db) => {
                    // The store first: a keystore without its store would
                    // make the next command create an empty one.
                    restore_store(ctx, &db)?;
                    save(&path, &secret, password.as_bytes())?;
                    secret
                }
            }
        }
        None => {
            let password = password::read(Purpose::New)?;
            let secret = SecretKey::generate(&mut rand::rng());
            save(&path, &secret, password.as_bytes())?;
            secret
        }
    };
    let secret = ctx.set_identity(secret);
    write_revocation_certificate(ctx, secret);
    output::print(&report(secret, &path), ctx.json());
    Ok(exit::OK)
}

/// Signs the revocation certificate for the configured chain and registry
/// and saves it next to the keystore (`revocation-<chain id>-<registry>.json`). Best effort: a
/// chain that cannot be reached now only delays it to `register`.
fn write_revocation_certificate(ctx: &Context, secret: &SecretKey) {
    let done = ctx.block_on(async {
        match ctx.signing_registry().await {
            Ok(registry) => {
                signed_file::save_revocation(ctx.settings(), &registry.domain(), secret);
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(error = %e.line(), "cannot reach the chain now");
                Ok(false)
            }
        }
    });
    if !matches!(done, Ok(true)) && !ctx.json() {
        eprintln!(
            "note: no revocation certificate yet (the chain was not reachable); \
             `chainmail register` will save one"
        );
    }
}

/// Writes an imported message store into the home (never over one).
fn restore_store(ctx: &Context, db: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = ctx.settings().home.store();
    let fail = |e: std::io::Error| {
        Failure::new(
            "AlreadyInitialized",
            format!("cannot write {}: {e}", path.display()),
            "import into a fresh --home",
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(fail)?;
    f.write_all(db).and_then(|()| f.sync_all()).map_err(fail)
}

/// `id`.
pub fn id(ctx: &Context) -> Result<u8, Failure> {
    let secret = ctx.identity()?;
    output::print(&report(secret, &ctx.settings().home.keystore()), ctx.json());
    Ok(exit::OK)
}

fn save(path: &Path, secret: &SecretKey, password: &[u8]) -> Result<(), Failure> {
    keystore::save(path, secret, password).map_err(Failure::from)
}

fn report(secret: &SecretKey, keystore: &Path) -> IdentityReport {
    IdentityReport {
        id: secret.address().to_string(),
        public_key: format!("0x{}", hex::encode(secret.public_key().to_xy())),
        keystore: keystore.display().to_string(),
    }
}

/// What `init --from-keystore` found in the file.
enum Imported {
    /// A plain V3 keystore.
    Keystore(SecretKey),
    /// An archive: the key and the message store's bytes.
    Archive(SecretKey, Zeroizing<Vec<u8>>),
}

/// Reads a V3 keystore or an archive from `file`, unlocking with `password`.
fn import(file: &Path, password: &[u8]) -> Result<Imported, Failure> {
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
