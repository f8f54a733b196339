//! `invalidate` and `refresh`: a rejected token never comes back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    Acquirer, AppName, ManualClock, MemoryStorage, Source, Storage, StorageError, StorageKey, TokenRecord, Tokens,
    TokensConfig,
};
use support::{eventually, fly, Fixture, T0};

#[tokio::test(start_paused = true)]
async fn invalidate_removes_the_entry_and_the_stored_copy_but_not_the_manual_one() {
    let cli = FakeCli::new();
    cli.then_ok(&fly("rejected")).then_ok(&fly("fresh"));
    let f = Fixture::with(cli, |c| c).await;
    f.store_manual("my-app", &fly("manual")).await;
    assert_eq!(f.tokens.get("my-app").await.expect("t1").expose(), fly("rejected"));
    // Let the background persist land first.
    eventually(|| async { f.stored("my-app", StorageKey::Cached).await }).await;

    f.tokens.invalidate("my-app").await.expect("invalidate");
    assert!(f.tokens.cached("my-app").is_none(), "table entry gone");
    assert!(
        f.stored("my-app", StorageKey::Cached).await.is_none(),
        "stored copy gone"
    );
    assert!(f.stored("my-app", StorageKey::Manual).await.is_some(), "manual kept");

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
    assert!(f.stored("my-app", StorageKey::Cached).await.is_none());
}

/// Storage whose puts take `delay` (tokio time) before they land.
struct SlowPuts {
    inner: MemoryStorage,
    delay: Duration,
}

#[async_trait]
impl Storage for SlowPuts {
    async fn get(&self, app: &AppName, key: StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.inner.get(app, key).await
    }
    async fn put(&self, app: &AppName, key: StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        tokio::time::sleep(self.delay).await;
        self.inner.put(app, key, record).await
    }
    async fn delete(&self, app: &AppName, key: StorageKey) -> Result<(), StorageError> {
        self.inner.delete(app, key).await
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
            .clock(ManualClock::new(T0)),
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
    let app = AppName::new("my-app").expect("valid");
    assert!(store.get(&app, StorageKey::Cached).await.expect("get").is_none());
    assert_eq!(tokens.get("my-app").await.expect("t2").expose(), fly("fresh"));
    tokens.shutdown().await;
    let rec = store
        .get(&app, StorageKey::Cached)
        .await
        .expect("get")
        .expect("t2 stored");
    assert_eq!(rec.token.expose(), fly("fresh"));
}

#[tokio::test(start_paused = true)]
async fn refresh_after_a_rejection_returns_a_new_token_not_the_stored_copy() {
    let f = Fixture::new(&fly("new")).await;
    f.store_cached("my-app", &fly("stored"), T0 + 3_600).await;
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
    let rec = f.stored("my-app", StorageKey::Cached).await.expect("stored");
    assert_eq!(rec.token.expose(), fly("new"), "the stored copy was replaced");
}

#[tokio::test(start_paused = true)]
async fn invalidate_of_an_unknown_app_starts_nothing() {
    let f = Fixture::new(&fly("cli")).await;
    f.tokens.invalidate("never-seen").await.expect("no-op");
    assert!(f.tokens.whereis("never-seen").is_none());
    assert!(f.tokens.running_apps().is_empty());
    assert_eq!((f.cli.calls(), f.store.gets()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn invalidate_without_a_server_still_deletes_the_stored_copy() {
    let f = Fixture::new(&fly("cli")).await;
    f.store_cached("my-app", &fly("rejected"), T0 + 3_600).await;
    f.tokens.invalidate("my-app").await.expect("invalidate");
    assert!(f.stored("my-app", StorageKey::Cached).await.is_none());
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
