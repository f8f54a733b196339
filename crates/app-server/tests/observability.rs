//! Spans and logs (SPEC.md §7): the right `source`/`acquirer`, warnings with
//! the exit code, and never a token anywhere.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::CmdOutput;
use support::capture::Capture;
use support::{fly, Fixture, T0};
use tracing::Level;

fn fields(c: &Capture, name: &str) -> Vec<(String, String, String)> {
    c.spans(name)
        .iter()
        .map(|s| {
            (
                s.field("app").unwrap_or("").to_owned(),
                s.field("source").unwrap_or("").to_owned(),
                s.field("acquirer").unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn t(app: &str, source: &str, acquirer: &str) -> (String, String, String) {
    (app.into(), source.into(), acquirer.into())
}

#[tokio::test(start_paused = true)]
async fn spans_carry_source_and_acquirer() {
    let capture = Capture::default();
    let _guard = capture.install();
    let cli = FakeCli::new().with_delay(Duration::from_millis(50));
    let fail = CmdOutput::new(1, "", "Error: boom");
    // my-app, manual-app, none-app, then the refresh of my-app.
    cli.then_ok(&fly("cli"))
        .then(fail.clone())
        .then(fail)
        .then_ok(&fly("refreshed"));
    // Deploy tokens: each app its own scope, so each app takes its own path.
    let f = Fixture::with(cli, |c| {
        c.configure(|s| s.token_kind(atlas_app_server::TokenKind::Deploy))
    })
    .await;
    let scope = atlas_app_server::Scope::App(support::app("stored-app"));
    let rec =
        atlas_app_server::TokenRecord::minted(scope.clone(), atlas_app_server::Token::new(fly("stored")), T0 + 100);
    atlas_app_server::Storage::put(&*f.store, &atlas_app_server::StorageKey::Minted(scope), rec)
        .await
        .expect("put");
    f.store_manual("manual-app", &fly("manual")).await;

    f.tokens.get("my-app").await.expect("cli");
    f.tokens.get("my-app").await.expect("fast path");
    f.tokens.get("stored-app").await.expect("storage");
    f.tokens.get("manual-app").await.expect("manual");
    f.tokens.get("none-app").await.expect_err("none");
    f.tokens.refresh("my-app").await.expect("refreshed");

    assert_eq!(
        fields(&capture, "tokens.get"),
        [
            t("my-app", "cli", "app_server"),
            t("my-app", "cache", "facade"),
            t("stored-app", "storage", "app_server"),
            t("manual-app", "manual", "app_server"),
            t("none-app", "none", "app_server"),
        ]
    );
    assert_eq!(fields(&capture, "tokens.refresh"), [t("my-app", "cli", "app_server")]);
}

#[tokio::test(start_paused = true)]
async fn a_coalesced_caller_is_cache_from_the_app_server() {
    let capture = Capture::default();
    let _guard = capture.install();
    let f = Fixture::with(
        FakeCli::succeeding(&fly("t")).with_delay(Duration::from_millis(50)),
        |c| c.configure(|s| s.config_file_enabled(false)),
    )
    .await;
    let (a, b) = tokio::join!(f.tokens.get("my-app"), f.tokens.get("my-app"));
    a.expect("a");
    b.expect("b");
    let mut got = fields(&capture, "tokens.get");
    got.sort();
    assert_eq!(
        got,
        [t("my-app", "cache", "app_server"), t("my-app", "cli", "app_server")]
    );
}

#[tokio::test(start_paused = true)]
async fn config_source_is_recorded() {
    let capture = Capture::default();
    let _guard = capture.install();
    let f = Fixture::with(FakeCli::new(), |c| {
        c.config_file_fn(|| Some(atlas_app_server::Token::new(fly("user"))))
    })
    .await;
    f.tokens.get("my-app").await.expect("config");
    assert_eq!(fields(&capture, "tokens.get"), [t("my-app", "config", "app_server")]);
}

#[tokio::test(start_paused = true)]
async fn cli_failure_is_a_warning_with_the_exit_code_and_no_output() {
    let capture = Capture::default();
    let _guard = capture.install();
    let cli = FakeCli::new();
    cli.then(CmdOutput::new(2, fly("leaked-on-stdout"), "Error: something"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect_err("miss");
    let warnings = capture.events_at(Level::WARN);
    let w = warnings
        .iter()
        .find(|e| e.message().contains("fly tokens create"))
        .expect("a warning");
    assert_eq!(w.field("exit_code"), Some("2"));
    assert_eq!(w.field("app"), Some("my-app"));
    assert!(!capture.everything().contains("leaked-on-stdout"));
}

#[tokio::test(start_paused = true)]
async fn cli_timeout_is_a_warning() {
    let capture = Capture::default();
    let _guard = capture.install();
    let cli = FakeCli::new();
    cli.always_hang();
    let f = Fixture::with(cli, |c| c.configure(|s| s.cli_timeout(Duration::from_secs(3)))).await;
    f.tokens.get("my-app").await.expect_err("timed out");
    let warnings = capture.events_at(Level::WARN);
    let w = warnings
        .iter()
        .find(|e| e.message().contains("timed out"))
        .expect("a timeout warning");
    assert_eq!(w.field("timeout_ms"), Some("3000"));
}

#[tokio::test(start_paused = true)]
async fn tokens_never_appear_in_logs_spans_or_errors() {
    let capture = Capture::default();
    let _guard = capture.install();
    let cli = FakeCli::new();
    cli.then_ok(&fly("secret1"));
    cli.then(CmdOutput::new(1, fly("secret2"), ""));
    let f = Fixture::with(cli, |c| c).await;
    f.store.fail_puts(true);
    let t = f.tokens.get("my-app").await.expect("token");
    assert_eq!(format!("{t:?} {t}"), "Token(<redacted>) <redacted>");
    f.tokens.refresh("my-app").await.expect_err("miss");
    let err = f
        .tokens
        .set_manual("my-app", fly("secret3"))
        .await
        .expect_err("persist fails");
    f.tokens.shutdown().await;
    let all = format!("{} {err} {err:?}", capture.everything());
    assert!(!all.contains("secret"), "a token leaked: {all}");
    assert!(!capture.events().is_empty(), "something was logged");
}
