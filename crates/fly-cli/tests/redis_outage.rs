//! Redis going away and coming back: every operation fails with
//! `Unavailable` within the configured timeouts (no panic, no hang), and
//! the same store and subscription work again once Redis is back.
#![cfg(feature = "redis")]

mod redis_support;

use std::time::{Duration, Instant};

use atlas_app_server::{AppName, StorageError, Token};
use atlas_fly_cli::{BroadcastEvent, RecordKey, RedisRecord, RedisSettings, RedisStore, SubscriptionState};
use tokio::sync::mpsc::unbounded_channel;

const WITHIN: Duration = Duration::from_secs(15);

fn scope() -> RecordKey {
    RecordKey::Scope("org:acme".into())
}

fn rec(token: &str) -> RedisRecord {
    RedisRecord {
        token: Token::new(token),
        expires_at: None,
        source: "cli".into(),
        scope: Some("org:acme".into()),
    }
}

/// Runs every kind of operation and checks each fails with `Unavailable`,
/// within a generous bound of `deadline` (10×: catches a hang, not a
/// slowness).
async fn all_unavailable(store: &RedisStore) {
    let bound = store.settings().operation_deadline() * 10;
    let manual = RecordKey::Manual(AppName::new("web").expect("app"));
    macro_rules! unavailable {
        ($what:literal, $op:expr) => {{
            let t0 = Instant::now();
            let result = $op.await;
            let took = t0.elapsed();
            match result {
                Err(StorageError::Unavailable(msg)) => {
                    assert!(msg.contains("127.0.0.1"), "{}: names the server: {msg}", $what)
                }
                other => panic!("{}: expected Unavailable, got {other:?}", $what),
            }
            assert!(took < bound, "{}: took {took:?}, bound {bound:?}", $what);
        }};
    }
    unavailable!("ping", store.ping());
    unavailable!("get", store.get(&scope()));
    unavailable!("put", store.put(&manual, &rec("fm2_m")));
    unavailable!("delete", store.delete(&scope()));
    unavailable!(
        "compare-and-delete",
        store.delete_if_token(&scope(), &Token::new("fm2_x"))
    );
    unavailable!("list", store.list());
    unavailable!("lease", store.try_lease("org:acme", Duration::from_secs(5)));
    unavailable!(
        "lease wait",
        store.lease("org:acme", Duration::from_secs(5), Duration::from_secs(5))
    );
    unavailable!("publish", store.publish_invalidation("org:acme"));
}

#[tokio::test]
async fn a_killed_server_is_unavailable_then_the_same_store_recovers() {
    let mut server = server!();
    let store = server.store("t:");
    store.put(&scope(), &rec("fm2_before")).await.expect("put while up");
    server.stop();
    all_unavailable(&store).await;
    server.restart();
    // No persistence in tests: the restarted server is empty, and answers.
    store.ping().await.expect("reconnected by itself");
    assert_eq!(store.get(&scope()).await.expect("get"), None);
    store.put(&scope(), &rec("fm2_after")).await.expect("put");
    assert_eq!(store.get(&scope()).await.expect("get"), Some(rec("fm2_after")));
}

#[tokio::test]
async fn a_store_made_while_redis_is_down_works_once_it_is_up() {
    let mut server = server!();
    server.stop();
    let store = server.store("t:");
    assert!(
        RedisStore::connect(server.settings("t:")).await.is_err(),
        "connect fails while down"
    );
    all_unavailable(&store).await;
    server.restart();
    store.put(&scope(), &rec("fm2_x")).await.expect("put once up");
    assert!(store.get(&scope()).await.expect("get").is_some());
}

#[tokio::test]
async fn a_hung_server_times_out_instead_of_hanging() {
    let server = server!();
    let store = server.store("t:");
    store.ping().await.expect("up");
    server.pause();
    all_unavailable(&store).await;
    server.resume();
    store.ping().await.expect("answers again after the pause");
    store.put(&scope(), &rec("fm2_thawed")).await.expect("put");
    assert_eq!(store.get(&scope()).await.expect("get"), Some(rec("fm2_thawed")));
}

#[tokio::test]
async fn the_error_never_shows_the_password() {
    let server = match redis_support::RedisServer::start_with(redis_support::Options {
        tcp: true,
        args: vec!["--requirepass".into(), "s3cret-pw".into()],
        ..Default::default()
    }) {
        Some(s) => s,
        None => return,
    };
    let store = |pw: &str| {
        let url = format!("redis://:{pw}@127.0.0.1:{}/0", server.port());
        let settings = RedisSettings::new(url.parse().expect("url")).connect_timeout(Duration::from_millis(500));
        RedisStore::new(settings).expect("store")
    };
    let good = store("s3cret-pw");
    good.put(&scope(), &rec("fm2_ok")).await.expect("right password works");
    let bad = store("wr0ng-pw");
    match bad.get(&scope()).await {
        Err(StorageError::Unavailable(msg)) => {
            assert!(!msg.contains("wr0ng-pw"), "{msg}");
            assert!(
                msg.contains("redis://:***@127.0.0.1"),
                "names the server, masked: {msg}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!format!("{bad:?}").contains("wr0ng-pw"));
}

#[tokio::test]
async fn the_subscription_comes_back_and_reports_a_resync() {
    let mut server = server!();
    let (publisher, listener) = (server.store("t:"), server.store("t:"));
    let (tx, mut rx) = unbounded_channel();
    let sub = listener.subscribe(move |e| {
        let _ = tx.send(e);
    });
    assert!(sub.wait_subscribed(WITHIN).await);
    server.stop();
    let down = redis_support::eventually(WITHIN, || sub.state() != SubscriptionState::Subscribed).await;
    assert!(down, "the loss is noticed");
    server.restart();
    assert!(sub.wait_subscribed(WITHIN).await, "subscribed again by itself");
    let event = tokio::time::timeout(WITHIN, rx.recv()).await.expect("in time");
    assert_eq!(
        event,
        Some(BroadcastEvent::Resynced),
        "told to drop what it may have missed"
    );
    publisher.publish_invalidation("org:acme").await.expect("publish");
    let event = tokio::time::timeout(WITHIN, rx.recv()).await.expect("in time");
    assert!(matches!(event, Some(BroadcastEvent::Invalidated { scope, .. }) if scope == "org:acme"));
}

#[tokio::test]
async fn a_subscription_started_while_redis_is_down_resyncs_when_it_comes_up() {
    let mut server = server!();
    server.stop();
    let listener = server.store("t:");
    let (tx, mut rx) = unbounded_channel();
    let sub = listener.subscribe(move |e| {
        let _ = tx.send(e);
    });
    assert!(
        !sub.wait_subscribed(Duration::from_millis(300)).await,
        "cannot subscribe while down"
    );
    server.restart();
    assert!(sub.wait_subscribed(WITHIN).await);
    let event = tokio::time::timeout(WITHIN, rx.recv()).await.expect("in time");
    assert_eq!(event, Some(BroadcastEvent::Resynced));
}

#[tokio::test]
async fn the_first_operation_after_redis_is_back_already_works() {
    let mut server = server!();
    let store = server.store("t:");
    store.put(&scope(), &rec("fm2_before")).await.expect("put while up");
    server.stop();
    // Fail, and leave the manager's failed reconnect behind.
    for _ in 0..3 {
        assert!(store.get(&scope()).await.is_err());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.restart();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    store
        .put(&scope(), &rec("fm2_after"))
        .await
        .expect("the very first operation");
}
