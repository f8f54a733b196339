//! Test doubles: a scripted fly CLI and a storage that fails on demand.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::{CmdFn, CmdOutput, FailureNote, Scope, ScopeLease, Storage, StorageError, StorageKey, Token, TokenRecord};

/// One scripted reply of [`FakeCli`].
#[derive(Clone, Debug)]
enum Reply {
    Output(CmdOutput),
    Hang,
}

/// What `fly tokens create --json` prints for `token`.
fn json_ok(token: &str) -> CmdOutput {
    CmdOutput::new(0, format!("{}\n", serde_json::json!({ "token": token })), "")
}

/// A scripted fly CLI: counts calls, records arguments, can take time
/// (`tokio::time::sleep`, so paused-time tests stay instant) or never
/// return. Cloning shares the script and the counters.
#[derive(Clone, Default)]
pub struct FakeCli {
    inner: Arc<FakeInner>,
}

#[derive(Default)]
struct FakeInner {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    delay: Mutex<Duration>,
    calls: AtomicUsize,
    args: Mutex<Vec<Vec<String>>>,
}

impl std::fmt::Debug for FakeCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCli")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl FakeCli {
    /// A CLI that fails (exit 1) until told otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call prints `token` (as flyctl's `--json` does:
    /// `{"token":"…"}`) and exits 0.
    pub fn succeeding(token: &str) -> Self {
        let cli = Self::new();
        cli.always_ok(token);
        cli
    }

    /// From now on every call (after the scripted ones) succeeds with `token`.
    pub fn always_ok(&self, token: &str) {
        *self.inner.default.lock() = Some(Reply::Output(json_ok(token)));
    }

    /// From now on every call exits with `code` and `stderr`.
    pub fn always_fail(&self, code: i32, stderr: &str) {
        *self.inner.default.lock() = Some(Reply::Output(CmdOutput::new(code, "", stderr)));
    }

    /// From now on every call never returns.
    pub fn always_hang(&self) {
        *self.inner.default.lock() = Some(Reply::Hang);
    }

    /// The next call returns `output` (queued before the default).
    pub fn then(&self, output: CmdOutput) -> &Self {
        self.inner.script.lock().push_back(Reply::Output(output));
        self
    }

    /// The next call succeeds with `token` (as JSON).
    pub fn then_ok(&self, token: &str) -> &Self {
        self.then(json_ok(token))
    }

    /// The next call fails with `code` and `stderr`.
    pub fn then_fail(&self, code: i32, stderr: &str) -> &Self {
        self.then(CmdOutput::new(code, "", stderr))
    }

    /// Every call takes `delay` before replying.
    pub fn with_delay(self, delay: Duration) -> Self {
        *self.inner.delay.lock() = delay;
        self
    }

    /// How many times it was run.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// The arguments of every call so far.
    pub fn args(&self) -> Vec<Vec<String>> {
        self.inner.args.lock().clone()
    }
}

#[async_trait]
impl CmdFn for FakeCli {
    async fn run(&self, _program: &str, args: &[&str]) -> io::Result<CmdOutput> {
        self.inner.calls.fetch_add(1, Ordering::SeqCst);
        self.inner
            .args
            .lock()
            .push(args.iter().map(|a| (*a).to_owned()).collect());
        let reply = self
            .inner
            .script
            .lock()
            .pop_front()
            .or_else(|| self.inner.default.lock().clone());
        let delay = *self.inner.delay.lock();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match reply {
            Some(Reply::Output(o)) => Ok(o),
            Some(Reply::Hang) => std::future::pending().await,
            None => Ok(CmdOutput::new(1, "", "Error: fake CLI has no reply scripted")),
        }
    }
}

/// Wraps a [`Storage`] and fails `get`, `put` or `delete` while told to;
/// counts the operations that reached the inner store.
#[derive(Debug)]
pub struct FlakyStorage<S> {
    inner: S,
    fail_get: AtomicBool,
    fail_put: AtomicBool,
    fail_delete: AtomicBool,
    puts: AtomicUsize,
    gets: AtomicUsize,
}

impl<S: Storage> FlakyStorage<S> {
    /// A wrapper that fails nothing yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            fail_get: AtomicBool::new(false),
            fail_put: AtomicBool::new(false),
            fail_delete: AtomicBool::new(false),
            puts: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
        }
    }

    /// Fail every `get` while `on`.
    pub fn fail_gets(&self, on: bool) {
        self.fail_get.store(on, Ordering::SeqCst);
    }

    /// Fail every `put` while `on` (a full disk).
    pub fn fail_puts(&self, on: bool) {
        self.fail_put.store(on, Ordering::SeqCst);
    }

    /// Fail every `delete` while `on`.
    pub fn fail_deletes(&self, on: bool) {
        self.fail_delete.store(on, Ordering::SeqCst);
    }

    /// Successful puts so far.
    pub fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }

    /// Gets that reached the inner store so far.
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: Storage> Storage for FlakyStorage<S> {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        if self.fail_get.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("injected get failure".into()));
        }
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        if self.fail_put.load(Ordering::SeqCst) {
            return Err(StorageError::Io("injected put failure: no space left on device".into()));
        }
        self.inner.put(key, record).await?;
        self.puts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        if self.fail_delete.load(Ordering::SeqCst) {
            return Err(StorageError::Io("injected delete failure".into()));
        }
        self.inner.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        if self.fail_delete.load(Ordering::SeqCst) {
            return Err(StorageError::Io("injected delete failure".into()));
        }
        self.inner.delete_if(key, token).await
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        self.inner.lock_scope(scope).await
    }
    async fn publish_invalidation(&self, scope: &Scope) -> Result<(), StorageError> {
        self.inner.publish_invalidation(scope).await
    }
    fn subscribe_invalidations(&self) -> Option<crate::InvalidationFeed> {
        self.inner.subscribe_invalidations()
    }
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        self.inner.note_failure(scope, note).await
    }
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        self.inner.failure_note(scope).await
    }
}

/// A Fly-shaped token (`FlyV1 fm2_…`, a msgpack macaroon without a valid
/// signature) whose validity window ends at `not_after` (unix seconds), with
/// `tag` in its nonce to tell tokens apart. For tests of the expiry cap.
pub fn token_with_expiry(tag: &str, not_after: i64) -> String {
    crate::expiry::build::token_with_window(tag, 0, not_after)
}
