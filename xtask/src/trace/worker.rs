//! The scenario's workers: real child tasks that exit when the runner tells
//! them to, and obey (or ignore) their supervisor's request to stop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use atlas_supervisor::{Child, ChildContext, ChildSpec, ExitReason, Shutdown, StartError};
use tokio::sync::oneshot;

use super::scenario::{Reason, ShutdownSpec, WorkerNode};

/// The payload of the panic a worker uses to crash. The panic hook stays
/// silent for it, and only for it.
const CRASH: &str = "xtask trace: scenario crash";

/// State shared by every start function of one scenario run.
#[derive(Default)]
pub struct Workers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Start attempts per id, over the whole run (`fail_starts` counts them).
    attempts: HashMap<String, u64>,
    /// How to reach the latest incarnation of each worker id. Ids are unique
    /// in the tree and a new incarnation starts only after the old one has
    /// ended, so the latest one is the one running.
    current: HashMap<String, oneshot::Sender<Reason>>,
}

impl Workers {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the running incarnation of `id` to exit with `reason`.
    pub fn exit(&self, id: &str, reason: Reason) -> Result<(), String> {
        let tx = self.lock().current.remove(id);
        tx.and_then(|tx| tx.send(reason).ok())
            .ok_or_else(|| format!("worker `{id}` is listed as running but does not listen"))
    }
}

/// The child spec of a worker node.
pub fn spec(node: &WorkerNode, workers: &Arc<Workers>) -> ChildSpec {
    let id = node.id.clone();
    let fail_starts = node.fail_starts.clone();
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
        } else {
            let (tx, rx) = oneshot::channel();
            inner.current.insert(id.clone(), tx);
            Ok(Child::new(run(rx, ctx, ignores_shutdown)))
        };
        async move { start }
    })
    .restart(node.restart)
    .shutdown(shutdown)
}

/// One incarnation: waits for the runner's order or, unless it ignores it,
/// its supervisor's request to stop.
async fn run(order: oneshot::Receiver<Reason>, ctx: ChildContext, ignores_shutdown: bool) -> ExitReason {
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
            Ok(Reason::Normal) => ExitReason::Normal,
            Ok(Reason::Shutdown) => ExitReason::Shutdown,
            // A real panic: the engine must turn it into an abnormal exit.
            Ok(Reason::Crash) => std::panic::panic_any(CRASH),
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
