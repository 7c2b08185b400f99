//! Where the daemon's socket lives and who may open it: the home's lock
//! (one `serve` per home), the socket path (`api.sock` in the home, or
//! under `$XDG_RUNTIME_DIR` when that path does not fit in `sun_path`),
//! the checks on a socket left behind (no symlink, ours, a socket), the
//! bind under umask 077, and the connecting process's uid.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chainmail_node::home::Home;
use sha2::{Digest, Sha256};
use tokio::net::{UnixListener, UnixStream};

use crate::error::Failure;

/// `sun_path` holds 108 bytes, the last one the terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// The lock of one home's daemon, held while this value lives.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

/// Takes the home's lock, or fails with `AlreadyServing` (naming the pid
/// the running daemon wrote) if another `serve` holds it.
pub fn lock(home: &Home) -> Result<ServeLock, Failure> {
    let path = home.serve_lock();
    let io = |e: std::io::Error| {
        Failure::new(
            "Io",
            format!("cannot open {}: {e}", path.display()),
            "check the home's permissions",
        )
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let pid: String = pid
                .trim()
                .chars()
                .filter(char::is_ascii_digit)
                .take(10)
                .collect();
            return Err(Failure::new(
                "AlreadyServing",
                format!(
                    "a `chainmail serve` already runs for {}{}",
                    home.root().display(),
                    if pid.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {pid})")
                    }
                ),
                "use that daemon (the CLI talks to it), or stop it first",
            ));
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Best effort: the pid is only for the message above.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(ServeLock { _file: file })
}

/// The socket path of `home`: `api.sock` in it, or, when that is longer
/// than `sun_path` allows, `$XDG_RUNTIME_DIR/chainmail/<hash of the home>.sock`.
pub fn path(home: &Home) -> Result<PathBuf, Failure> {
    let local = home.api_socket();
    if local.as_os_str().len() <= SUN_PATH_MAX {
        return Ok(local);
    }
    let too_long = || {
        Failure::new(
            "SocketPathTooLong",
            format!(
                "the API socket path {} is longer than a Unix socket allows ({SUN_PATH_MAX} bytes)",
                local.display()
            ),
            "set XDG_RUNTIME_DIR (it is used instead), use a shorter --home, or pass --no-api",
        )
    };
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .ok_or_else(too_long)?;
    let root = std::fs::canonicalize(home.root()).unwrap_or_else(|_| home.root().to_owned());
    let hash = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let p = runtime
        .join("chainmail")
        .join(format!("{}.sock", hex::encode(&hash[..8])));
    if p.as_os_str().len() > SUN_PATH_MAX {
        return Err(too_long());
    }
    Ok(p)
}

fn refuse(path: &Path, why: &str) -> Failure {
    Failure::new(
        "UnsafeSocketPath",
        format!("will not use {}: {why}", path.display()),
        "remove it yourself if it is yours and harmless, or pass --no-api",
    )
}

/// Binds the socket at `path` (the home's lock is held, so whatever is
/// there was left by a daemon that died): refuses a symlink, a file that is
/// not a socket and one owned by another user; creates the runtime
/// directory 0700; binds under umask 077 and sets 0600.
pub fn bind(path: &Path) -> Result<UnixListener, Failure> {
    let euid = rustix::process::geteuid().as_raw();
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| refuse(dir, &e.to_string()))?;
        }
        let m = std::fs::symlink_metadata(dir).map_err(|e| refuse(dir, &e.to_string()))?;
        if m.uid() != euid {
            return Err(refuse(dir, "the directory belongs to another user"));
        }
        if m.permissions().mode() & 0o022 != 0 {
            return Err(refuse(dir, "others may write in the directory"));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(refuse(path, "it is a symbolic link")),
        Ok(m) if !m.file_type().is_socket() => return Err(refuse(path, "it is not a socket")),
        Ok(m) if m.uid() != euid => return Err(refuse(path, "it belongs to another user")),
        Ok(_) => {
            // A socket of a daemon that is gone (we hold the lock).
            std::fs::remove_file(path).map_err(|e| refuse(path, &e.to_string()))?;
            tracing::info!(socket = %path.display(), "removed the socket a stopped daemon left");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(refuse(path, &e.to_string())),
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(|e| {
        Failure::new(
            "CannotListen",
            format!("cannot bind the API socket {}: {e}", path.display()),
            "check the directory, or pass --no-api",
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Failure::new(
            "CannotListen",
            format!("cannot restrict {}: {e}", path.display()),
            "check the directory, or pass --no-api",
        )
    })?;
    Ok(listener)
}

/// Whether `path` is a socket (not a link to one) owned by this user.
pub fn ours(path: &Path) -> bool {
    let euid = rustix::process::geteuid().as_raw();
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket() && m.uid() == euid)
}

/// Whether the process at the other end runs as this user (`SO_PEERCRED`).
pub fn same_user(stream: &UnixStream) -> bool {
    let euid = rustix::process::geteuid().as_raw();
    stream.peer_cred().is_ok_and(|c| c.uid() == euid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_homes_move_to_the_runtime_dir() {
        let short = Home::at("/tmp/h");
        assert_eq!(path(&short).unwrap(), PathBuf::from("/tmp/h/api.sock"));
        let long = Home::at(format!("/tmp/{}", "x".repeat(120)));
        // Without XDG_RUNTIME_DIR it is a named error, not a truncated path.
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            assert_eq!(path(&long).unwrap_err().kind, "SocketPathTooLong");
        } else {
            let p = path(&long).unwrap();
            assert!(p.as_os_str().len() <= SUN_PATH_MAX, "{}", p.display());
        }
    }
}
