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
//!   the pipe close and kills the group (what the CLI forked). The guard
//!   is started before the CLI, and the CLI tells it its group before it
//!   runs anything (between fork and exec), so no instant of the CLI's life
//!   is unguarded: a guard started after the CLI missed a `SIGKILL` that
//!   came in between, and the CLI's children ran on.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// The guard: reads the group's id (the CLI writes it before it runs; end
/// of input first means no CLI ever ran), then on end of input kills that
/// group, unless the run said `done` first. Deaf to the terminal's signals,
/// in a group of its own, so that what stops this process cannot stop its
/// guard too. An id that is not a plain number above 1 is never used (`kill
/// -KILL -1` would kill every process it may).
const GUARD_SCRIPT: &str = "trap '' HUP INT QUIT TERM PIPE\n\
                            read -r group || exit 0\n\
                            case $group in ''|*[!0-9]*|0|1) exit 0;; esac\n\
                            read -r word\n\
                            [ \"$word\" = done ] || kill -KILL -\"$group\" 2>/dev/null\n";

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
/// unseen by a concurrent [`stop_all_clis`]. The guard is started first,
/// and `cmd` is given a hook that tells it the group (see the module's
/// notes).
pub(super) fn start(cmd: &mut Command) -> io::Result<Running> {
    let mut live = live();
    if live.stopping {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the program is stopping: no fly CLI is started",
        ));
    }
    let guard = Guard::spawn()
        .and_then(|guard| {
            announce_group(cmd, guard.pipe_for_the_cli()?);
            Ok(guard)
        })
        .map_err(|e| tracing::debug!(error = %e, "no guard for the fly CLI's group; it relies on the death signal"))
        .ok();
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            // The hook may have announced a group that is gone: a guard
            // must never kill a group id that could be reused.
            if let Some(guard) = guard {
                guard.stand_down();
            }
            return Err(e);
        }
    };
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .ok_or_else(|| io::Error::other("the fly CLI has no process id"))?;
    live.groups.push(pgid);
    drop(live);
    Ok(Running {
        pgid: Some(pgid),
        child: Some(child),
        guard,
    })
}

/// Has the CLI, in the forked child once it leads its own group (the
/// detach hook runs first) and before exec, write its pid, its group's id,
/// to the guard's `pipe`: then the guard knows the group before the CLI
/// runs a single instruction of its own. The child's copy of `pipe` closes
/// at exec (close-on-exec); this process's, when `cmd` is dropped after the
/// spawn.
fn announce_group(cmd: &mut Command, pipe: OwnedFd) {
    let hook = move || -> io::Result<()> {
        let mut line = [0u8; 12];
        let len = pid_line(nix::unistd::getpid().as_raw(), &mut line);
        // A guard that is gone cannot be told: the CLI runs all the same,
        // tied to this process by the death signal.
        let _ = nix::unistd::write(&pipe, &line[..len]);
        Ok(())
    };
    // SAFETY: the hook runs in the forked child, before exec, where only
    // async-signal-safe calls are allowed. It makes two plain system calls
    // (getpid, write) through nix's thin wrappers on an integer formatted
    // into a stack buffer: no allocation, no lock, no shared state (`pipe`
    // is a file descriptor the child inherited).
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Writes `pid` in decimal and a newline into `line`; returns the length.
/// Allocation-free, for the pre-exec hook. A pid is positive and at most
/// ten digits long.
fn pid_line(pid: i32, line: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = pid.unsigned_abs();
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 || count == digits.len() {
            break;
        }
    }
    for (to, from) in line.iter_mut().zip(digits[..count].iter().rev()) {
        *to = *from;
    }
    line[count] = b'\n';
    count + 1
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
            guard.stand_down();
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
        // The group is killed: the guard stands down before the child is
        // reaped, after which its id could be reused.
        if let Some(guard) = self.guard.take() {
            guard.stand_down();
        }
        let child = self.child.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(mut child) = child {
                    let _ = child.wait().await;
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

/// The guard process of one group, and the pipe it waits on (blocking: a
/// few bytes into an empty pipe never wait).
struct Guard {
    child: Child,
    pipe: Option<File>,
}

impl Guard {
    fn spawn() -> io::Result<Guard> {
        let mut child = Command::new("/bin/sh")
            .args(["-c", GUARD_SCRIPT, "atlas-fly-cli-guard"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = match child.stdin.take() {
            Some(stdin) => Some(File::from(stdin.into_owned_fd()?)),
            None => None,
        };
        Ok(Guard { child, pipe })
    }

    /// A copy of the pipe's writing end for the CLI's hook (close-on-exec,
    /// as every descriptor Rust opens).
    fn pipe_for_the_cli(&self) -> io::Result<OwnedFd> {
        match &self.pipe {
            Some(pipe) => Ok(OwnedFd::from(pipe.try_clone()?)),
            None => Err(io::Error::other("the guard has no pipe")),
        }
    }

    /// Tells the guard the group is dealt with, then reaps it in the
    /// background (it exits at once; a run does not wait for that). Were
    /// this process to die before the word is written, the guard would kill
    /// the group instead, which is dead already.
    fn stand_down(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(b"done\n");
        }
        let mut child = self.child;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = child.wait().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pid_line;

    #[test]
    fn pid_lines() {
        for (pid, text) in [
            (1, "1\n"),
            (42, "42\n"),
            (4_194_304, "4194304\n"),
            (i32::MAX, "2147483647\n"),
        ] {
            let mut line = [0u8; 12];
            let len = pid_line(pid, &mut line);
            assert_eq!(std::str::from_utf8(&line[..len]), Ok(text));
        }
    }
}
