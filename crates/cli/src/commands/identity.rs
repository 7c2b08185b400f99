//! `init` and `id`: the identity key pair and ID of Fig. 2 (§4.1.2 step 1),
//! kept in the home's Web3 Secret Storage keystore.

use std::path::Path;

use chainmail_core::SecretKey;
use chainmail_node::keystore;

use crate::error::{Failure, exit};
use crate::output::{self, IdentityReport};
use crate::password::{self, Purpose};
use crate::settings::Settings;

/// `init [--from-keystore FILE]`.
pub fn init(settings: &Settings, from_keystore: Option<&Path>) -> Result<u8, Failure> {
    let path = settings.home.keystore();
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
    settings
        .home
        .ensure()
        .map_err(|e| Failure::from(e).with_hint("choose a writable --home"))?;
    let secret = match from_keystore {
        Some(file) => {
            let password = password::read(Purpose::Unlock)?;
            match crate::commands::transfer::import(file, password.as_bytes())? {
                crate::commands::transfer::Imported::Keystore(secret) => {
                    save(&path, &secret, password.as_bytes())?;
                    secret
                }
                crate::commands::transfer::Imported::Archive(secret, db) => {
                    // The store first: a keystore without its store would
                    // make the next command create an empty one.
                    restore_store(settings, &db)?;
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
    write_revocation_certificate(settings, &secret);
    output::print(&report(&secret, &path), settings.json);
    Ok(exit::OK)
}

/// Signs the revocation certificate for the configured chain and registry
/// and saves it next to the keystore (`revocation.json`). Best effort: a
/// chain that cannot be reached now only delays it to `register`.
fn write_revocation_certificate(settings: &Settings, secret: &SecretKey) {
    let done = crate::commands::runtime().map(|rt| {
        rt.block_on(async {
            match crate::commands::chain::open_with_payer(settings, None).await {
                Ok(registry) => {
                    crate::commands::registry::save_revocation_certificate(
                        settings, &*registry, secret,
                    )
                    .await;
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e.line(), "cannot reach the chain now");
                    false
                }
            }
        })
    });
    if !matches!(done, Ok(true)) && !settings.json {
        eprintln!(
            "note: no revocation certificate yet (the chain was not reachable); \
             `chainmail register` will save one"
        );
    }
}

/// Writes an imported message store into the home (never over one).
fn restore_store(settings: &Settings, db: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = settings.home.store();
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
pub fn id(settings: &Settings) -> Result<u8, Failure> {
    let secret = unlock(settings)?;
    output::print(&report(&secret, &settings.home.keystore()), settings.json);
    Ok(exit::OK)
}

/// Opens this home's keystore, asking for the password.
pub fn unlock(settings: &Settings) -> Result<SecretKey, Failure> {
    let path = settings.home.keystore();
    if !path.exists() {
        return Err(Failure::new(
            "NoIdentity",
            format!("no identity in {}", settings.home.root().display()),
            "run `chainmail init` first, or pass the right --home",
        ));
    }
    let password = password::read(Purpose::Unlock)?;
    keystore::load(&path, password.as_bytes()).map_err(Failure::from)
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
