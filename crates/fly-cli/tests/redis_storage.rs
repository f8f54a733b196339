//! `RedisStore` behind the stack's `Storage` seam, against a real
//! `redis-server`: the shared conformance suite, `lock_scope` as the
//! fleet-wide lease, and the invalidation feed.
#![cfg(feature = "redis")]

mod redis_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use atlas_app_server::{Invalidation, InvalidationFeed, OrgName, Scope, Storage, StorageKey, Token, TokenRecord};
use atlas_fly_cli::RedisStore;
use redis_support::{redis_server_bin, RedisServer};

const WITHIN: Duration = Duration::from_secs(10);

/// One server for every check of this binary (each store under a prefix of
/// its own); `None` when there is no `redis-server`.
fn shared() -> Option<&'static RedisServer> {
    static SERVER: OnceLock<Option<RedisServer>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        redis_server_bin()?;
        RedisServer::start()
    });
    if server.is_none() {
        // Reports this test as skipped, by name (or panics under CI=true).
        redis_server_bin();
    }
    server.as_ref()
}

/// A store on the shared server under a fresh prefix.
fn fresh(server: &RedisServer) -> RedisStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    server.store(&format!("conf{}:", N.fetch_add(1, Ordering::Relaxed)))
}

/// One `#[tokio::test]` per conformance check (the macro of
/// `atlas_app_server` cannot skip when `redis-server` is missing).
macro_rules! conformance {
    ($($check:ident)*) => {
        const OURS: &[&str] = &[$(stringify!($check)),*];
        mod conformance {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(server) = shared() else { return };
                    atlas_app_server::testing::conformance_each::$check(&fresh(server)).await;
                }
            )*
        }
    };
}

conformance! {
    absent_is_none put_then_get put_overwrites delete_removes delete_absent_is_ok
    delete_if_compares_the_token an_org_and_an_app_of_one_name_never_collide
    minted_and_manual_are_independent scopes_are_independent source_and_scope_round_trip
    expiry_round_trips an_expired_minted_record_reads_back_or_is_gone token_bytes_round_trip
    longest_names many_scopes lock_scope_is_granted failure_notes_read_back_when_kept
}

#[test]
fn every_conformance_check_runs_here() {
    assert_eq!(OURS, atlas_app_server::testing::CHECKS);
}

fn acme() -> Scope {
    Scope::Org(OrgName::new("acme").expect("org"))
}

#[tokio::test]
async fn a_failure_note_is_kept_beside_the_lease_for_an_hour() {
    let Some(server) = shared() else { return };
    let store = server.store("note:");
    let note = atlas_app_server::FailureNote::now(atlas_app_server::CliFinding::Exited {
        code: 1,
        stderr: "Error: not logged in".into(),
    });
    Storage::note_failure(&store, &acme(), Some(&note)).await.expect("note");
    let ttl: i64 = server.raw(&["PTTL", "note:failure:org:acme"]).parse().expect("ms");
    assert!(ttl > 3_590_000 && ttl <= 3_600_000, "{ttl} ms left");
    assert_eq!(Storage::failure_note(&store, &acme()).await.expect("read"), Some(note));
    // Damage reads as no note.
    server.raw(&["SET", "note:failure:org:acme", "{torn"]);
    assert_eq!(Storage::failure_note(&store, &acme()).await.expect("read"), None);
}

#[tokio::test]
async fn a_minted_record_expires_in_redis_with_its_token() {
    let Some(server) = shared() else { return };
    let store = server.store("expiry:");
    let key = StorageKey::Minted(acme());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let rec = TokenRecord::minted(acme(), Token::new("FlyV1 fm2_x"), now + 600);
    Storage::put(&store, &key, rec).await.expect("put");
    let ttl: i64 = server.raw(&["PTTL", "expiry:scope:org:acme"]).parse().expect("ms");
    assert!(ttl > 590_000 && ttl <= 600_000, "PXAT at expires_at: {ttl} ms left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_scope_is_one_lease_for_every_store_of_the_fleet() {
    let Some(server) = shared() else { return };
    let (a, b) = (server.store("lease:"), server.store("lease:"));
    let held = a.lock_scope(&acme()).await.expect("lock");
    assert!(held.is_held(), "a lease in Redis, not a local one");
    let owner = server.raw(&["GET", "lease:lease:org:acme"]);
    assert!(owner.contains(&std::process::id().to_string()), "{owner}");
    let waiter = tokio::spawn(async move { b.lock_scope(&acme()).await.map(|l| l.is_held()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the other machine waits while the lease is held");
    drop(held);
    let taken = tokio::time::timeout(WITHIN, waiter)
        .await
        .expect("in time")
        .expect("task");
    assert!(taken.expect("lock"), "then takes the lease itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_is_let_go_once_the_holder_wrote_the_record() {
    let Some(server) = shared() else { return };
    let (a, b) = (server.store("written:"), server.store("written:"));
    let held = a.lock_scope(&acme()).await.expect("lock");
    let waiter = tokio::spawn(async move { b.lock_scope(&acme()).await.map(|l| l.is_held()) });
    let rec = TokenRecord::minted(acme(), Token::new("FlyV1 fm2_w"), 4_000_000_000);
    Storage::put(&a, &StorageKey::Minted(acme()), rec).await.expect("put");
    let taken = tokio::time::timeout(WITHIN, waiter)
        .await
        .expect("in time")
        .expect("task");
    assert!(!taken.expect("lock"), "a local lease: the record is there to be read");
    drop(held);
}

async fn next(feed: &mut InvalidationFeed) -> Invalidation {
    tokio::time::timeout(WITHIN, feed.recv())
        .await
        .expect("an event in time")
        .expect("feed open")
}

#[tokio::test]
async fn invalidations_reach_the_other_stores_feeds_not_the_publishers() {
    let Some(server) = shared() else { return };
    let (a, b) = (server.store("feed:"), server.store("feed:"));
    let mut a_feed = a.subscribe_invalidations().expect("redis broadcasts");
    let mut b_feed = b.subscribe_invalidations().expect("redis broadcasts");
    // Subscribed once a probe published from a third store arrives.
    let probe = server.store("feed:");
    let app = Scope::parse("app:probe").expect("scope");
    let subscribed = async {
        loop {
            Storage::publish_invalidation(&probe, &app).await.expect("publish");
            if tokio::time::timeout(Duration::from_millis(100), b_feed.recv())
                .await
                .is_ok()
            {
                break;
            }
        }
    };
    tokio::time::timeout(WITHIN, subscribed).await.expect("subscribed");
    while tokio::time::timeout(Duration::from_millis(200), a_feed.recv())
        .await
        .is_ok()
    {}
    while tokio::time::timeout(Duration::from_millis(200), b_feed.recv())
        .await
        .is_ok()
    {}
    Storage::publish_invalidation(&a, &acme()).await.expect("publish");
    assert_eq!(next(&mut b_feed).await, Invalidation::Scope(acme()));
    Storage::publish_invalidation(&probe, &app).await.expect("publish");
    assert_eq!(
        next(&mut a_feed).await,
        Invalidation::Scope(app),
        "the publisher does not hear its own"
    );
}

#[tokio::test]
async fn a_feed_reports_a_resync_after_redis_came_back() {
    let Some(mut server) = RedisServer::start() else { return };
    let store = server.store("resync:");
    let mut feed = store.subscribe_invalidations().expect("redis broadcasts");
    let probe = server.store("resync:");
    let subscribed = async {
        loop {
            Storage::publish_invalidation(&probe, &acme()).await.expect("publish");
            if tokio::time::timeout(Duration::from_millis(100), feed.recv())
                .await
                .is_ok()
            {
                break;
            }
        }
    };
    tokio::time::timeout(WITHIN, subscribed).await.expect("subscribed");
    server.restart();
    loop {
        if next(&mut feed).await == Invalidation::Resynced {
            break;
        }
    }
}
