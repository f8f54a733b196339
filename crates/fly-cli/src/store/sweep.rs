//! Tidying up when the store is opened for writing, so that no copy of a
//! secret outlives its use for long: temp files of writers that died,
//! expired minted records, the earlier format's cached records, damaged records moved aside long ago. Never when
//! the store is opened read-only. Best effort: a failure here never stops
//! the store from opening.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atlas_app_server::StorageKey;
use nix::errno::Errno;
use nix::unistd::Pid;

use super::record::{self, ReadOutcome, TempName};

/// A temp file older than this was left by a writer that died, even when
/// the writer cannot be asked (another host, a name of an older version): a
/// write takes milliseconds.
pub(crate) const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// How long a damaged cached record moved aside is kept for inspection
/// before a writer removes it: 7 days.
pub const DAMAGED_RECORD_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The directory of the earlier format's cached records (one per app, no
/// source; they may hold the user's own token).
const V1_CACHED: &str = "cached";

/// Sweeps the store in `dir` (its record directories), and removes the
/// cached records of the earlier format.
pub(crate) fn on_open(dir: &Path) {
    let now = SystemTime::now();
    migrate_v1(dir);
    for sub in super::DIRS {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            let key = name.strip_suffix(".json").and_then(|stem| super::key_of(sub, stem));
            if let Some(temp) = record::parse_temp(name) {
                remove_if_abandoned(&path, &temp, now);
            } else if sub == "manual" {
                // Manual records are never removed but by the user.
            } else if let Some(key) = key {
                remove_if_expired(&path, &key, now);
            } else if let Some((_, moved_at)) = record::parse_moved_aside(name) {
                let moved_at = UNIX_EPOCH + Duration::from_secs(moved_at);
                if now
                    .duration_since(moved_at)
                    .is_ok_and(|age| age > DAMAGED_RECORD_RETENTION)
                {
                    remove(&path, "removed a damaged token record moved aside long ago");
                }
            }
        }
    }
}

/// Removes the temp files of the record file `record_path` whose writers are
/// gone: after a delete, no copy of what was deleted stays behind.
pub(crate) fn temps_of(record_path: &Path) {
    let (Some(dir), Some(record)) = (record_path.parent(), record_path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(temp) = name.to_str().and_then(record::parse_temp) {
            if temp.record == record {
                remove_if_abandoned(&entry.path(), &temp, now);
            }
        }
    }
}

/// A temp file is abandoned when its writer, on this host, is no longer
/// alive, or when it is older than [`STALE_TEMP_AGE`].
fn remove_if_abandoned(path: &Path, temp: &TempName<'_>, now: SystemTime) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .unwrap_or_default();
    let writer_gone = temp
        .writer
        .is_some_and(|(host, pid)| !host.is_empty() && host == record::host() && !alive(pid));
    if writer_gone || age > STALE_TEMP_AGE {
        match record::remove_if_same(path, (meta.dev(), meta.ino())) {
            Ok(true) => tracing::debug!(path = %path.display(), "removed a temp file left by a writer that died"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a temp file left by a writer that died")
            }
        }
    }
}

/// Whether process `pid` (on this host) may still be writing. `kill(pid, 0)`
/// fails with `ESRCH` only when there is no such process; any other answer
/// (`EPERM`: another user's) keeps the file, for the age rule to decide.
fn alive(pid: i32) -> bool {
    pid <= 0 || !matches!(nix::sys::signal::kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// Removes the earlier format's cached records (`cached/<app>.json`,
/// version 1): they carry no source and may hold the user's own token,
/// which is never stored now; a minted token is re-acquired on demand.
/// Only names this program wrote there are touched (records, temp files,
/// records moved aside); the directory goes once it is empty.
fn migrate_v1(dir: &Path) {
    let old = dir.join(V1_CACHED);
    let Ok(entries) = fs::read_dir(&old) else { return };
    let mut removed = 0usize;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name
            .strip_suffix(".json")
            .is_some_and(|stem| atlas_app_server::AppName::validate(stem).is_ok())
            || record::parse_temp(name).is_some()
            || record::parse_moved_aside(name).is_some();
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    let _ = fs::remove_dir(&old);
    if removed > 0 {
        tracing::info!(
            removed,
            dir = %old.display(),
            "removed cached records of the earlier store format; they are re-acquired on demand"
        );
    }
}

/// An expired minted record (by its `expires_at` or its token's own
/// expiry) cannot be served again: remove it, unless a writer has replaced
/// it since it was read.
fn remove_if_expired(path: &Path, key: &StorageKey, now: SystemTime) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let own = |token: &str| atlas_app_server::token_expiry(token).map(|at| at - atlas_app_server::EXPIRY_SKEW_SECS);
    match record::read(path, key) {
        Ok(ReadOutcome::Found(rec))
            if rec.expires_at.is_some_and(|at| at <= now) || own(rec.token.expose()).is_some_and(|at| at <= now) =>
        {
            match record::remove_if_same(path, (meta.dev(), meta.ino())) {
                Ok(true) => tracing::debug!(key = %key, "removed an expired minted token record"),
                Ok(false) => {}
                Err(e) => tracing::warn!(key = %key, error = %e, "cannot remove an expired minted token record"),
            }
        }
        _ => {}
    }
}

fn remove(path: &Path, what: &'static str) {
    match fs::remove_file(path) {
        Ok(()) => tracing::debug!(path = %path.display(), "{what}"),
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale file of the token store"),
    }
}
