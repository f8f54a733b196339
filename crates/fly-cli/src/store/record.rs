//! One record file: its JSON form, the crash-safe write and the careful read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use atlas_app_server::{AppName, StorageKey, Token, TokenRecord};
use serde::{Deserialize, Serialize};

/// A record file larger than this is damaged (a token is a few KiB).
const RECORD_SIZE_LIMIT: u64 = 1024 * 1024;

/// The file format. No `Debug`: it holds the token.
#[derive(Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    app: String,
    key: String,
    token: String,
    expires_at: Option<i64>,
}

/// What reading a record file found.
pub(crate) enum ReadOutcome {
    Missing,
    Found(TokenRecord),
    /// The file exists but is not a record; `reason` never holds file content.
    Damaged {
        reason: String,
        /// Which file was read (device, inode), so that only that file is
        /// moved aside, never a good one a concurrent writer just put there.
        id: (u64, u64),
    },
}

pub(crate) fn encode(app: &AppName, key: StorageKey, record: &TokenRecord) -> io::Result<Vec<u8>> {
    let file = RecordFile {
        version: 1,
        app: app.as_str().to_owned(),
        key: key.as_str().to_owned(),
        token: record.token.expose().to_owned(),
        expires_at: record.expires_at,
    };
    let mut bytes = serde_json::to_vec(&file)?;
    bytes.push(b'\n');
    Ok(bytes)
}

pub(crate) fn read(path: &Path, app: &AppName, key: StorageKey) -> io::Result<ReadOutcome> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReadOutcome::Missing),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let id = (meta.dev(), meta.ino());
    let damaged = |reason: String| Ok(ReadOutcome::Damaged { reason, id });
    if !meta.is_file() {
        return damaged("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(RECORD_SIZE_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > RECORD_SIZE_LIMIT {
        return damaged(format!("larger than {RECORD_SIZE_LIMIT} bytes"));
    }
    let parsed: RecordFile = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        // Position and category only: serde_json's message can quote the
        // file's content, and the file holds a token.
        Err(e) => {
            return damaged(format!(
                "invalid JSON ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        }
    };
    if parsed.app != app.as_str() || parsed.key != key.as_str() {
        return damaged("holds the record of another app or key".into());
    }
    let token = Token::new(&parsed.token);
    if token.is_empty() {
        return damaged("empty token".into());
    }
    Ok(ReadOutcome::Found(TokenRecord {
        token,
        expires_at: parsed.expires_at,
    }))
}

/// Replaces `path` with `bytes` so that a crash at any instant leaves the old
/// file or the new one: a temp file in the same directory (0600 from
/// creation), fsync, rename over `path`, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path)?;
    let (tmp, mut file) = create_temp(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Removes `path`; absent is fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(parent(path)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renames a damaged file to `<name>.corrupt-<unix seconds>[-n]`, if `path`
/// is still the file that was read. Returns the new path, or `None` when
/// another process already replaced or removed it.
pub(crate) fn move_aside(path: &Path, id: (u64, u64)) -> io::Result<Option<PathBuf>> {
    // A writer may have renamed a good record over the damaged one since we
    // read it; check that the name still points at the damaged file. (The
    // window between this check and the rename is a few syscalls wide; losing
    // that race costs one re-acquirable cached token.)
    match fs::symlink_metadata(path) {
        Ok(m) if (m.dev(), m.ino()) == id => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = unix_now();
    for n in 0..100u32 {
        let suffix = if n == 0 { String::new() } else { format!("-{n}") };
        let target = path.with_file_name(format!("{name}.corrupt-{now}{suffix}"));
        if fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        return match fs::rename(path, &target) {
            Ok(()) => {
                sync_dir(parent(path)?)?;
                Ok(Some(target))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "too many damaged copies"))
}

/// Whether a file name is one of our temp files.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = path.with_file_name(format!(".{name}.tmp-{}-{n}-{nanos}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record path has no directory"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
