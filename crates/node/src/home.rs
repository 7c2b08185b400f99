//! The identity home: one directory per identity holding its key, its
//! message store, its configuration and its revocation certificate.
//!
//! ```text
//! $CHAINMAIL_HOME/            (default $XDG_CONFIG_HOME/chainmail or ~/.config/chainmail), mode 0700
//!   keystore.json             Web3 Secret Storage v3, mode 0600
//!   store.db (+ -wal, -shm)   SQLite message store: outbox, inbox, dedup, replay cache
//!   config.toml               chain, registry, listen address, payer key file
//!   revocation-<chain>-<registry>.json  signed revocation certificates (one per chain: `init`, `register`), mode 0600
//! ```
//!
//! The chain file of the embedded backend is deliberately *not* here: several
//! identities on one machine share one chain.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable naming the home directory.
pub const HOME_ENV: &str = "CHAINMAIL_HOME";

/// Why a home directory could not be resolved or prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// Neither `CHAINMAIL_HOME`, `XDG_CONFIG_HOME` nor `HOME` is set.
    #[error("cannot find a home directory: set CHAINMAIL_HOME or pass --home")]
    NoDefault,
    /// The directory could not be created or its permissions set.
    #[error("home directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists and is not a directory.
    #[error("home {0} exists and is not a directory")]
    NotADirectory(PathBuf),
}

/// An identity's home directory and the paths inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at `root` (not created yet; see [`Home::ensure`]).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The home to use: `flag` (`--home`) if given, else `$CHAINMAIL_HOME`,
    /// else `$XDG_CONFIG_HOME/chainmail`, else `$HOME/.config/chainmail`.
    /// Empty values count as unset.
    pub fn resolve(flag: Option<&Path>) -> Result<Self, HomeError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Self::resolve_from(
            flag,
            var(HOME_ENV).map(PathBuf::from),
            var("XDG_CONFIG_HOME").map(PathBuf::from),
            var("HOME").map(PathBuf::from),
        )
    }

    /// [`Home::resolve`] with the environment passed in (testable without
    /// touching the process environment).
    pub fn resolve_from(
        flag: Option<&Path>,
        chainmail_home: Option<PathBuf>,
        xdg_config_home: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Result<Self, HomeError> {
        if let Some(p) = flag {
            return Ok(Self::at(p));
        }
        if let Some(p) = chainmail_home {
            return Ok(Self::at(p));
        }
        // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
        if let Some(p) = xdg_config_home.filter(|p| p.is_absolute()) {
            return Ok(Self::at(p.join("chainmail")));
        }
        if let Some(p) = home {
            return Ok(Self::at(p.join(".config").join("chainmail")));
        }
        Err(HomeError::NoDefault)
    }

    /// Creates the directory (and parents) if needed, mode 0700, and tightens
    /// an existing one to 0700: it holds the key and every message.
    pub fn ensure(&self) -> Result<(), HomeError> {
        let io = |source| HomeError::Io {
            path: self.root.clone(),
            source,
        };
        match fs::metadata(&self.root) {
            Ok(m) if !m.is_dir() => return Err(HomeError::NotADirectory(self.root.clone())),
            Ok(m) => {
                if m.permissions().mode() & 0o077 != 0 {
                    fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
                        .map_err(io)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.root)
                    .map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
        Ok(())
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `keystore.json`: the identity key.
    pub fn keystore(&self) -> PathBuf {
        self.root.join("keystore.json")
    }

    /// `store.db`: the SQLite message store.
    pub fn store(&self) -> PathBuf {
        self.root.join("store.db")
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `api.sock`: the daemon's JSON-RPC socket (`serve`), when its path fits
    /// in a `sockaddr_un` (the daemon moves it under `$XDG_RUNTIME_DIR`
    /// otherwise).
    pub fn api_socket(&self) -> PathBuf {
        self.root.join("api.sock")
    }

    /// `serve.lock`: held (flock) by the one `serve` of this home; holds its pid.
    pub fn serve_lock(&self) -> PathBuf {
        self.root.join("serve.lock")
    }

    /// `revocation-<chain id>-<registry>.json`: the signed revocation
    /// certificate for one registry on one chain (a revocation is signed for
    /// its EIP-712 domain, so a home used on several chains keeps one per
    /// chain), to be kept offline. The registry is in lower-case hex.
    pub fn revocation_for(&self, chain_id: u64, registry: &chainmail_core::Address) -> PathBuf {
        self.root.join(format!(
            "revocation-{chain_id}-0x{}.json",
            hex::encode(registry.0)
        ))
    }

    /// The revocation certificates this home holds, by file name (earlier
    /// versions wrote one `revocation.json`, listed too).
    pub fn revocations(&self) -> Vec<PathBuf> {
        let Ok(dir) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = dir
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n == "revocation.json" || (n.starts_with("revocation-") && n.ends_with(".json"))
                })
            })
            .collect();
        found.sort();
        found
    }

    /// Writes the revocation certificate for `chain_id` and `registry` (any
    /// bytes the CLI chooses, JSON recommended) atomically with mode 0600;
    /// refuses to overwrite.
    pub fn write_revocation_for(
        &self,
        chain_id: u64,
        registry: &chainmail_core::Address,
        bytes: &[u8],
    ) -> Result<(), crate::keystore::KeystoreError> {
        crate::keystore::write_new_private(&self.revocation_for(chain_id, registry), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        let h = Home::resolve_from(Some(Path::new("/f")), p("/e"), p("/x"), p("/h")).unwrap();
        assert_eq!(h.root(), Path::new("/f"));
        let h = Home::resolve_from(None, p("/e"), p("/x"), p("/h")).unwrap();
        assert_eq!(h.root(), Path::new("/e"));
        let h = Home::resolve_from(None, None, p("/x"), p("/h")).unwrap();
        assert_eq!(h.root(), Path::new("/x/chainmail"));
        let h = Home::resolve_from(None, None, p("rel"), p("/h")).unwrap();
        assert_eq!(h.root(), Path::new("/h/.config/chainmail"));
        assert!(matches!(
            Home::resolve_from(None, None, None, None),
            Err(HomeError::NoDefault)
        ));
    }

    #[test]
    fn ensure_creates_private_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("a/b"));
        home.ensure().unwrap();
        let mode = fs::metadata(home.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::set_permissions(home.root(), fs::Permissions::from_mode(0o755)).unwrap();
        home.ensure().unwrap();
        let mode = fs::metadata(home.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            Home::at(&file).ensure(),
            Err(HomeError::NotADirectory(_))
        ));
        let registry = chainmail_core::Address([0xab; 20]);
        home.write_revocation_for(5, &registry, b"{}").unwrap();
        assert!(
            home.write_revocation_for(5, &registry, b"{}").is_err(),
            "overwrote"
        );
        home.write_revocation_for(31337, &registry, b"{}").unwrap();
        assert_eq!(
            home.revocations(),
            vec![
                home.revocation_for(31337, &registry),
                home.revocation_for(5, &registry)
            ]
        );
        let mode = fs::metadata(home.revocation_for(5, &registry))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
