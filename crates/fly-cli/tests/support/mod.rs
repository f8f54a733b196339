//! Shared helpers for the integration tests: fake `fly` scripts, process
//! checks and log capture.
#![allow(dead_code)]

pub mod sandbox;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Writes an executable `/bin/sh` script named `name` in `dir`.
///
/// Returns only once the script can be executed: a process forked by another
/// test thread while our write handle was open inherits it until its own
/// exec, and meanwhile exec'ing the script fails with ETXTBSY ("text file
/// busy"). A probe run (`__probe` exits at once) waits that out.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("create script");
    writeln!(f, "#!/bin/sh\n[ \"$1\" = __probe ] && exit 0\n{body}").expect("write script");
    f.sync_all().expect("sync script");
    drop(f);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
    for _ in 0..500 {
        match std::process::Command::new(&path).arg("__probe").status() {
            Ok(status) if status.success() => return path,
            Ok(status) => panic!("probe of {} failed: {status}", path.display()),
            Err(e) if e.raw_os_error() == Some(26) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        }
    }
    panic!("{} stayed busy", path.display())
}

/// The state letter of a process from `/proc/PID/stat` (`Z` for a zombie),
/// or `None` when there is no such process.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the comm may hold spaces and parens; take the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits until `dead(pid)` holds, for at most 5 s; false when it never does.
pub async fn wait_until(pid: i32, dead: impl Fn(Option<char>) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if dead(proc_state(pid)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Gone entirely: killed **and** reaped (no zombie).
pub fn reaped(state: Option<char>) -> bool {
    state.is_none()
}

/// Dead: gone, or a zombie waiting for a parent that is not us (an orphan
/// reparented to an init that may reap lazily).
pub fn dead(state: Option<char>) -> bool {
    matches!(state, None | Some('Z') | Some('X'))
}

/// Reads "PID PID …" from a file once it is complete (ends with a newline).
pub async fn read_pids(path: &Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s.split_whitespace().map(|p| p.parse().expect("pid")).collect();
            }
        }
        assert!(Instant::now() < deadline, "the fake fly never wrote its pids");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Everything logged in this test binary (all threads), captured by a global
/// subscriber installed on first use.
pub fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs(Arc::new(Mutex::new(Vec::new())));
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("global subscriber");
        logs
    })
    .clone()
}

/// A shared log buffer.
#[derive(Clone)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// The text logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs lock")).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The name the file store gives a temp file of the record file `record`
/// written by process `pid` on this host (the format of its rustdoc).
pub fn temp_file_name(record: &str, pid: u32) -> String {
    let host: String = nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(".{record}.tmp-{host}-{pid}-0-0")
}

/// The pid of a process that has exited and been reaped.
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("reap true");
    pid
}

/// Sets a file's modification time `ago` in the past.
pub fn age(path: &Path, ago: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - ago))
        .expect("age it");
}

/// What is under `dir`: every path with its mode and modification time,
/// sorted, to show that something changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("ls") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            if meta.is_dir() {
                todo.push(path.clone());
            }
            out.push((path, meta.permissions().mode(), meta.modified().ok()));
        }
    }
    out.sort();
    out
}

/// A temp dir that is private (0700), as `mktemp -d` makes it, so that the
/// file store accepts it as its directory (this `tempfile` leaves the mode
/// to the umask).
pub fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
    dir
}

/// Runs `cmd` with piped output (and `stdin` on its input, if any), killing
/// it and failing the test if it has not exited `within`: a bound only a
/// hang exceeds. The output is read while it runs, so a chatty command
/// never blocks on a full pipe.
pub fn run_bounded(
    mut cmd: std::process::Command,
    stdin: Option<&str>,
    within: Duration,
    what: &str,
) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("spawn");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A command that fails before reading its stdin closes it: a broken
        // pipe here is its answer, not the test's failure.
        let _ = pipe.write_all(text.as_bytes());
    }
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung (still running after {within:?}): {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}
