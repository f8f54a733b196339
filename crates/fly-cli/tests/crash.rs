//! A writer killed with SIGKILL at a random instant leaves the old record or
//! the new one, never a torn one.
//!
//! The test binary re-executes itself as the writer: `crash_writer_child`
//! does nothing in a normal run and loops writing records when
//! `ATLAS_CRASH_WRITER_DIR` is set in its environment.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use atlas_app_server::{OrgName, Scope, Storage, StorageKey, Token, TokenRecord};
use atlas_fly_cli::FileStorage;

const CHILD_ENV: &str = "ATLAS_CRASH_WRITER_DIR";
/// Big enough that a write takes a while, so kills land mid-write.
const BODY: usize = 256 * 1024;

fn scope() -> Scope {
    Scope::Org(OrgName::new("crash").expect("org"))
}

fn key() -> StorageKey {
    StorageKey::Minted(scope())
}

/// Far in the future, so that no record is expired (opening the store for
/// writing removes expired minted records).
const EPOCH: i64 = 4_000_000_000;

/// Record `i`: a token that names `i`, has a fixed length, and `expires_at = EPOCH + i`.
fn record(i: i64) -> TokenRecord {
    TokenRecord::minted(
        scope(),
        Token::new(format!("fm2_{i:012}_{}", "Q".repeat(BODY))),
        EPOCH + i,
    )
}

/// Checks that `r` is exactly record `r.expires_at - EPOCH`, and returns that number.
fn check(r: &TokenRecord) -> i64 {
    let i = r.expires_at.expect("minted records expire") - EPOCH;
    assert!(r.token == record(i).token, "record {i} is whole and consistent");
    i
}

#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = FileStorage::open(&dir).expect("open");
        let start = store.get(&key()).await.expect("get").map_or(0, |r| check(&r));
        for i in start + 1.. {
            store.put(&key(), record(i)).await.expect("put");
        }
    });
}

fn read(dir: &std::path::Path) -> Option<TokenRecord> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = FileStorage::open_read_only(dir).expect("open");
        store.get(&key()).await.expect("readable")
    })
}

#[test]
fn a_writer_killed_mid_write_leaves_a_readable_record() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // The store refuses a directory others may use.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod 700");
    let exe = std::env::current_exe().expect("current exe");
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut last = 0;
    for round in 0..20 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_writer_child", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        // Let it get going (at least one new record), then kill it at a
        // random instant within the next few writes.
        let deadline = Instant::now() + Duration::from_secs(60);
        while read(dir.path()).map_or(0, |r| check(&r)) <= last {
            assert!(Instant::now() < deadline, "the writer never wrote");
            std::thread::sleep(Duration::from_millis(5));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        let got = read(dir.path()).expect("a record is there");
        let i = check(&got);
        assert!(i >= last, "round {round}: never goes back ({i} < {last})");
        last = i;
    }
    // Killed writers leave temp files behind (evidence that kills landed
    // mid-write); they never hide the record.
    let leftovers = std::fs::read_dir(dir.path().join("org"))
        .expect("ls")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        })
        .count();
    eprintln!("{leftovers} temp files left by killed writers; last record {last}");
}
