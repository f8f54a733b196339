//! Restart type × exit reason → restarted, kept stopped or removed.

use std::time::Duration;

use atlas_supervisor::testing::{Recorder, Workers};
use atlas_supervisor::{ChildState, ControlError, ExitReason, RestartType, Strategy, Supervisor};

async fn outcome(restart: RestartType, reason: ExitReason) -> &'static str {
    let (w, rec) = (Workers::default(), Recorder::default());
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(5))
        .observer(rec.observer())
        .child(w.spec("c").restart(restart))
        .start()
        .await
        .expect("starts");
    w.exit("c", reason).expect("c runs");
    rec.wait_for(|l| l.iter().any(|x| x.starts_with("stop c"))).await;
    // A call is handled after the exit: the supervisor has decided by then.
    let r = match sup.child("c").await.map(|c| c.state) {
        Err(ControlError::NotFound) => "removed",
        Err(e) => panic!("the supervisor does not answer: {e}"),
        Ok(ChildState::Running(_)) => "restarted",
        Ok(ChildState::Stopped) => "stopped",
        Ok(ChildState::Restarting) => "restarting",
    };
    sup.shutdown().await;
    r
}

#[tokio::test(start_paused = true)]
async fn the_restart_table() {
    use ExitReason::*;
    use RestartType::*;
    let crash = || ExitReason::error("crash");
    let panic = || ExitReason::Panic("p".into());
    let cases = [
        (Permanent, Normal, "restarted"),
        (Permanent, Shutdown, "restarted"),
        (Permanent, Killed, "restarted"),
        (Permanent, crash(), "restarted"),
        (Transient, Normal, "stopped"),
        (Transient, Shutdown, "stopped"),
        (Transient, Killed, "restarted"),
        (Transient, crash(), "restarted"),
        (Transient, panic(), "restarted"),
        (Temporary, Normal, "removed"),
        (Temporary, crash(), "removed"),
        (Temporary, Killed, "removed"),
    ];
    for (restart, reason, want) in cases {
        let got = outcome(restart, reason.clone()).await;
        assert_eq!(got, want, "{restart:?} after {reason:?}");
    }
}
