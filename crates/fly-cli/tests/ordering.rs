//! SPEC §5 ordering with the real file store: a persist whose task is
//! aborted while its blocking write is under way (a kill of `tasks`) is
//! still ordered before the `invalidate` that follows, so the rejected
//! token never comes back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    OrgName, Scope, ScopeLease, Storage, StorageError, StorageKey, Token, TokenRecord, Tokens, TokensConfig,
};
use atlas_fly_cli::FileStorage;

/// A gate a blocking thread waits at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().expect("gate");
        while !*open {
            open = self.opened.wait(open).expect("gate");
        }
    }

    fn open(&self) {
        *self.open.lock().expect("gate") = true;
        self.opened.notify_all();
    }
}

/// The file store on a slow disk: `put` does its work on a blocking thread
/// (as `FileStorage::put` does) that first waits at the gate, then makes the
/// real file store's write. Dropping the `put` future does not stop it.
struct SlowDisk {
    files: FileStorage,
    gate: Arc<Gate>,
    writing: Arc<AtomicBool>,
    written: Arc<AtomicBool>,
}

#[async_trait]
impl Storage for SlowDisk {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.files.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        let (files, gate, key) = (self.files.clone(), self.gate.clone(), key.clone());
        let (writing, written) = (self.writing.clone(), self.written.clone());
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            writing.store(true, Ordering::SeqCst);
            gate.wait();
            let result = rt.block_on(files.put(&key, record));
            written.store(true, Ordering::SeqCst);
            result
        })
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))?
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.files.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.files.delete_if(key, token).await
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        self.files.lock_scope(scope).await
    }
}

async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_persist_never_lands_after_the_invalidate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = FileStorage::open(dir.path().join("store")).expect("open");
    let disk = Arc::new(SlowDisk {
        files: files.clone(),
        gate: Arc::default(),
        writing: Arc::default(),
        written: Arc::default(),
    });
    let org = OrgName::new("acme").expect("org");
    let tokens = Tokens::start(
        TokensConfig::default()
            .storage(disk.clone())
            .cmd_fn(FakeCli::succeeding("FlyV1 fm2_cmVqZWN0ZWQ="))
            .configure(|s| s.org(org.clone())),
    )
    .await
    .expect("starts");

    tokens.get("my-app").await.expect("token");
    until("the persist's blocking write to start", || {
        disk.writing.load(Ordering::SeqCst)
    })
    .await;

    // Kill the task supervisor: the persist task is aborted mid-write.
    let tasks = tokens.supervisor().child("tasks").await.expect("root runs");
    tasks.child_ref().expect("tasks runs").kill();

    // The API rejected the token: invalidate, while the write is still
    // under way on its blocking thread.
    let invalidate = tokio::spawn({
        let tokens = tokens.clone();
        async move { tokens.invalidate("my-app").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    disk.gate.open();
    invalidate.await.expect("joins").expect("invalidated");
    until("the blocking write to finish", || disk.written.load(Ordering::SeqCst)).await;

    let key = StorageKey::Minted(Scope::Org(org));
    assert_eq!(
        files.get(&key).await.expect("get"),
        None,
        "the write completed before the delete, never after it"
    );
    tokens.shutdown().await;
}
