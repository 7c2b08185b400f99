//! `init` and `id`: the identity key pair and ID of Fig. 2 (§4.1.2 step 1),
//! kept in the home's Web3 Secret Storage keystore.

use std::path::Path;

use chainmail_core::SecretKey;
use chainmail_node::keystore::{self, KeystoreError};

use crate::error::{Failure, exit, variant_name};
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
    settings.home.ensure().map_err(|e| {
        Failure::new(
            variant_name(&format!("{e:?}")),
            e.to_string(),
            "choose a writable --home",
        )
    })?;
    let secret = match from_keystore {
        Some(file) => {
            let password = password::read(Purpose::Unlock)?;
            keystore::load(file, password.as_bytes())
                .map_err(|e| keystore_failure(e, file))
                .and_then(|secret| save(&path, &secret, password.as_bytes()).map(|()| secret))?
        }
        None => {
            let password = password::read(Purpose::New)?;
            let secret = SecretKey::generate(&mut rand::rng());
            save(&path, &secret, password.as_bytes())?;
            secret
        }
    };
    output::print(&report(&secret, &path), settings.json);
    Ok(exit::OK)
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
    keystore::load(&path, password.as_bytes()).map_err(|e| keystore_failure(e, &path))
}

fn save(path: &Path, secret: &SecretKey, password: &[u8]) -> Result<(), Failure> {
    keystore::save(path, secret, password).map_err(|e| keystore_failure(e, path))
}

fn report(secret: &SecretKey, keystore: &Path) -> IdentityReport {
    IdentityReport {
        id: secret.address().to_string(),
        public_key: format!("0x{}", hex::encode(secret.public_key().to_xy())),
        keystore: keystore.display().to_string(),
    }
}

/// Keystore errors with what to do about each.
pub fn keystore_failure(e: KeystoreError, path: &Path) -> Failure {
    let hint = match &e {
        KeystoreError::WrongPassword => "check CHAINMAIL_PASSWORD or retype the password",
        KeystoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            return Failure::new(
                "KeystoreNotFound",
                format!("no keystore at {}", path.display()),
                "check the path",
            );
        }
        KeystoreError::AlreadyExists(_) => "use another --home, or move the keystore away first",
        _ => "check that the file is a Web3 Secret Storage (v3) keystore",
    };
    Failure::new(variant_name(&format!("{e:?}")), e.to_string(), hint)
}
