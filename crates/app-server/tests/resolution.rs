//! The resolution chain of SPEC.md §5, link by link.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    Acquirer, CliFinding, CmdOutput, ManualFinding, Source, StorageFinding, Token, TokenError, TokenKind,
    UserTokenFinding,
};
use support::{fly, Fixture, T0};

#[tokio::test(start_paused = true)]
async fn cold_miss_runs_the_cli() {
    let f = Fixture::new(&fly("cli")).await;
    let (token, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("token").expose(), fly("cli"));
    assert_eq!((source, acquirer), (Source::Cli, Acquirer::AppServer));
    assert_eq!(f.cli.calls(), 1);
    assert_eq!(
        f.cli.args(),
        vec![vec![
            "tokens",
            "create",
            "readonly",
            "-o",
            "acme",
            "--expiry",
            "87000s",
            "--name",
            "atlas org:acme",
            "--json"
        ]]
    );
}

#[tokio::test(start_paused = true)]
async fn warm_hit_runs_no_cli_and_sends_no_message() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.get("my-app").await.expect("cold");
    let (token, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("token").expose(), fly("cli"));
    assert_eq!((source, acquirer), (Source::Cache, Acquirer::Facade));
    assert_eq!(f.cli.calls(), 1, "no second CLI call");
}

#[tokio::test(start_paused = true)]
async fn cli_token_is_persisted_with_now_plus_ttl() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.get("my-app").await.expect("token");
    f.tokens.shutdown().await; // waits for the background persist
    let rec = f.stored_minted().await.expect("persisted under the org");
    assert_eq!(rec.token.expose(), fly("cli"));
    assert_eq!(rec.expires_at, Some(T0 + 86_400));
    assert_eq!(
        (rec.source, rec.scope),
        (atlas_app_server::RecordSource::Cli, support::acme())
    );
}

#[tokio::test(start_paused = true)]
async fn expired_cache_entry_is_reacquired() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("first")).then_ok(&fly("second"));
    let f = Fixture::with(cli, |c| {
        c.configure(|s| s.ttl(Duration::from_secs(60)).soft_expiry_lead(Duration::ZERO))
    })
    .await;
    assert_eq!(f.tokens.get("my-app").await.expect("first").expose(), fly("first"));
    f.advance(Duration::from_secs(60)).await; // expires_at == now: expired
    let (token, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("second").expose(), fly("second"));
    assert_eq!((source, acquirer), (Source::Cli, Acquirer::AppServer));
    assert_eq!(f.cli.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn valid_stored_token_is_used_without_the_cli() {
    let f = Fixture::new(&fly("cli")).await;
    f.store_minted(&fly("stored"), T0 + 3_600).await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("token").expose(), fly("stored"));
    assert_eq!(source, Source::Storage);
    assert_eq!(f.cli.calls(), 0);
    // ...and it is in the table now, with the stored expiry.
    assert_eq!(f.tokens.cached("my-app").expect("cached").expose(), fly("stored"));
    f.advance(Duration::from_secs(3_600)).await;
    assert!(f.tokens.cached("my-app").is_none(), "expires with the stored expiry");
}

#[tokio::test(start_paused = true)]
async fn expired_stored_token_is_skipped() {
    let f = Fixture::new(&fly("cli")).await;
    f.store_minted(&fly("stale"), T0).await; // not in the future
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("token").expose(), fly("cli"));
    assert_eq!(source, Source::Cli);
}

#[tokio::test(start_paused = true)]
async fn cli_failure_falls_back_to_the_manual_token() {
    let cli = FakeCli::new();
    cli.always_fail(
        1,
        "Error: no access token available. Please login with 'flyctl auth login'",
    );
    let f = Fixture::with(cli, |c| c).await;
    f.store_manual("my-app", &fly("manual")).await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("manual").expose(), fly("manual"));
    assert_eq!(source, Source::Manual);
    assert!(f.tokens.cached("my-app").is_none(), "a manual token is not cached");
}

#[tokio::test(start_paused = true)]
async fn no_manual_token_means_no_token_available_with_a_report() {
    let cli = FakeCli::new();
    cli.always_fail(1, "Error: not logged in\nsecond line");
    let f = Fixture::with(cli, |c| c).await;
    f.store_minted(&fly("stale"), T0 - 5).await;
    let err = f.tokens.get("my-app").await.expect_err("nothing");
    let report = err.no_token_report().expect("a report");
    assert_eq!(
        report.storage,
        StorageFinding::Expired {
            expires_at: Some(T0 - 5)
        }
    );
    assert_eq!(report.user_token, UserTokenFinding::None);
    assert_eq!(
        report.cli,
        CliFinding::Exited {
            code: 1,
            stderr: "Error: not logged in\nsecond line".into()
        }
    );
    assert_eq!(report.cli.stderr_line(), "Error: not logged in");
    assert_eq!(report.manual, ManualFinding::None);
    assert!(!err.to_string().contains("fm2_"), "no token in the message: {err}");
}

#[tokio::test(start_paused = true)]
async fn a_cli_that_never_returns_is_dropped_at_the_timeout() {
    let cli = FakeCli::new();
    cli.always_hang();
    let f = Fixture::with(cli, |c| c.configure(|s| s.cli_timeout(Duration::from_secs(15)))).await;
    let started = tokio::time::Instant::now();
    let err = f.tokens.get("my-app").await.expect_err("timed out");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(15),
        "paused time moved exactly to the timeout"
    );
    assert_eq!(
        err.no_token_report().expect("report").cli,
        CliFinding::TimedOut {
            after: Duration::from_secs(15)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn stdout_that_is_not_a_token_is_a_miss_and_stderr_is_never_a_token() {
    let cli = FakeCli::new();
    cli.then(CmdOutput::new(0, "Update available 0.3.1 -> 0.3.2\n", fly("on-stderr")));
    cli.then(CmdOutput::new(0, "  \n", fly("on-stderr")));
    let f = Fixture::with(cli, |c| c).await;
    let err = f.tokens.get("my-app").await.expect_err("not a token");
    assert_eq!(err.no_token_report().expect("report").cli, CliFinding::NotAToken);
    f.advance(Duration::from_secs(10)).await; // past the failure window
    let err = f.tokens.get("my-app").await.expect_err("empty");
    assert_eq!(err.no_token_report().expect("report").cli, CliFinding::EmptyOutput);
}

#[tokio::test(start_paused = true)]
async fn the_user_token_is_cached_briefly_and_never_stored() {
    let f = Fixture::with(FakeCli::succeeding(&fly("cli")), |c| {
        c.config_file_fn(|| Some(Token::new(fly("user"))))
    })
    .await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("token").expose(), fly("user"));
    assert_eq!(source, Source::Config);
    assert_eq!(f.cli.calls(), 0);
    assert_eq!(f.tokens.cached("my-app").expect("in the table").expose(), fly("user"));
    f.advance(Duration::from_secs(59)).await;
    assert!(f.tokens.cached("my-app").is_some(), "for user_token_ttl (60 s)");
    f.advance(Duration::from_secs(1)).await;
    assert!(f.tokens.cached("my-app").is_none(), "then read again on the next miss");
    f.tokens.shutdown().await;
    assert!(
        f.store.inner().is_empty(),
        "the user's own token is never written to the store"
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_or_removed_user_token_wins_on_the_next_miss() {
    let user = std::sync::Arc::new(parking_lot::Mutex::new(Some(fly("old"))));
    let u = user.clone();
    let f = Fixture::with(FakeCli::succeeding(&fly("cli")), move |c| {
        c.config_file_fn(move || u.lock().as_deref().map(Token::new))
            .configure(|s| s.user_token_ttl(Duration::from_secs(5)))
    })
    .await;
    assert_eq!(f.tokens.get("my-app").await.expect("old").expose(), fly("old"));
    *user.lock() = Some(fly("new"));
    f.advance(Duration::from_secs(5)).await;
    assert_eq!(f.tokens.get("my-app").await.expect("new").expose(), fly("new"));
    *user.lock() = None; // logged out
    f.advance(Duration::from_secs(5)).await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (token.expect("cli").expose(), source),
        (fly("cli").as_str(), Source::Cli)
    );
}

#[tokio::test(start_paused = true)]
async fn config_file_disabled_skips_the_user_token() {
    let f = Fixture::with(FakeCli::succeeding(&fly("cli")), |c| {
        c.config_file_fn(|| Some(Token::new(fly("user"))))
            .configure(|s| s.config_file_enabled(false))
    })
    .await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("token").expose(), fly("cli"));
    assert_eq!(source, Source::Cli);
    // And a miss reports it as disabled.
    f.tokens.invalidate("my-app").await.expect("invalidate");
    f.cli.always_fail(1, "Error: boom");
    let err = f.tokens.get("other-app").await.expect_err("nothing");
    assert_eq!(
        err.no_token_report().expect("report").user_token,
        UserTokenFinding::Disabled
    );
}

#[tokio::test(start_paused = true)]
async fn empty_user_token_is_a_miss() {
    let f = Fixture::with(FakeCli::succeeding(&fly("cli")), |c| {
        c.config_file_fn(|| Some(Token::new("  ")))
    })
    .await;
    let (_, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(source, Source::Cli);
}

#[tokio::test(start_paused = true)]
async fn deploy_tokens_are_minted_per_app() {
    let f = Fixture::with(FakeCli::succeeding(&fly("a")), |c| {
        c.configure(|s| s.token_kind(TokenKind::Deploy))
    })
    .await;
    f.tokens.get("my-app").await.expect("token");
    f.tokens.get("other").await.expect("token");
    let args = f.cli.args();
    assert_eq!(args.len(), 2, "one call per app");
    assert_eq!(
        args[0],
        [
            "tokens",
            "create",
            "deploy",
            "-a",
            "my-app",
            "--expiry",
            "87000s",
            "--name",
            "atlas app:my-app",
            "--json"
        ]
    );
    f.tokens.shutdown().await;
    let key = atlas_app_server::StorageKey::Minted(atlas_app_server::Scope::App(support::app("my-app")));
    assert!(f.stored(&key).await.is_some(), "stored under the app's scope");
}

#[tokio::test(start_paused = true)]
async fn with_no_org_the_readonly_link_is_a_miss_that_says_to_set_one() {
    let f = Fixture::with(FakeCli::succeeding(&fly("a")), |c| {
        c.configure(|s| atlas_app_server::Settings { org: None, ..s })
    })
    .await;
    let err = f.tokens.get("my-app").await.expect_err("no org");
    let report = err.no_token_report().expect("report");
    assert_eq!(report.cli, CliFinding::NoOrg);
    assert_eq!(report.storage, StorageFinding::NoScope);
    assert!(err.to_string().contains("FLY_ORG"), "{err}");
    assert_eq!(
        f.cli.calls(),
        0,
        "flyctl cannot pick an org without a terminal: not run"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cli_that_ignores_json_is_read_as_one_line() {
    let cli = FakeCli::new();
    cli.then(CmdOutput::new(0, format!("{}\n", fly("plain")), ""));
    let f = Fixture::with(cli, |c| c).await;
    assert_eq!(f.tokens.get("my-app").await.expect("plain").expose(), fly("plain"));
}

#[tokio::test(start_paused = true)]
async fn invalid_app_names_are_rejected_before_anything_runs() {
    let f = Fixture::new(&fly("cli")).await;
    for bad in ["", "My-App", "a/../b", "-a", "a b", "ünï"] {
        let err = f.tokens.get(bad).await.expect_err("invalid");
        assert!(matches!(err, TokenError::InvalidAppName(_)), "{bad:?}: {err}");
    }
    assert_eq!(f.cli.calls(), 0);
    assert!(f.tokens.running_apps().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_storage_read_failure_is_a_miss_not_an_error() {
    let f = Fixture::new(&fly("cli")).await;
    f.store.fail_gets(true);
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("cli still works").expose(), fly("cli"));
    assert_eq!(source, Source::Cli);
}
