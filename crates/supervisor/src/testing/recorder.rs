//! An observer that records the supervisors' events as OTP trace lines.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{Event, EventKind, ExitReason, Observer};

/// How long [`Recorder::wait_for`] waits before it fails the test: only a
/// hang takes that long.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// The OTP trace's name of an exit reason: `normal`, `shutdown`,
/// `killed`, and `crash` for a panic or an error (OTP's `{crash}`).
///
/// ```
/// use atlas_supervisor::testing::reason_name;
/// use atlas_supervisor::ExitReason;
///
/// assert_eq!(reason_name(&ExitReason::Killed), "killed");
/// assert_eq!(reason_name(&ExitReason::error("disk full")), "crash");
/// ```
pub fn reason_name(reason: &ExitReason) -> &'static str {
    match reason {
        ExitReason::Panic(_) | ExitReason::Error(_) => "crash",
        other => other.name(),
    }
}

/// The line an OTP trace has for `event`, if it has one: `start <id>`,
/// `start_failed <id>`, `start_ignored <id>` or `stop <id> <reason>`
/// (the format of the OTP oracle in the atlas repository). A supervisor's
/// own decisions (a restart, giving up, its end) have none: in OTP they show
/// as its children's lines and, for a nested supervisor, as its own `stop`
/// line in its parent.
///
/// ```
/// use atlas_supervisor::testing::otp_line;
/// use atlas_supervisor::{Event, EventKind, ExitReason};
///
/// let event = |kind| Event { supervisor: "root".into(), child: "db".into(), kind };
/// assert_eq!(otp_line(&event(EventKind::Started)).as_deref(), Some("start db"));
/// assert_eq!(
///     otp_line(&event(EventKind::Exited(ExitReason::Panic("oops".into())))).as_deref(),
///     Some("stop db crash")
/// );
/// assert_eq!(otp_line(&event(EventKind::Restarting)), None);
/// ```
pub fn otp_line(event: &Event) -> Option<String> {
    let id = &event.child;
    Some(match &event.kind {
        EventKind::Started => format!("start {id}"),
        EventKind::StartFailed(_) => format!("start_failed {id}"),
        EventKind::Ignored => format!("start_ignored {id}"),
        EventKind::Exited(reason) => format!("stop {id} {}", reason_name(reason)),
        EventKind::Restarting | EventKind::GaveUp | EventKind::AutoShutdown | EventKind::Terminated(_) => return None,
    })
}

/// The line of a supervisor's own decision that an OTP trace has no line
/// for: `gave_up <sup>`, `auto_shutdown <sup>`, `terminated <sup> <reason>`.
fn decision_line(event: &Event) -> Option<String> {
    let sup = &event.supervisor;
    Some(match &event.kind {
        EventKind::GaveUp => format!("gave_up {sup}"),
        EventKind::AutoShutdown => format!("auto_shutdown {sup}"),
        EventKind::Terminated(reason) => format!("terminated {sup} {}", reason_name(reason)),
        _ => return None,
    })
}

/// Records the events of the supervisors it observes as trace lines, in
/// the order they happen, beside lines of the test's own
/// ([`push`](Self::push)). A clone records into the same trace.
///
/// [`Recorder::new`] records OTP's lines ([`otp_line`]) and the
/// supervisors' own decisions (`gave_up <sup>`, `auto_shutdown <sup>`,
/// `terminated <sup> <reason>`); [`Recorder::otp_only`] only OTP's lines,
/// for a trace to compare with OTP's. The `stop` line of a worker of
/// [`Workers::traced`](super::Workers::traced) is written by the worker as
/// it exits on an order, as OTP's `terminate/2` writes it, and not again
/// when its supervisor handles the exit.
///
/// ```
/// use atlas_supervisor::testing::{Recorder, Workers};
/// use atlas_supervisor::{ExitReason, Strategy, Supervisor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (rec, workers) = (Recorder::new(), Workers::new());
/// let sup = Supervisor::new(Strategy::OneForOne)
///     .observer(rec.observer())
///     .child(workers.spec("a"))
///     .start()
///     .await
///     .expect("starts");
/// workers.exit("a", ExitReason::error("crash")).expect("a runs");
/// rec.wait_count("start a", 2).await;
/// sup.shutdown().await;
/// assert_eq!(
///     rec.take(),
///     ["start a", "stop a crash", "start a", "stop a shutdown", "terminated supervisor shutdown"]
/// );
/// # }
/// ```
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
    /// Only OTP's lines.
    otp_only: bool,
}

#[derive(Default)]
struct State {
    lines: Vec<String>,
    /// Ids whose `stop` line their worker wrote: the supervisor's event of
    /// that exit writes none.
    stop_written: HashSet<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("lines", &self.lines()).finish()
    }
}

impl Recorder {
    /// A recorder of OTP's lines and of the supervisors' own decisions.
    pub fn new() -> Self {
        Self::with(false)
    }

    /// A recorder of OTP's lines only ([`otp_line`]).
    ///
    /// ```
    /// use atlas_supervisor::testing::Recorder;
    /// use atlas_supervisor::{ChildSpec, ExitReason, Strategy, Supervisor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rec = Recorder::otp_only();
    /// let sup = Supervisor::new(Strategy::OneForOne)
    ///     .observer(rec.observer())
    ///     .child(ChildSpec::task("a", |stop| async move {
    ///         stop.cancelled().await;
    ///         ExitReason::Shutdown
    ///     }))
    ///     .start()
    ///     .await
    ///     .expect("starts");
    /// sup.shutdown().await;
    /// assert_eq!(rec.lines(), ["start a", "stop a shutdown"]);
    /// # }
    /// ```
    pub fn otp_only() -> Self {
        Self::with(true)
    }

    fn with(otp_only: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                changed: Notify::new(),
                otp_only,
            }),
        }
    }

    /// The observer to give supervisors
    /// ([`Supervisor::observer`](crate::Supervisor::observer)).
    pub fn observer(&self) -> Observer {
        let me = self.clone();
        Arc::new(move |event: &Event| me.record(event))
    }

    fn record(&self, event: &Event) {
        if let EventKind::Exited(_) = event.kind {
            if self.shared.state.lock().stop_written.remove(&*event.child) {
                return;
            }
        }
        let line = otp_line(event).or_else(|| {
            if self.shared.otp_only {
                None
            } else {
                decision_line(event)
            }
        });
        if let Some(line) = line {
            self.push(line);
        }
    }

    /// Adds a line of the test's own, in its place among the events.
    pub fn push(&self, line: impl Into<String>) {
        self.shared.state.lock().lines.push(line.into());
        self.shared.changed.notify_waiters();
    }

    /// Writes a worker's `stop` line for it: the supervisor's event of that
    /// exit will write none.
    pub(super) fn push_stop(&self, id: &str, reason: &str) {
        self.shared.state.lock().stop_written.insert(id.to_owned());
        self.push(format!("stop {id} {reason}"));
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.shared.state.lock().lines.clone()
    }

    /// Takes the lines so far: the next call starts from the next line.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.state.lock().lines)
    }

    /// Waits until `pred` holds for the lines recorded (and not taken).
    ///
    /// # Panics
    ///
    /// After 10 s of tokio time (a hang), with the lines so far.
    pub async fn wait_for(&self, pred: impl Fn(&[String]) -> bool) {
        let wait = async {
            loop {
                let notified = self.shared.changed.notified();
                tokio::pin!(notified);
                // Registered before the check: a line pushed in between
                // still wakes it.
                notified.as_mut().enable();
                if pred(&self.shared.state.lock().lines) {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(HANG_GUARD, wait).await.is_err() {
            panic!("timed out; lines so far: {:?}", self.lines());
        }
    }

    /// Waits until `line` has been recorded `n` times (see
    /// [`wait_for`](Self::wait_for)).
    pub async fn wait_count(&self, line: &str, n: usize) {
        self.wait_for(|lines| lines.iter().filter(|l| *l == line).count() >= n)
            .await;
    }
}
