//! Where the store lives, and making that directory private.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Env;

/// The environment variable that overrides the store directory.
pub const STORE_DIR_ENV: &str = "ATLAS_FLY_TOKENS_DIR";

/// The store directory when none is given explicitly: `$ATLAS_FLY_TOKENS_DIR`,
/// else `$XDG_DATA_HOME/atlas/fly-tokens` (only when absolute, as the XDG
/// spec requires), else `$HOME/.local/share/atlas/fly-tokens`; `None` when
/// none of these variables is set.
///
/// ```
/// use atlas_fly_cli::{default_store_dir, Env};
/// let env = Env::from_pairs([("HOME", "/home/me"), ("XDG_DATA_HOME", "relative/ignored")]);
/// assert_eq!(default_store_dir(&env).unwrap(), std::path::Path::new("/home/me/.local/share/atlas/fly-tokens"));
/// ```
pub fn default_store_dir(env: &Env) -> Option<PathBuf> {
    if let Some(dir) = env.non_empty(STORE_DIR_ENV) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = env.non_empty("XDG_DATA_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Some(xdg.join("atlas").join("fly-tokens"));
        }
    }
    env.non_empty("HOME")
        .map(|home| Path::new(&home).join(".local/share/atlas/fly-tokens"))
}

/// Creates `dir` (and missing parents) owner-only, or tightens an existing
/// one to 0700.
pub(crate) fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other("exists and is not a directory"));
    }
    tighten(dir, meta.mode(), 0o700)
}

/// Sets `mode` when `current` grants anything to group or others.
pub(crate) fn tighten(path: &Path, current: u32, mode: u32) -> io::Result<()> {
    if current & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", current & 0o777),
            "token store path was readable by others; restricting it to its owner"
        );
        fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// The per-user fallback directory under `temp_root`, created 0700.
///
/// `temp_root` is shared with other users (`/tmp`), so an existing entry is
/// used only when it is a real directory (not a symlink) owned by us.
pub(crate) fn private_temp_dir(temp_root: &Path) -> io::Result<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    let dir = temp_root.join(format!("atlas-fly-tokens-{uid}"));
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(&dir)?;
    if !meta.file_type().is_dir() || meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory owned by uid {uid}", dir.display()),
        ));
    }
    tighten(&dir, meta.mode(), 0o700)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dir_precedence() {
        let env = Env::from_pairs([
            ("ATLAS_FLY_TOKENS_DIR", "/explicit"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/home/me"),
        ]);
        assert_eq!(default_store_dir(&env), Some(PathBuf::from("/explicit")));
        let env = Env::from_pairs([("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/me")]);
        assert_eq!(default_store_dir(&env), Some(PathBuf::from("/xdg/atlas/fly-tokens")));
        let env = Env::from_pairs([("HOME", "/home/me"), ("ATLAS_FLY_TOKENS_DIR", " ")]);
        assert_eq!(
            default_store_dir(&env),
            Some(PathBuf::from("/home/me/.local/share/atlas/fly-tokens"))
        );
        assert_eq!(default_store_dir(&Env::empty()), None);
    }

    #[test]
    fn temp_dir_refuses_a_symlink() {
        let root = tempfile::tempdir().expect("tempdir");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let uid = nix::unistd::getuid().as_raw();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join(format!("atlas-fly-tokens-{uid}")))
            .expect("symlink");
        assert!(private_temp_dir(root.path()).is_err());
    }
}
