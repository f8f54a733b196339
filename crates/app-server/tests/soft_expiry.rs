//! Soft expiry: the token is re-acquired before it expires, with no caller.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{Source, StorageKey};
use support::{eventually, fly, Fixture, T0};

const HOUR: Duration = Duration::from_secs(3_600);

fn two_tokens() -> FakeCli {
    let cli = FakeCli::new();
    cli.then_ok(&fly("first")).then_ok(&fly("second"));
    cli
}

#[tokio::test(start_paused = true)]
async fn soft_expiry_fires_with_no_caller() {
    // ttl 24 h, lead 1 h: the re-acquisition is due at 23 h.
    let f = Fixture::with(two_tokens(), |c| c).await;
    assert_eq!(f.tokens.get("my-app").await.expect("first").expose(), fly("first"));
    f.advance(HOUR * 23 - Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(f.cli.calls(), 1, "not yet");
    f.advance(Duration::from_secs(1)).await;
    eventually(|| async { f.tokens.cached("my-app").filter(|t| t.expose() == fly("second")) }).await;
    assert_eq!(f.cli.calls(), 2);
    // The new token is cached until now + ttl, and persisted.
    let (_, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(source, Source::Cache);
    f.tokens.shutdown().await;
    let rec = f.stored("my-app", StorageKey::Cached).await.expect("persisted");
    assert_eq!(rec.token.expose(), fly("second"));
    assert_eq!(rec.expires_at, Some(T0 + 23 * 3_600 + 24 * 3_600));
}

#[tokio::test(start_paused = true)]
async fn each_resolution_re_anchors_the_timer() {
    let cli = two_tokens();
    cli.then_ok(&fly("third"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 23).await;
    eventually(|| async { (f.cli.calls() == 2).then_some(()) }).await;
    // The second token expires 24 h after 23 h; its refresh is due at 46 h.
    f.advance(HOUR * 22).await;
    tokio::task::yield_now().await;
    assert_eq!(f.cli.calls(), 2);
    f.advance(HOUR).await;
    eventually(|| async { (f.cli.calls() == 3).then_some(()) }).await;
}

#[tokio::test(start_paused = true)]
async fn a_zero_lead_disables_soft_expiry() {
    let f = Fixture::with(two_tokens(), |c| c.soft_expiry_lead(Duration::ZERO)).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 30).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(f.cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lead_not_shorter_than_the_lifetime_schedules_nothing() {
    let f = Fixture::with(two_tokens(), |c| c.ttl(HOUR).soft_expiry_lead(HOUR)).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 2).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(f.cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn soft_expiry_skips_the_table_and_the_stored_copy() {
    // The stored token is valid for 2 h: its refresh is due at 1 h, and it
    // must not simply read the same stored token back.
    let cli = FakeCli::succeeding(&fly("fresh"));
    let f = Fixture::with(cli, |c| c).await;
    f.store_cached("my-app", &fly("stored"), T0 + 2 * 3_600).await;
    let (t, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (t.expect("stored").expose(), source),
        (fly("stored").as_str(), Source::Storage)
    );
    f.advance(HOUR).await;
    eventually(|| async { f.tokens.cached("my-app").filter(|t| t.expose() == fly("fresh")) }).await;
    assert_eq!(f.cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_re_acquisition_keeps_the_current_token() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("first"));
    cli.always_fail(1, "Error: boom");
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 23).await;
    eventually(|| async { (f.cli.calls() == 2).then_some(()) }).await;
    assert_eq!(f.tokens.cached("my-app").expect("still cached").expose(), fly("first"));
}
