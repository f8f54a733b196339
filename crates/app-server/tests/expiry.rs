//! A token's own expiry caps `expires_at` for every source (SPEC.md §5).

mod support;

use std::time::Duration;

use atlas_app_server::testing::{token_with_expiry, FakeCli};
use atlas_app_server::{CliFinding, ManualFinding, Source, StorageFinding, Token, UserTokenFinding, EXPIRY_SKEW_SECS};
use support::{fly, Fixture, T0};

#[tokio::test(start_paused = true)]
async fn a_minted_token_is_cached_no_longer_than_its_own_expiry() {
    let short = token_with_expiry("short", T0 + 7_200);
    let f = Fixture::new(&short).await;
    assert_eq!(f.tokens.get("my-app").await.expect("token").expose(), short);
    f.tokens.shutdown().await;
    let rec = f.stored_minted().await.expect("stored");
    assert_eq!(
        rec.expires_at,
        Some(T0 + 7_200 - EXPIRY_SKEW_SECS),
        "capped, not now + 24 h"
    );
}

#[tokio::test(start_paused = true)]
async fn a_minted_token_leaves_the_table_at_its_own_expiry() {
    let cli = FakeCli::new();
    cli.then_ok(&token_with_expiry("short", T0 + 600)).then_ok(&fly("next"));
    let f = Fixture::with(cli, |c| c.configure(|s| s.soft_expiry_lead(Duration::ZERO))).await;
    f.tokens.get("my-app").await.expect("short");
    f.advance(Duration::from_secs(600 - 60)).await;
    assert!(
        f.tokens.cached("my-app").is_none(),
        "gone a skew margin before its not_after"
    );
    assert_eq!(f.tokens.get("my-app").await.expect("next").expose(), fly("next"));
}

#[tokio::test(start_paused = true)]
async fn a_cli_token_already_expired_is_a_miss() {
    let f = Fixture::new(&token_with_expiry("dead", T0 + 30)).await;
    let err = f.tokens.get("my-app").await.expect_err("expired");
    assert_eq!(err.no_token_report().expect("report").cli, CliFinding::AlreadyExpired);
}

#[tokio::test(start_paused = true)]
async fn a_stored_record_past_its_tokens_expiry_is_a_miss_on_read() {
    let f = Fixture::new(&fly("cli")).await;
    // The record says a day; the token inside says it died a minute ago.
    f.store_minted(&token_with_expiry("stale", T0 - 60), T0 + 86_400).await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (token.expect("cli").expose(), source),
        (fly("cli").as_str(), Source::Cli)
    );

    let f = Fixture::new(&fly("cli")).await;
    f.store_minted(&token_with_expiry("stale", T0 - 60), T0 + 86_400).await;
    f.cli.always_fail(1, "Error: boom");
    let err = f.tokens.get("my-app").await.expect_err("nothing");
    assert_eq!(
        err.no_token_report().expect("report").storage,
        StorageFinding::Expired {
            expires_at: Some(T0 - 60 - EXPIRY_SKEW_SECS)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_manual_token_past_its_own_expiry_is_reported_expired_and_not_served() {
    let cli = FakeCli::new();
    cli.always_fail(1, "Error: boom");
    let f = Fixture::with(cli, |c| c).await;
    f.store_manual("my-app", &token_with_expiry("m", T0 + 120)).await;
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(source, Source::Manual, "served while valid");
    token.expect("manual");
    f.advance(Duration::from_secs(120 - 60)).await;
    let err = f.tokens.get("my-app").await.expect_err("expired");
    assert_eq!(
        err.no_token_report().expect("report").manual,
        ManualFinding::Expired { at: T0 + 120 - 60 }
    );
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_users_own_token_is_capped_too() {
    let mine = token_with_expiry("mine", T0 + 90);
    let m = mine.clone();
    let f = Fixture::with(FakeCli::succeeding(&fly("cli")), move |c| {
        c.config_file_fn(move || Some(Token::new(&m)))
            .configure(|s| s.user_token_ttl(Duration::from_secs(600)))
    })
    .await;
    assert_eq!(f.tokens.get("my-app").await.expect("mine").expose(), mine);
    f.advance(Duration::from_secs(30)).await; // T0 + 30 = its not_after less the skew
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (token.expect("cli").expose(), source),
        (fly("cli").as_str(), Source::Cli)
    );

    let f = Fixture::with(FakeCli::new(), {
        let mine = mine.clone();
        move |c| c.config_file_fn(move || Some(Token::new(&mine)))
    })
    .await;
    f.advance(Duration::from_secs(60)).await;
    let err = f.tokens.get("my-app").await.expect_err("expired and no CLI");
    assert_eq!(
        err.no_token_report().expect("report").user_token,
        UserTokenFinding::Expired
    );
}
