//! Starting the CLI: in a session of its own, tied to this process's life,
//! from one long-lived thread.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
//! not the process. A tokio worker or blocking thread can exit while the
//! program goes on (an idle blocking thread is retired after a few
//! seconds), which would kill a healthy CLI. So every CLI is forked by the
//! spawner thread, which is started once and never returns: its exit is the
//! process's.

use std::io;
use std::sync::{mpsc, Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::group::{self, Running};

/// One spawn for the spawner thread, and where to send the result.
struct Request {
    cmd: tokio::process::Command,
    /// The runtime the run belongs to: the child's pipes and its reaping
    /// are registered with it.
    runtime: Handle,
    reply: oneshot::Sender<io::Result<Running>>,
}

/// The way to the spawner thread, started on first use.
static SPAWNER: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);

/// Starts `cmd` detached from this process's terminal and tied to its life
/// (see [`detach`]), on the spawner thread, and returns it running, its
/// process group registered (see [`group`]).
///
/// Dropped before the answer came, the spawned process is killed and
/// reaped all the same (the spawner drops the unsent [`Running`]).
pub(super) async fn spawn(mut cmd: tokio::process::Command) -> io::Result<Running> {
    detach(&mut cmd);
    let (reply, answer) = oneshot::channel();
    let request = Request {
        cmd,
        runtime: Handle::current(),
        reply,
    };
    spawner()?
        .send(request)
        .map_err(|_| io::Error::other("the fly CLI spawner thread is gone"))?;
    answer
        .await
        .map_err(|_| io::Error::other("the fly CLI spawner thread is gone"))?
}

fn spawner() -> io::Result<mpsc::Sender<Request>> {
    let mut slot = SPAWNER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(tx) = slot.as_ref() {
        return Ok(tx.clone());
    }
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("atlas-fly-cli-spawner".into())
        .spawn(move || serve(&rx))?;
    *slot = Some(tx.clone());
    Ok(tx)
}

/// The spawner thread: forever, since the static sender is never dropped.
fn serve(requests: &mpsc::Receiver<Request>) {
    while let Ok(Request {
        mut cmd,
        runtime,
        reply,
    }) = requests.recv()
    {
        // Inside the run's runtime, so that the child's pipes and reaper
        // belong to it, and an unwanted child is reaped there.
        let _enter = runtime.enter();
        let started = group::start(&mut cmd);
        // A run dropped meanwhile: the `Running` comes back and is dropped
        // here, which kills its group and reaps it.
        drop(reply.send(started));
    }
}

/// Makes the child its own session leader (so it has no controlling
/// terminal: it can open no `/dev/tty` to prompt on, and a terminal's
/// signals never reach it), and on Linux has it killed when this process
/// dies.
fn detach(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    let parent = nix::unistd::getpid();
    let hook = move || -> io::Result<()> {
        nix::unistd::setsid()?;
        #[cfg(target_os = "linux")]
        {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // If this process died before the line above, the child was
            // already reparented and the death signal will never come:
            // give up instead of running unowned.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from_raw_os_error(nix::errno::Errno::ESRCH as i32));
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child, before exec, where only
    // async-signal-safe calls are allowed. It makes only plain system calls
    // (setsid, prctl, getppid) through nix's thin wrappers, and its errors
    // are `io::Error::from_raw_os_error`: no allocation, no lock, no
    // shared state (`parent` is a copied integer).
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(hook);
    }
}
