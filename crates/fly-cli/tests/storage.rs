//! The durable file store: the shared conformance suite, permissions, the
//! fallback directory and damaged records.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use atlas_app_server::{AppName, Storage, StorageError, StorageKey, Token, TokenRecord};
use atlas_fly_cli::FileStorage;

/// A store in its own temp dir, removed when the store is dropped.
struct TempStore {
    store: FileStorage,
    _dir: tempfile::TempDir,
}

async fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open(dir.path().join("store")).expect("open");
    TempStore { store, _dir: dir }
}

#[async_trait]
impl Storage for TempStore {
    async fn get(&self, app: &AppName, key: StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.store.get(app, key).await
    }
    async fn put(&self, app: &AppName, key: StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.store.put(app, key, record).await
    }
    async fn delete(&self, app: &AppName, key: StorageKey) -> Result<(), StorageError> {
        self.store.delete(app, key).await
    }
}

atlas_app_server::storage_conformance_tests!(conformance, temp_store);

fn app(name: &str) -> AppName {
    AppName::new(name).expect("app name")
}

fn rec(token: &str, expires_at: Option<i64>) -> TokenRecord {
    TokenRecord {
        token: Token::new(token),
        expires_at,
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[tokio::test]
async fn the_whole_suite_in_one_go() {
    atlas_app_server::testing::storage_conformance(temp_store).await;
}

#[tokio::test]
async fn directories_are_0700_and_files_0600() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("a/b/store");
    let store = FileStorage::open(&root).expect("open");
    let a = app("perms");
    store
        .put(&a, StorageKey::Cached, rec("fm2_c", Some(1)))
        .await
        .expect("put");
    store
        .put(&a, StorageKey::Manual, rec("fm2_m", None))
        .await
        .expect("put");
    for dir in [root.clone(), root.join("cached"), root.join("manual")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(
        store.record_path(&a, StorageKey::Cached),
        root.join("cached/perms.json")
    );
    assert_eq!(mode(&root.join("cached/perms.json")), 0o600);
    assert_eq!(mode(&root.join("manual/perms.json")), 0o600);
    assert!(!store.is_fallback());
}

#[tokio::test]
async fn loose_permissions_of_an_existing_store_are_tightened() {
    let d = tempfile::tempdir().expect("tempdir");
    let root = d.path().join("store");
    let store = FileStorage::open(&root).expect("open");
    let a = app("loose");
    store
        .put(&a, StorageKey::Cached, rec("fm2_c", Some(1)))
        .await
        .expect("put");
    let file = root.join("cached/loose.json");
    for (path, m) in [(&root, 0o755), (&root.join("cached"), 0o777), (&file, 0o644)] {
        fs::set_permissions(path, fs::Permissions::from_mode(m)).expect("chmod");
    }
    let _reopened = FileStorage::open(&root).expect("reopen");
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("cached")), 0o700);
    assert_eq!(mode(&file), 0o600);
}

#[tokio::test]
async fn records_outlive_the_store_and_can_be_shared() {
    let d = tempfile::tempdir().expect("tempdir");
    let (one, two) = (
        FileStorage::open(d.path()).expect("open"),
        FileStorage::open(d.path()).expect("open"),
    );
    let a = app("shared");
    one.put(&a, StorageKey::Manual, rec("fm2_one", None))
        .await
        .expect("put");
    assert_eq!(
        two.get(&a, StorageKey::Manual).await.expect("get"),
        Some(rec("fm2_one", None))
    );
    two.put(&a, StorageKey::Manual, rec("fm2_two", None))
        .await
        .expect("put");
    drop((one, two));
    let three = FileStorage::open(d.path()).expect("open");
    assert_eq!(
        three.get(&a, StorageKey::Manual).await.expect("get"),
        Some(rec("fm2_two", None))
    );
    three.delete(&a, StorageKey::Manual).await.expect("delete");
    assert!(!d.path().join("manual/shared.json").exists());
}

#[tokio::test]
async fn concurrent_writers_never_tear_a_record() {
    let d = tempfile::tempdir().expect("tempdir");
    let a = app("race");
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = FileStorage::open(d.path()).expect("open");
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let token = format!("fm2_{w}_{i:02}_{}", "x".repeat(5000));
                store
                    .put(&a, StorageKey::Cached, rec(&token, Some(i)))
                    .await
                    .expect("put");
                let got = store.get(&a, StorageKey::Cached).await.expect("get").expect("present");
                assert_eq!(got.token.expose().len(), token.len(), "whole records only");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
}

#[tokio::test]
async fn an_unusable_directory_falls_back_to_a_private_temp_dir() {
    let logs = support::logs();
    let d = tempfile::tempdir().expect("tempdir");
    let blocker = d.path().join("a-file");
    fs::write(&blocker, "not a directory").expect("write");
    let wanted = blocker.join("store");
    assert!(matches!(FileStorage::open(&wanted), Err(StorageError::Unavailable(_))));

    let temp_root = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open_or_fallback_in(&wanted, temp_root.path()).expect("fallback");
    let uid = nix::unistd::getuid().as_raw();
    assert!(store.is_fallback());
    assert_eq!(store.dir(), temp_root.path().join(format!("atlas-fly-tokens-{uid}")));
    assert_eq!(mode(store.dir()), 0o700);
    let a = app("fallback");
    store
        .put(&a, StorageKey::Cached, rec("fm2_f", Some(9)))
        .await
        .expect("put");
    assert_eq!(
        store.get(&a, StorageKey::Cached).await.expect("get"),
        Some(rec("fm2_f", Some(9)))
    );
    assert!(logs.text().contains("falling back to a temporary one"), "a warning");

    // A usable directory is used as is.
    let fine = FileStorage::open_or_fallback_in(d.path().join("ok"), temp_root.path()).expect("open");
    assert!(!fine.is_fallback());
}

#[tokio::test]
async fn an_unreadable_cached_record_is_moved_aside_and_read_as_a_miss() {
    let logs = support::logs();
    let d = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("torn-cached");
    let path = store.record_path(&a, StorageKey::Cached);
    let garbage = b"{\"version\":1,\"app\":\"torn-cached\",\"key\":\"cached\",\"token\":\"fm2_LEAKcached";
    fs::write(&path, garbage).expect("write");

    assert_eq!(
        store.get(&a, StorageKey::Cached).await.expect("a miss, not an error"),
        None
    );
    assert!(!path.exists(), "moved away from its name");
    let aside: Vec<_> = fs::read_dir(d.path().join("cached"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|n| n.starts_with("torn-cached.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        fs::read(d.path().join("cached").join(&aside[0])).expect("read"),
        garbage
    );

    let text = logs.text();
    assert!(text.contains("moved it aside"), "{text}");
    assert!(!text.contains("LEAKcached"), "{text}");

    // The app recovers: a new record is written and read normally.
    store
        .put(&a, StorageKey::Cached, rec("fm2_new", Some(5)))
        .await
        .expect("put");
    assert_eq!(
        store.get(&a, StorageKey::Cached).await.expect("get"),
        Some(rec("fm2_new", Some(5)))
    );
    assert_eq!(store.entries().await.expect("entries"), vec![(a, StorageKey::Cached)]);
}

#[tokio::test]
async fn an_unreadable_manual_record_is_an_error_and_is_left_untouched() {
    let d = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("torn-manual");
    store
        .put(&a, StorageKey::Cached, rec("fm2_cached", Some(5)))
        .await
        .expect("put");
    let path = store.record_path(&a, StorageKey::Manual);
    let garbage = b"{\"token\": \"fm2_LEAKmanual\", \"expires_at\": \"soon\"}";
    fs::write(&path, garbage).expect("write");
    let before = fs::metadata(&path).expect("metadata");

    for _ in 0..2 {
        let err = store.get(&a, StorageKey::Manual).await.expect_err("corrupt");
        let StorageError::Corrupt(msg) = &err else {
            panic!("{err:?}")
        };
        assert!(
            msg.contains("torn-manual") && msg.contains(&path.display().to_string()),
            "{msg}"
        );
        assert!(!msg.contains("LEAKmanual"), "{msg}");
    }
    let after = fs::metadata(&path).expect("still there");
    assert_eq!(fs::read(&path).expect("read"), garbage, "content untouched");
    assert_eq!(after.modified().ok(), before.modified().ok());
    assert_eq!(
        fs::read_dir(d.path().join("manual")).expect("ls").count(),
        1,
        "nothing moved or added"
    );
    assert_eq!(
        store.get(&a, StorageKey::Cached).await.expect("get"),
        Some(rec("fm2_cached", Some(5))),
        "the app's cached record is unaffected"
    );
}

#[tokio::test]
async fn a_record_under_the_wrong_name_is_damage() {
    let d = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open(d.path()).expect("open");
    let (a, b) = (app("owner"), app("thief"));
    store
        .put(&a, StorageKey::Cached, rec("fm2_a", Some(5)))
        .await
        .expect("put");
    fs::copy(
        store.record_path(&a, StorageKey::Cached),
        store.record_path(&b, StorageKey::Cached),
    )
    .expect("cp");
    assert_eq!(store.get(&b, StorageKey::Cached).await.expect("get"), None);
    assert_eq!(
        store.get(&a, StorageKey::Cached).await.expect("get"),
        Some(rec("fm2_a", Some(5)))
    );
}

#[tokio::test]
async fn temp_files_of_dead_writers_are_ignored_then_swept() {
    let d = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("swept");
    store
        .put(&a, StorageKey::Cached, rec("fm2_ok", Some(5)))
        .await
        .expect("put");
    let old = d.path().join("cached/.swept.json.tmp-1-2-3");
    let fresh = d.path().join("cached/.swept.json.tmp-4-5-6");
    fs::write(&old, "{\"tor").expect("write");
    fs::write(&fresh, "{\"tor").expect("write");
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("age it");

    assert_eq!(
        store.get(&a, StorageKey::Cached).await.expect("get"),
        Some(rec("fm2_ok", Some(5)))
    );
    assert_eq!(store.entries().await.expect("entries"), vec![(a, StorageKey::Cached)]);
    let _reopened = FileStorage::open(d.path()).expect("reopen");
    assert!(!old.exists(), "a stale temp file is removed");
    assert!(fresh.exists(), "a recent one may belong to a live writer");
}
