//! The durable file store: the shared conformance suite, permissions, the
//! fallback directory and damaged records.

mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use atlas_app_server::{AppName, RecordSource, Scope, Storage, StorageError, StorageKey, Token, TokenRecord};
use atlas_fly_cli::{FileStorage, OpenMode, DAMAGED_RECORD_RETENTION};

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
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.store.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.store.put(key, record).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.store.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.store.delete_if(key, token).await
    }
}

atlas_app_server::storage_conformance_tests!(conformance, temp_store);

fn app(name: &str) -> AppName {
    AppName::new(name).expect("app name")
}

/// The key of `a`'s minted (deploy) token.
fn cached_key(a: &AppName) -> StorageKey {
    StorageKey::Minted(Scope::App(a.clone()))
}

fn manual_key(a: &AppName) -> StorageKey {
    StorageKey::Manual(a.clone())
}

fn rec(key: &StorageKey, token: &str, expires_at: Option<i64>) -> TokenRecord {
    TokenRecord {
        token: Token::new(token),
        expires_at,
        source: match key {
            StorageKey::Minted(_) => RecordSource::Cli,
            StorageKey::Manual(_) => RecordSource::Manual,
        },
        scope: key.scope(),
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
    let d = support::private_tempdir();
    let root = d.path().join("a/b/store");
    let store = FileStorage::open(&root).expect("open");
    let a = app("perms");
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_c", Some(1)))
        .await
        .expect("put");
    store
        .put(&manual_key(&a), rec(&manual_key(&a), "fm2_m", None))
        .await
        .expect("put");
    for dir in [root.clone(), root.join("app"), root.join("manual")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(store.record_path(&cached_key(&a)), root.join("app/perms.json"));
    assert_eq!(mode(&root.join("app/perms.json")), 0o600);
    assert_eq!(mode(&root.join("manual/perms.json")), 0o600);
    assert!(!store.is_fallback());
}

#[tokio::test]
async fn an_existing_store_that_others_can_use_is_refused_and_left_alone() {
    for loose in [0o755, 0o750, 0o701, 0o777, 0o710] {
        let d = support::private_tempdir();
        let root = d.path().join("store");
        fs::create_dir(&root).expect("mkdir");
        fs::set_permissions(&root, fs::Permissions::from_mode(loose)).expect("chmod");
        for mode_ in [OpenMode::ReadWrite, OpenMode::ReadOnly] {
            let err = FileStorage::open_with(&root, mode_).expect_err("refused");
            let StorageError::Unavailable(msg) = &err else {
                panic!("{err:?}")
            };
            assert!(msg.contains(&format!("chmod 700 {}", root.display())), "{msg}");
            assert!(msg.contains("--store"), "another store is suggested: {msg}");
            assert_eq!(mode(&root), loose, "the mode is left alone");
            assert_eq!(fs::read_dir(&root).expect("ls").count(), 0, "nothing is created in it");
        }
        // Nor does the implicit default fall back from it: the user decides.
        let temp_root = tempfile::tempdir().expect("tempdir");
        assert!(FileStorage::open_or_fallback_in(&root, temp_root.path(), OpenMode::ReadWrite).is_err());
        assert_eq!(fs::read_dir(temp_root.path()).expect("ls").count(), 0, "no fallback");
    }
}

#[tokio::test]
async fn a_record_directory_others_can_use_is_refused_and_left_alone() {
    let d = support::private_tempdir();
    let root = d.path().join("store");
    let store = FileStorage::open(&root).expect("open");
    store
        .put(
            &cached_key(&app("inside")),
            rec(&cached_key(&app("inside")), "fm2_c", Some(4_000_000_000)),
        )
        .await
        .expect("put");
    fs::set_permissions(root.join("app"), fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = FileStorage::open(&root).expect_err("refused");
    assert!(err.to_string().contains("chmod 700"), "{err}");
    assert_eq!(mode(&root.join("app")), 0o777);
    assert!(FileStorage::open_read_only(&root).is_err());
}

#[tokio::test]
async fn a_store_of_another_user_is_refused() {
    let d = support::private_tempdir();
    let (foreign, owner) = if nix::unistd::geteuid().is_root() {
        let dir = d.path().join("theirs");
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
        (dir, 65534)
    } else {
        (Path::new("/").to_owned(), 0)
    };
    let before = support::snapshot(d.path());
    for mode_ in [OpenMode::ReadWrite, OpenMode::ReadOnly] {
        let err = FileStorage::open_with(&foreign, mode_).expect_err("refused");
        assert!(err.to_string().contains(&format!("belongs to uid {owner}")), "{err}");
    }
    assert_eq!(support::snapshot(d.path()), before, "nothing created or changed");
}

#[tokio::test]
async fn a_symlinked_store_is_judged_by_its_target_and_never_chmod_ed() {
    let d = support::private_tempdir();
    let target = d.path().join("target");
    fs::create_dir(&target).expect("mkdir");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).expect("chmod");
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let err = FileStorage::open(&link).expect_err("the target is not private");
    assert!(
        err.to_string().contains(&link.display().to_string()) && err.to_string().contains("chmod 700"),
        "{err}"
    );
    assert_eq!(mode(&target), 0o755, "the target's mode is left alone");
    assert_eq!(fs::read_dir(&target).expect("ls").count(), 0);

    // A private target is used through the link, and stays as it was.
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).expect("chmod");
    let store = FileStorage::open(&link).expect("open");
    store
        .put(
            &manual_key(&app("linked")),
            rec(&manual_key(&app("linked")), "fm2_m", None),
        )
        .await
        .expect("put");
    assert!(target.join("manual/linked.json").exists());
    assert!(fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
    assert_eq!(mode(&target), 0o700);

    // A link to nothing is refused, not created through.
    let dangling = d.path().join("dangling");
    std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).expect("symlink");
    assert!(FileStorage::open(&dangling).is_err());
    assert!(!d.path().join("nowhere").exists());
}

#[tokio::test]
async fn record_files_others_can_read_are_damaged_and_never_chmod_ed() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("loose-file");
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_c", Some(4_000_000_000)))
        .await
        .expect("put");
    store
        .put(&manual_key(&a), rec(&manual_key(&a), "fm2_m", None))
        .await
        .expect("put");
    let (cached, manual) = (store.record_path(&cached_key(&a)), store.record_path(&manual_key(&a)));
    for path in [&cached, &manual] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let store = FileStorage::open(d.path()).expect("reopen");

    // The manual one: an error that says how to fix it; left as it is.
    let err = store.get(&manual_key(&a)).await.expect_err("refused");
    assert!(
        matches!(&err, StorageError::Corrupt(m) if m.contains("0644") && m.contains("chmod 600")),
        "{err}"
    );
    assert_eq!(mode(&manual), 0o644);
    // The cached one: a miss, moved aside with its mode untouched.
    assert_eq!(store.get(&cached_key(&a)).await.expect("a miss"), None);
    let aside = store.moved_aside().await.expect("list");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(mode(&aside[0].path), 0o644);
}
#[tokio::test]
async fn records_outlive_the_store_and_can_be_shared() {
    let d = support::private_tempdir();
    let (one, two) = (
        FileStorage::open(d.path()).expect("open"),
        FileStorage::open(d.path()).expect("open"),
    );
    let a = app("shared");
    one.put(&manual_key(&a), rec(&manual_key(&a), "fm2_one", None))
        .await
        .expect("put");
    assert_eq!(
        two.get(&manual_key(&a)).await.expect("get"),
        Some(rec(&manual_key(&a), "fm2_one", None))
    );
    two.put(&manual_key(&a), rec(&manual_key(&a), "fm2_two", None))
        .await
        .expect("put");
    drop((one, two));
    let three = FileStorage::open(d.path()).expect("open");
    assert_eq!(
        three.get(&manual_key(&a)).await.expect("get"),
        Some(rec(&manual_key(&a), "fm2_two", None))
    );
    three.delete(&manual_key(&a)).await.expect("delete");
    assert!(!d.path().join("manual/shared.json").exists());
}

#[tokio::test]
async fn concurrent_writers_never_tear_a_record() {
    let d = support::private_tempdir();
    let a = app("race");
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = FileStorage::open(d.path()).expect("open");
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let token = format!("fm2_{w}_{i:02}_{}", "x".repeat(5000));
                store
                    .put(&cached_key(&a), rec(&cached_key(&a), &token, Some(i)))
                    .await
                    .expect("put");
                let got = store.get(&cached_key(&a)).await.expect("get").expect("present");
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
    let d = support::private_tempdir();
    let blocker = d.path().join("a-file");
    fs::write(&blocker, "not a directory").expect("write");
    let wanted = blocker.join("store");
    assert!(matches!(FileStorage::open(&wanted), Err(StorageError::Unavailable(_))));

    let temp_root = tempfile::tempdir().expect("tempdir");
    let store = FileStorage::open_or_fallback_in(&wanted, temp_root.path(), OpenMode::ReadWrite).expect("fallback");
    let uid = nix::unistd::getuid().as_raw();
    assert!(store.is_fallback());
    assert_eq!(store.dir(), temp_root.path().join(format!("atlas-fly-tokens-{uid}")));
    assert_eq!(mode(store.dir()), 0o700);
    let a = app("fallback");
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_f", Some(9)))
        .await
        .expect("put");
    assert_eq!(
        store.get(&cached_key(&a)).await.expect("get"),
        Some(rec(&cached_key(&a), "fm2_f", Some(9)))
    );
    assert!(logs.text().contains("falling back to a temporary one"), "a warning");

    // A usable directory is used as is.
    let fine =
        FileStorage::open_or_fallback_in(d.path().join("ok"), temp_root.path(), OpenMode::ReadWrite).expect("open");
    assert!(!fine.is_fallback());

    // Listing the store read-only finds the fallback it fell back to, and
    // creates nothing.
    let listed = FileStorage::open_or_fallback_in(d.path().join("missing"), temp_root.path(), OpenMode::ReadOnly)
        .expect("read-only");
    assert!(listed.is_fallback());
    assert_eq!(listed.entries().await.expect("entries"), vec![cached_key(&a)]);
    assert!(!d.path().join("missing").exists());
}

#[tokio::test]
async fn an_unreadable_cached_record_is_moved_aside_and_read_as_a_miss() {
    let logs = support::logs();
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("torn-cached");
    let path = store.record_path(&cached_key(&a));
    let garbage = b"{\"version\":1,\"app\":\"torn-cached\",\"key\":\"cached\",\"token\":\"fm2_LEAKcached";
    fs::write(&path, garbage).expect("write");

    assert_eq!(store.get(&cached_key(&a)).await.expect("a miss, not an error"), None);
    assert!(!path.exists(), "moved away from its name");
    let aside: Vec<_> = fs::read_dir(d.path().join("app"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|n| n.starts_with("torn-cached.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(fs::read(d.path().join("app").join(&aside[0])).expect("read"), garbage);

    let text = logs.text();
    assert!(text.contains("moved it aside"), "{text}");
    assert!(!text.contains("LEAKcached"), "{text}");

    // The app recovers: a new record is written and read normally.
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_new", Some(5)))
        .await
        .expect("put");
    assert_eq!(
        store.get(&cached_key(&a)).await.expect("get"),
        Some(rec(&cached_key(&a), "fm2_new", Some(5)))
    );
    assert_eq!(store.entries().await.expect("entries"), vec![cached_key(&a)]);
}

#[tokio::test]
async fn an_unreadable_manual_record_is_an_error_and_is_left_untouched() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("torn-manual");
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_cached", Some(5)))
        .await
        .expect("put");
    let path = store.record_path(&manual_key(&a));
    let garbage = b"{\"token\": \"fm2_LEAKmanual\", \"expires_at\": \"soon\"}";
    fs::write(&path, garbage).expect("write");
    let before = fs::metadata(&path).expect("metadata");

    for _ in 0..2 {
        let err = store.get(&manual_key(&a)).await.expect_err("corrupt");
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
        store.get(&cached_key(&a)).await.expect("get"),
        Some(rec(&cached_key(&a), "fm2_cached", Some(5))),
        "the app's cached record is unaffected"
    );
}

#[tokio::test]
async fn a_record_under_the_wrong_name_is_damage() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let (a, b) = (app("owner"), app("thief"));
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_a", Some(5)))
        .await
        .expect("put");
    fs::copy(store.record_path(&cached_key(&a)), store.record_path(&cached_key(&b))).expect("cp");
    assert_eq!(store.get(&cached_key(&b)).await.expect("get"), None);
    assert_eq!(
        store.get(&cached_key(&a)).await.expect("get"),
        Some(rec(&cached_key(&a), "fm2_a", Some(5)))
    );
}

#[tokio::test]
async fn temp_files_of_dead_writers_are_ignored_then_swept() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("swept");
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_ok", Some(5)))
        .await
        .expect("put");
    let old = d.path().join("app/.swept.json.tmp-1-2-3");
    let fresh = d.path().join("app/.swept.json.tmp-4-5-6");
    fs::write(&old, "{\"tor").expect("write");
    fs::write(&fresh, "{\"tor").expect("write");
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("age it");

    assert_eq!(
        store.get(&cached_key(&a)).await.expect("get"),
        Some(rec(&cached_key(&a), "fm2_ok", Some(5)))
    );
    assert_eq!(store.entries().await.expect("entries"), vec![cached_key(&a)]);
    let _reopened = FileStorage::open(d.path()).expect("reopen");
    assert!(!old.exists(), "a stale temp file is removed");
    assert!(fresh.exists(), "a recent one may belong to a live writer");
}

/// A store in `d` with one of everything a read-only open must leave alone:
/// a good record, an expired one, damaged ones, a dead writer's temp file
/// and an old moved-aside record.
async fn cluttered_store(d: &Path) -> FileStorage {
    let store = FileStorage::open(d).expect("open");
    store
        .put(
            &cached_key(&app("good")),
            rec(&cached_key(&app("good")), "fm2_good", Some(4_000_000_000)),
        )
        .await
        .expect("put");
    store
        .put(
            &cached_key(&app("stale")),
            rec(&cached_key(&app("stale")), "fm2_stale", Some(1)),
        )
        .await
        .expect("put");
    fs::write(d.join("app/torn.json"), "{\"tok").expect("write");
    fs::write(d.join("manual/torn.json"), "{\"tok").expect("write");
    for path in ["app/torn.json", "manual/torn.json"] {
        fs::set_permissions(d.join(path), fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let temp = d
        .join("app")
        .join(support::temp_file_name("good.json", support::dead_pid()));
    fs::write(&temp, "{\"tor").expect("write");
    let long_ago = SystemTime::now() - DAMAGED_RECORD_RETENTION - Duration::from_secs(60);
    let secs = long_ago.duration_since(std::time::UNIX_EPOCH).expect("epoch").as_secs();
    fs::write(d.join(format!("app/old.json.corrupt-{secs}")), "x").expect("write");
    store
}

#[tokio::test]
async fn a_read_only_store_creates_moves_and_removes_nothing() {
    let d = support::private_tempdir();
    cluttered_store(d.path()).await;
    let before = support::snapshot(d.path());

    let store = FileStorage::open_read_only(d.path()).expect("open read-only");
    assert_eq!(store.mode(), OpenMode::ReadOnly);
    let entries = store.entries().await.expect("entries");
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert_eq!(
        store.get(&cached_key(&app("stale"))).await.expect("get"),
        Some(rec(&cached_key(&app("stale")), "fm2_stale", Some(1))),
        "an expired record is listed as it is"
    );
    for key in [cached_key(&app("torn")), manual_key(&app("torn"))] {
        let err = store.get(&key).await.expect_err("damaged");
        assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
    }
    assert_eq!(store.moved_aside().await.expect("list").len(), 1);
    for result in [
        store
            .put(&cached_key(&app("good")), rec(&cached_key(&app("good")), "fm2_x", None))
            .await,
        store.delete(&cached_key(&app("good"))).await,
    ] {
        assert!(matches!(result, Err(StorageError::Unavailable(_))), "{result:?}");
    }
    assert_eq!(support::snapshot(d.path()), before, "nothing changed");

    // A store that does not exist is empty, and stays nonexistent.
    let e = tempfile::tempdir().expect("tempdir");
    let missing = e.path().join("nonexistent/x/y/../z");
    let store = FileStorage::open_read_only(&missing).expect("open read-only");
    assert_eq!(store.entries().await.expect("entries"), vec![]);
    assert_eq!(store.get(&manual_key(&app("good"))).await.expect("get"), None);
    assert_eq!(store.moved_aside().await.expect("list"), vec![]);
    assert_eq!(fs::read_dir(e.path()).expect("ls").count(), 0, "nothing created");
}

#[tokio::test]
async fn opening_for_writing_sweeps_what_nobody_will_use_again() {
    let d = support::private_tempdir();
    cluttered_store(d.path()).await;
    let cached = d.path().join("app");
    let live = cached.join(support::temp_file_name("good.json", std::process::id()));
    let foreign_fresh = cached.join(".good.json.tmp-elsewhere-1-0-0");
    let foreign_old = cached.join(".good.json.tmp-elsewhere-2-0-0");
    for path in [&live, &foreign_fresh, &foreign_old] {
        fs::write(path, "{\"tor").expect("write");
    }
    support::age(&foreign_old, Duration::from_secs(3600));
    let recent = SystemTime::now() - Duration::from_secs(86_400);
    let secs = recent.duration_since(std::time::UNIX_EPOCH).expect("epoch").as_secs();
    let recently_aside = cached.join(format!("torn.json.corrupt-{secs}"));
    fs::write(&recently_aside, "x").expect("write");

    let store = FileStorage::open(d.path()).expect("open");
    let mut names: Vec<_> = fs::read_dir(&cached)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    let mut expected = vec![
        ".good.json.tmp-elsewhere-1-0-0".to_owned(), // another host's, recent: may be writing
        live.file_name().expect("name").to_string_lossy().into_owned(), // a live writer's (ours)
        "good.json".to_owned(),
        "torn.json".to_owned(),              // damaged: moved aside when read, not here
        format!("torn.json.corrupt-{secs}"), // moved aside a day ago: kept 7 days
    ];
    expected.sort();
    assert_eq!(
        names, expected,
        "gone: the dead writer's temp file, the old foreign one, the expired record and the old moved-aside one"
    );
    assert_eq!(
        fs::read_dir(d.path().join("manual")).expect("ls").count(),
        1,
        "a manual record is never removed"
    );
    assert_eq!(store.moved_aside().await.expect("list").len(), 1);
}

#[tokio::test]
async fn delete_removes_what_dead_writers_left_of_the_record() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let (a, b) = (app("deleted"), app("kept"));
    for x in [&a, &b] {
        store
            .put(&cached_key(x), rec(&cached_key(x), "fm2_c", Some(4_000_000_000)))
            .await
            .expect("put");
    }
    // Left after the store was opened, by writers that died since.
    let dead = support::dead_pid();
    let of_a = d.path().join("app").join(support::temp_file_name("deleted.json", dead));
    let of_a_live = d
        .path()
        .join("app")
        .join(support::temp_file_name("deleted.json", std::process::id()));
    let of_b = d.path().join("app").join(support::temp_file_name("kept.json", dead));
    for path in [&of_a, &of_a_live, &of_b] {
        fs::write(path, "FlyV1 fm2_secret").expect("write");
    }
    store.delete(&cached_key(&a)).await.expect("delete");
    assert!(!store.record_path(&cached_key(&a)).exists());
    assert!(!of_a.exists(), "no copy of the deleted token stays behind");
    assert!(of_a_live.exists(), "a live writer's file is its own");
    assert!(of_b.exists(), "another record's leftovers wait for the next open");
}

/// Makes a FIFO at `path`.
fn fifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// Runs `f` within a bound that only a hang exceeds; on a hang, opens the
/// FIFO `unblock` for writing, which releases a reader blocked on it, so that
/// the test fails instead of blocking forever.
async fn bounded<T>(unblock: &Path, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(v) => v,
        Err(_) => {
            let _ = fs::OpenOptions::new().write(true).open(unblock);
            panic!("reading {} hung", unblock.display())
        }
    }
}

#[tokio::test]
async fn a_fifo_as_a_record_is_damage_and_never_a_hang() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let a = app("piped");
    let (cached, manual) = (store.record_path(&cached_key(&a)), store.record_path(&manual_key(&a)));
    fifo(&cached);
    fifo(&manual);

    // Read-only, both are damage, left in place.
    let listing = FileStorage::open_read_only(d.path()).expect("open read-only");
    for path in [&cached, &manual] {
        let key = if path == &cached {
            cached_key(&a)
        } else {
            manual_key(&a)
        };
        let err = bounded(path, listing.get(&key)).await.expect_err("damaged");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
    assert_eq!(listing.entries().await.expect("entries").len(), 2);

    // The manual one is an error and stays; the cached one is a miss.
    let err = bounded(&manual, store.get(&manual_key(&a))).await.expect_err("corrupt");
    assert!(
        matches!(&err, StorageError::Corrupt(m) if m.contains("not a regular file")),
        "{err}"
    );
    assert!(fs::symlink_metadata(&manual)
        .expect("still there")
        .file_type()
        .is_fifo());
    assert_eq!(
        bounded(&cached, store.get(&cached_key(&a))).await.expect("a miss"),
        None
    );
    assert!(!cached.exists(), "moved aside");
    store
        .put(&cached_key(&a), rec(&cached_key(&a), "fm2_new", Some(4_000_000_000)))
        .await
        .expect("put");
    assert_eq!(
        store.get(&cached_key(&a)).await.expect("get"),
        Some(rec(&cached_key(&a), "fm2_new", Some(4_000_000_000)))
    );

    // A symlink is damage too, even to a good record.
    let b = app("linked");
    store
        .put(&manual_key(&b), rec(&manual_key(&b), "fm2_m", None))
        .await
        .expect("put");
    let other = app("other");
    std::os::unix::fs::symlink(
        store.record_path(&manual_key(&b)),
        store.record_path(&manual_key(&other)),
    )
    .expect("symlink");
    let err = store.get(&manual_key(&other)).await.expect_err("a symlink");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[tokio::test]
async fn an_org_and_an_app_of_one_name_live_in_separate_files() {
    let d = support::private_tempdir();
    let store = FileStorage::open(d.path()).expect("open");
    let org = StorageKey::Minted(Scope::Org(atlas_app_server::OrgName::new("same").expect("org")));
    let (app_key, manual) = (cached_key(&app("same")), manual_key(&app("same")));
    for key in [&org, &app_key, &manual] {
        store
            .put(key, rec(key, &format!("fm2_{}", key.kind()), Some(9)))
            .await
            .expect("put");
    }
    let paths: Vec<_> = [&org, &app_key, &manual].iter().map(|k| store.record_path(k)).collect();
    assert_eq!(
        paths,
        [
            d.path().join("org/same.json"),
            d.path().join("app/same.json"),
            d.path().join("manual/same.json")
        ]
    );
    assert!(paths.iter().all(|p| p.exists()));
    assert_eq!(store.entries().await.expect("entries").len(), 3);
}
