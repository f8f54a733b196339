//! The table lives as long as its owner: stop, kill, abort and panic all end
//! it; a restart publishes an empty table that the same handles use.

mod support;

use atlas_cache::{NoTable, Table};
use atlas_supervisor::{ChildState, ExitReason, ShutdownSignal};
use support::{guard, owner_ref, supervised, until, OWNER};

type T = Table<String, u64>;

#[tokio::test]
async fn the_table_is_live_once_the_owner_has_started() {
    let table = T::new();
    assert_eq!(table.insert("a".into(), 1), Err(NoTable));
    let sup = supervised(&table).await;
    // Published in the start function: no wait needed.
    assert_eq!(table.incarnation(), Some(1));
    table.insert("a".into(), 1).expect("live");
    assert_eq!(table.get("a"), Some(1));
    assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
    assert_eq!(table.get("a"), None);
    assert_eq!(table.insert("a".into(), 2), Err(NoTable));
}

#[tokio::test]
async fn terminate_child_ends_the_table_and_restart_child_brings_an_empty_one() {
    let table = T::new();
    let reader = table.clone(); // a handle held elsewhere, never re-created
    let sup = supervised(&table).await;
    table.insert("my-app".into(), 7).expect("live");
    assert_eq!(reader.get("my-app"), Some(7));

    sup.terminate_child(OWNER).await.expect("terminates");
    let owner = sup.child(OWNER).await.expect("alive");
    assert!(matches!(owner.state, ChildState::Stopped));
    assert_eq!(reader.get("my-app"), None);
    assert_eq!(reader.len(), 0);
    assert!(!reader.is_live());
    assert_eq!(reader.insert("my-app".into(), 8), Err(NoTable));

    sup.restart_child(OWNER).await.expect("restarts");
    assert_eq!(reader.incarnation(), Some(2));
    assert_eq!(reader.get("my-app"), None, "the new table starts empty");
    assert!(reader.is_empty());
    reader.insert("my-app".into(), 9).expect("live");
    assert_eq!(table.get("my-app"), Some(9));
    sup.shutdown().await;
}

#[tokio::test]
async fn a_killed_owner_takes_its_table_along_and_the_restart_is_empty() {
    let table = T::new();
    let sup = supervised(&table).await;
    for round in 1..=5u64 {
        assert_eq!(table.incarnation(), Some(round));
        table.insert("k".into(), round).expect("live");
        let bound = table.bind_current().expect("live");
        owner_ref(&sup).await.kill();
        until("the restarted owner", || table.incarnation() == Some(round + 1)).await;
        assert_eq!(table.get("k"), None, "round {round}: nothing survives the crash");
        assert_eq!(bound.get("k"), None);
        assert_eq!(bound.insert("k".into(), 0), Err(NoTable));
    }
    sup.shutdown().await;
}

#[tokio::test]
async fn an_aborted_owner_task_ends_the_table() {
    let table = T::new();
    let signal = ShutdownSignal::new();
    let task = tokio::spawn(table.owner().run(signal.clone()));
    until("the owner", || table.is_live()).await;
    table.insert("k".into(), 1).expect("live");
    task.abort();
    assert!(guard("the abort", task).await.expect_err("aborted").is_cancelled());
    assert_eq!(table.get("k"), None);
    assert_eq!(table.insert("k".into(), 2), Err(NoTable));
}

#[tokio::test]
async fn an_owner_that_panics_ends_the_table() {
    let table = T::new();
    let ownership = table.owner().claim();
    table.insert("k".into(), 1).expect("live");
    let task = tokio::spawn(async move {
        let _held = ownership;
        tokio::task::yield_now().await;
        panic!("owner crashed");
    });
    assert!(guard("the panic", task).await.expect_err("panicked").is_panic());
    assert_eq!(table.get("k"), None);
    assert!(!table.is_live());
}

#[tokio::test]
async fn a_graceful_stop_of_a_hand_run_owner_ends_the_table() {
    let table = T::new();
    let signal = ShutdownSignal::new();
    let task = tokio::spawn(table.owner().run(signal.clone()));
    until("the owner", || table.is_live()).await;
    signal.fire();
    assert_eq!(guard("the stop", task).await.expect("exits"), ExitReason::Shutdown);
    assert!(!table.is_live());
}

#[test]
fn handles_owners_and_errors_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    type Tokens = Table<String, atlas_cache::Expiring<std::sync::Arc<str>>>;
    send_sync::<Tokens>();
    send_sync::<atlas_cache::TableOwner<String, u64, atlas_cache::DefaultHashBuilder>>();
    send_sync::<atlas_cache::Ownership<String, u64, atlas_cache::DefaultHashBuilder>>();
    send_sync::<NoTable>();
    send_sync::<atlas_cache::CoarseClock>();
}
