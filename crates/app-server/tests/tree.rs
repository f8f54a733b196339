//! The supervision tree's blast radius (SPEC.md §4), crashing each child
//! through the root handle.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{Acquirer, Source};
use support::{eventually, fly, Fixture};

/// A handle to each of the root's children, in start order; all must run.
async fn running_children(root: &atlas_supervisor::SupervisorRef) -> Vec<atlas_supervisor::ChildRef> {
    root.which_children()
        .await
        .expect("runs")
        .iter()
        .map(|c| c.child_ref().cloned().expect("running"))
        .collect()
}

async fn warm(f: &Fixture, app: &str) {
    f.tokens.get(app).await.expect("token");
    // The background persist has landed.
    eventually(|| async { f.stored_minted().await }).await;
}

#[tokio::test(start_paused = true)]
async fn the_root_has_registry_table_tasks_apps_in_order() {
    let f = Fixture::new(&fly("t")).await;
    let ids: Vec<String> = f
        .tokens
        .supervisor()
        .which_children()
        .await
        .expect("runs")
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, ["registry", "table", "tasks", "apps"]);
}

#[tokio::test(start_paused = true)]
async fn app_server_crash_keeps_the_cached_token() {
    let f = Fixture::new(&fly("t")).await;
    warm(&f, "my-app").await;
    let gets = f.store.gets();
    let before = f.tokens.whereis("my-app").expect("running");
    before.kill();
    let after = eventually(|| async { f.tokens.whereis("my-app").filter(|s| s.is_alive() && *s != before) }).await;
    assert_ne!(before, after, "a new incarnation");
    assert!(!before.is_alive());
    let (token, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("hit").expose(), fly("t"));
    assert_eq!(
        (source, acquirer),
        (Source::Cache, Acquirer::Facade),
        "still a cache hit"
    );
    assert_eq!(f.cli.calls(), 1);
    assert_eq!(f.store.gets(), gets, "storage not read again");
}

#[tokio::test(start_paused = true)]
async fn app_server_crash_leaves_other_apps_alone() {
    let f = Fixture::new(&fly("t")).await;
    warm(&f, "app-a").await;
    warm(&f, "app-b").await;
    let b = f.tokens.whereis("app-b").expect("b");
    let a = f.tokens.whereis("app-a").expect("a");
    a.kill();
    eventually(|| async { f.tokens.whereis("app-a").filter(|s| s.is_alive() && *s != a) }).await;
    assert!(b.is_alive(), "app-b's server was not restarted");
}

#[tokio::test(start_paused = true)]
async fn table_owner_crash_empties_the_table_and_the_next_get_reads_storage() {
    let f = Fixture::new(&fly("t")).await;
    warm(&f, "my-app").await;
    let server = f.tokens.whereis("my-app").expect("running");
    f.kill_child("table").await;
    assert!(f.tokens.cached("my-app").is_none(), "the cache is empty");
    assert!(!server.is_alive(), "every AppServer was stopped");
    let (token, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("from storage").expose(), fly("t"));
    assert_eq!((source, acquirer), (Source::Storage, Acquirer::AppServer));
    assert_eq!(f.cli.calls(), 1, "no new CLI call");
}

#[tokio::test(start_paused = true)]
async fn registry_crash_rebuilds_everything() {
    let f = Fixture::new(&fly("t")).await;
    warm(&f, "my-app").await;
    let server = f.tokens.whereis("my-app").expect("running");
    let root = f.tokens.supervisor();
    let before = running_children(&root).await;
    f.kill_child("registry").await;
    let after = running_children(&root).await;
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b, a, "{} restarted", b.id());
    }
    assert!(!server.is_alive());
    assert!(f.tokens.whereis("my-app").is_none(), "the new registry is empty");
    assert!(f.tokens.cached("my-app").is_none());
    let (_, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(source, Source::Storage);
    assert!(f.tokens.whereis("my-app").is_some_and(|s| s.is_alive()));
}

#[tokio::test(start_paused = true)]
async fn task_supervisor_crash_restarts_the_servers_but_keeps_the_cache() {
    let f = Fixture::new(&fly("t")).await;
    warm(&f, "my-app").await;
    let server = f.tokens.whereis("my-app").expect("running");
    f.kill_child("tasks").await;
    assert!(!server.is_alive());
    let (_, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!((source, acquirer), (Source::Cache, Acquirer::Facade));
}

#[tokio::test(start_paused = true)]
async fn apps_crash_keeps_the_cache() {
    let f = Fixture::new(&fly("t")).await;
    warm(&f, "my-app").await;
    let server = f.tokens.whereis("my-app").expect("running");
    f.kill_child("apps").await;
    assert!(!server.is_alive());
    assert!(f.tokens.cached("my-app").is_some());
    // A new server starts on demand (here through set_manual).
    f.tokens.set_manual("my-app", fly("manual")).await.expect("new server");
    assert!(f.tokens.whereis("my-app").is_some_and(|s| s.is_alive()));
}

#[tokio::test(start_paused = true)]
async fn a_caller_waiting_through_a_table_crash_gets_a_token_from_the_new_tree() {
    let f = Fixture::with(
        FakeCli::succeeding(&fly("t")).with_delay(Duration::from_secs(10)),
        |c| c,
    )
    .await;
    let call = tokio::spawn({
        let tokens = f.tokens.clone();
        async move { tokens.get("my-app").await }
    });
    eventually(|| async { (f.cli.calls() == 1).then_some(()) }).await;
    f.kill_child("table").await; // the server in its CLI call is stopped
    let token = call.await.expect("joins").expect("answered by the new incarnation");
    assert_eq!(token.expose(), fly("t"));
    assert_eq!(f.cli.calls(), 2, "the old call was dropped, the new server ran its own");
    assert_eq!(f.tokens.cached("my-app").expect("in the new table").expose(), fly("t"));
}

#[tokio::test(start_paused = true)]
async fn two_stacks_in_one_process_never_see_each_other() {
    let a = Fixture::new(&fly("a")).await;
    let b = Fixture::new(&fly("b")).await;
    assert_eq!(a.tokens.get("my-app").await.expect("a").expose(), fly("a"));
    assert_eq!(b.tokens.get("my-app").await.expect("b").expose(), fly("b"));
    a.kill_child("table").await;
    assert!(a.tokens.cached("my-app").is_none());
    assert_eq!(b.tokens.cached("my-app").expect("b untouched").expose(), fly("b"));
    a.tokens.shutdown().await;
    assert_eq!(b.tokens.get("my-app").await.expect("b runs").expose(), fly("b"));
}
