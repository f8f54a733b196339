//! The scenario's workers: real child tasks that exit when the runner tells
//! them to, and obey (or ignore) their supervisor's request to stop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use atlas_supervisor::{Child, ChildContext, ChildSpec, ExitReason, Shutdown, StartError};
use tokio::sync::oneshot;

use super::scenario::{Reason, ShutdownSpec, WorkerNode};
use super::tree::Trace;

/// The payload of the panic a worker uses to crash. The panic hook stays
/// silent for it, and only for it.
const CRASH: &str = "xtask trace: scenario crash";

/// State shared by every start function of one scenario run.
pub struct Workers {
    inner: Mutex<Inner>,
    trace: Arc<Trace>,
}

#[derive(Default)]
struct Inner {
    /// Start attempts per id, over the whole run (`fail_starts` and
    /// `ignore_starts` count them).
    attempts: HashMap<String, u64>,
    /// Workers whose stop line is written already (by themselves, or by the
    /// runner for a kill): the supervisor's event for that exit writes
    /// nothing.
    traced: HashSet<String>,
    /// How to reach the latest incarnation of each worker id. Ids are unique
    /// in the tree and a new incarnation starts only after the old one has
    /// ended, so the latest one is the one running.
    current: HashMap<String, oneshot::Sender<Reason>>,
}

impl Workers {
    pub fn new(trace: Arc<Trace>) -> Self {
        Self {
            inner: Mutex::default(),
            trace,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the running incarnation of `id` to exit with `reason`; it
    /// writes its own stop line as it goes, as the oracle's worker does in
    /// `terminate/2` (so in a burst the line comes when the worker dies,
    /// not when its supervisor later handles the exit).
    pub fn exit(&self, id: &str, reason: Reason) -> Result<(), String> {
        let tx = self.lock().current.remove(id);
        tx.and_then(|tx| tx.send(reason).ok())
            .ok_or_else(|| format!("worker `{id}` is listed as running but does not listen"))
    }

    /// Writes the stop line of a worker about to be killed (it runs no more
    /// code), as the oracle does just before `exit(Pid, kill)`.
    pub fn trace_kill(&self, id: &str) {
        self.trace_stop(id, "killed");
    }

    fn trace_stop(&self, id: &str, reason: &str) {
        self.lock().traced.insert(id.to_string());
        self.trace.push(format!("stop {id} {reason}"));
    }

    /// Whether the stop line of `id`'s ended incarnation is written already
    /// (and forget it: the next incarnation's is not).
    pub fn take_traced(&self, id: &str) -> bool {
        self.lock().traced.remove(id)
    }
}

/// The child spec of a worker node.
pub fn spec(node: &WorkerNode, workers: &Arc<Workers>) -> ChildSpec {
    let id = node.id.clone();
    let fail_starts = node.fail_starts.clone();
    let ignore_starts = node.ignore_starts.clone();
    let ignores_shutdown = node.ignores_shutdown;
    let workers = workers.clone();
    let shutdown = match node.shutdown {
        ShutdownSpec::BrutalKill => Shutdown::BrutalKill,
        ShutdownSpec::Millis(ms) => Shutdown::Timeout(std::time::Duration::from_millis(ms)),
        ShutdownSpec::Infinity => Shutdown::Infinity,
    };
    ChildSpec::worker(node.id.clone(), move |ctx: ChildContext| {
        let mut inner = workers.lock();
        let attempt = inner.attempts.entry(id.clone()).or_insert(0);
        *attempt += 1;
        let start = if fail_starts.contains(attempt) {
            // The oracle's start function returns {error, failed}.
            Err(StartError::new("failed"))
        } else if ignore_starts.contains(attempt) {
            // Its `init/1` answers ignore (the engine's event writes
            // `start_ignored`).
            Ok(Child::ignore())
        } else {
            let (tx, rx) = oneshot::channel();
            inner.current.insert(id.clone(), tx);
            let me = Incarnation {
                id: id.clone(),
                workers: workers.clone(),
            };
            Ok(Child::new(run(me, rx, ctx, ignores_shutdown)))
        };
        async move { start }
    })
    .restart(node.restart)
    .shutdown(shutdown)
    .significant(node.significant)
}

/// Who a running incarnation is, to write its own stop line.
struct Incarnation {
    id: String,
    workers: Arc<Workers>,
}

/// One incarnation: waits for the runner's order or, unless it ignores it,
/// its supervisor's request to stop.
async fn run(
    me: Incarnation,
    order: oneshot::Receiver<Reason>,
    ctx: ChildContext,
    ignores_shutdown: bool,
) -> ExitReason {
    let signal = ctx.shutdown_signal();
    let stop_requested = async {
        if ignores_shutdown {
            // The supervisor kills it when the shutdown timeout runs out.
            std::future::pending::<()>().await;
        }
        signal.cancelled().await;
    };
    tokio::select! {
        biased;
        order = order => match order {
            Ok(Reason::Normal) => {
                me.workers.trace_stop(&me.id, "normal");
                ExitReason::Normal
            }
            Ok(Reason::Shutdown) => {
                me.workers.trace_stop(&me.id, "shutdown");
                ExitReason::Shutdown
            }
            // A real panic: the engine must turn it into an abnormal exit.
            Ok(Reason::Crash) => {
                me.workers.trace_stop(&me.id, "crash");
                std::panic::panic_any(CRASH)
            }
            // The runner is gone (end of the run): never exit on our own.
            Err(_) => std::future::pending().await,
        },
        () = stop_requested => ExitReason::Shutdown,
    }
}

/// Keeps the default panic hook for every panic but the workers' crashes.
pub fn silence_crash_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&CRASH) {
                default(info);
            }
        }));
    });
}
