//! The CLI's process group: registered while it runs, killed on every way
//! out, and watched by a guard process in case this one dies.
//!
//! The CLI is a session (and group) leader, so its group id is its pid and
//! holds everything it started that did not leave on purpose. Whatever path
//! a run takes, the group is killed with `SIGKILL` before the run is done:
//!
//! - the CLI exits: anything it left in its group is killed (once the
//!   output pipes closed, or after a short grace);
//! - the run's future is dropped (the AppServer's timeout) or fails: the
//!   group is killed and the CLI reaped in the background;
//! - the program stops on a signal: [`stop_all_clis`] kills every group;
//! - the program is killed outright (`SIGKILL`): the CLI itself gets
//!   `SIGKILL` from the kernel (`PR_SET_PDEATHSIG`, Linux), and the guard,
//!   a tiny `/bin/sh` that waits on a pipe only this process holds, sees
//!   the pipe close and kills the group (what the CLI forked).

use std::io;
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};

/// The guard: on end of input, kill the group named by `$1`, unless the
/// run said `done` first. Deaf to the terminal's signals, in a group of its
/// own, so that what stops this process cannot stop its guard too.
const GUARD_SCRIPT: &str = "trap '' HUP INT QUIT TERM PIPE\n\
                            read -r word\n\
                            [ \"$word\" = done ] || kill -KILL -\"$1\" 2>/dev/null\n";

/// The groups of the CLIs running now, and whether new ones may start.
struct Live {
    groups: Vec<Pid>,
    stopping: bool,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    groups: Vec::new(),
    stopping: false,
});

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills the process group of every fly CLI that a
/// [`ProcessCmd`](crate::ProcessCmd) of this process is running, and makes
/// every later run fail at once (an `Interrupted` error): for a program
/// that is about to exit on a signal (`fly-tokens` on Ctrl-C, `SIGTERM`,
/// `SIGHUP`). There is no undoing it.
pub fn stop_all_clis() {
    let mut live = live();
    live.stopping = true;
    for pgid in &live.groups {
        kill_group(*pgid);
    }
}

/// Spawns `cmd` and registers its group, unless [`stop_all_clis`] was
/// called. The lock is held across the spawn so that no CLI can start
/// unseen by a concurrent [`stop_all_clis`].
pub(super) fn start(cmd: &mut Command) -> io::Result<Running> {
    let mut live = live();
    if live.stopping {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the program is stopping: no fly CLI is started",
        ));
    }
    let child = cmd.spawn()?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .ok_or_else(|| io::Error::other("the fly CLI has no process id"))?;
    live.groups.push(pgid);
    drop(live);
    let guard = Guard::spawn(pgid)
        .map_err(|e| tracing::debug!(error = %e, "no guard for the fly CLI's group; it relies on the death signal"))
        .ok();
    Ok(Running {
        pgid: Some(pgid),
        child: Some(child),
        guard,
    })
}

/// A running CLI. Dropped before [`finish`](Self::finish), it kills the
/// child's whole process group and makes sure the child is reaped.
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
pub(super) struct Running {
    pgid: Option<Pid>,
    child: Option<Child>,
    guard: Option<Guard>,
}

impl Running {
    /// The child, until the run is finished.
    pub(super) fn child(&mut self) -> io::Result<&mut Child> {
        self.child
            .as_mut()
            .ok_or_else(|| io::Error::other("the fly CLI vanished"))
    }

    /// Kills the group now (something the CLI left holds its pipes).
    pub(super) fn kill_group(&self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid);
        }
    }

    /// The CLI exited and was reaped: kills what it left in its group and
    /// stands the guard down. A group with a member left keeps its id (the
    /// kernel frees a pid only when no process uses it as a pid, group or
    /// session), so the kill reaches that member and nothing else; an empty
    /// one is gone (`ESRCH`).
    pub(super) async fn finish(mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid);
            unregister(pgid);
        }
        if let Some(guard) = self.guard.take() {
            guard.stand_down().await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid.take() else {
            return;
        };
        kill_group(pgid);
        unregister(pgid);
        let child = self.child.take();
        let guard = self.guard.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(mut child) = child {
                    let _ = child.wait().await;
                }
                if let Some(guard) = guard {
                    guard.stand_down().await;
                }
            });
        }
    }
}

fn unregister(pgid: Pid) {
    live().groups.retain(|g| *g != pgid);
}

fn kill_group(pgid: Pid) {
    // ESRCH (the group is already gone) is an expected outcome.
    let _ = killpg(pgid, Signal::SIGKILL);
}

/// The guard process of one group, and the pipe it waits on.
struct Guard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Guard {
    fn spawn(pgid: Pid) -> io::Result<Guard> {
        let mut child = Command::new("/bin/sh")
            .args(["-c", GUARD_SCRIPT, "atlas-fly-cli-guard"])
            .arg(pgid.as_raw().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Guard { child, stdin })
    }

    /// Tells the guard the group is dealt with, then reaps it in the
    /// background (it exits at once; a run does not wait for that). Were
    /// this process to die before the word is written, the guard would kill
    /// the group instead, which is dead already.
    async fn stand_down(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n").await;
        }
        let mut child = self.child;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = child.wait().await;
            });
        }
    }
}
