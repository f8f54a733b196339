//! Shared helpers: a supervised table owner and waits without sleeps.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use atlas_cache::Table;
use atlas_supervisor::{ChildRef, Strategy, Supervisor, SupervisorRef};

/// The child id the owner runs under.
pub const OWNER: &str = "table";

/// A one_for_one supervisor running `table`'s owner, with room for many restarts.
pub async fn supervised<K, V>(table: &Table<K, V>) -> SupervisorRef
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    Supervisor::new(Strategy::OneForOne)
        .intensity(1_000, Duration::from_secs(60))
        .child(table.owner().child_spec(OWNER))
        .start()
        .await
        .expect("the owner starts")
}

/// The running owner's handle.
pub async fn owner_ref(sup: &SupervisorRef) -> ChildRef {
    let owner = sup.child(OWNER).await.expect("supervisor alive");
    owner.child_ref().cloned().expect("owner running")
}

/// Yields until `cond` holds; fails the test after 10 s (a hang guard, not a
/// timing assumption).
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    guard(what, async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await
}

/// Runs `fut`, failing the test if it has not finished after 10 s.
pub async fn guard<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}
