//! [`FileStorage`]: the durable default [`Storage`], one small JSON file per
//! record.

mod dir;
mod record;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::{AppName, Storage, StorageError, StorageKey, TokenRecord};

pub use dir::{default_store_dir, STORE_DIR_ENV};
use record::ReadOutcome;

/// Temp files older than this were left by a writer that died mid-write.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// A [`Storage`] that keeps one JSON file per record:
///
/// ```text
/// <dir>/            0700
///   cached/<app>.json   0600   {"version":1,"app":…,"key":"cached","token":…,"expires_at":…}
///   manual/<app>.json   0600
/// ```
///
/// - **Crash-safe**: a write goes to a temp file in the same directory
///   (created 0600), is fsynced, renamed over the record and the directory
///   is fsynced; a crash at any instant (even `SIGKILL`) leaves the old
///   record or the new one, never a torn one.
/// - **Shared**: several processes may use one directory at once; each
///   write is atomic and the last one wins.
/// - **Damage stays local**: an unreadable `cached` record is renamed to
///   `<app>.json.corrupt-<unix seconds>` (kept for inspection) and read as a
///   miss, since a cached token can be acquired again; an unreadable
///   `manual` record is [`StorageError::Corrupt`] and is left exactly where
///   it is, for an operator, since a manual token cannot.
/// - **Private**: directories 0700 and files 0600 from the moment they are
///   created; an existing directory or file that is readable by others is
///   tightened (with a warning) when the store is opened.
/// - File names are the [`AppName`], which is validated to be safe as one.
/// - Blocking file work runs on tokio's blocking pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use atlas_app_server::{AppName, Storage, StorageKey, Token, TokenRecord};
/// use atlas_fly_cli::FileStorage;
///
/// let dir = std::env::temp_dir().join(format!("atlas-doc-{}", std::process::id()));
/// let store = FileStorage::open(&dir)?;
/// let app = AppName::new("my-app")?;
/// let record = TokenRecord { token: Token::new("FlyV1 fm2_abc"), expires_at: Some(1_900_000_000) };
/// store.put(&app, StorageKey::Cached, record.clone()).await?;
/// assert_eq!(store.get(&app, StorageKey::Cached).await?, Some(record));
/// assert!(dir.join("cached/my-app.json").exists());
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
}

impl FileStorage {
    /// Opens (creating when needed) the store in `dir`.
    ///
    /// Blocking: it creates and checks a few directories, tightens
    /// permissions and removes temp files that crashed writers left behind.
    /// Call it at start-up (or in `spawn_blocking`).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when `dir` cannot be created or used.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_inner(dir.as_ref(), false)
    }

    /// Like [`open`](Self::open), but when `dir` cannot be used falls back,
    /// with a warning, to a private per-user directory under the system temp
    /// dir (`$TMPDIR/atlas-fly-tokens-<uid>`, 0700): tokens then survive
    /// restarts of this program but perhaps not of the machine.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the fallback cannot be used either.
    pub fn open_or_fallback(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_or_fallback_in(dir, &std::env::temp_dir())
    }

    /// [`open_or_fallback`](Self::open_or_fallback) with the fallback under
    /// `temp_root` instead of the system temp dir.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when the fallback cannot be used either.
    pub fn open_or_fallback_in(dir: impl AsRef<Path>, temp_root: &Path) -> Result<Self, StorageError> {
        let dir = dir.as_ref();
        match Self::open(dir) {
            Ok(store) => Ok(store),
            Err(first) => {
                let fallback = dir::private_temp_dir(temp_root).map_err(|e| {
                    StorageError::Unavailable(format!(
                        "{first}; and the fallback under {} failed: {e}",
                        temp_root.display()
                    ))
                })?;
                tracing::warn!(
                    wanted = %dir.display(),
                    using = %fallback.display(),
                    error = %first,
                    "cannot use the token store directory; falling back to a temporary one"
                );
                Self::open_inner(&fallback, true)
            }
        }
    }

    /// Opens the per-user fallback directory under the system temp dir
    /// directly, with a warning: for when no store directory can be named at
    /// all (neither `ATLAS_FLY_TOKENS_DIR`, `XDG_DATA_HOME` nor `HOME` is set).
    ///
    /// # Errors
    /// [`StorageError::Unavailable`] when it cannot be used.
    pub fn open_temp() -> Result<Self, StorageError> {
        let root = std::env::temp_dir();
        let dir = dir::private_temp_dir(&root).map_err(|e| {
            StorageError::Unavailable(format!("cannot use a token store under {}: {e}", root.display()))
        })?;
        tracing::warn!(
            using = %dir.display(),
            "no token store directory is configured (ATLAS_FLY_TOKENS_DIR, XDG_DATA_HOME, HOME); using a temporary one"
        );
        Self::open_inner(&dir, true)
    }

    fn open_inner(dir: &Path, fallback: bool) -> Result<Self, StorageError> {
        let unavailable = |what: &Path, e: std::io::Error| {
            StorageError::Unavailable(format!("cannot use token store directory {}: {e}", what.display()))
        };
        dir::ensure_private_dir(dir).map_err(|e| unavailable(dir, e))?;
        for key in [StorageKey::Cached, StorageKey::Manual] {
            let sub = dir.join(key.as_str());
            dir::ensure_private_dir(&sub).map_err(|e| unavailable(&sub, e))?;
            tidy(&sub);
        }
        Ok(FileStorage {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                fallback,
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

    /// The file that holds `app`'s `key` record.
    pub fn record_path(&self, app: &AppName, key: StorageKey) -> PathBuf {
        self.inner.dir.join(key.as_str()).join(format!("{app}.json"))
    }

    /// Every record file present, as (app, key), sorted; for listings such as
    /// `fly-tokens status`. Damaged or foreign files are not checked here.
    ///
    /// # Errors
    /// [`StorageError::Io`] when a directory cannot be listed.
    pub async fn entries(&self) -> Result<Vec<(AppName, StorageKey)>, StorageError> {
        let dir = self.inner.dir.clone();
        blocking(move || {
            let mut out = Vec::new();
            for key in [StorageKey::Cached, StorageKey::Manual] {
                for entry in fs::read_dir(dir.join(key.as_str()))? {
                    let name = entry?.file_name();
                    let app = name
                        .to_str()
                        .and_then(|n| n.strip_suffix(".json"))
                        .and_then(|stem| AppName::new(stem).ok());
                    out.extend(app.map(|a| (a, key)));
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }
}

/// Tightens record files readable by others and removes temp files that a
/// writer killed mid-write left behind. Best effort: a failure here must not
/// stop the store from opening.
fn tidy(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name();
        if record::is_temp_name(&name.to_string_lossy()) {
            let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
            if age.is_some_and(|a| a > STALE_TEMP_AGE) {
                let _ = fs::remove_file(&path);
            }
        } else if let Err(e) = dir::tighten(&path, meta.mode(), 0o600) {
            tracing::warn!(path = %path.display(), error = %e, "cannot restrict a token file to its owner");
        }
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
    async fn get(&self, app: &AppName, key: StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        let path = self.record_path(app, key);
        let app = app.clone();
        blocking(
            move || match record::read(&path, &app, key).map_err(|e| io_error(&path, e))? {
                ReadOutcome::Missing => Ok(None),
                ReadOutcome::Found(rec) => Ok(Some(rec)),
                ReadOutcome::Damaged { reason, id } => match key {
                    StorageKey::Manual => Err(StorageError::Corrupt(format!(
                        "manual token record of {app} ({}) is unreadable: {reason}; left in place for an operator \
                     (fix or remove the file, or set the manual token again)",
                        path.display()
                    ))),
                    StorageKey::Cached => {
                        match record::move_aside(&path, id) {
                            Ok(Some(aside)) => tracing::warn!(
                                app = %app,
                                reason = %reason,
                                moved_to = %aside.display(),
                                "cached token record was unreadable; moved it aside and treating it as a miss"
                            ),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(
                                app = %app,
                                reason = %reason,
                                error = %e,
                                "cached token record is unreadable and could not be moved aside; treating it as a miss"
                            ),
                        }
                        Ok(None)
                    }
                },
            },
        )
        .await
    }

    async fn put(&self, app: &AppName, key: StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        let path = self.record_path(app, key);
        let bytes = record::encode(app, key, &record).map_err(|e| io_error(&path, e))?;
        blocking(move || record::write_atomic(&path, &bytes).map_err(|e| io_error(&path, e))).await
    }

    async fn delete(&self, app: &AppName, key: StorageKey) -> Result<(), StorageError> {
        let path = self.record_path(app, key);
        blocking(move || record::remove(&path).map_err(|e| io_error(&path, e))).await
    }
}
