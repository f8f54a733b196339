//! `invalidate` and `refresh`: a rejected token never comes back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    Acquirer, ManualClock, MemoryStorage, Source, Storage, StorageError, StorageKey, Token, TokenError, TokenRecord,
    Tokens, TokensConfig,
};
use support::{eventually, fly, manual, minted, org, Fixture, T0};

#[tokio::test(start_paused = true)]
async fn invalidate_removes_the_entry_and_the_stored_copy_but_not_the_manual_one() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("rejected")).then_ok(&fly("fresh"));
    let f = Fixture::with(cli, |c| c).await;
    f.store_manual("my-app", &fly("manual")).await;
    assert_eq!(f.tokens.get("my-app").await.expect("t1").expose(), fly("rejected"));
    // Let the background persist land first.
    eventually(|| async { f.stored_minted().await }).await;

    f.tokens.invalidate("my-app").await.expect("invalidate");
    assert!(f.tokens.cached("my-app").is_none(), "table entry gone");
    assert!(f.stored_minted().await.is_none(), "stored copy gone");
    assert!(f.stored(&manual("my-app")).await.is_some(), "manual kept");

    // The next get does not bring the rejected token back from storage.
    let (token, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(token.expect("t2").expose(), fly("fresh"));
    assert_eq!(source, Source::Cli);
}

#[tokio::test(start_paused = true)]
async fn a_persist_queued_before_invalidate_never_lands_after_it() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("rejected"));
    let f = Fixture::with(cli, |c| c).await;
    // The persist is queued on the task supervisor but has not run yet
    // (this task has not yielded since the get returned).
    f.tokens.get("my-app").await.expect("t1");
    f.tokens.invalidate("my-app").await.expect("invalidate");
    f.tokens.shutdown().await; // every queued persist has run or been skipped
    assert!(f.stored_minted().await.is_none());
}

/// Storage whose puts take `delay` (tokio time) before they land.
struct SlowPuts {
    inner: MemoryStorage,
    delay: Duration,
}

#[async_trait]
impl Storage for SlowPuts {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        tokio::time::sleep(self.delay).await;
        self.inner.put(key, record).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.inner.delete_if(key, token).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_persist_in_flight_during_invalidate_is_ordered_before_it() {
    let store = Arc::new(SlowPuts {
        inner: MemoryStorage::new(),
        delay: Duration::from_secs(1),
    });
    let cli = FakeCli::new();
    cli.then_ok(&fly("rejected")).then_ok(&fly("fresh"));
    let tokens = Tokens::start(
        TokensConfig::default()
            .cmd_fn(cli.clone())
            .storage(store.clone())
            .clock(ManualClock::new(T0))
            .configure(|s| s.org(org("acme"))),
    )
    .await
    .expect("starts");
    tokens.get("my-app").await.expect("t1");
    tokio::task::yield_now().await; // the persist starts and waits in `put`
    let started = tokio::time::Instant::now();
    tokens.invalidate("my-app").await.expect("invalidate");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "invalidate waited for the in-flight persist"
    );
    assert!(store.get(&minted()).await.expect("get").is_none());
    assert_eq!(tokens.get("my-app").await.expect("t2").expose(), fly("fresh"));
    tokens.shutdown().await;
    let rec = store.get(&minted()).await.expect("get").expect("t2 stored");
    assert_eq!(rec.token.expose(), fly("fresh"));
}

#[tokio::test(start_paused = true)]
async fn refresh_after_a_rejection_returns_a_new_token_not_the_stored_copy() {
    let f = Fixture::new(&fly("new")).await;
    f.store_minted(&fly("stored"), T0 + 3_600).await;
    let (t1, source, _) = f.tokens.get_traced("my-app").await;
    assert_eq!(
        (t1.expect("stored").expose(), source),
        (fly("stored").as_str(), Source::Storage)
    );

    let t2 = f.tokens.refresh("my-app").await.expect("refreshed");
    assert_eq!(t2.expose(), fly("new"));
    assert_eq!(f.cli.calls(), 1);
    assert_eq!(f.tokens.cached("my-app").expect("cached").expose(), fly("new"));
    f.tokens.shutdown().await;
    let rec = f.stored_minted().await.expect("stored");
    assert_eq!(rec.token.expose(), fly("new"), "the stored copy was replaced");
}

#[tokio::test(start_paused = true)]
async fn invalidate_of_an_unknown_app_starts_nothing() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.invalidate("never-seen").await.expect("no-op");
    assert!(f.tokens.whereis("never-seen").is_none());
    assert!(f.tokens.running_apps().is_empty());
    assert_eq!(f.cli.calls(), 0);
    assert!(f.store.gets() <= 1, "at most a look at the stored record");
    assert_eq!(f.store.puts(), 0);
}

#[tokio::test(start_paused = true)]
async fn invalidate_without_a_server_still_deletes_the_stored_copy() {
    let f = Fixture::new(&fly("cli")).await;
    f.store_minted(&fly("rejected"), T0 + 3_600).await;
    f.tokens.invalidate("my-app").await.expect("invalidate");
    assert!(f.stored_minted().await.is_none());
    assert!(f.tokens.whereis("my-app").is_none(), "no server was started");
}

#[tokio::test(start_paused = true)]
async fn refresh_is_atomic() {
    let cli = FakeCli::new().with_delay(Duration::from_secs(5));
    cli.then_ok(&fly("old")).then_ok(&fly("new"));
    let f = Fixture::with(cli, |c| c).await;
    assert_eq!(f.tokens.get("my-app").await.expect("old").expose(), fly("old"));

    let refresh = tokio::spawn({
        let tokens = f.tokens.clone();
        async move { tokens.refresh("my-app").await }
    });
    // The refresh is inside the CLI call now.
    eventually(|| async { (f.cli.calls() == 2).then_some(()) }).await;
    assert!(
        f.tokens.cached("my-app").is_none(),
        "the old token is gone from the table"
    );
    let (during, source, acquirer) = f.tokens.get_traced("my-app").await;
    assert_eq!(during.expect("waits for the refresh").expose(), fly("new"));
    assert_eq!((source, acquirer), (Source::Cache, Acquirer::AppServer), "coalesced");
    assert_eq!(refresh.await.expect("joins").expect("new").expose(), fly("new"));
    assert_eq!(f.cli.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_refreshes_share_one_cli_call() {
    let cli = FakeCli::new().with_delay(Duration::from_secs(1));
    cli.then_ok(&fly("old")).then_ok(&fly("new"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("old");
    let refreshes: Vec<_> = (0..5)
        .map(|_| {
            let tokens = f.tokens.clone();
            tokio::spawn(async move { tokens.refresh("my-app").await })
        })
        .collect();
    for r in refreshes {
        assert_eq!(r.await.expect("joins").expect("new").expose(), fly("new"));
    }
    assert_eq!(f.cli.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn refresh_drops_the_scope_token_for_every_app_of_the_org_and_mints_once() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("old")).then_ok(&fly("new"));
    let f = Fixture::with(cli, |c| c).await;
    for app in ["app-a", "app-b", "app-c"] {
        assert_eq!(f.tokens.get(app).await.expect("old").expose(), fly("old"));
    }
    assert_eq!(f.cli.calls(), 1, "one token for the whole org");
    eventually(|| async { f.stored_minted().await }).await;

    assert_eq!(f.tokens.refresh("app-a").await.expect("new").expose(), fly("new"));
    for app in ["app-b", "app-c"] {
        assert!(
            f.tokens.cached(app).is_none_or(|t| t.expose() == fly("new")),
            "{app} no longer holds the rejected token"
        );
        let (token, source, _) = f.tokens.get_traced(app).await;
        assert_eq!(
            (token.expect("new").expose(), source),
            (fly("new").as_str(), Source::Cache)
        );
    }
    assert_eq!(f.cli.calls(), 2, "re-acquired once for the org");
    f.tokens.shutdown().await;
    assert_eq!(f.stored_minted().await.expect("stored").token.expose(), fly("new"));
}

#[tokio::test(start_paused = true)]
async fn concurrent_refreshes_of_two_apps_of_one_org_mint_once() {
    let cli = FakeCli::new().with_delay(Duration::from_secs(1));
    cli.then_ok(&fly("old")).then_ok(&fly("new")).then_ok(&fly("newer"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("app-a").await.expect("old");
    f.tokens.get("app-b").await.expect("old");
    let (a, b) = tokio::join!(f.tokens.refresh("app-a"), f.tokens.refresh("app-b"));
    assert_eq!(a.expect("a").expose(), fly("new"));
    assert_eq!(
        b.expect("b").expose(),
        fly("new"),
        "the second refresh takes the first one's token"
    );
    assert_eq!(f.cli.calls(), 2);
    f.tokens.shutdown().await;
    assert_eq!(
        f.stored_minted().await.expect("stored").token.expose(),
        fly("new"),
        "neither refresh deleted the other's fresh token"
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_never_deletes_a_fresh_token_another_process_stored() {
    let f = Fixture::new(&fly("cli")).await;
    f.store_minted(&fly("old"), T0 + 3_600).await;
    assert_eq!(f.tokens.get("my-app").await.expect("old").expose(), fly("old"));
    // Another process refreshed meanwhile and stored its fresh token.
    f.store_minted(&fly("theirs"), T0 + 7_200).await;
    let token = f.tokens.refresh("my-app").await;
    assert_eq!(
        token.expect("theirs").expose(),
        fly("theirs"),
        "a newer stored token is taken"
    );
    assert_eq!(f.cli.calls(), 0);
    assert_eq!(f.stored_minted().await.expect("kept").token.expose(), fly("theirs"));
}

#[tokio::test(start_paused = true)]
async fn refresh_reports_a_failed_delete_instead_of_ignoring_it() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("rejected")).then_ok(&fly("new"));
    let f = Fixture::with(cli, |c| c).await;
    f.tokens.get("my-app").await.expect("rejected");
    eventually(|| async { f.stored_minted().await }).await;
    f.store.fail_deletes(true);
    let err = f.tokens.refresh("my-app").await.expect_err("the delete failed");
    assert!(matches!(err, TokenError::Storage(_)), "{err}");
    assert!(
        f.tokens.cached("my-app").is_none(),
        "the rejected token left the table anyway"
    );
    assert_eq!(f.cli.calls(), 1, "no new token hides the stale stored one");
}

#[tokio::test(start_paused = true)]
async fn invalidate_in_a_fresh_stack_deletes_the_scope_record() {
    // A fresh `fly-tokens invalidate APP`: no server, nothing in the table.
    let f = Fixture::new(&fly("cli")).await;
    f.store_minted(&fly("rejected"), T0 + 3_600).await;
    f.tokens.invalidate("any-app-of-acme").await.expect("invalidate");
    assert!(f.stored_minted().await.is_none(), "the org's record is gone");
    assert!(f.tokens.running_apps().is_empty());
}

#[tokio::test(start_paused = true)]
async fn invalidate_just_after_a_kill_still_deletes() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.get("my-app").await.expect("token");
    eventually(|| async { f.stored_minted().await }).await;
    let server = f.tokens.whereis("my-app").expect("running");
    server.kill();
    // The killed server's registry entry may still be there.
    f.tokens.invalidate("my-app").await.expect("not ServerDown");
    assert!(f.stored_minted().await.is_none());
    assert!(f.tokens.cached("my-app").is_none());
}
