//! The manual override: stored synchronously, used last, cleared on demand.

mod support;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{Source, TokenError};
use support::{fly, Fixture};

fn failing_cli() -> FakeCli {
    let cli = FakeCli::new();
    cli.always_fail(1, "Error: not logged in");
    cli
}

#[tokio::test(start_paused = true)]
async fn set_manual_is_stored_and_used() {
    let f = Fixture::with(failing_cli(), |c| c).await;
    f.tokens.set_manual("my-app", fly("manual")).await.expect("stored");
    // Stored before set_manual returned.
    let rec = f.stored(&support::manual("my-app")).await.expect("manual record");
    assert_eq!((rec.token.expose(), rec.expires_at), (fly("manual").as_str(), None));
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("manual").expose(), fly("manual"));
    assert_eq!(source, Source::Manual);
}

#[tokio::test(start_paused = true)]
async fn a_cached_token_wins_over_the_manual_one() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.set_manual("my-app", fly("manual")).await.expect("stored");
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (token.expect("cli").expose(), source),
        (fly("cli").as_str(), Source::Cli)
    );
}

#[tokio::test(start_paused = true)]
async fn set_manual_persist_failure_is_surfaced() {
    let f = Fixture::with(failing_cli(), |c| c).await;
    f.store.fail_puts(true);
    let err = f
        .tokens
        .set_manual("my-app", fly("manual"))
        .await
        .expect_err("disk full");
    assert!(matches!(err, TokenError::PersistFailed(_)), "{err}");
    assert!(!err.to_string().contains("fm2_"), "no token in the error: {err}");
    assert!(f.stored(&support::manual("my-app")).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn clear_manual_removes_the_override() {
    let f = Fixture::with(failing_cli(), |c| c).await;
    f.tokens.set_manual("my-app", fly("manual")).await.expect("stored");
    f.tokens.clear_manual("my-app").await.expect("cleared");
    assert!(f.stored(&support::manual("my-app")).await.is_none());
    let err = f.tokens.get("my-app").await.expect_err("nothing left");
    assert!(matches!(err, TokenError::NoTokenAvailable(_)));
}

#[tokio::test(start_paused = true)]
async fn clear_manual_without_a_server_starts_nothing_and_errors_are_returned() {
    let f = Fixture::with(failing_cli(), |c| c).await;
    f.store_manual("my-app", &fly("manual")).await;
    f.store.fail_deletes(true);
    let err = f.tokens.clear_manual("my-app").await.expect_err("delete fails");
    assert!(matches!(err, TokenError::Storage(_)), "{err}");
    f.store.fail_deletes(false);
    f.tokens.clear_manual("my-app").await.expect("cleared");
    assert!(f.stored(&support::manual("my-app")).await.is_none());
    assert!(f.tokens.whereis("my-app").is_none());
}

#[tokio::test(start_paused = true)]
async fn an_empty_manual_token_is_refused() {
    let f = Fixture::with(failing_cli(), |c| c).await;
    let err = f.tokens.set_manual("my-app", "   ").await.expect_err("empty");
    assert_eq!(err, TokenError::EmptyToken);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_that_finds_only_the_manual_token_returns_it_with_a_warning() {
    let capture = support::capture::Capture::default();
    let _guard = capture.install();
    let f = Fixture::with(failing_cli(), |c| c).await;
    f.tokens.set_manual("my-app", fly("manual")).await.expect("stored");
    let token = f.tokens.refresh("my-app").await.expect("the manual token again");
    assert_eq!(token.expose(), fly("manual"));
    let warned = capture
        .events_at(tracing::Level::WARN)
        .iter()
        .any(|e| e.message().contains("only its manual token") && e.message().contains("set_manual"));
    assert!(warned, "{:?}", capture.events());
    assert!(
        !capture.everything().contains(&fly("manual")),
        "the token is never logged"
    );
}
