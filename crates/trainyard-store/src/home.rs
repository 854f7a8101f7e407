//! Where the store lives on disk.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The database file name inside the trainyard home.
pub const DB_FILE: &str = "trainyard.db";

/// The trainyard home: `$TRAINYARD_HOME`, else `$XDG_DATA_HOME/trainyard`, else
/// `$HOME/.local/share/trainyard`.
///
/// Empty variables count as unset, as the XDG base directory specification asks.
pub fn default_home() -> Result<PathBuf> {
    home_from(|key| std::env::var_os(key))
}

/// [`default_home`] with the environment injected, so it can be tested without touching the
/// process environment.
pub fn home_from(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf> {
    let var = |key: &str| get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("TRAINYARD_HOME") {
        return Ok(home);
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Ok(data.join("trainyard"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home.join(".local").join("share").join("trainyard"));
    }
    Err(Error::NoHome)
}

/// The database file inside `home`.
pub fn db_path(home: &Path) -> PathBuf {
    home.join(DB_FILE)
}
