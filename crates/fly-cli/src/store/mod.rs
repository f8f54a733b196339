//! [`FileStorage`]: the durable default [`Storage`], one small JSON file per
//! record.

mod dir;
mod lock;
mod record;
mod sweep;

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use atlas_app_server::{
    AppName, FailureNote, OrgName, Scope, ScopeLease, Storage, StorageError, StorageKey, Token, TokenRecord,
};
use parking_lot::Mutex;

pub use dir::{default_store_dir, STORE_DIR_ENV};
use dir::{DirError, DirState};
use record::ReadOutcome;
pub use sweep::DAMAGED_RECORD_RETENTION;

/// The record directories: an org's minted token, an app's minted (deploy)
/// token, an app's manual token. Three directories, so an org and an app of
/// one name never share a file.
pub(crate) const DIRS: [&str; 3] = ["org", "app", "manual"];

/// The key of the record file `<sub>/<stem>.json`, if `stem` is a valid
/// name there.
pub(crate) fn key_of(sub: &str, stem: &str) -> Option<StorageKey> {
    match sub {
        "org" => OrgName::new(stem).ok().map(|o| StorageKey::Minted(Scope::Org(o))),
        "app" => AppName::new(stem).ok().map(|a| StorageKey::Minted(Scope::App(a))),
        "manual" => AppName::new(stem).ok().map(StorageKey::Manual),
        _ => None,
    }
}

/// Writers of one key in this process take the same stripe, so that a
/// compare-and-delete never removes a record put between its read and its
/// unlink. (Across processes, the last writer wins.)
const STRIPES: usize = 64;

/// A [`Storage`] that keeps one JSON file per record:
///
/// ```text
/// <dir>/                 0700
///   org/<org>.json       0600   {"version":2,"kind":"minted","scope":"org:acme","source":"cli","token":…,"expires_at":…}
///   app/<app>.json       0600   a deploy token minted for the app (scope app:<app>)
///   manual/<app>.json    0600   {"version":2,"kind":"manual","scope":"app:<app>","source":"manual",…,"expires_at":null}
///   org/<org>.lock       0600   empty: the scope's lock (`flock`), beside its record
///   org/<org>.failure    0600   the scope's last CLI failure, when it failed (no token)
///   app/<app>.lock, app/<app>.failure   the same for a deploy token's scope
/// ```
///
/// - **Earlier format**: `cached/<app>.json` records (version 1, no source,
///   possibly the user's own token) are deleted once, when the store is
///   opened for writing, and re-acquired on demand; version 1 manual
///   records are read as they are.
/// - **Crash-safe**: a write goes to a temp file in the same directory
///   (created 0600), is fsynced, renamed over the record and the directory
///   is fsynced; a crash at any instant (even `SIGKILL`) leaves the old
///   record or the new one, never a torn one.
/// - **Shared**: several processes may use one directory at once; each
///   write is atomic and the last one wins. They mint a scope's token once
///   between them: [`lock_scope`](Storage::lock_scope) takes an advisory
///   `flock` on the scope's lock file around "look in the store again →
///   acquire → write", so N processes cold on one scope run the CLI once
///   and all get the same token; a holder that dies (even by `SIGKILL`)
///   frees the lock with its file descriptors. The wait polls on a blocking
///   thread (never a tokio worker) and ends when the waiting future is
///   dropped (the stack bounds it by the CLI timeout plus
///   [`LOCK_WAIT_MARGIN`](atlas_app_server::LOCK_WAIT_MARGIN), and a signal
///   drops it). A holder whose CLI failed leaves a failure note
///   ([`note_failure`](Storage::note_failure): the sanitised finding and
///   when) before it releases the lock, so the waiters answer that failure
///   instead of each running the CLI again. Lock files and notes are
///   neither records nor damage: listings skip them and the sweep leaves
///   them; a read-only store creates none (its `lock_scope` is local).
/// - **Damage stays local**: an unreadable minted record is renamed to
///   `<app>.json.corrupt-<unix seconds>` (kept for inspection for
///   [`DAMAGED_RECORD_RETENTION`], listed by [`moved_aside`](Self::moved_aside))
///   and read as a miss, since a minted token can be acquired again; an
///   unreadable `manual` record is [`StorageError::Corrupt`] and is left
///   exactly where it is, for an operator, since a manual token cannot.
///   Anything that is not a regular file (a FIFO, a device, a symlink) is
///   damage, found without opening it, so nothing ever blocks on it; so is a
///   record file of another user, or one that group or others may access.
/// - **Private, and never at the expense of what it did not create**:
///   directories it creates are 0700 and files 0600, whatever the umask (a
///   missing store's missing parents get normal modes, as with `mkdir -p`).
///   An existing directory is used only when it is already private (owned by
///   this user, no group or other permission bit; a symlink is judged by its
///   target); otherwise opening fails with a message that says how to fix it
///   (`chmod 700 DIR`, or another directory; only another when it holds
///   files a store does not), and nothing is created in it
///   and no mode is changed.
/// - **No secret outlives its use for long**: opening for writing removes
///   the temp files of writers that died (their name holds the writer's host
///   and pid; of another host, or of an older version: once older than 10
///   minutes), expired minted records and records moved aside more than
///   [`DAMAGED_RECORD_RETENTION`] ago; [`delete`](Storage::delete) removes the
///   dead writers' temp files of what it deletes.
/// - **Read-only when asked**: [`open_read_only`](Self::open_read_only)
///   creates, moves, removes and changes nothing (for listings such as
///   `fly-tokens status`).
/// - File names are the [`AppName`] or [`OrgName`], both validated to be
///   safe as one.
/// - [`delete_if`](Storage::delete_if) compares and deletes under an
///   in-process lock of the record; across processes, the last writer wins.
/// - Blocking file work runs on tokio's blocking pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use atlas_app_server::{OrgName, Scope, Storage, StorageKey, Token, TokenRecord};
/// use atlas_fly_cli::FileStorage;
///
/// let dir = std::env::temp_dir().join(format!("atlas-doc-{}", std::process::id()));
/// let store = FileStorage::open(&dir)?;
/// let scope = Scope::Org(OrgName::new("acme")?);
/// let key = StorageKey::Minted(scope.clone());
/// let record = TokenRecord::minted(scope, Token::new("FlyV1 fm2_abc"), 1_900_000_000);
/// store.put(&key, record.clone()).await?;
/// assert_eq!(store.get(&key).await?, Some(record));
/// assert!(dir.join("org/acme.json").exists());
///
/// // A listing opens it read-only: nothing is created or tidied.
/// let listing = FileStorage::open_read_only(&dir)?;
/// assert_eq!(listing.entries().await?, vec![key]);
/// assert!(FileStorage::open_read_only(dir.join("not-there"))?.entries().await?.is_empty());
/// assert!(!dir.join("not-there").exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct FileStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    fallback: bool,
    mode: OpenMode,
    stripes: [Mutex<()>; STRIPES],
}

/// How a [`FileStorage`] is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// For everything that may write: a missing store directory is created
    /// (0700), leftovers are swept, damaged minted records are moved aside.
    ReadWrite,
    /// For listings: creates, changes, moves and removes nothing. A store
    /// that does not exist is an empty one; `put` and `delete` fail with
    /// [`StorageError::Unavailable`]; a damaged minted record is
    /// [`StorageError::Corrupt`] (left in place) instead of a miss.
    ReadOnly,
}

/// A damaged record that was moved aside (see
/// [`FileStorage::moved_aside`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedAside {
    /// Whose record it was.
    pub key: StorageKey,
    /// Where it is now.
    pub path: PathBuf,
    /// When it was moved aside (unix seconds); a writer removes it
    /// [`DAMAGED_RECORD_RETENTION`] later.
    pub moved_at: u64,
}

impl FileStorage {
    /// Opens the store in `dir` for reading and writing, creating it (0700,
    /// its missing parents as `mkdir -p` would) when it does not exist, and
    /// sweeps what dead writers left behind.
    ///
    /// Blocking: call it at start-up (or in `spawn_blocking`).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when `dir` cannot be created or used,
    /// or exists but is not private (its message says how to fix that).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(dir, OpenMode::ReadWrite)
    }

    /// Opens the store in `dir` for listing ([`OpenMode::ReadOnly`]):
    /// nothing is created or changed, and a missing store is an empty one.
    /// Blocking.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when `dir` exists but is not private,
    /// or cannot be looked at.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(dir, OpenMode::ReadOnly)
    }

    /// [`open`](Self::open) or [`open_read_only`](Self::open_read_only).
    ///
    /// # Errors
    /// As those.
    pub fn open_with(dir: impl AsRef<Path>, mode: OpenMode) -> Result<Self, StorageError> {
        let dir = dir.as_ref();
        Self::open_at(dir, mode, false).map_err(|e| unavailable(dir, e))
    }

    /// Like [`open_with`](Self::open_with), for a directory nobody chose
    /// explicitly (the default one): when it cannot be **created**, falls
    /// back, with a warning, to a private per-user directory under the
    /// system temp dir (`$TMPDIR/atlas-fly-tokens-<uid>`, 0700), where tokens
    /// survive restarts of this program but perhaps not of the machine. An
    /// existing directory that is refused (not private) is an error, never a
    /// reason to fall back. Read-only, the fallback is listed when it exists
    /// and `dir` does not.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when `dir` is refused, or the fallback
    /// cannot be used either.
    pub fn open_or_fallback(dir: impl AsRef<Path>, mode: OpenMode) -> Result<Self, StorageError> {
        Self::open_or_fallback_in(dir, &std::env::temp_dir(), mode)
    }

    /// [`open_or_fallback`](Self::open_or_fallback) with the fallback under
    /// `temp_root` instead of the system temp dir.
    ///
    /// # Errors
    /// As [`open_or_fallback`](Self::open_or_fallback).
    pub fn open_or_fallback_in(dir: impl AsRef<Path>, temp_root: &Path, mode: OpenMode) -> Result<Self, StorageError> {
        match mode {
            OpenMode::ReadWrite => Self::write_or_fallback(dir.as_ref(), temp_root),
            OpenMode::ReadOnly => Self::read_or_fallback(dir.as_ref(), temp_root),
        }
    }

    fn write_or_fallback(dir: &Path, temp_root: &Path) -> Result<Self, StorageError> {
        let first = match Self::open_at(dir, OpenMode::ReadWrite, false) {
            Err(e @ DirError::Unusable(_)) => describe(dir, e),
            // Opened, or refused: the user must decide, not a fallback.
            done => return done.map_err(|e| unavailable(dir, e)),
        };
        let store = dir::private_temp_dir(temp_root)
            .and_then(|fallback| Self::open_at(&fallback, OpenMode::ReadWrite, true))
            .map_err(|e| {
                StorageError::Unavailable(format!(
                    "{first}; and the fallback under {} failed: {}",
                    temp_root.display(),
                    describe(temp_root, e)
                ))
            })?;
        tracing::warn!(
            wanted = %dir.display(),
            using = %store.dir().display(),
            error = %first,
            "cannot use the token store directory; falling back to a temporary one"
        );
        Ok(store)
    }

    /// Read-only, the fallback is where a writer went when `dir` could not
    /// be created: listed when `dir` is not there (or cannot be looked at)
    /// and the fallback is.
    fn read_or_fallback(dir: &Path, temp_root: &Path) -> Result<Self, StorageError> {
        if matches!(
            dir::judge(dir, true),
            Ok(DirState::Missing) | Err(DirError::Unusable(_))
        ) {
            let fallback = dir::temp_dir_path(temp_root);
            if matches!(dir::judge(&fallback, false), Ok(DirState::Private)) {
                tracing::warn!(
                    wanted = %dir.display(),
                    using = %fallback.display(),
                    "the token store directory is not there; listing the temporary fallback"
                );
                return Self::open_at(&fallback, OpenMode::ReadOnly, true).map_err(|e| unavailable(&fallback, e));
            }
        }
        Self::open_with(dir, OpenMode::ReadOnly)
    }

    /// Opens the per-user fallback directory under the system temp dir
    /// directly, with a warning: for when no store directory can be named at
    /// all (neither `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME` nor `HOME` is set).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when it cannot be used.
    pub fn open_temp(mode: OpenMode) -> Result<Self, StorageError> {
        let root = std::env::temp_dir();
        let dir = match mode {
            OpenMode::ReadWrite => dir::private_temp_dir(&root),
            OpenMode::ReadOnly => Ok(dir::temp_dir_path(&root)),
        }
        .and_then(|dir| Self::open_at(&dir, mode, true))
        .map_err(|e| unavailable(&root, e))?;
        tracing::warn!(
            using = %dir.dir().display(),
            "no token store directory is configured (ATLAS_FLY_TOKENS_DIR, XDG_DATA_HOME, HOME); using a temporary one"
        );
        Ok(dir)
    }

    /// Opens the store in `dir`; a `fallback` directory is under a shared
    /// temp dir, where a symlink is never followed.
    fn open_at(dir: &Path, mode: OpenMode, fallback: bool) -> Result<Self, DirError> {
        let follow = !fallback;
        match mode {
            OpenMode::ReadWrite => {
                dir::ensure_private_dir(dir, follow, !fallback)?;
                for sub in DIRS {
                    dir::ensure_private_dir(&dir.join(sub), true, false)?;
                }
                sweep::on_open(dir);
            }
            OpenMode::ReadOnly => {
                if dir::judge(dir, follow)? == DirState::Private {
                    for sub in DIRS {
                        dir::judge(&dir.join(sub), true)?;
                    }
                }
            }
        }
        Ok(FileStorage {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                fallback,
                mode,
                stripes: std::array::from_fn(|_| Mutex::new(())),
            }),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether this store is the temporary fallback.
    pub fn is_fallback(&self) -> bool {
        self.inner.fallback
    }

    /// How this store was opened.
    pub fn mode(&self) -> OpenMode {
        self.inner.mode
    }

    /// The file that holds `key`'s record.
    pub fn record_path(&self, key: &StorageKey) -> PathBuf {
        let (sub, name) = match key {
            StorageKey::Minted(Scope::Org(org)) => ("org", org.as_str()),
            StorageKey::Minted(Scope::App(app)) => ("app", app.as_str()),
            StorageKey::Manual(app) => ("manual", app.as_str()),
        };
        self.inner.dir.join(sub).join(format!("{name}.json"))
    }

    /// The file beside `scope`'s minted record named `<name><suffix>`.
    fn beside(&self, scope: &Scope, suffix: &str) -> PathBuf {
        let (sub, name) = match scope {
            Scope::Org(org) => ("org", org.as_str()),
            Scope::App(app) => ("app", app.as_str()),
        };
        self.inner.dir.join(sub).join(format!("{name}{suffix}"))
    }

    /// The lock file of `scope` (`org/<org>.lock`, `app/<app>.lock`),
    /// created by the first [`lock_scope`](Storage::lock_scope).
    pub fn lock_path(&self, scope: &Scope) -> PathBuf {
        self.beside(scope, lock::LOCK_SUFFIX)
    }

    /// The failure note of `scope` (`org/<org>.failure`, …), present while
    /// its last CLI run failed.
    pub fn failure_note_path(&self, scope: &Scope) -> PathBuf {
        self.beside(scope, lock::NOTE_SUFFIX)
    }

    /// Every record file present, as its key, sorted; for listings such as
    /// `fly-tokens status`. Damaged or foreign files are not checked here;
    /// a store that does not exist (read-only) has none.
    ///
    /// # Errors
    /// [`StorageError::Io`] when a directory cannot be listed.
    pub async fn entries(&self) -> Result<Vec<StorageKey>, StorageError> {
        let mut out: Vec<_> = self
            .list(|name| name.strip_suffix(".json").map(|stem| (stem, ())))
            .await?
            .into_iter()
            .map(|(key, _, ())| key)
            .collect();
        out.sort();
        Ok(out)
    }

    /// The damaged records that were moved aside and are still kept, oldest
    /// first; for listings such as `fly-tokens status`.
    ///
    /// # Errors
    /// [`StorageError::Io`] when a directory cannot be listed.
    pub async fn moved_aside(&self) -> Result<Vec<MovedAside>, StorageError> {
        let found = self
            .list(|name| {
                let (record, moved_at) = record::parse_moved_aside(name)?;
                Some((record.strip_suffix(".json")?, moved_at))
            })
            .await?;
        let mut out: Vec<_> = found
            .into_iter()
            .map(|(key, path, moved_at)| MovedAside { key, path, moved_at })
            .collect();
        out.sort_by(|a, b| (a.moved_at, &a.path).cmp(&(b.moved_at, &b.path)));
        Ok(out)
    }

    /// The files of the record directories whose names `pick` maps to a
    /// record's name (and a value).
    async fn list<T, F>(&self, pick: F) -> Result<Vec<(StorageKey, PathBuf, T)>, StorageError>
    where
        T: Send + 'static,
        F: Fn(&str) -> Option<(&str, T)> + Send + 'static,
    {
        let dir = self.inner.dir.clone();
        blocking(move || {
            let mut out = Vec::new();
            for kind in DIRS {
                let sub = dir.join(kind);
                let entries = match fs::read_dir(&sub) {
                    Ok(entries) => entries,
                    Err(e) if dir::is_missing(&e) => continue,
                    Err(e) => return Err(io_error(&sub, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| io_error(&sub, e))?;
                    let name = entry.file_name();
                    let Some((stem, value)) = name.to_str().and_then(&pick) else {
                        continue;
                    };
                    if let Some(key) = key_of(kind, stem) {
                        out.push((key, entry.path(), value));
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// The in-process lock of `path`'s writers.
    fn stripe(&self, path: &Path) -> &Mutex<()> {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        &self.inner.stripes[(h.finish() % STRIPES as u64) as usize]
    }

    fn check_writable(&self) -> Result<(), StorageError> {
        match self.inner.mode {
            OpenMode::ReadWrite => Ok(()),
            OpenMode::ReadOnly => Err(StorageError::Unavailable(format!(
                "token store {} is open read-only",
                self.inner.dir.display()
            ))),
        }
    }
}

/// The error of a directory that cannot be used.
fn unavailable(dir: &Path, e: DirError) -> StorageError {
    StorageError::Unavailable(describe(dir, e))
}

/// Why a directory cannot be used, in words.
fn describe(dir: &Path, e: DirError) -> String {
    match e {
        DirError::Refused(m) => m,
        DirError::Unusable(e) => format!("cannot use token store directory {}: {e}", dir.display()),
    }
}

fn io_error(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::Io(format!("{}: {e}", path.display()))
}

async fn blocking<T, F>(f: F) -> Result<T, StorageError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
}

#[async_trait]
impl Storage for FileStorage {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        let path = self.record_path(key);
        let key = key.clone();
        let read_only = self.inner.mode == OpenMode::ReadOnly;
        blocking(
            move || match record::read(&path, &key).map_err(|e| io_error(&path, e))? {
                ReadOutcome::Missing => Ok(None),
                ReadOutcome::Found(rec) => Ok(Some(rec)),
                ReadOutcome::Damaged { reason, id } => match &key {
                    StorageKey::Manual(app) => Err(StorageError::Corrupt(format!(
                        "manual token record of {app} ({}) is unreadable: {reason}; left in place for an operator \
                     (fix or remove the file, or set the manual token again)",
                        path.display()
                    ))),
                    StorageKey::Minted(scope) if read_only => Err(StorageError::Corrupt(format!(
                        "minted token record of {scope} ({}) is unreadable: {reason}; left in place (the next \
                     command that uses the token moves it aside)",
                        path.display()
                    ))),
                    StorageKey::Minted(scope) => {
                        match record::move_aside(&path, id) {
                            Ok(Some(aside)) => tracing::warn!(
                                scope = %scope,
                                reason = %reason,
                                moved_to = %aside.display(),
                                "minted token record was unreadable; moved it aside and treating it as a miss"
                            ),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(
                                scope = %scope,
                                reason = %reason,
                                error = %e,
                                "minted token record is unreadable and could not be moved aside; treating it as a miss"
                            ),
                        }
                        Ok(None)
                    }
                },
            },
        )
        .await
    }

    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.check_writable()?;
        let path = self.record_path(key);
        let bytes = record::encode(key, &record).map_err(|e| io_error(&path, e))?;
        let store = self.clone();
        blocking(move || {
            let _writer = store.stripe(&path).lock();
            record::write_atomic(&path, &bytes).map_err(|e| io_error(&path, e))
        })
        .await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.check_writable()?;
        let path = self.record_path(key);
        let store = self.clone();
        blocking(move || {
            let _writer = store.stripe(&path).lock();
            record::remove(&path).map_err(|e| io_error(&path, e))?;
            // What a writer that died left of this record goes too.
            sweep::temps_of(&path);
            Ok(())
        })
        .await
    }

    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.check_writable()?;
        let path = self.record_path(key);
        let (store, key, token) = (self.clone(), key.clone(), token.clone());
        blocking(move || {
            let _writer = store.stripe(&path).lock();
            match record::read(&path, &key).map_err(|e| io_error(&path, e))? {
                ReadOutcome::Found(rec) if rec.token == token => {
                    record::remove(&path).map_err(|e| io_error(&path, e))?;
                    sweep::temps_of(&path);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        if self.inner.mode == OpenMode::ReadOnly {
            // A listing mints nothing, and creates no lock file.
            return Ok(ScopeLease::local());
        }
        let path = self.lock_path(scope);
        // Dropped with this future (a bounded wait, a signal): the waiting
        // thread then stops within a poll, holding nothing.
        let cancel = lock::Cancel::default();
        let flag = cancel.flag();
        let held = blocking(move || lock::acquire(&path, &flag).map_err(StorageError::from)).await?;
        drop(cancel);
        match held {
            Some(held) => Ok(ScopeLease::new(held)),
            None => Err(StorageError::Unavailable(
                "the wait for the scope's lock was called off".into(),
            )),
        }
    }

    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        self.check_writable()?;
        let path = self.failure_note_path(scope);
        let note = note.cloned();
        blocking(move || lock::write_note(&path, note.as_ref()).map_err(|e| io_error(&path, e))).await
    }

    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        let path = self.failure_note_path(scope);
        blocking(move || lock::read_note(&path).map_err(StorageError::from)).await
    }
}
