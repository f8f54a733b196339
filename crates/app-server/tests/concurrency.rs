//! Coalescing on one app, parallelism across apps.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{Acquirer, Source, TokenError};
use support::{fly, Fixture};

#[tokio::test(start_paused = true)]
async fn ten_concurrent_callers_on_one_cold_app_run_the_cli_once() {
    let f = Fixture::with(
        FakeCli::succeeding(&fly("one")).with_delay(Duration::from_millis(200)),
        |c| c,
    )
    .await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let tokens = f.tokens.clone();
            tokio::spawn(async move { tokens.get_traced("my-app").await })
        })
        .collect();
    let mut sources = Vec::new();
    for c in calls {
        let (token, source, acquirer) = c.await.expect("joins");
        assert_eq!(token.expect("token").expose(), fly("one"));
        assert_eq!(acquirer, Acquirer::AppServer);
        sources.push(source);
    }
    assert_eq!(f.cli.calls(), 1, "exactly one CLI call");
    assert_eq!(sources.iter().filter(|s| **s == Source::Cli).count(), 1);
    assert_eq!(sources.iter().filter(|s| **s == Source::Cache).count(), 9, "coalesced");
    assert_eq!(f.tokens.running_apps().len(), 1, "one server");
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_a_failure_too() {
    let cli = FakeCli::new().with_delay(Duration::from_millis(200));
    cli.always_fail(1, "Error: boom");
    let f = Fixture::with(cli, |c| c).await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let tokens = f.tokens.clone();
            tokio::spawn(async move { tokens.get("my-app").await })
        })
        .collect();
    for c in calls {
        assert!(matches!(c.await.expect("joins"), Err(TokenError::NoTokenAvailable(_))));
    }
    assert_eq!(f.cli.calls(), 1, "the failing CLI ran once for all");
}

#[tokio::test(start_paused = true)]
async fn two_apps_resolve_in_parallel() {
    let f = Fixture::with(
        FakeCli::succeeding(&fly("t")).with_delay(Duration::from_secs(10)),
        |c| c,
    )
    .await;
    let started = tokio::time::Instant::now();
    let (a, b) = tokio::join!(f.tokens.get("app-a"), f.tokens.get("app-b"));
    a.expect("a");
    b.expect("b");
    assert_eq!(f.cli.calls(), 2);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "both CLI calls overlapped (serial would take 20 s)"
    );
}

#[tokio::test(start_paused = true)]
async fn many_apps_each_get_their_own_server() {
    let f = Fixture::new(&fly("t")).await;
    for i in 0..50 {
        f.tokens.get(&format!("app-{i}")).await.expect("token");
    }
    assert_eq!(f.tokens.running_apps().len(), 50);
    assert_eq!(f.cli.calls(), 50);
}

#[tokio::test(start_paused = true)]
async fn max_apps_caps_the_servers() {
    let f = Fixture::with(FakeCli::succeeding(&fly("t")), |c| c.max_apps(2)).await;
    f.tokens.get("app-a").await.expect("a");
    f.tokens.get("app-b").await.expect("b");
    assert_eq!(
        f.tokens.get("app-c").await.expect_err("capped"),
        TokenError::TooManyApps
    );
    assert!(f.tokens.get("app-a").await.is_ok(), "running apps still answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_on_a_multi_threaded_runtime_runs_the_cli_once_per_app() {
    // Real threads, real (short) CLI time: only counts are asserted.
    let f = Fixture::with(
        FakeCli::succeeding(&fly("t")).with_delay(Duration::from_millis(5)),
        |c| c,
    )
    .await;
    let mut calls = Vec::new();
    for caller in 0..8 {
        for i in 0..100 {
            let tokens = f.tokens.clone();
            let app = format!("app-{}", (i + caller * 13) % 100);
            calls.push(tokio::spawn(async move { tokens.get(&app).await }));
        }
    }
    for c in calls {
        assert_eq!(c.await.expect("joins").expect("token").expose(), fly("t"));
    }
    assert_eq!(f.cli.calls(), 100, "exactly one CLI call per app");
    assert_eq!(f.tokens.running_apps().len(), 100);
}
