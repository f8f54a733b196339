//! Where the store lives, and judging or creating its directories.
//!
//! The rule: never change the mode of a directory the program did not
//! create. An existing directory is used only when it is already private (a
//! directory owned by this user with no group or other permission bit; a
//! symlink is judged by its target) and is otherwise refused with a message
//! that says how to fix it. A directory the program creates is made 0700
//! whatever the umask; the missing parents of a store get normal modes.

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Env;

/// The environment variable that overrides the store directory.
pub const STORE_DIR_ENV: &str = "ATLAS_FLY_TOKENS_DIR";

/// Where a refusal message sends the user for another directory.
const ELSEWHERE: &str = "choose another store directory (--store or ATLAS_FLY_TOKENS_DIR)";

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

/// Why a directory cannot be used.
#[derive(Debug)]
pub(crate) enum DirError {
    /// It exists but must not be used; the message says why and how to fix
    /// it. Never a reason to fall back elsewhere: the user must decide.
    Refused(String),
    /// It is missing and cannot be created, or cannot even be looked at.
    Unusable(io::Error),
}

/// What is at a directory's path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DirState {
    /// Nothing (or a path through a missing directory or a file).
    Missing,
    /// A directory owned by this user with no group or other permission.
    Private,
}

/// Looks at `dir` without changing anything. `follow`: a symlink is judged
/// by its target; otherwise a symlink is refused (for shared places such as
/// `/tmp`, where someone else may have planted it).
pub(crate) fn judge(dir: &Path, follow: bool) -> Result<DirState, DirError> {
    let lmeta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if is_missing(&e) => return Ok(DirState::Missing),
        Err(e) => return Err(DirError::Unusable(annotate(dir, e))),
    };
    if !lmeta.file_type().is_symlink() {
        return refusal(dir, dir, &lmeta).map_or(Ok(DirState::Private), |m| Err(DirError::Refused(m)));
    }
    if !follow {
        return Err(DirError::Refused(format!(
            "{} is a symbolic link, which is not accepted here (someone else may have put it there); \
             remove it, or {ELSEWHERE}",
            dir.display()
        )));
    }
    match fs::metadata(dir) {
        Ok(meta) => {
            let target = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            refusal(dir, &target, &meta).map_or(Ok(DirState::Private), |m| Err(DirError::Refused(m)))
        }
        Err(e) if is_missing(&e) => Err(DirError::Refused(format!(
            "{} is a symbolic link to a missing directory; create its target with `mkdir -m 700`, or {ELSEWHERE}",
            dir.display()
        ))),
        Err(e) => Err(DirError::Unusable(annotate(dir, e))),
    }
}

/// Uses `dir` when it is private, or creates it 0700 when it is missing
/// (with its missing parents, as `mkdir -p` would, when `parents`).
pub(crate) fn ensure_private_dir(dir: &Path, follow: bool, parents: bool) -> Result<(), DirError> {
    if judge(dir, follow)? == DirState::Private {
        return Ok(());
    }
    if parents {
        if let Some(parent) = dir.parent() {
            create_parents(parent).map_err(DirError::Unusable)?;
        }
    }
    match mkdir_private(dir) {
        Ok(()) => Ok(()),
        // Someone else created it meanwhile (or the path ends in `..`):
        // judge what is there now, as for any existing directory.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match judge(dir, follow)? {
            DirState::Private => Ok(()),
            DirState::Missing => Err(DirError::Unusable(annotate(dir, e))),
        },
        Err(e) => Err(DirError::Unusable(annotate(dir, e))),
    }
}

/// The per-user fallback directory's path under `temp_root`.
pub(crate) fn temp_dir_path(temp_root: &Path) -> PathBuf {
    let uid = nix::unistd::getuid().as_raw();
    temp_root.join(format!("atlas-fly-tokens-{uid}"))
}

/// The per-user fallback directory under `temp_root`, created 0700 when
/// missing. `temp_root` is shared with other users (`/tmp`), so an existing
/// entry is used only when it is a private directory itself, not a symlink.
pub(crate) fn private_temp_dir(temp_root: &Path) -> Result<PathBuf, DirError> {
    let dir = temp_dir_path(temp_root);
    ensure_private_dir(&dir, false, false)?;
    Ok(dir)
}

/// Why `meta` (what `shown` resolves to, `target`) must not be used as a
/// store directory, if it must not.
fn refusal(shown: &Path, target: &Path, meta: &Metadata) -> Option<String> {
    let what = if shown == target {
        format!("token store directory {}", shown.display())
    } else {
        format!(
            "token store directory {} (a symbolic link to {})",
            shown.display(),
            target.display()
        )
    };
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() {
        return Some(format!("{what} exists and is not a directory; {ELSEWHERE}"));
    }
    if meta.uid() != me {
        return Some(format!(
            "{what} belongs to uid {}, not to this user (uid {me}); refusing to use it, and its mode is left \
             alone; {ELSEWHERE}",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        let problem = format!(
            "{what} has mode {mode:04o}: group or others have access, and a token store must be private; \
             refusing to use it, and its mode is left alone"
        );
        // `chmod 700 /` or `chmod 700 ~` would lock others (or the user's
        // own tools) out: offer the chmod only for what looks like a store.
        return Some(if holds_only_store_entries(target) {
            format!(
                "{problem}; use a directory meant only for tokens (--store or ATLAS_FLY_TOKENS_DIR), or, \
                 if this one is, run `chmod 700 {}`",
                shell_quote(target)
            )
        } else {
            format!("{problem}; it holds other files, so it is not meant only for tokens: {ELSEWHERE}")
        });
    }
    None
}

/// Whether `dir` is empty or holds only what a token store keeps: its
/// `org`/`app`/`manual` directories (and v1's `cached`) at the top, records,
/// lock files, failure notes, temp files and moved-aside copies below.
fn holds_only_store_entries(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.into_iter().all(|entry| {
        let Ok(entry) = entry else { return false };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { return false };
        super::DIRS.contains(&name)
            || name == "cached"
            || name.ends_with(".json")
            || name.ends_with(super::lock::LOCK_SUFFIX)
            || name.ends_with(super::lock::NOTE_SUFFIX)
            || super::record::parse_moved_aside(name).is_some()
            || super::record::parse_temp(name).is_some()
    })
}

/// Creates the missing ancestors of a store, as `mkdir -p` does: normal modes
/// (the umask applies) plus owner write and search, so that the store can be
/// created inside. Existing ones are left exactly as they are.
fn create_parents(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(io::Error::other(format!("{} is not a directory", dir.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(annotate(dir, e)),
    }
    if let Some(parent) = dir.parent() {
        create_parents(parent)?;
    }
    match DirBuilder::new().mode(0o777).create(dir) {
        Ok(()) => {
            let f = open_dir(dir).map_err(|e| annotate(dir, e))?;
            let mode = f.metadata()?.mode() & 0o7777;
            if mode & 0o300 != 0o300 {
                f.set_permissions(Permissions::from_mode(mode | 0o300))
                    .map_err(|e| annotate(dir, e))?;
            }
            Ok(())
        }
        // Created meanwhile by someone else (or a `..` component): not ours.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(annotate(dir, e)),
    }
}

/// `mkdir dir` then 0700 on what was just created, whatever the umask took
/// away (through the open directory, so no symlink swapped in meanwhile is
/// followed).
fn mkdir_private(dir: &Path) -> io::Result<()> {
    DirBuilder::new().mode(0o700).create(dir)?;
    open_dir(dir)?.set_permissions(Permissions::from_mode(0o700))
}

fn open_dir(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW)
        .open(dir)
}

/// Not there, or cannot be there (a component is a regular file).
pub(crate) fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ENOTDIR)
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `path` as one shell word, for a command the user can paste.
fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b));
    if plain && !s.is_empty() {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
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
        std::os::unix::fs::symlink(elsewhere.path(), temp_dir_path(root.path())).expect("symlink");
        assert!(matches!(private_temp_dir(root.path()), Err(DirError::Refused(_))));
    }

    #[test]
    fn a_path_through_a_file_is_missing() {
        let d = tempfile::tempdir().expect("tempdir");
        let file = d.path().join("file");
        fs::write(&file, "x").expect("write");
        assert_eq!(judge(&file.join("store"), true).expect("judge"), DirState::Missing);
        assert!(matches!(judge(&file, true), Err(DirError::Refused(_))));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote(Path::new("/home/me/.local")), "/home/me/.local");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
