//! Shared helpers: an event recorder and workers driven by the test.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{Child, ChildSpec, Event, EventKind, ExitReason, Observer};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

/// Collects every event as a short line: `start a`, `stop a crash`, ...
#[derive(Clone, Default)]
pub struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    changed: Arc<Notify>,
}

pub fn line(e: &Event) -> Option<String> {
    let id = &e.child;
    Some(match &e.kind {
        EventKind::Started => format!("start {id}"),
        EventKind::StartFailed(_) => format!("start_failed {id}"),
        EventKind::Ignored => format!("start_ignored {id}"),
        EventKind::Exited(r) => format!(
            "stop {id} {}",
            match r {
                ExitReason::Panic(_) | ExitReason::Error(_) => "crash",
                other => other.name(),
            }
        ),
        EventKind::GaveUp => format!("gave_up {}", e.supervisor),
        EventKind::Terminated(r) => format!("terminated {} {}", e.supervisor, r.name()),
        EventKind::AutoShutdown => format!("auto_shutdown {}", e.supervisor),
        EventKind::Restarting => return None,
    })
}

impl Recorder {
    pub fn observer(&self) -> Observer {
        let me = self.clone();
        Arc::new(move |e: &Event| {
            if let Some(l) = line(e) {
                me.lines.lock().push(l);
                me.changed.notify_waiters();
            }
        })
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().clone()
    }

    /// Takes the lines recorded so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock())
    }

    /// Waits until `pred` holds for the recorded lines (hang guard: 10 s).
    pub async fn wait_for(&self, pred: impl Fn(&[String]) -> bool) {
        let fut = async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if pred(&self.lines.lock()) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .unwrap_or_else(|_| panic!("timed out; events so far: {:?}", self.lines()));
    }

    /// Waits until `line` has been recorded `n` times in all.
    pub async fn wait_count(&self, line: &str, n: usize) {
        self.wait_for(|ls| ls.iter().filter(|l| *l == line).count() >= n).await;
    }
}

/// What a test tells a worker to do.
pub enum Cmd {
    Exit(ExitReason),
    Panic,
}

/// Workers whose current incarnation the test can make exit.
#[derive(Clone, Default)]
pub struct Workers {
    senders: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>>,
    starts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Workers {
    /// A worker that stops on its shutdown signal.
    pub fn spec(&self, id: &str) -> ChildSpec {
        self.spec_with(id, true, Vec::new())
    }

    /// `obeys_shutdown = false` ignores the signal; `fail_starts` lists
    /// which start attempts (1-based) fail.
    pub fn spec_with(&self, id: &str, obeys_shutdown: bool, fail_starts: Vec<usize>) -> ChildSpec {
        let me = self.clone();
        let id_owned = id.to_owned();
        ChildSpec::worker(id, move |ctx| {
            let me = me.clone();
            let id = id_owned.clone();
            let fail_starts = fail_starts.clone();
            async move {
                let n = {
                    let mut s = me.starts.lock();
                    let n = s.entry(id.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                if fail_starts.contains(&n) {
                    return Err(atlas_supervisor::StartError::new("failed"));
                }
                let (tx, mut rx) = mpsc::unbounded_channel();
                me.senders.lock().insert(id, tx);
                let signal = ctx.shutdown_signal();
                Ok(Child::new(async move {
                    let stop = async {
                        if obeys_shutdown {
                            signal.cancelled().await
                        } else {
                            std::future::pending().await
                        }
                    };
                    tokio::select! {
                        cmd = rx.recv() => match cmd {
                            Some(Cmd::Exit(r)) => r,
                            Some(Cmd::Panic) => panic!("worker told to crash"),
                            None => std::future::pending().await,
                        },
                        () = stop => ExitReason::Shutdown,
                    }
                }))
            }
        })
    }

    pub fn exit(&self, id: &str, reason: ExitReason) {
        let tx = self.senders.lock().get(id).cloned().expect("worker has started");
        tx.send(Cmd::Exit(reason)).expect("worker is running");
    }

    pub fn crash(&self, id: &str) {
        let tx = self.senders.lock().get(id).cloned().expect("worker has started");
        tx.send(Cmd::Panic).expect("worker is running");
    }

    pub fn starts(&self, id: &str) -> usize {
        self.starts.lock().get(id).copied().unwrap_or(0)
    }
}

/// Silences the default panic output of workers told to crash.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !msg.contains("told to crash") {
                default(info);
            }
        }));
    });
}

/// Waits until the supervisor has handled every exit, as the OTP oracle
/// does: each running child is alive and no restart is pending (or the
/// supervisor is gone). Returns whether it is still alive.
pub async fn settle(sup: &atlas_supervisor::SupervisorRef) -> bool {
    let fut = async {
        loop {
            match sup.which_children().await {
                Err(_) => return false,
                Ok(kids) => {
                    let clean = kids.iter().all(|k| match &k.state {
                        atlas_supervisor::ChildState::Running(r) => r.is_alive(),
                        atlas_supervisor::ChildState::Stopped => true,
                        atlas_supervisor::ChildState::Restarting => false,
                    });
                    if clean {
                        return true;
                    }
                }
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("supervisor settles")
}

/// The ids of the supervisor's children, in start order.
pub async fn ids(sup: &atlas_supervisor::SupervisorRef) -> Vec<String> {
    sup.which_children()
        .await
        .expect("alive")
        .iter()
        .map(|c| c.id.to_string())
        .collect()
}

/// The ids of the supervisor's running children, in start order.
pub async fn ids_running(sup: &atlas_supervisor::SupervisorRef) -> Vec<String> {
    sup.which_children()
        .await
        .expect("alive")
        .iter()
        .filter(|c| c.child_ref().is_some())
        .map(|c| c.id.to_string())
        .collect()
}
