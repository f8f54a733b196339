//! The Redis store against a real `redis-server`: records, Redis's own
//! expiry, compare-and-delete, listing, and the lease.
#![cfg(feature = "redis")]

mod redis_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atlas_app_server::{AppName, StorageError, Token};
use atlas_fly_cli::{CompareDelete, LeaseWait, RecordKey, RedisRecord, RedisStore};
use redis_support::eventually;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn scope(s: &str) -> RecordKey {
    RecordKey::Scope(s.into())
}

fn manual(app: &str) -> RecordKey {
    RecordKey::Manual(AppName::new(app).expect("app"))
}

fn rec(token: &str, expires_at: Option<i64>) -> RedisRecord {
    RedisRecord {
        token: Token::new(token),
        expires_at,
        source: "cli".into(),
        scope: Some("org:acme".into()),
    }
}

#[tokio::test]
async fn records_round_trip_and_overwrite() {
    let server = server!();
    let store = server.store("t:");
    let later = Some(now() + 3600);
    assert_eq!(store.get(&scope("org:acme")).await.expect("get"), None);
    store
        .put(&scope("org:acme"), &rec("fm2_one", later))
        .await
        .expect("put");
    assert_eq!(
        store.get(&scope("org:acme")).await.expect("get"),
        Some(rec("fm2_one", later))
    );
    store
        .put(&scope("org:acme"), &rec("fm2_two", later))
        .await
        .expect("put");
    assert_eq!(
        store.get(&scope("org:acme")).await.expect("get"),
        Some(rec("fm2_two", later))
    );
    let mut m = rec("fm2_manual", None);
    m.source = "manual".into();
    m.scope = None;
    store.put(&manual("web"), &m).await.expect("put");
    assert_eq!(store.get(&manual("web")).await.expect("get"), Some(m));
    store.delete(&scope("org:acme")).await.expect("delete");
    store
        .delete(&scope("org:acme"))
        .await
        .expect("delete of an absent record is fine");
    assert_eq!(store.get(&scope("org:acme")).await.expect("get"), None);
    assert!(
        store.get(&manual("web")).await.expect("get").is_some(),
        "other keys untouched"
    );
}

#[tokio::test]
async fn a_scope_and_an_app_of_one_name_are_two_records() {
    let server = server!();
    let store = server.store("t:");
    store
        .put(&scope("acme"), &rec("fm2_scope", Some(now() + 60)))
        .await
        .expect("put");
    store.put(&manual("acme"), &rec("fm2_app", None)).await.expect("put");
    assert_eq!(
        store
            .get(&scope("acme"))
            .await
            .expect("get")
            .expect("scope")
            .token
            .expose(),
        "fm2_scope"
    );
    assert_eq!(
        store
            .get(&manual("acme"))
            .await
            .expect("get")
            .expect("app")
            .token
            .expose(),
        "fm2_app"
    );
    assert_eq!(server.raw(&["EXISTS", "t:scope:acme", "t:manual:acme"]), "2");
}

#[tokio::test]
async fn scope_records_carry_redis_expiry_and_manual_ones_none() {
    let server = server!();
    let store = server.store("t:");
    let at = now() + 3600;
    store
        .put(&scope("org:acme"), &rec("fm2_c", Some(at)))
        .await
        .expect("put");
    let expires_ms: i64 = server.raw(&["PEXPIRETIME", "t:scope:org:acme"]).parse().expect("ms");
    assert_eq!(expires_ms, at * 1000, "PXAT at the record's expires_at");
    // A manual record never expires in Redis, whatever its expires_at says.
    store.put(&manual("web"), &rec("fm2_m", Some(at))).await.expect("put");
    assert_eq!(server.raw(&["PTTL", "t:manual:web"]), "-1");
    // Overwriting a scope record with one that has no expiry drops the TTL.
    store.put(&scope("org:acme"), &rec("fm2_c", None)).await.expect("put");
    assert_eq!(server.raw(&["PTTL", "t:scope:org:acme"]), "-1");
}

#[tokio::test]
async fn an_expiring_record_disappears_by_itself() {
    let server = server!();
    let store = server.store("t:");
    store
        .put(&scope("org:soon"), &rec("fm2_soon", Some(now() + 2)))
        .await
        .expect("put");
    let ttl: i64 = server.raw(&["PTTL", "t:scope:org:soon"]).parse().expect("pttl");
    assert!(ttl > 0 && ttl <= 2000, "PTTL {ttl}");
    let store2 = store.clone();
    let gone = eventually(Duration::from_secs(20), || {
        server.raw(&["EXISTS", "t:scope:org:soon"]) == "0"
    })
    .await;
    assert!(gone, "Redis expired the key");
    assert_eq!(store2.get(&scope("org:soon")).await.expect("get"), None);
}

#[tokio::test]
async fn an_already_expired_record_is_deleted_not_stored() {
    let server = server!();
    let store = server.store("t:");
    store
        .put(&scope("org:x"), &rec("fm2_old", Some(now() + 60)))
        .await
        .expect("put");
    store
        .put(&scope("org:x"), &rec("fm2_stale", Some(now() - 10)))
        .await
        .expect("put");
    assert_eq!(store.get(&scope("org:x")).await.expect("get"), None);
    store
        .put(&scope("org:y"), &rec("fm2_zero", Some(0)))
        .await
        .expect("put at epoch");
    assert_eq!(server.raw(&["EXISTS", "t:scope:org:y"]), "0");
}

#[tokio::test]
async fn compare_and_delete_only_removes_the_given_token() {
    let server = server!();
    let store = server.store("t:");
    let key = scope("org:acme");
    assert_eq!(
        store.delete_if_token(&key, &Token::new("fm2_a")).await.expect("cad"),
        CompareDelete::Absent
    );
    store.put(&key, &rec("fm2_fresh", Some(now() + 60))).await.expect("put");
    assert_eq!(
        store
            .delete_if_token(&key, &Token::new("fm2_rejected"))
            .await
            .expect("cad"),
        CompareDelete::Kept
    );
    assert!(store.get(&key).await.expect("get").is_some(), "a fresher token is kept");
    assert_eq!(
        store
            .delete_if_token(&key, &Token::new("fm2_fresh"))
            .await
            .expect("cad"),
        CompareDelete::Deleted
    );
    assert_eq!(store.get(&key).await.expect("get"), None);
    // A value that is not a record is never taken for a match.
    server.raw(&["SET", "t:manual:web", "not json"]);
    assert_eq!(
        store
            .delete_if_token(&manual("web"), &Token::new("not json"))
            .await
            .expect("cad"),
        CompareDelete::Kept
    );
}

#[tokio::test]
async fn damaged_records_scope_is_a_miss_manual_is_left_for_an_operator() {
    let server = server!();
    let store = server.store("t:");
    server.raw(&["SET", "t:scope:org:bad", "{\"v\":1,\"token\":\"fm2_secret"]);
    assert_eq!(
        store
            .get(&scope("org:bad"))
            .await
            .expect("a damaged scope record is a miss"),
        None
    );
    assert_eq!(server.raw(&["EXISTS", "t:scope:org:bad"]), "0", "and it is removed");
    server.raw(&["SET", "t:manual:web", "{\"v\":1,\"token\":\"fm2_secret"]);
    match store.get(&manual("web")).await {
        Err(StorageError::Corrupt(msg)) => {
            assert!(msg.contains("web") && !msg.contains("fm2_secret"), "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(server.raw(&["EXISTS", "t:manual:web"]), "1", "left in place");
    // A key of another type (not ours to touch) is Corrupt, for either kind.
    server.raw(&["HSET", "t:scope:org:hash", "f", "v"]);
    assert!(matches!(
        store.get(&scope("org:hash")).await,
        Err(StorageError::Corrupt(_))
    ));
}

#[tokio::test]
async fn listing_scans_every_record_under_the_prefix_only() {
    let server = server!();
    let store = server.store("t:");
    let other = server.store("u:");
    let at = Some(now() + 600);
    // More keys than one SCAN step returns.
    for i in 0..1200 {
        store
            .put(&scope(&format!("org:o{i:04}")), &rec("fm2_x", at))
            .await
            .expect("put");
    }
    store.put(&manual("web"), &rec("fm2_m", None)).await.expect("put");
    other
        .put(&scope("org:o0000"), &rec("fm2_other", at))
        .await
        .expect("put");
    let held = store
        .try_lease("org:o0001", Duration::from_secs(30))
        .await
        .expect("lease");
    server.raw(&["SET", "t:scope:org:broken", "nope"]);
    server.raw(&["SET", "t:unrelated", "x"]);
    let listed = store.list().await.expect("list");
    assert_eq!(
        listed.len(),
        1202,
        "1200 scopes, one manual, one broken; no lease or foreign key"
    );
    assert_eq!(listed[0].key, scope("org:broken"));
    assert!(listed[0].record.is_err());
    assert_eq!(listed[1].key, scope("org:o0000"));
    assert_eq!(listed[1].record.as_ref().expect("record").token.expose(), "fm2_x");
    assert_eq!(listed.last().map(|l| &l.key), Some(&manual("web")));
    let mut keys: Vec<_> = listed.iter().map(|l| l.key.clone()).collect();
    keys.dedup();
    assert_eq!(keys.len(), listed.len(), "no duplicates");
    assert_eq!(other.list().await.expect("list").len(), 1);
    drop(held);
}

#[tokio::test]
async fn a_glob_in_the_prefix_is_matched_literally() {
    let server = server!();
    let star = server.store("a*:");
    let plain = server.store("ab:");
    plain.put(&scope("org:p"), &rec("fm2_p", None)).await.expect("put");
    star.put(&scope("org:s"), &rec("fm2_s", None)).await.expect("put");
    let listed = star.list().await.expect("list");
    assert_eq!(
        listed.iter().map(|l| l.key.clone()).collect::<Vec<_>>(),
        vec![scope("org:s")]
    );
}

#[tokio::test]
async fn the_lease_is_exclusive_until_released() {
    let server = server!();
    let (a, b) = (server.store("t:"), server.store("t:"));
    let ttl = Duration::from_secs(30);
    let lease = a.try_lease("org:acme", ttl).await.expect("lease").expect("free");
    assert!(
        b.try_lease("org:acme", ttl).await.expect("lease").is_none(),
        "held by a"
    );
    assert!(
        a.try_lease("org:acme", ttl).await.expect("lease").is_none(),
        "even for a itself"
    );
    assert!(
        b.try_lease("org:other", ttl).await.expect("lease").is_some(),
        "per scope"
    );
    assert_eq!(server.raw(&["GET", "t:lease:org:acme"]), lease.owner());
    assert!(lease.release().await.expect("release"), "released while still ours");
    assert!(
        b.try_lease("org:acme", ttl).await.expect("lease").is_some(),
        "free again"
    );
}

#[tokio::test]
async fn a_slow_holder_never_frees_its_successors_lease() {
    let server = server!();
    let (slow, next) = (server.store("t:"), server.store("t:"));
    let old = slow
        .try_lease("org:acme", Duration::from_millis(100))
        .await
        .expect("lease")
        .expect("free");
    let new = next
        .lease("org:acme", Duration::from_secs(30), Duration::from_secs(10))
        .await
        .expect("lease")
        .expect("taken over once the old lease lapsed");
    assert!(
        !old.release().await.expect("release"),
        "the lapsed lease is not ours any more"
    );
    assert_eq!(
        server.raw(&["GET", "t:lease:org:acme"]),
        new.owner(),
        "the new holder keeps it"
    );
    assert!(new.release().await.expect("release"));
}

#[tokio::test]
async fn a_dead_holder_delays_others_by_its_lease_time_only() {
    let server = server!();
    let (dead, waiter) = (server.store("t:"), server.store("t:"));
    let lease = dead
        .try_lease("org:acme", Duration::from_millis(1000))
        .await
        .expect("lease")
        .expect("free");
    // The holder dies: nothing ever releases its lease.
    std::mem::forget(lease);
    assert!(waiter
        .try_lease("org:acme", Duration::from_secs(5))
        .await
        .expect("try")
        .is_none());
    let t0 = std::time::Instant::now();
    let taken = waiter
        .lease("org:acme", Duration::from_secs(5), Duration::from_secs(10))
        .await
        .expect("lease");
    assert!(taken.is_some(), "taken over after the dead holder's lease lapsed");
    assert!(t0.elapsed() < Duration::from_secs(5), "not stuck: {:?}", t0.elapsed());
}

#[tokio::test]
async fn waiting_for_a_lease_gives_up_at_its_bound() {
    let server = server!();
    let (a, b) = (server.store("t:"), server.store("t:"));
    let _held = a
        .try_lease("org:acme", Duration::from_secs(60))
        .await
        .expect("lease")
        .expect("free");
    let t0 = std::time::Instant::now();
    let outcome = b
        .lease("org:acme", Duration::from_secs(60), Duration::from_millis(200))
        .await
        .expect("lease");
    assert!(outcome.is_none(), "still held: the wait ends empty-handed");
    assert!(t0.elapsed() < Duration::from_secs(5), "bounded: {:?}", t0.elapsed());
}

#[tokio::test]
async fn a_dropped_lease_is_released_and_settle_waits_for_it() {
    let server = server!();
    let store = server.store("t:");
    drop(
        store
            .try_lease("org:acme", Duration::from_secs(60))
            .await
            .expect("lease")
            .expect("free"),
    );
    assert!(store.settle(Duration::from_secs(5)).await, "the release landed");
    assert_eq!(
        server.raw(&["EXISTS", "t:lease:org:acme"]),
        "0",
        "freed, not left for 60 s"
    );
    assert!(store.settle(Duration::ZERO).await, "nothing pending");
}

#[tokio::test]
async fn a_waiter_is_done_once_the_record_is_written_even_if_the_lease_is_never_released() {
    let server = server!();
    let (holder, waiter) = (server.store("t:"), server.store("t:"));
    let key = scope("org:acme");
    let lease = holder
        .lease_unless("org:acme", &key, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("lease");
    let LeaseWait::Acquired(lease) = lease else {
        panic!("free, so acquired: {lease:?}")
    };
    // The holder writes and exits without releasing: its lease stays 60 s.
    std::mem::forget(lease);
    let writer = holder.clone();
    let write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer.put(&scope("org:acme"), &rec("fm2_written", None)).await
    });
    let t0 = std::time::Instant::now();
    let outcome = waiter
        .lease_unless("org:acme", &key, Duration::from_secs(60), Duration::from_secs(50))
        .await
        .expect("wait");
    assert!(matches!(outcome, LeaseWait::Written), "{outcome:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "not the 60 s lease: {:?}",
        t0.elapsed()
    );
    write.await.expect("task").expect("put");
    // Nothing to wait for at all when the record is already there.
    let again = waiter
        .lease_unless("org:acme", &key, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("wait");
    assert!(matches!(again, LeaseWait::Written));
    // A held lease with no record: the wait ends empty-handed at its bound.
    let other = scope("org:other");
    let LeaseWait::Acquired(_held) = holder
        .lease_unless("org:other", &other, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("lease")
    else {
        panic!("free")
    };
    let outcome = waiter
        .lease_unless("org:other", &other, Duration::from_secs(60), Duration::from_millis(100))
        .await
        .expect("wait");
    assert!(matches!(outcome, LeaseWait::TimedOut), "{outcome:?}");
}

/// Many "machines" (stores with their own connection), many callers each,
/// cold on one scope: the lease lets one acquisition through; everyone else
/// finds its record on looking again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_on_one_scope_acquires_once() {
    let server = server!();
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let stores: Vec<RedisStore> = (0..4).map(|_| server.store("herd:")).collect();
    let mut tasks = Vec::new();
    for store in &stores {
        for _ in 0..8 {
            let (store, acquisitions) = (store.clone(), acquisitions.clone());
            tasks.push(tokio::spawn(async move {
                let key = scope("org:acme");
                if let Some(rec) = store.get(&key).await.expect("get") {
                    return rec.token;
                }
                let lease = store
                    .lease("org:acme", Duration::from_secs(10), Duration::from_secs(20))
                    .await
                    .expect("lease")
                    .expect("acquired within the wait");
                let token = match store.get(&key).await.expect("look again") {
                    Some(rec) => rec.token,
                    None => {
                        // The "CLI call": slow enough for the herd to pile up.
                        let n = acquisitions.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let token = Token::new(format!("fm2_minted_{n}"));
                        let mut r = rec("", Some(now() + 600));
                        r.token = token.clone();
                        store.put(&key, &r).await.expect("put");
                        token
                    }
                };
                lease.release().await.expect("release");
                token
            }));
        }
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("task"));
    }
    assert_eq!(acquisitions.load(Ordering::SeqCst), 1, "one acquisition for 32 callers");
    assert!(
        tokens.iter().all(|t| t.expose() == "fm2_minted_0"),
        "everyone got the one token"
    );
}

/// A caller that gives up while its attempt to take a lease is on its way
/// (the flight bounds its wait by dropping it) leaves no lease behind, even
/// when the server took it.
#[tokio::test]
async fn a_lease_attempt_given_up_mid_flight_is_released() {
    let server = server!();
    let store = RedisStore::new(server.settings("abandon:").response_timeout(Duration::from_secs(5))).expect("store");
    // The script is loaded once (so the attempt below is one EVALSHA).
    let warm = store
        .lease_unless("org:warm", &scope("org:warm"), Duration::from_secs(1), Duration::ZERO)
        .await
        .expect("lease");
    drop(warm);
    assert!(store.settle(Duration::from_secs(10)).await);
    server.pause();
    let record = scope("org:acme");
    let attempt = store.lease_unless("org:acme", &record, Duration::from_secs(60), Duration::from_secs(60));
    // The script is sent and waits for a server that does not answer.
    assert!(tokio::time::timeout(Duration::from_millis(300), attempt).await.is_err());
    server.resume();
    assert!(store.settle(Duration::from_secs(10)).await, "the release went out");
    assert_eq!(
        server.raw(&["EXISTS", "abandon:lease:org:acme"]),
        "0",
        "no orphan lease"
    );
}
