//! Coalescing on one app, parallelism across apps.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{Acquirer, CliFinding, Source, TokenError, TokenKind};
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
    // Deploy tokens: two apps, two scopes.
    let f = Fixture::with(
        FakeCli::succeeding(&fly("t")).with_delay(Duration::from_secs(10)),
        |c| c.configure(|s| s.token_kind(TokenKind::Deploy)),
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
async fn many_apps_each_get_their_own_server_and_share_the_org_token() {
    let f = Fixture::new(&fly("t")).await;
    for i in 0..50 {
        f.tokens.get(&format!("app-{i}")).await.expect("token");
    }
    assert_eq!(f.tokens.running_apps().len(), 50);
    assert_eq!(f.cli.calls(), 1, "one readonly token for the org");
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
async fn a_herd_on_a_multi_threaded_runtime_runs_the_cli_once_per_scope() {
    // Real threads, real (short) CLI time: only counts are asserted.
    // Deploy tokens: one scope per app.
    let f = Fixture::with(
        FakeCli::succeeding(&fly("t")).with_delay(Duration::from_millis(5)),
        |c| c.configure(|s| s.token_kind(TokenKind::Deploy)),
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
    assert_eq!(f.cli.calls(), 100, "exactly one CLI call per app's scope");
    assert_eq!(f.tokens.running_apps().len(), 100);
}

#[tokio::test(start_paused = true)]
async fn a_cold_herd_of_one_org_runs_the_cli_once() {
    let f = Fixture::with(
        FakeCli::succeeding(&fly("org")).with_delay(Duration::from_secs(1)),
        |c| c,
    )
    .await;
    let calls: Vec<_> = (0..1_000)
        .flat_map(|i| [i; 4])
        .map(|i| {
            let tokens = f.tokens.clone();
            tokio::spawn(async move { tokens.get(&format!("app-{i}")).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.expect("joins").expect("token").expose(), fly("org"));
    }
    assert_eq!(f.cli.calls(), 1, "1,000 apps of one org, one CLI call");
    assert_eq!(f.tokens.running_apps().len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_herd_of_one_org_on_real_threads_runs_the_cli_once() {
    let f = Fixture::with(
        FakeCli::succeeding(&fly("org")).with_delay(Duration::from_millis(5)),
        |c| c,
    )
    .await;
    let calls: Vec<_> = (0..400)
        .map(|i| {
            let tokens = f.tokens.clone();
            tokio::spawn(async move { tokens.get(&format!("app-{}", i % 200)).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.expect("joins").expect("token").expose(), fly("org"));
    }
    assert_eq!(f.cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_cli_runs_once_for_a_cold_herd_of_one_org_even_with_no_window() {
    let cli = FakeCli::new().with_delay(Duration::from_secs(1));
    cli.always_fail(1, "Error: boom");
    let f = Fixture::with(cli, |c| c.configure(|s| s.failure_window(Duration::ZERO))).await;
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let tokens = f.tokens.clone();
            tokio::spawn(async move { tokens.get(&format!("app-{i}")).await })
        })
        .collect();
    for c in calls {
        let err = c.await.expect("joins").expect_err("fails");
        assert!(matches!(
            err.no_token_report().expect("report").cli,
            CliFinding::Exited { code: 1, .. }
        ));
    }
    assert_eq!(f.cli.calls(), 1, "the callers that waited share the failure");
}

#[tokio::test(start_paused = true)]
async fn within_the_failure_window_cold_requests_get_the_same_report() {
    let cli = FakeCli::new();
    cli.then_fail(1, "Error: not logged in");
    cli.always_ok(&fly("later"));
    let f = Fixture::with(cli, |c| c).await;
    let err = f.tokens.get("app-a").await.expect_err("fails");
    assert!(matches!(
        err.no_token_report().expect("report").cli,
        CliFinding::Exited { code: 1, .. }
    ));
    f.advance(Duration::from_secs(3)).await;
    let err = f.tokens.get("app-b").await.expect_err("within the window");
    match &err.no_token_report().expect("report").cli {
        CliFinding::RecentlyFailed { ago, finding } => {
            assert_eq!(ago.as_secs(), 3);
            assert!(matches!(**finding, CliFinding::Exited { code: 1, .. }));
        }
        other => panic!("not the window's report: {other:?}"),
    }
    assert!(err.to_string().contains("failed 3s ago"), "{err}");
    assert_eq!(f.cli.calls(), 1, "the CLI did not run again");
    f.advance(Duration::from_secs(7)).await; // 10 s: the window is over
    assert_eq!(f.tokens.get("app-b").await.expect("runs again").expose(), fly("later"));
    assert_eq!(f.cli.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_zero_failure_window_disables_it() {
    let cli = FakeCli::new();
    cli.then_fail(1, "Error: not logged in");
    cli.always_ok(&fly("later"));
    let f = Fixture::with(cli, |c| c.configure(|s| s.failure_window(Duration::ZERO))).await;
    f.tokens.get("app-a").await.expect_err("fails");
    assert_eq!(f.tokens.get("app-b").await.expect("runs again").expose(), fly("later"));
    assert_eq!(f.cli.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_flight_killed_midway_lets_the_waiting_apps_fly_themselves() {
    let f = Fixture::with(
        FakeCli::succeeding(&fly("org")).with_delay(Duration::from_secs(10)),
        |c| c,
    )
    .await;
    let a = tokio::spawn({
        let tokens = f.tokens.clone();
        async move { tokens.get("app-a").await }
    });
    support::eventually(|| async { (f.cli.calls() == 1).then_some(()) }).await;
    let b = tokio::spawn({
        let tokens = f.tokens.clone();
        async move { tokens.get("app-b").await }
    });
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    f.tokens.whereis("app-a").expect("flying").kill();
    assert_eq!(b.await.expect("joins").expect("b flies itself").expose(), fly("org"));
    assert!(f.cli.calls() >= 2, "b ran the CLI once a's flight was gone");
    let _ = a.await.expect("joins");
}
