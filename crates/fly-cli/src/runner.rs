//! [`ProcessCmd`]: the [`CmdFn`] that really runs the fly CLI.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::{CmdFn, CmdOutput};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of each of stdout and stderr is kept (64 KiB); the rest is read
/// and thrown away, so a runaway process can neither eat memory nor block on
/// a full pipe.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 * 1024;

/// After the CLI itself exits, how long a child it left behind may keep the
/// output pipes open before the whole process group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(250);

/// The names the fly CLI goes by, in the order they are looked up on `PATH`.
const FLY_NAMES: [&str; 2] = ["fly", "flyctl"];

/// Runs a program the way the token chain needs: no terminal, capped output,
/// and nothing left behind.
///
/// - `fly` and `flyctl` resolve to the explicit [`fly_bin`](Self::fly_bin)
///   when one is set, otherwise to the first of `fly`, `flyctl` found on
///   `PATH`; any other program is run as given.
/// - stdin is `/dev/null`, so the CLI can never wait at a prompt (flyctl
///   decides whether it is interactive from stdin).
/// - stdout and stderr are read concurrently, each capped at
///   [`DEFAULT_OUTPUT_LIMIT`] while still draining. A stdout over the cap is
///   discarded whole (a truncated token is no token) and said so on stderr.
/// - The child runs in its own process group. **Dropping the future**
///   (the AppServer's timeout) sends `SIGKILL` to the whole group, so a
///   wrapper script's children die with it, and a background task reaps the
///   child: no orphan, no zombie.
/// - When the CLI exits but something it started still holds its output
///   pipes, that is waited for briefly (250 ms), then the group is killed.
/// - The exit code is the process's, or `-1` when a signal ended it.
///
/// The token is stdout only; stderr is diagnostics. `ProcessCmd` does not
/// judge the output: wrap it in [`TokenShapeCheck`](crate::TokenShapeCheck)
/// for that.
#[derive(Clone, Debug)]
pub struct ProcessCmd {
    fly_bin: Option<PathBuf>,
    search_path: Option<OsString>,
    output_limit: usize,
}

impl Default for ProcessCmd {
    fn default() -> Self {
        ProcessCmd::new()
    }
}

impl ProcessCmd {
    /// A runner that finds `fly`/`flyctl` on the process's `PATH`.
    pub fn new() -> Self {
        ProcessCmd {
            fly_bin: None,
            search_path: None,
            output_limit: DEFAULT_OUTPUT_LIMIT,
        }
    }

    /// Runs this file whenever `fly` or `flyctl` is asked for (`--fly-bin`).
    pub fn fly_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.fly_bin = Some(path.into());
        self
    }

    /// Looks `fly`/`flyctl` up in this `PATH`-style list instead of the
    /// process's `PATH` (the child's own environment is unchanged).
    pub fn search_path(mut self, path: impl Into<OsString>) -> Self {
        self.search_path = Some(path.into());
        self
    }

    /// Keeps at most `bytes` of each output stream (default 64 KiB).
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    /// The file that a run of `program` would execute: the explicit fly
    /// binary or a `PATH` match for `fly`/`flyctl`, else `program` itself.
    ///
    /// # Errors
    /// `NotFound` when `program` is `fly` or `flyctl` and neither is on `PATH`.
    pub fn resolve(&self, program: &str) -> io::Result<PathBuf> {
        if !FLY_NAMES.contains(&program) {
            return Ok(PathBuf::from(program));
        }
        if let Some(bin) = &self.fly_bin {
            return Ok(bin.clone());
        }
        let path = match &self.search_path {
            Some(p) => p.clone(),
            None => std::env::var_os("PATH").unwrap_or_default(),
        };
        find_fly(&path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the fly CLI is not on PATH (looked for `fly` and `flyctl`); install flyctl or give its path (--fly-bin)",
            )
        })
    }
}

/// The first executable `fly`, then `flyctl`, in the directories of `path`
/// (a `PATH`-style list). Empty entries (the current directory) are skipped.
pub fn find_fly(path: &OsStr) -> Option<PathBuf> {
    FLY_NAMES.iter().find_map(|name| {
        std::env::split_paths(path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[async_trait]
impl CmdFn for ProcessCmd {
    async fn run(&self, program: &str, args: &[&str]) -> io::Result<CmdOutput> {
        let exe = self.resolve(program)?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so that one killpg reaches everything it
            // started.
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd.spawn()?;
        // Armed from spawn on: if this future is dropped anywhere below, the
        // group dies and the child is reaped (see `Running`).
        let mut running = Running {
            pgid: child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw),
            child: Some(child),
        };
        let child = running
            .child
            .as_mut()
            .ok_or_else(|| io::Error::other("child vanished"))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        let mut out = Capped::new(self.output_limit);
        let mut err = Capped::new(self.output_limit);
        let status = {
            let drain = async { tokio::join!(out.fill(stdout), err.fill(stderr)) };
            tokio::pin!(drain);
            tokio::select! {
                status = child.wait() => {
                    let status = status?;
                    // The pipes close when the last holder exits. A child the
                    // CLI left running may hold them: give it a moment, then
                    // kill the group (its members keep the pgid alive, so it
                    // still names them).
                    if tokio::time::timeout(EXIT_GRACE, &mut drain).await.is_err() {
                        kill_group(running.pgid.take());
                        let _ = tokio::time::timeout(EXIT_GRACE, &mut drain).await;
                    }
                    status
                }
                _ = &mut drain => child.wait().await?,
            }
        };
        // Exited and reaped: nothing left for the drop guard to do.
        running.pgid = None;

        let exit_code = status.code().unwrap_or(-1);
        tracing::debug!(
            program = %exe.display(),
            exit_code,
            stdout_bytes = out.seen,
            stderr_bytes = err.seen,
            "command finished"
        );
        let mut stderr = err.into_string();
        let stdout = if out.overflowed() {
            stderr.push_str(&format!(
                "\natlas: stdout exceeded {} bytes and was discarded\n",
                self.output_limit
            ));
            String::new()
        } else {
            out.into_string()
        };
        Ok(CmdOutput {
            exit_code,
            stdout,
            stderr,
            ..CmdOutput::default()
        })
    }
}

/// The child of one run. Dropped before the run finished (the future was
/// dropped), it kills the child's whole process group and makes sure the
/// child is reaped.
///
/// Reaping: tokio's own orphan queue (what `kill_on_drop` relies on) reaps
/// only on a SIGCHLD that arrives after its listener exists, on the runtime
/// that created the listener, so a child can stay a zombie. Instead the
/// dropped child is handed to a task that awaits its exit (tokio's `wait`
/// registers for SIGCHLD before checking, so it cannot miss it).
/// `kill_on_drop` stays on as the fallback when no runtime is left to run
/// that task.
///
/// The group is killed before the child is reaped, so its id (the child's
/// pid) cannot have been reused by then.
struct Running {
    pgid: Option<Pid>,
    child: Option<tokio::process::Child>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.pgid.is_none() {
            return;
        }
        kill_group(self.pgid.take());
        if let Some(mut child) = self.child.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = child.wait().await;
                });
            }
        }
    }
}

fn kill_group(pgid: Option<Pid>) {
    if let Some(pgid) = pgid {
        // ESRCH (the group is already gone) is an expected outcome.
        let _ = killpg(pgid, Signal::SIGKILL);
    }
}

/// One output stream: the first `limit` bytes kept, the rest counted and
/// dropped.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
    seen: usize,
}

impl Capped {
    fn new(limit: usize) -> Self {
        Capped {
            buf: Vec::new(),
            limit,
            seen: 0,
        }
    }

    /// Reads `r` to its end. A read error ends the stream (what was read is
    /// kept): the exit status, not a broken pipe, decides the outcome.
    async fn fill(&mut self, r: Option<impl AsyncRead + Unpin>) {
        let Some(mut r) = r else { return };
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    self.seen += n;
                    let room = self.limit.saturating_sub(self.buf.len());
                    self.buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    }

    fn overflowed(&self) -> bool {
        self.seen > self.limit
    }

    fn into_string(self) -> String {
        let truncated = self.overflowed();
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if truncated {
            s.push_str("…[truncated]");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_fly_prefers_fly_then_flyctl_and_skips_non_executables() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let write = |dir: &Path, name: &str, mode: u32| {
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            p
        };
        let path = std::env::join_paths([a.path(), b.path()]).expect("join");
        assert_eq!(find_fly(&path), None);
        let flyctl = write(b.path(), "flyctl", 0o755);
        assert_eq!(find_fly(&path), Some(flyctl.clone()));
        write(a.path(), "fly", 0o644);
        assert_eq!(find_fly(&path), Some(flyctl), "a non-executable fly is skipped");
        let fly = write(b.path(), "fly", 0o700);
        assert_eq!(find_fly(&path), Some(fly), "fly wins over flyctl");
        assert_eq!(find_fly(OsStr::new("")), None);
    }

    #[test]
    fn resolve() {
        let none = ProcessCmd::new().search_path("");
        assert_eq!(
            none.resolve("fly").expect_err("missing").kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(none.resolve("sh").expect("as given"), PathBuf::from("sh"));
        let explicit = none.fly_bin("/opt/fly/bin/flyctl");
        assert_eq!(
            explicit.resolve("flyctl").expect("explicit"),
            PathBuf::from("/opt/fly/bin/flyctl")
        );
    }
}
