//! The invalidation broadcast against a real `redis-server`: delivery across
//! connections, fan-out, and what is not delivered.
#![cfg(feature = "redis")]

mod redis_support;

use std::time::Duration;

use atlas_fly_cli::{BroadcastEvent, RedisStore, Subscription};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const WITHIN: Duration = Duration::from_secs(10);

/// A subscription whose events land in a channel, once it is subscribed.
async fn listen(store: &RedisStore) -> (Subscription, UnboundedReceiver<BroadcastEvent>) {
    let (tx, rx) = unbounded_channel();
    let sub = store.subscribe(move |e| {
        let _ = tx.send(e);
    });
    assert!(sub.wait_subscribed(WITHIN).await, "subscribed");
    (sub, rx)
}

async fn next(rx: &mut UnboundedReceiver<BroadcastEvent>) -> BroadcastEvent {
    tokio::time::timeout(WITHIN, rx.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

/// Nothing arrives for a while (a publish that should not be heard has had
/// ample time: a later message, sent after it on the same channel, arrived).
async fn nothing_before(rx: &mut UnboundedReceiver<BroadcastEvent>, marker: &str) {
    match next(rx).await {
        BroadcastEvent::Invalidated { scope, .. } if scope == marker => {}
        other => panic!("expected only the marker {marker}, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalidation_reaches_another_connection() {
    let server = server!();
    let (publisher, listener) = (server.store("t:"), server.store("t:"));
    let (_sub, mut rx) = listen(&listener).await;
    let heard = publisher.publish_invalidation("org:acme").await.expect("publish");
    assert_eq!(heard, 1);
    assert_eq!(
        next(&mut rx).await,
        BroadcastEvent::Invalidated {
            scope: "org:acme".into(),
            origin: publisher.origin().to_owned()
        }
    );
}

#[tokio::test]
async fn every_subscribed_stack_hears_it() {
    let server = server!();
    let publisher = server.store("t:");
    let stacks: Vec<RedisStore> = (0..3).map(|_| server.store("t:")).collect();
    let mut subs = Vec::new();
    for s in &stacks {
        subs.push(listen(s).await);
    }
    assert_eq!(publisher.publish_invalidation("app:web").await.expect("publish"), 3);
    for (_, rx) in &mut subs {
        assert!(matches!(next(rx).await, BroadcastEvent::Invalidated { scope, .. } if scope == "app:web"));
    }
}

#[tokio::test]
async fn a_stack_does_not_hear_its_own_invalidations() {
    let server = server!();
    let (me, other) = (server.store("t:"), server.store("t:"));
    let (_sub, mut rx) = listen(&me).await;
    assert_eq!(me.publish_invalidation("org:mine").await.expect("publish"), 1, "sent");
    other.publish_invalidation("org:marker").await.expect("publish");
    nothing_before(&mut rx, "org:marker").await;
}

#[tokio::test]
async fn other_prefixes_and_unreadable_messages_are_not_delivered() {
    let server = server!();
    let (mine, foreign) = (server.store("t:"), server.store("u:"));
    let (_sub, mut rx) = listen(&mine).await;
    foreign.publish_invalidation("org:foreign").await.expect("publish");
    server.raw(&["PUBLISH", "t:invalidate", "not json"]);
    server.raw(&[
        "PUBLISH",
        "t:invalidate",
        r#"{"v":2,"scope":"org:future","origin":"x"}"#,
    ]);
    server.raw(&["PUBLISH", "t:invalidate", r#"{"v":1,"scope":"","origin":"x"}"#]);
    server
        .store("t:")
        .publish_invalidation("org:marker")
        .await
        .expect("publish");
    nothing_before(&mut rx, "org:marker").await;
}

#[tokio::test]
async fn dropping_the_subscription_unsubscribes() {
    let server = server!();
    let (publisher, listener) = (server.store("t:"), server.store("t:"));
    let (sub, _rx) = listen(&listener).await;
    drop(sub);
    let gone = redis_support::eventually(WITHIN, || {
        server.raw(&["PUBSUB", "NUMSUB", "t:invalidate"]) == "t:invalidate\n0"
    })
    .await;
    assert!(gone, "the pub/sub connection is closed");
    assert_eq!(publisher.publish_invalidation("org:acme").await.expect("publish"), 0);
}
