//! The scope's lock file and failure note, beside its record:
//! `org/acme.lock` and `org/acme.failure` next to `org/acme.json`.
//!
//! - The lock is an advisory `flock(LOCK_EX)` on the lock file, held by an
//!   open file description: whoever holds it (a process, or another store
//!   of this process) excludes every other one, and a holder that dies
//!   (even by `SIGKILL`) frees it with its file descriptors, so there is
//!   nothing stale to clean up and the file stays (removing a lock file
//!   someone may be opening would let two holders lock two files).
//! - Waiting polls `LOCK_NB` on a blocking thread, with a pause that grows
//!   from [`POLL_MIN`] to [`POLL_MAX`], so the wait never blocks a tokio
//!   worker and stops as soon as the waiting future is dropped (a bounded
//!   wait, a signal, a shutdown): a blocking `flock` could not be called
//!   off.
//! - The failure note is a tiny JSON file ([`FailureNote::encode`]: the
//!   sanitised finding and when), written atomically like a record and
//!   read as carefully (never a FIFO, a symlink, another user's file).
//! - Both are created 0600, whatever the umask, and only by a store open
//!   for writing: a listing creates none. They are neither records nor
//!   damage: listings skip them, the sweep leaves them alone.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_app_server::{FailureNote, FAILURE_NOTE_LIMIT};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::{dir, record};

/// The lock file's name beside the record `<name>.json`: `<name>.lock`.
pub(crate) const LOCK_SUFFIX: &str = ".lock";
/// The failure note's: `<name>.failure`.
pub(crate) const NOTE_SUFFIX: &str = ".failure";

/// The first pause between two tries of a held lock.
pub(crate) const POLL_MIN: Duration = Duration::from_millis(2);
/// The longest pause: what a waiter may add after the holder is done.
pub(crate) const POLL_MAX: Duration = Duration::from_millis(25);

/// A held scope lock; dropping it unlocks (and closes the file).
#[derive(Debug)]
pub(crate) struct Held {
    _lock: Flock<File>,
}

/// Tells a waiting thread to stop: set when the waiting future is dropped.
#[derive(Debug, Default)]
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// The flag the waiting thread reads.
    pub(crate) fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Takes the lock file at `path` (creating it), waiting while another
/// holds it; `None` once `cancelled` is set. Blocking: call it on a
/// blocking thread.
pub(crate) fn acquire(path: &Path, cancelled: &AtomicBool) -> io::Result<Option<Held>> {
    let mut file = open_lock_file(path)?;
    let mut pause = POLL_MIN;
    let mut told = false;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Some(Held { _lock: lock })),
            Err((back, Errno::EWOULDBLOCK | Errno::EINTR)) => file = back,
            Err((_, e)) => return Err(annotate(path, e.into())),
        }
        if !told {
            told = true;
            tracing::debug!(lock = %path.display(), "another process holds the scope's lock; waiting");
        }
        if cancelled.load(Ordering::SeqCst) {
            return Ok(None);
        }
        std::thread::sleep(jitter(pause));
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// `pause` plus up to a quarter of it, different per process, so that
/// waiters of one holder do not all try at the same instants.
fn jitter(pause: Duration) -> Duration {
    let spread = u64::from(std::process::id() % 8) * u64::try_from(pause.as_micros()).unwrap_or(0) / 32;
    pause + Duration::from_micros(spread)
}

/// The lock file, created 0600 when missing; an existing one is used only
/// when it is a private regular file of this user (and never chmod-ed:
/// this program would have made it so).
fn open_lock_file(path: &Path) -> io::Result<File> {
    // O_NONBLOCK: a FIFO swapped in cannot stall the open; O_NOFOLLOW: nor
    // is a symlink followed.
    let flags = nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW;
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(flags)
        .open(path)
    {
        Ok(file) => {
            // The umask may have taken the owner's bits away.
            file.set_permissions(Permissions::from_mode(0o600))
                .map_err(|e| annotate(path, e))?;
            return Ok(file);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(annotate(path, e)),
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| annotate(path, e))?;
    let meta = file.metadata().map_err(|e| annotate(path, e))?;
    if let Some(reason) = record::not_a_record(&meta) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "lock file {}: {reason}; refusing to use it (remove it: the program makes a new one)",
                path.display()
            ),
        ));
    }
    Ok(file)
}

/// Writes `note` to `path` atomically (0600), or removes it for `None`.
pub(crate) fn write_note(path: &Path, note: Option<&FailureNote>) -> io::Result<()> {
    match note {
        Some(note) => {
            let mut text = note.encode();
            text.push('\n');
            record::write_atomic(path, text.as_bytes())
        }
        None => record::remove(path),
    }
}

/// The note at `path`; `None` when there is none or it is not one (damage
/// is not worth an error: the worst a lost note costs is one CLI run).
pub(crate) fn read_note(path: &Path) -> io::Result<Option<FailureNote>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if dir::is_missing(&e) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => return Ok(ignored(path, "a symbolic link")),
        Err(e) => return Err(annotate(path, e)),
    };
    let meta = file.metadata().map_err(|e| annotate(path, e))?;
    if let Some(reason) = record::not_a_record(&meta) {
        return Ok(ignored(path, &reason));
    }
    let mut text = String::new();
    let limit = u64::try_from(FAILURE_NOTE_LIMIT).unwrap_or(u64::MAX) + 1;
    if file.take(limit).read_to_string(&mut text).is_err() {
        return Ok(ignored(path, "not text"));
    }
    Ok(FailureNote::decode(&text).or_else(|| ignored(path, "not a failure note")))
}

fn ignored(path: &Path, why: &str) -> Option<FailureNote> {
    tracing::debug!(note = %path.display(), why, "ignoring the scope's failure note");
    None
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::mpsc;

    use atlas_app_server::CliFinding;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0)
    }

    fn private_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(d.path(), Permissions::from_mode(0o700)).expect("chmod");
        d
    }

    #[test]
    fn the_lock_file_is_made_0600_and_kept() {
        let d = private_dir();
        let path = d.path().join("acme.lock");
        let never = AtomicBool::new(false);
        let held = acquire(&path, &never).expect("lock").expect("held");
        assert_eq!(mode_of(&path), 0o600);
        drop(held);
        assert!(path.exists(), "the lock file stays for the next holder");
        assert!(acquire(&path, &never).expect("again").is_some());
    }

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let d = private_dir();
        let path = d.path().join("acme.lock");
        let never = AtomicBool::new(false);
        let first = acquire(&path, &never).expect("lock").expect("held");
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let never = AtomicBool::new(false);
            let held = acquire(&p, &never).expect("lock");
            tx.send(()).expect("send");
            held
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "the second holder got the lock while the first held it"
        );
        drop(first);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the waiter got the lock");
        assert!(waiter.join().expect("join").is_some());
    }

    #[test]
    fn a_cancelled_wait_ends_without_the_lock() {
        let d = private_dir();
        let path = d.path().join("acme.lock");
        let never = AtomicBool::new(false);
        let _first = acquire(&path, &never).expect("lock").expect("held");
        let cancel = Cancel::default();
        let flag = cancel.flag();
        let p = path.clone();
        let waiter = std::thread::spawn(move || acquire(&p, &flag).expect("no error"));
        std::thread::sleep(Duration::from_millis(50));
        drop(cancel);
        assert!(
            waiter.join().expect("join").is_none(),
            "a cancelled waiter holds nothing"
        );
    }

    #[test]
    fn what_is_not_a_private_file_is_refused_as_a_lock() {
        let d = private_dir();
        let never = AtomicBool::new(false);
        let link = d.path().join("link.lock");
        std::os::unix::fs::symlink(d.path().join("elsewhere"), &link).expect("symlink");
        assert!(acquire(&link, &never).is_err());
        assert!(!d.path().join("elsewhere").exists(), "the symlink was not followed");
        let open = d.path().join("open.lock");
        fs::write(&open, "").expect("write");
        fs::set_permissions(&open, Permissions::from_mode(0o644)).expect("chmod");
        let e = acquire(&open, &never).expect_err("refused");
        assert!(e.to_string().contains("refusing"), "{e}");
        assert_eq!(mode_of(&open), 0o644, "its mode is left alone");
        let fifo = d.path().join("fifo.lock");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
        assert!(
            acquire(&fifo, &never).is_err(),
            "a FIFO is no lock file (and the open did not block)"
        );
    }

    #[test]
    fn notes_are_written_0600_read_back_and_cleared() {
        let d = private_dir();
        let path = d.path().join("acme.failure");
        assert_eq!(read_note(&path).expect("read"), None);
        let note = FailureNote::now(CliFinding::Exited {
            code: 1,
            stderr: "Error: not logged in".into(),
        });
        write_note(&path, Some(&note)).expect("write");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(read_note(&path).expect("read"), Some(note));
        write_note(&path, None).expect("clear");
        assert!(!path.exists());
        write_note(&path, None).expect("clearing no note is fine");
    }

    #[test]
    fn a_damaged_note_is_no_note() {
        let d = private_dir();
        let path = d.path().join("acme.failure");
        fs::write(&path, "{\"version\":1,").expect("write");
        fs::set_permissions(&path, Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_note(&path).expect("read"), None);
        fs::remove_file(&path).expect("rm");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
        assert_eq!(read_note(&path).expect("a FIFO is not opened for long"), None);
    }
}
