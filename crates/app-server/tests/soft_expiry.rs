//! Soft expiry: the token is re-acquired before it expires, with no caller.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::Source;
use support::{eventually, fly, Fixture, T0};

const HOUR: Duration = Duration::from_secs(3_600);

fn two_tokens() -> FakeCli {
    let cli = FakeCli::new();
    cli.then_ok(&fly("first")).then_ok(&fly("second"));
    cli
}

/// The latest point of the jittered soft expiry: 80 % of the lead before
/// expiry (the earliest is 100 %).
const LATEST: Duration = Duration::from_secs(12 * 60);

#[tokio::test(start_paused = true)]
async fn soft_expiry_fires_with_no_caller_at_a_jittered_point() {
    // ttl 24 h, lead 1 h: due between 23 h and 23 h 12 m.
    let f = Fixture::with(two_tokens(), |c| c).await;
    assert_eq!(f.tokens.get("my-app").await.expect("first").expose(), fly("first"));
    f.advance(HOUR * 23 - Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(f.cli.calls(), 1, "not before 100 % of the lead");
    f.advance(LATEST + Duration::from_secs(1)).await;
    eventually(|| async { f.tokens.cached("my-app").filter(|t| t.expose() == fly("second")) }).await;
    assert_eq!(f.cli.calls(), 2, "by 80 % of the lead");
    // The new token is cached until now + ttl, and persisted.
    let (_, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(source, Source::Cache);
    f.tokens.shutdown().await;
    let rec = f.stored_minted().await.expect("persisted");
    assert_eq!(rec.token.expose(), fly("second"));
    assert_eq!(rec.expires_at, Some(T0 + 23 * 3_600 + 12 * 60 + 24 * 3_600));
}

#[tokio::test(start_paused = true)]
async fn soft_expiry_points_are_spread_over_the_jitter_window() {
    // 40 apps with their own (deploy) tokens, filled together: their soft
    // expiries must not all fall on one instant.
    let cli = FakeCli::succeeding(&fly("t"));
    let f = Fixture::with(cli, |c| {
        c.configure(|s| s.token_kind(atlas_app_server::TokenKind::Deploy))
    })
    .await;
    for i in 0..40 {
        f.tokens.get(&format!("app-{i}")).await.expect("token");
    }
    f.advance(HOUR * 23).await;
    let mut seen = vec![f.cli.calls()];
    for _ in 0..12 {
        f.advance(Duration::from_secs(60)).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        seen.push(f.cli.calls());
    }
    // Every refresh was due within the 12 minutes; the last ones may still be
    // finishing (their chains run partly on the blocking pool, in real time).
    eventually(|| async { (f.cli.calls() == 80).then_some(()) }).await;
    let steps = seen.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        steps >= 3,
        "refreshes spread over several minutes, not one instant: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_resolution_re_anchors_the_timer() {
    let cli = two_tokens();
    cli.then_ok(&fly("third"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 23 + LATEST).await;
    eventually(|| async { (f.cli.calls() == 2).then_some(()) }).await;
    // The second token expires 24 h after 23 h 12 m; its refresh is due
    // from 46 h 12 m on.
    f.advance(HOUR * 23 - Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(f.cli.calls(), 2);
    f.advance(LATEST + Duration::from_secs(1)).await;
    eventually(|| async { (f.cli.calls() == 3).then_some(()) }).await;
}

#[tokio::test(start_paused = true)]
async fn a_zero_lead_disables_soft_expiry() {
    let f = Fixture::with(two_tokens(), |c| c.configure(|s| s.soft_expiry_lead(Duration::ZERO))).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 30).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(f.cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lead_not_shorter_than_the_lifetime_schedules_nothing() {
    let f = Fixture::with(two_tokens(), |c| c.configure(|s| s.ttl(HOUR).soft_expiry_lead(HOUR))).await;
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
    f.store_minted(&fly("stored"), T0 + 2 * 3_600).await;
    let (t, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (t.expect("stored").expose(), source),
        (fly("stored").as_str(), Source::Storage)
    );
    f.advance(HOUR + LATEST).await;
    eventually(|| async { f.tokens.cached("my-app").filter(|t| t.expose() == fly("fresh")) }).await;
    assert_eq!(f.cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_re_acquisition_keeps_the_current_token_and_retries_with_backoff() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("first"))
        .then_fail(1, "Error: boom")
        .then_fail(1, "Error: boom")
        .then_ok(&fly("second"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 23 + LATEST).await;
    eventually(|| async { (f.cli.calls() == 2).then_some(()) }).await;
    assert_eq!(f.tokens.cached("my-app").expect("still cached").expose(), fly("first"));
    // First retry 10–15 s later, the next 20–30 s after that.
    f.advance(Duration::from_secs(9)).await;
    tokio::task::yield_now().await;
    assert_eq!(f.cli.calls(), 2, "not before the backoff");
    f.advance(Duration::from_secs(6)).await;
    eventually(|| async { (f.cli.calls() == 3).then_some(()) }).await;
    assert_eq!(f.tokens.cached("my-app").expect("still served").expose(), fly("first"));
    f.advance(Duration::from_secs(19)).await;
    tokio::task::yield_now().await;
    assert_eq!(f.cli.calls(), 3, "the backoff doubled");
    f.advance(Duration::from_secs(11)).await;
    eventually(|| async { f.tokens.cached("my-app").filter(|t| t.expose() == fly("second")) }).await;
    assert_eq!(f.cli.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_real_expiry_and_the_token_is_served_until_then() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("first"));
    cli.always_fail(1, "Error: boom");
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("first");
    f.advance(HOUR * 23 + LATEST).await;
    eventually(|| async { (f.cli.calls() == 2).then_some(()) }).await;
    // To 23 h 52 m in 10-minute steps: each step lets exactly one retry
    // through (the waits, 10-15 s, 20-30 s, 40-60 s, 80-120 s, are all
    // shorter than a step, and each is counted from the last failure).
    for step in 1..=4 {
        f.advance(Duration::from_secs(10 * 60)).await;
        eventually(|| async { (f.cli.calls() == 2 + step).then_some(()) }).await;
        assert_eq!(
            f.tokens.cached("my-app").expect("served until expiry").expose(),
            fly("first")
        );
    }
    f.advance(HOUR).await; // past the real expiry
    assert!(f.tokens.cached("my-app").is_none(), "expired at its real expiry");
    // The retry pending at 23 h 52 m may still run (it is due before the
    // expiry); after it, none is scheduled.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let after = f.cli.calls();
    assert!(after <= 7, "{after}");
    f.advance(HOUR * 5).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(f.cli.calls(), after, "no retry once the token has expired");
}
