//! The saved session: one token per client home, in a file only its user can read.
//!
//! The home is `MPS_CLI_HOME`, else `$XDG_CONFIG_HOME/mps-cli`, else `~/.config/mps-cli`. The
//! directory is made 0700 and the file 0600, written to a temporary file and renamed, so a
//! crash never leaves half a token and no other user ever sees it.

use std::io::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{CliError, CliResult};
use mps_api::roles::Role;

/// What a login leaves behind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The API the token was issued by.
    pub api: String,
    pub token: String,
    pub role: Role,
    pub name: String,
    pub identifier: String,
    pub operator: Option<String>,
    pub expires_at: DateTime<Utc>,
}

const FILE_NAME: &str = "session.json";

/// The client's home directory.
pub fn home() -> CliResult<PathBuf> {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = from_env("MPS_CLI_HOME") {
        return Ok(home);
    }
    if let Some(config) = from_env("XDG_CONFIG_HOME") {
        return Ok(config.join("mps-cli"));
    }
    from_env("HOME")
        .map(|home| home.join(".config").join("mps-cli"))
        .ok_or_else(|| CliError::local("cannot find a home for the session: set MPS_CLI_HOME"))
}

/// Where the session is kept.
pub fn path() -> CliResult<PathBuf> {
    Ok(home()?.join(FILE_NAME))
}

/// The saved session, if any.
pub fn load() -> CliResult<Option<Session>> {
    let path = path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CliError::local(format!("the session file {} is damaged ({e}); log in again", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::local(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Saves the session, readable by its user only; returns the file's path.
pub fn save(session: &Session) -> CliResult<PathBuf> {
    let home = home()?;
    let failed = |e: std::io::Error| CliError::local(format!("cannot save the session in {}: {e}", home.display()));
    create_private_dir(&home).map_err(failed)?;
    let path = home.join(FILE_NAME);
    let temporary = home.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(session).map_err(|e| CliError::local(e.to_string()))?;
    let _ = std::fs::remove_file(&temporary);
    let written = (|| {
        let mut file = private_file(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(failed)?;
    Ok(path)
}

/// Forgets the session; true when there was one.
pub fn remove() -> CliResult<bool> {
    let path = path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(CliError::local(format!("cannot remove {}: {e}", path.display()))),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // An existing directory keeps its mode from `create`: tighten it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(unix)]
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(not(unix))]
fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}
