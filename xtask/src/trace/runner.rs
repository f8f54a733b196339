//! Runs one scenario through the engine, with real tasks and real exits,
//! and returns its trace in the oracle's line format.

use std::time::Duration;

use atlas_supervisor::testing::{self, quiet_panics, reason_name, Recorder, Workers};
use atlas_supervisor::{ChildRef, ControlError, ExitReason, SupervisorRef};

use super::scenario::{Control, Event, Reason, Scenario};
use super::tree;

/// Time after which a run counts as hung. A paused clock moves only when
/// every task is idle, so then the limit is reached only on a deadlock, and
/// it may be long: a scenario's timeouts cost no real time.
const HANG_LIMIT_PAUSED: Duration = Duration::from_secs(365 * 24 * 3600);
const HANG_LIMIT_REAL: Duration = Duration::from_secs(600);

/// Polls of a child that never exits although it was told to.
const MAX_POLLS: u32 = 100_000;

/// The runtime's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Paused (`start_paused`): time advances only when every task waits
    /// for a timer, so a shutdown timeout that runs out does so at once, and
    /// the whole run falls in one instant of the intensity window, as the
    /// oracle assumes. Deterministic and fast.
    Paused,
    /// Real time: the timeouts really elapse. The traces must be the same;
    /// this shows that the paused clock hides nothing.
    Real,
}

/// Runs `scn` in a fresh single-threaded runtime and returns its trace.
pub fn run(scn: &Scenario, clock: Clock) -> Result<Vec<String>, String> {
    quiet_panics();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(clock == Clock::Paused)
        .build()
        .map_err(|e| format!("cannot build a runtime: {e}"))?;
    let trace = Recorder::otp_only();
    let runner = Runner {
        scn,
        // They write their own `stop` lines, as the oracle's workers do.
        workers: Workers::traced(&trace),
        trace,
    };
    rt.block_on(async {
        let limit = match clock {
            Clock::Paused => HANG_LIMIT_PAUSED,
            Clock::Real => HANG_LIMIT_REAL,
        };
        tokio::time::timeout(limit, runner.run())
            .await
            .map_err(|_| "the engine hung (the tree never settled)".to_string())?
    })
}

struct Runner<'a> {
    scn: &'a Scenario,
    /// The engine's events and the runner's own lines, in the order they
    /// happen (observers are called synchronously, in causal order, and the
    /// runtime has a single thread).
    trace: Recorder,
    workers: Workers,
}

impl Runner<'_> {
    async fn run(&self) -> Result<Vec<String>, String> {
        let root = tree::supervisor(&self.scn.root, &self.trace, &self.workers)
            .start()
            .await;
        let Ok(root) = root else {
            // The root's start failed; its started children are stopped.
            self.line("supervisor_start_failed");
            self.line("children -");
            return Ok(self.trace.take());
        };
        let mut alive = self.settle(&root).await;
        for event in &self.scn.events {
            if alive {
                alive = self.apply(event, &root).await?;
            } else {
                for id in event.ids() {
                    self.line(&format!("skip {id}"));
                }
            }
        }
        let last = if alive {
            let ids = testing::running_ids(&root).await;
            if ids.is_empty() {
                "children".to_string()
            } else {
                format!("children {}", ids.join(","))
            }
        } else {
            "children -".to_string()
        };
        self.line(&last);
        Ok(self.trace.take())
    }

    fn line(&self, line: &str) {
        self.trace.push(line);
    }

    /// Applies one event and waits until the tree has settled; `false` once
    /// the root supervisor is dead.
    async fn apply(&self, event: &Event, root: &SupervisorRef) -> Result<bool, String> {
        if let Event::Burst(path, steps) = event {
            self.burst(root, path, steps).await?;
            return Ok(self.settle(root).await);
        }
        let id = event.ids()[0];
        // An id that is not in the tree is asked of the root.
        let path = self.scn.index.get(id).map(|p| p.path.as_slice()).unwrap_or_default();
        let Some(parent) = walk(root, path).await else {
            self.line(&format!("skip {id}"));
            return Ok(true);
        };
        match event {
            Event::Exit(..) | Event::Kill(_) => {
                let Some(child) = running_child(&parent, id).await else {
                    self.line(&format!("skip {id}"));
                    return Ok(true);
                };
                match (event, child.supervisor()) {
                    (Event::Exit(_, reason), None) => self.exit(id, *reason)?,
                    // A nested supervisor stops its children, then exits with
                    // the reason, which its parent handles.
                    (Event::Exit(_, reason), Some(sup)) => {
                        sup.stop_with(exit_reason(*reason)).await;
                    }
                    _ => self.workers.kill(&child),
                }
                wait_dead(&child).await?;
            }
            Event::Burst(..) => {}
            Event::Control(op, _) => {
                let result = match op {
                    Control::Terminate => parent.terminate_child(id).await,
                    Control::Restart => parent.restart_child(id).await.map(drop),
                    Control::Delete => parent.delete_child(id).await,
                };
                self.line(&format!("result {} {id} {}", op.name(), token(&result)));
            }
        }
        Ok(self.settle(root).await)
    }

    /// Tells worker `id` to exit with `reason`; it writes its own stop
    /// line as it goes, as the oracle's worker does in `terminate/2` (so in
    /// a burst the line comes when the worker dies, not when its supervisor
    /// later handles the exit). A crash is a real panic: the engine must
    /// turn it into an abnormal exit.
    fn exit(&self, id: &str, reason: Reason) -> Result<(), String> {
        match reason {
            Reason::Normal => self.workers.exit(id, ExitReason::Normal),
            Reason::Shutdown => self.workers.exit(id, ExitReason::Shutdown),
            Reason::Crash => self.workers.crash(id),
        }
        .map_err(|e| format!("{e}, although it is listed as running"))
    }

    /// The steps' workers exit while their supervisor is suspended, each
    /// exit queued at it before the next step; then it is resumed and
    /// handles them in that order (its retries behind them), as the
    /// oracle's `sys:suspend`/`sys:resume` burst does.
    async fn burst(&self, root: &SupervisorRef, path: &[String], steps: &[Event]) -> Result<(), String> {
        let Some(parent) = walk(root, path).await else {
            for step in steps {
                self.line(&format!("skip {}", step.ids()[0]));
            }
            return Ok(());
        };
        // A suspended supervisor answers no call: look the workers up first.
        let mut children = Vec::new();
        for step in steps {
            children.push(running_child(&parent, step.ids()[0]).await);
        }
        parent.suspend().await.map_err(|e| format!("cannot suspend: {e}"))?;
        for (step, child) in steps.iter().zip(children) {
            let id = step.ids()[0];
            let Some(child) = child else {
                self.line(&format!("skip {id}"));
                continue;
            };
            match step {
                Event::Exit(_, reason) => self.exit(id, *reason)?,
                _ => self.workers.kill(&child),
            }
            // Its task has ended: its exit is in the supervisor's mailbox.
            wait_dead(&child).await?;
        }
        parent.resume().await.map_err(|e| format!("cannot resume: {e}"))
    }

    /// Waits until the whole tree is quiescent, as the oracle does (its
    /// supervisors have handled every exit and retry, with all their
    /// consequences, so a quiescent tree has traced every effect). Returns
    /// `false`, after writing `supervisor_exit`, if the root is dead.
    async fn settle(&self, root: &SupervisorRef) -> bool {
        if testing::settle(root).await {
            return true;
        }
        let reason = root.wait().await;
        self.line(&format!("supervisor_exit {}", reason_name(&reason)));
        false
    }
}

/// The exit reason an `exit` event gives a nested supervisor.
fn exit_reason(reason: Reason) -> ExitReason {
    match reason {
        Reason::Normal => ExitReason::Normal,
        Reason::Shutdown => ExitReason::Shutdown,
        Reason::Crash => ExitReason::error("crash"),
    }
}

/// The oracle's token for a control call's reply.
fn token(result: &Result<(), ControlError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(ControlError::Running) => "running",
        Err(ControlError::Restarting) => "restarting",
        Err(ControlError::NotFound) => "not_found",
        Err(ControlError::StartFailed(_)) => "failed",
        // OTP's `{ok, undefined}`: the start answered ignore again.
        Err(ControlError::Ignored) => "ok",
        // Not a reply OTP can give here: make it visible in a diff.
        Err(ControlError::AlreadyPresent | ControlError::MaxChildren | ControlError::NoSupervisor) => "unexpected",
    }
}

/// Waits until a child's task has ended (a kill or an exit order takes
/// effect when the runtime next polls the task).
async fn wait_dead(child: &ChildRef) -> Result<(), String> {
    for _ in 0..MAX_POLLS {
        if !child.is_alive() {
            return Ok(());
        }
        tokio::task::yield_now().await;
    }
    Err(format!("child `{}` did not exit", child.id()))
}

/// The running supervisor at the end of `path` (ids below the root).
async fn walk(root: &SupervisorRef, path: &[String]) -> Option<SupervisorRef> {
    let mut sup = root.clone();
    for id in path {
        sup = running_child(&sup, id).await?.supervisor()?.clone();
    }
    Some(sup)
}

async fn running_child(sup: &SupervisorRef, id: &str) -> Option<ChildRef> {
    sup.child(id).await.ok()?.child_ref().cloned()
}
