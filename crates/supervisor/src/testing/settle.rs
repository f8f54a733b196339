//! Waiting for a supervision tree to have handled everything pending.

use std::future::Future;
use std::pin::Pin;

use crate::handle::{Msg, Settle};
use crate::{ChildInfo, ControlError, SupervisorRef};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Waits until the tree under `sup` has handled everything pending, as the
/// OTP oracle waits for a quiescent tree: in every supervisor no retry is
/// queued and no child's exit is left to handle, with all that follows from
/// them (restarts, giving up). Returns whether `sup` is still running.
///
/// Each supervisor is asked through its own mailbox, which it handles in
/// order: while something is pending the request queues again behind it.
/// No clock is involved; a suspended supervisor answers once resumed, as
/// it answers any call. An exit counts once its task has ended, so call
/// it after a [`kill`](crate::ChildRef::kill) has taken effect (the child's
/// [`is_alive`](crate::ChildRef::is_alive) is false). A tree whose restarts
/// never end (a start that always fails, under an intensity that never
/// runs out) keeps it waiting: give a test its own hang guard.
///
/// ```
/// use std::time::Duration;
/// use atlas_supervisor::testing::{settle, Recorder, Script, Workers};
/// use atlas_supervisor::{Strategy, Supervisor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (rec, workers) = (Recorder::new(), Workers::new());
/// let sup = Supervisor::new(Strategy::OneForOne)
///     .intensity(5, Duration::from_secs(60))
///     .observer(rec.observer())
///     .child(workers.scripted("a", Script::new().fail_starts([2, 3])))
///     .start()
///     .await
///     .expect("starts");
/// workers.crash("a").expect("a runs");
/// assert!(settle(&sup).await, "still running");
/// // Two retries were queued and handled before the answer.
/// assert_eq!(
///     rec.take(),
///     ["start a", "stop a crash", "start_failed a", "start_failed a", "start a"]
/// );
/// sup.shutdown().await;
/// assert!(!settle(&sup).await);
/// # }
/// ```
pub async fn settle(sup: &SupervisorRef) -> bool {
    loop {
        match settle_tree(sup).await {
            // Nothing was pending anywhere in one pass over the tree.
            Ok(false) => return true,
            // Something was: what it led to may have reached another
            // supervisor of the tree, so look again.
            Ok(true) => {}
            Err(_) => return false,
        }
    }
}

/// Settles `sup`, then each nested supervisor in turn; `Ok(true)` if any of
/// them had something pending or is gone (its parent has its exit to
/// handle), `Err` if `sup` is gone.
fn settle_tree(sup: &SupervisorRef) -> Boxed<'_, Result<bool, ControlError>> {
    Box::pin(async move {
        let settled = sup.link.call(|tx| Msg::Settle(Settle { waited: false, tx })).await?;
        let mut waited = settled.waited;
        for nested in &settled.nested {
            waited |= settle_tree(nested).await.unwrap_or(true);
        }
        Ok(waited)
    })
}

/// The ids of the running children of the tree under `sup`, depth-first in
/// start order, a nested supervisor before its own children (the OTP
/// trace's last line, `children a,s,x`). Empty if `sup` is not running.
///
/// ```
/// use atlas_supervisor::testing::{running_ids, Workers};
/// use atlas_supervisor::{Strategy, Supervisor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let workers = Workers::new();
/// let nested = Supervisor::new(Strategy::OneForOne).child(workers.spec("x"));
/// let sup = Supervisor::new(Strategy::RestForOne)
///     .child(workers.spec("a"))
///     .child(nested.into_child_spec("s"))
///     .child(workers.spec("b"))
///     .start()
///     .await
///     .expect("starts");
/// sup.terminate_child("b").await.expect("stops");
/// assert_eq!(running_ids(&sup).await, ["a", "s", "x"]);
/// sup.shutdown().await;
/// # }
/// ```
pub async fn running_ids(sup: &SupervisorRef) -> Vec<String> {
    let mut ids = Vec::new();
    collect_running(sup, &mut ids).await;
    ids
}

fn collect_running<'a>(sup: &'a SupervisorRef, out: &'a mut Vec<String>) -> Boxed<'a, ()> {
    Box::pin(async move {
        let kids = sup.which_children().await.unwrap_or_default();
        for r in kids.iter().filter_map(ChildInfo::child_ref) {
            out.push(r.id().to_owned());
            if let Some(nested) = r.supervisor() {
                collect_running(nested, out).await;
            }
        }
    })
}
