//! Scripted workers: real child tasks whose starts fail, panic or answer
//! ignore on the attempts given, that obey or ignore their shutdown signal,
//! and that exit when the test tells them to.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::recorder::{reason_name, Recorder};
use super::CRASH;
use crate::{Child, ChildContext, ChildRef, ChildSpec, ExitReason, ShutdownSignal, StartError};

/// What a scripted worker does, by start attempt. Attempts are counted per
/// id from 1 over the whole [`Workers`] (first start, restarts, retries,
/// `restart_child`, and starts under a new incarnation of its supervisor).
///
/// ```
/// use atlas_supervisor::testing::{Recorder, Script, Workers};
/// use atlas_supervisor::{Strategy, Supervisor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (rec, workers) = (Recorder::new(), Workers::new());
/// let started = Supervisor::new(Strategy::OneForOne)
///     .observer(rec.observer())
///     .child(workers.scripted("ok", Script::new().ignore_starts([1])))
///     .child(workers.scripted("db", Script::new().fail_starts(1..=3)))
///     .start()
///     .await;
/// assert!(started.is_err());
/// assert_eq!(rec.take(), ["start_ignored ok", "start_failed db"]);
/// assert_eq!(workers.starts("db"), 1);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Script {
    fail_starts: Vec<u64>,
    ignore_starts: Vec<u64>,
    panic_starts: Vec<u64>,
    ignores_shutdown: bool,
}

impl Script {
    /// A worker whose every start succeeds and that stops when asked.
    pub fn new() -> Self {
        Self::default()
    }

    /// These start attempts fail with the [`StartError`] `failed` (OTP's
    /// `{error, failed}`).
    pub fn fail_starts(mut self, attempts: impl IntoIterator<Item = u64>) -> Self {
        self.fail_starts.extend(attempts);
        self
    }

    /// These start attempts answer [`Child::ignore`] (OTP's `ignore`).
    pub fn ignore_starts(mut self, attempts: impl IntoIterator<Item = u64>) -> Self {
        self.ignore_starts.extend(attempts);
        self
    }

    /// In these start attempts the start function panics, before it
    /// returns its future (the engine makes it a failed start).
    pub fn panic_starts(mut self, attempts: impl IntoIterator<Item = u64>) -> Self {
        self.panic_starts.extend(attempts);
        self
    }

    /// `true`: the worker does not stop when its supervisor asks, so the
    /// supervisor kills it when the shutdown timeout runs out.
    pub fn ignore_shutdown(mut self, ignore: bool) -> Self {
        self.ignores_shutdown = ignore;
        self
    }
}

/// Why an order to a worker went nowhere.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("worker `{id}` is not running")]
pub struct NotRunning {
    /// The worker's id.
    pub id: String,
}

/// What a worker is told to do.
enum Order {
    Exit(ExitReason),
    Panic,
}

/// A family of scripted workers, and the test's hold on them: it counts
/// each id's start attempts and can make the running incarnation of an id
/// exit with a reason or panic. A clone is the same family.
///
/// Ids should be unique among the workers of one family: an order goes to
/// the latest incarnation started under that id.
///
/// ```
/// use atlas_supervisor::testing::{settle, Recorder, Workers};
/// use atlas_supervisor::{ExitReason, RestartType, Strategy, Supervisor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (rec, workers) = (Recorder::new(), Workers::new());
/// let sup = Supervisor::new(Strategy::OneForOne)
///     .observer(rec.observer())
///     .child(workers.spec("t").restart(RestartType::Transient))
///     .start()
///     .await
///     .expect("starts");
/// workers.exit("t", ExitReason::Normal).expect("t runs");
/// assert!(settle(&sup).await);
/// assert_eq!(rec.take(), ["start t", "stop t normal"], "not restarted");
/// assert!(workers.exit("t", ExitReason::Normal).is_err());
/// sup.shutdown().await;
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Workers {
    shared: Arc<Mutex<Family>>,
    /// Where the workers write their own `stop` lines, if anywhere.
    trace: Option<Recorder>,
}

#[derive(Default)]
struct Family {
    attempts: HashMap<String, u64>,
    /// The order channel of each id's latest incarnation.
    current: HashMap<String, oneshot::Sender<Order>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("attempts", &self.shared.lock().attempts)
            .finish()
    }
}

impl Workers {
    /// Workers that write no trace lines of their own.
    pub fn new() -> Self {
        Self::default()
    }

    /// Workers that write their own `stop` line to `recorder` when they
    /// exit on an order ([`exit`](Self::exit), [`crash`](Self::crash),
    /// [`kill`](Self::kill)), as OTP's workers do in `terminate/2`: so the
    /// line comes when the worker dies, also while its supervisor is
    /// suspended, and not when the supervisor later handles the exit.
    ///
    /// ```
    /// use std::time::Duration;
    /// use atlas_supervisor::testing::{quiet_panics, settle, Recorder, Workers};
    /// use atlas_supervisor::{Strategy, Supervisor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// quiet_panics();
    /// let rec = Recorder::otp_only();
    /// let workers = Workers::traced(&rec);
    /// let sup = Supervisor::new(Strategy::OneForOne)
    ///     .intensity(2, Duration::from_secs(60))
    ///     .observer(rec.observer())
    ///     .child(workers.spec("a"))
    ///     .child(workers.spec("b"))
    ///     .start()
    ///     .await
    ///     .expect("starts");
    /// rec.take();
    /// // A suspended supervisor answers no call: look them up first.
    /// let a = sup.child("a").await.expect("a").child_ref().cloned().expect("a runs");
    /// let b = sup.child("b").await.expect("b").child_ref().cloned().expect("b runs");
    /// sup.suspend().await.expect("suspends");
    /// workers.crash("a").expect("a runs");
    /// while a.is_alive() {
    ///     tokio::task::yield_now().await;
    /// }
    /// workers.kill(&b);
    /// while b.is_alive() {
    ///     tokio::task::yield_now().await;
    /// }
    /// sup.resume().await.expect("resumes");
    /// assert!(settle(&sup).await);
    /// assert_eq!(rec.take(), ["stop a crash", "stop b killed", "start a", "start b"]);
    /// sup.shutdown().await;
    /// # }
    /// ```
    pub fn traced(recorder: &Recorder) -> Self {
        Self {
            shared: Arc::default(),
            trace: Some(recorder.clone()),
        }
    }

    /// A worker that starts every time and stops when asked.
    pub fn spec(&self, id: &str) -> ChildSpec {
        self.scripted(id, Script::new())
    }

    /// A worker that follows `script`.
    pub fn scripted(&self, id: &str, script: Script) -> ChildSpec {
        let me = self.clone();
        let owned = id.to_owned();
        ChildSpec::worker(id, move |ctx: ChildContext| {
            // Decided before the future, so that a panic is one of the
            // start function itself.
            let start = me.start(&owned, &script, ctx);
            async move { start }
        })
    }

    fn start(&self, id: &str, script: &Script, ctx: ChildContext) -> Result<Child, StartError> {
        let attempt = {
            let mut family = self.shared.lock();
            let n = family.attempts.entry(id.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        if script.panic_starts.contains(&attempt) {
            std::panic::panic_any(CRASH);
        }
        if script.fail_starts.contains(&attempt) {
            return Err(StartError::new("failed"));
        }
        if script.ignore_starts.contains(&attempt) {
            return Ok(Child::ignore());
        }
        let (tx, orders) = oneshot::channel();
        self.shared.lock().current.insert(id.to_owned(), tx);
        let me = Incarnation {
            id: id.to_owned(),
            trace: self.trace.clone(),
        };
        Ok(Child::new(me.run(
            orders,
            ctx.shutdown_signal(),
            script.ignores_shutdown,
        )))
    }

    /// How many times `id`'s start function has run.
    pub fn starts(&self, id: &str) -> u64 {
        self.shared.lock().attempts.get(id).copied().unwrap_or(0)
    }

    /// Makes the running incarnation of `id` return `reason`.
    pub fn exit(&self, id: &str, reason: ExitReason) -> Result<(), NotRunning> {
        self.order(id, Order::Exit(reason))
    }

    /// Makes the running incarnation of `id` panic (an abnormal exit,
    /// `crash` in the trace). [`quiet_panics`](super::quiet_panics) keeps
    /// the panic's message off the test's output.
    pub fn crash(&self, id: &str) -> Result<(), NotRunning> {
        self.order(id, Order::Panic)
    }

    /// Kills `child` ([`ChildRef::kill`]), writing its `stop <id> killed`
    /// line first for traced workers (a killed worker runs no more code).
    pub fn kill(&self, child: &ChildRef) {
        if let Some(trace) = &self.trace {
            trace.push_stop(child.id(), "killed");
        }
        child.kill();
    }

    fn order(&self, id: &str, order: Order) -> Result<(), NotRunning> {
        let tx = self.shared.lock().current.remove(id);
        tx.and_then(|tx| tx.send(order).ok())
            .ok_or_else(|| NotRunning { id: id.to_owned() })
    }
}

/// One running incarnation of a worker.
struct Incarnation {
    id: String,
    trace: Option<Recorder>,
}

impl Incarnation {
    /// Waits for the test's order or, unless it ignores it, its
    /// supervisor's request to stop.
    async fn run(self, order: oneshot::Receiver<Order>, signal: ShutdownSignal, ignores_shutdown: bool) -> ExitReason {
        let stop_requested = async {
            if ignores_shutdown {
                std::future::pending::<()>().await;
            }
            signal.cancelled().await;
        };
        // A worker whose order channel is dropped (a later incarnation
        // under the same id took its place) only waits to be stopped.
        let order = async { order.await.ok() };
        tokio::select! {
            biased;
            Some(order) = order => match order {
                Order::Exit(reason) => {
                    self.stop_line(reason_name(&reason));
                    reason
                }
                Order::Panic => {
                    self.stop_line("crash");
                    std::panic::panic_any(CRASH)
                }
            },
            () = stop_requested => ExitReason::Shutdown,
        }
    }

    fn stop_line(&self, reason: &str) {
        if let Some(trace) = &self.trace {
            trace.push_stop(&self.id, reason);
        }
    }
}
