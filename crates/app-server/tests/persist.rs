//! Background persists: best effort, logged on failure, awaited by shutdown.

mod support;

use support::capture::Capture;
use support::{fly, Fixture};
use tracing::Level;

#[tokio::test(start_paused = true)]
async fn persist_failure_still_returns_the_token_and_logs_an_error() {
    let capture = Capture::default();
    let _guard = capture.install();
    let f = Fixture::new(&fly("cli")).await;
    f.store.fail_puts(true);
    let token = f.tokens.get("my-app").await.expect("token despite the failing store");
    assert_eq!(token.expose(), fly("cli"));
    f.tokens.shutdown().await; // the persist has run
    assert!(f.stored_minted().await.is_none());
    let errors = capture.events_at(Level::ERROR);
    let persist = errors
        .iter()
        .find(|e| e.message().contains("persist failed"))
        .expect("an error-level event");
    assert_eq!(persist.field("app"), Some("my-app"));
    assert!(!capture.everything().contains("fm2_"), "no token in any log");
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_queued_persists() {
    // Deploy tokens: one scope, so one persist, per app.
    let f = Fixture::with(atlas_app_server::testing::FakeCli::succeeding(&fly("cli")), |c| {
        c.configure(|s| s.token_kind(atlas_app_server::TokenKind::Deploy))
    })
    .await;
    for i in 0..20 {
        f.tokens.get(&format!("app-{i}")).await.expect("token");
    }
    f.tokens.shutdown().await;
    for i in 0..20 {
        let scope = atlas_app_server::Scope::App(support::app(&format!("app-{i}")));
        assert!(
            f.stored(&atlas_app_server::StorageKey::Minted(scope)).await.is_some(),
            "app-{i} persisted before shutdown returned"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn calls_after_shutdown_fail_with_stack_down() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.get("my-app").await.expect("token");
    f.tokens.shutdown().await;
    assert!(f.tokens.cached("my-app").is_none(), "the table is gone with its owner");
    let err = f.tokens.get("my-app").await.expect_err("down");
    assert_eq!(err, atlas_app_server::TokenError::StackDown);
}
