//! One record file: its JSON form, the crash-safe write and the careful read.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use atlas_app_server::{RecordSource, Scope, StorageKey, Token, TokenRecord};
use serde::{Deserialize, Serialize};

use super::dir;

/// A record file larger than this is damaged (a token is a few KiB).
const RECORD_SIZE_LIMIT: u64 = 1024 * 1024;

/// The file format (version 2). No `Debug`: it holds the token.
///
/// ```text
/// {"version":2,"kind":"minted","scope":"org:acme","source":"cli","token":…,"expires_at":…}
/// ```
///
/// Version 1 (`{"version":1,"app":…,"key":"cached"|"manual",…}`, no source)
/// is still read for manual records, which cannot be re-acquired; its
/// cached records are removed when the store is opened (`migrate_v1`).
#[derive(Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
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

pub(crate) fn encode(key: &StorageKey, record: &TokenRecord) -> io::Result<Vec<u8>> {
    let file = RecordFile {
        version: 2,
        kind: Some(key.kind().to_owned()),
        scope: Some(record.scope.to_string()),
        source: Some(record.source.as_str().to_owned()),
        app: None,
        key: None,
        token: record.token.expose().to_owned(),
        expires_at: record.expires_at,
    };
    let mut bytes = serde_json::to_vec(&file)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The record `parsed` holds for `key`, or why it does not hold one.
fn decode(parsed: RecordFile, key: &StorageKey) -> Result<TokenRecord, &'static str> {
    let token = Token::new(&parsed.token);
    if token.is_empty() {
        return Err("empty token");
    }
    match parsed.version {
        2 => {
            let scope = parsed.scope.as_deref().and_then(Scope::parse).ok_or("no valid scope")?;
            if parsed.kind.as_deref() != Some(key.kind()) || scope != key.scope() {
                return Err("holds the record of another scope or kind");
            }
            let source = parsed
                .source
                .as_deref()
                .and_then(RecordSource::parse)
                .ok_or("no valid source")?;
            Ok(TokenRecord {
                token,
                expires_at: parsed.expires_at,
                source,
                scope,
            })
        }
        // The earlier format's manual records stay readable.
        1 => match key {
            StorageKey::Manual(app)
                if parsed.key.as_deref() == Some("manual") && parsed.app.as_deref() == Some(app.as_str()) =>
            {
                Ok(TokenRecord {
                    expires_at: parsed.expires_at,
                    ..TokenRecord::manual(app.clone(), token)
                })
            }
            _ => Err("a record of the earlier format that is not this manual record"),
        },
        _ => Err("unknown record version"),
    }
}

/// Reads the record file at `path` without ever blocking on it: anything but
/// a regular file (a FIFO, a device, a symlink) is damage, found before the
/// file is opened and checked again on the open file; so is a file that is
/// not this user's or that group or others may access (and such a file is
/// left as it is, never chmod-ed: the program did not make it so).
pub(crate) fn read(path: &Path, key: &StorageKey) -> io::Result<ReadOutcome> {
    let lmeta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if dir::is_missing(&e) => return Ok(ReadOutcome::Missing),
        Err(e) => return Err(e),
    };
    let damaged = |reason: String, meta: &fs::Metadata| {
        Ok(ReadOutcome::Damaged {
            reason,
            id: (meta.dev(), meta.ino()),
        })
    };
    if let Some(reason) = not_a_record(&lmeta) {
        return damaged(reason, &lmeta);
    }
    // O_NONBLOCK: should the name turn into a FIFO after the check above,
    // the open returns at once instead of waiting for a writer; O_NOFOLLOW:
    // nor is a symlink swapped in followed.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if dir::is_missing(&e) => return Ok(ReadOutcome::Missing),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return damaged("a symbolic link, not a regular file".into(), &lmeta)
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if let Some(reason) = not_a_record(&meta) {
        return damaged(reason, &meta);
    }
    let id = (meta.dev(), meta.ino());
    let damaged = |reason: String| Ok(ReadOutcome::Damaged { reason, id });
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
    match decode(parsed, key) {
        Ok(record) => Ok(ReadOutcome::Found(record)),
        Err(reason) => damaged(reason.into()),
    }
}

/// Replaces `path` with `bytes` so that a crash at any instant leaves the old
/// file or the new one: a temp file in the same directory (0600 from
/// creation, whatever the umask), fsync, rename over `path`, fsync of the
/// directory. The temp file's name says which process wrote it
/// ([`temp_name`]), so that the leftover of a writer that died is removed.
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
    if !still_same(path, id)? {
        return Ok(None);
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

/// Removes `path` if it is still the file `id` (device, inode) that was
/// looked at: a concurrent writer may have renamed a new record over it.
/// Returns whether it removed it.
pub(crate) fn remove_if_same(path: &Path, id: (u64, u64)) -> io::Result<bool> {
    if !still_same(path, id)? {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn still_same(path: &Path, id: (u64, u64)) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok((m.dev(), m.ino()) == id),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why a file with this metadata cannot be a record, if it cannot.
pub(crate) fn not_a_record(meta: &fs::Metadata) -> Option<String> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Some("a symbolic link, not a regular file".into());
    }
    if !kind.is_file() {
        return Some("not a regular file".into());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Some(format!("owned by uid {}, not by this user (uid {me})", meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Some(format!(
            "mode {mode:04o}: group or others have access, and a token file must be private \
             (`chmod 600` it if it is yours)"
        ));
    }
    None
}

/// The name of a temp file for the record file `record`:
/// `.<record>.tmp-<host>-<pid>-<n>-<nanos>`, where `host` is this machine's
/// host name with every character but `[A-Za-z0-9.-]` replaced by `_`
/// (at most 64 of them), `pid` this process, `n` a per-process counter.
pub(crate) fn temp_name(record: &str, n: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(".{record}.tmp-{}-{}-{n}-{nanos}", host(), std::process::id())
}

/// A temp file's name, read back.
pub(crate) struct TempName<'a> {
    /// The record file it was going to replace.
    pub(crate) record: &'a str,
    /// The writer's host and pid; `None` for names of an older format.
    pub(crate) writer: Option<(&'a str, i32)>,
}

/// Reads a name made by [`temp_name`] (or by an older version, which named
/// no host); `None` when it is not a temp file's name.
pub(crate) fn parse_temp(name: &str) -> Option<TempName<'_>> {
    let (record, rest) = name.strip_prefix('.')?.split_once(".tmp-")?;
    let mut parts = rest.rsplitn(4, '-');
    let (nanos, n, pid, host) = (parts.next(), parts.next(), parts.next(), parts.next());
    let writer = match (host, pid, n, nanos) {
        (Some(host), Some(pid), Some(n), Some(nanos)) if n.parse::<u64>().is_ok() && nanos.parse::<u32>().is_ok() => {
            pid.parse::<i32>().ok().map(|pid| (host, pid))
        }
        _ => None,
    };
    Some(TempName { record, writer })
}

/// This machine's host name as it appears in temp file names; empty when
/// it cannot be read (then no temp file is taken for this host's).
pub(crate) fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        nix::unistd::gethostname()
            .map(|h| {
                h.to_string_lossy()
                    .chars()
                    .take(64)
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// When a damaged record was moved aside, from the name [`move_aside`]
/// gave it (`<record>.corrupt-<unix seconds>[-n]`): the record file's name
/// and the unix seconds.
pub(crate) fn parse_moved_aside(name: &str) -> Option<(&str, u64)> {
    let (record, rest) = name.split_once(".corrupt-")?;
    let secs = rest.split_once('-').map_or(rest, |(secs, _)| secs);
    Some((record, secs.parse().ok()?))
}

fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let tmp = path.with_file_name(temp_name(&name, COUNTER.fetch_add(1, Ordering::Relaxed)));
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
            Ok(f) => {
                // The umask may have taken the owner's bits away.
                if let Err(e) = f.set_permissions(Permissions::from_mode(0o600)) {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
                return Ok((tmp, f));
            }
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
