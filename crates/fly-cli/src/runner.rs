//! [`ProcessCmd`]: the [`CmdFn`] that really runs the fly CLI.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::{CmdFn, CmdOutput};

use self::capped::Capped;

mod capped;
mod group;
mod spawn;

pub use group::stop_all_clis;

/// How much of each of stdout and stderr is kept (64 KiB); the rest is read
/// and thrown away, so a runaway process can neither eat memory nor block on
/// a full pipe.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 * 1024;

/// After the CLI itself exits, how long a child it left behind may keep the
/// output pipes open before the whole process group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(250);

/// Set in the CLI's environment: flyctl then skips its update check (no
/// network call of its own, no notice on stderr).
pub const NO_UPDATE_CHECK_ENV: &str = "FLY_NO_UPDATE_CHECK";

/// The names the fly CLI goes by, in the order they are looked up on `PATH`.
const FLY_NAMES: [&str; 2] = ["fly", "flyctl"];

/// Runs a program the way the token chain needs: no terminal, capped output,
/// and nothing left behind, whatever happens to the run or to this process.
///
/// - `fly` and `flyctl` resolve to the explicit [`fly_bin`](Self::fly_bin)
///   when one is set, otherwise to the first of `fly`, `flyctl` found on
///   `PATH`; any other program is run as given.
/// - stdin is `/dev/null`, so the CLI can never wait at a prompt (flyctl
///   decides whether it is interactive from stdin), and it runs in a new
///   session (`setsid`): it has no controlling terminal, cannot open
///   `/dev/tty`, and gets none of the terminal's signals.
/// - `FLY_NO_UPDATE_CHECK=1` is set, so flyctl does not look for updates.
/// - stdout and stderr are read concurrently, each capped at
///   [`DEFAULT_OUTPUT_LIMIT`] while still draining. A stdout over the cap is
///   discarded whole (a truncated token is no token) and the output says
///   so ([`CmdOutput::stdout_truncated`]).
/// - The child leads its own process group, and the whole group is killed
///   with `SIGKILL` on every way out: once the CLI has exited (what it left
///   behind; if that still holds the output pipes, after 250 ms), when the
///   future is **dropped** (the AppServer's timeout; the child is then
///   reaped in the background: no orphan, no zombie), on an error, and by
///   [`stop_all_clis`] (a program exiting on a signal).
/// - If this process dies without cleaning up (`SIGKILL`), the CLI gets
///   `SIGKILL` too (on Linux, `PR_SET_PDEATHSIG`; the CLI is forked by one
///   thread that lives as long as the process, since the signal follows the
///   forking thread), and a guard process (`/bin/sh`, waiting on a pipe
///   only this process holds) kills the rest of the group.
/// - The exit code is the process's; when a signal ended it, `exit_code`
///   is `-1` and [`CmdOutput::signal`] names the signal.
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
            .env(NO_UPDATE_CHECK_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // From here on, dropping this future anywhere kills the group and
        // reaps the child (see `group::Running`).
        let mut running = spawn::spawn(cmd).await?;
        let child = running.child()?;
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
                    // kill the group (its members keep the group id alive,
                    // so it still names them).
                    if tokio::time::timeout(EXIT_GRACE, &mut drain).await.is_err() {
                        running.kill_group();
                        let _ = tokio::time::timeout(EXIT_GRACE, &mut drain).await;
                    }
                    status
                }
                _ = &mut drain => child.wait().await?,
            }
        };
        // Exited and reaped: what it left in its group dies now.
        running.finish().await;

        let exit_code = status.code().unwrap_or(-1);
        let signal = status.signal();
        tracing::debug!(
            program = %exe.display(),
            exit_code,
            signal,
            stdout_bytes = out.seen,
            stderr_bytes = err.seen,
            "command finished"
        );
        let too_large = out.overflowed();
        let output = CmdOutput {
            exit_code,
            stdout: out.into_string(),
            stderr: err.into_string(),
            signal,
            stdout_truncated: false,
        };
        Ok(if too_large { output.stdout_too_large() } else { output })
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
