//! The flight's use of a store that coordinates processes: the scope's lock
//! (asked once per scope per process, waited for a bounded time) and the
//! failure note. Two stacks on one [`Shared`] store stand for two
//! processes on one file store (or two machines on one Redis).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    CliFinding, FailureNote, ManualClock, MemoryStorage, Scope, ScopeLease, Source, Storage, StorageError, StorageKey,
    Token, TokenRecord, Tokens, TokensConfig, LOCK_WAIT_MARGIN,
};
use support::capture::Capture;
use support::{acme, fly, minted, org, ORG, T0};
use tokio::time::Instant;

/// A store with a per-scope lock (a tokio mutex: the lease is its owned
/// guard) and failure notes, counting the locks it grants.
#[derive(Default)]
struct Shared {
    records: MemoryStorage,
    locks: Mutex<HashMap<Scope, Arc<tokio::sync::Mutex<()>>>>,
    notes: Mutex<HashMap<Scope, FailureNote>>,
    granted: AtomicUsize,
    refuse_locks: AtomicBool,
}

impl Shared {
    fn granted(&self) -> usize {
        self.granted.load(Ordering::SeqCst)
    }

    fn note(&self, scope: &Scope) -> Option<FailureNote> {
        self.notes.lock().expect("notes").get(scope).cloned()
    }
}

#[async_trait]
impl Storage for Shared {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.records.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.records.put(key, record).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.records.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.records.delete_if(key, token).await
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        if self.refuse_locks.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("injected lock failure".into()));
        }
        let lock = self
            .locks
            .lock()
            .expect("locks")
            .entry(scope.clone())
            .or_default()
            .clone();
        let guard = lock.lock_owned().await;
        self.granted.fetch_add(1, Ordering::SeqCst);
        Ok(ScopeLease::new(guard))
    }
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        let mut notes = self.notes.lock().expect("notes");
        match note {
            Some(note) => notes.insert(scope.clone(), note.clone()),
            None => notes.remove(scope),
        };
        Ok(())
    }
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        Ok(self.note(scope))
    }
}

atlas_app_server::storage_conformance_tests!(shared_conformance, || async { Shared::default() });

/// A stack ("a process") on `cli` and the shared store.
async fn process(cli: &FakeCli, store: &Arc<Shared>) -> Tokens {
    process_with(cli, store, |c| c).await
}

async fn process_with(cli: &FakeCli, store: &Arc<Shared>, adjust: impl FnOnce(TokensConfig) -> TokensConfig) -> Tokens {
    let config = TokensConfig::default()
        .cmd_fn(cli.clone())
        .storage(store.clone())
        .clock(ManualClock::new(T0))
        .configure(|s| s.org(org(ORG)));
    Tokens::start(adjust(config)).await.expect("stack starts")
}

/// Yields until `check` holds (the other tasks run meanwhile).
async fn until(check: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if check() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened");
}

fn exited() -> CliFinding {
    CliFinding::Exited {
        code: 1,
        stderr: "Error: not logged in".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_process_asks_the_lock_once_per_scope_not_once_per_caller() {
    let store = Arc::new(Shared::default());
    let cli = FakeCli::succeeding(&fly("one")).with_delay(Duration::from_secs(1));
    let tokens = process(&cli, &store).await;
    // 5 apps of one org × 10 callers each, all cold at once.
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.get(&format!("app-{}", i % 5)).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.expect("joins").expect("token").expose(), fly("one"));
    }
    assert_eq!(store.granted(), 1, "one lock for the scope, not one per caller");
    assert_eq!(cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_process_takes_the_holders_token_from_the_store() {
    let store = Arc::new(Shared::default());
    let (cli_a, cli_b) = (
        FakeCli::succeeding(&fly("a")).with_delay(Duration::from_secs(5)),
        FakeCli::succeeding(&fly("b")),
    );
    let (a, b) = (process(&cli_a, &store).await, process(&cli_b, &store).await);
    let first = tokio::spawn(async move { a.get_traced("app-1").await });
    until(|| store.granted() == 1).await;
    let (token, source, _) = b.get_traced("app-2").await;
    assert_eq!(token.expect("token").expose(), fly("a"), "the holder's token");
    assert_eq!(source, Source::Storage);
    assert_eq!(cli_b.calls(), 0, "the waiter ran no CLI");
    let (token, source, _) = first.await.expect("joins");
    assert_eq!(
        (token.expect("token").expose().to_owned(), source),
        (fly("a"), Source::Cli)
    );
    assert_eq!(
        store.granted(),
        2,
        "the waiter took the lock after the holder released it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_hangs_costs_the_cli_timeout_plus_the_margin_then_the_waiter_acquires() {
    let capture = Capture::default();
    let _guard = capture.install();
    let store = Arc::new(Shared::default());
    // Another process holds the lock and never lets go.
    let _held = store.lock_scope(&acme()).await.expect("lock");
    let cli = FakeCli::succeeding(&fly("alone"));
    let tokens = process_with(&cli, &store, |c| c.configure(|s| s.cli_timeout(Duration::from_secs(3)))).await;
    let started = Instant::now();
    let token = tokens.get("my-app").await.expect("acquired without the lock");
    assert_eq!(token.expose(), fly("alone"));
    assert_eq!(cli.calls(), 1);
    let waited = started.elapsed();
    let bound = Duration::from_secs(3) + LOCK_WAIT_MARGIN;
    assert!(waited >= bound && waited < bound + Duration::from_secs(1), "{waited:?}");
    let warned = capture
        .events_at(tracing::Level::WARN)
        .into_iter()
        .any(|e| e.message().contains("longer than the CLI timeout allows"));
    assert!(warned, "{:?}", capture.events());
    // Written anyway, for the next process.
    tokens.shutdown().await;
    assert!(store.get(&minted()).await.expect("get").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_store_that_cannot_lock_leaves_the_flight_to_go_on_alone() {
    let store = Arc::new(Shared::default());
    store.refuse_locks.store(true, Ordering::SeqCst);
    let cli = FakeCli::succeeding(&fly("alone"));
    let tokens = process(&cli, &store).await;
    assert_eq!(tokens.get("my-app").await.expect("token").expose(), fly("alone"));
    assert_eq!(cli.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_noted_while_a_process_waited_is_its_answer_as_it_is() {
    let store = Arc::new(Shared::default());
    let cli_a = FakeCli::new().with_delay(Duration::from_secs(5));
    cli_a.always_fail(1, "Error: not logged in");
    let cli_b = FakeCli::succeeding(&fly("b"));
    let (a, b) = (process(&cli_a, &store).await, process(&cli_b, &store).await);
    let first = tokio::spawn(async move { a.get("app-1").await });
    until(|| store.granted() == 1).await;
    // Two callers of the waiting process: one flight, one lock.
    let (b1, b2) = tokio::join!(b.get("app-2"), b.get("app-3"));
    for err in [b1.expect_err("fails"), b2.expect_err("fails")] {
        let report = err.no_token_report().expect("report").clone();
        assert_eq!(report.cli, exited(), "the holder's failure, as it is");
    }
    assert_eq!(cli_b.calls(), 0, "the waiting process did not run the CLI again");
    assert_eq!(store.granted(), 2, "the waiting process locked once");
    first.await.expect("joins").expect_err("the holder failed");
    assert_eq!(
        store.note(&acme()).map(|n| n.finding),
        Some(exited()),
        "the holder left its note"
    );
}

#[tokio::test(start_paused = true)]
async fn an_older_note_within_the_window_is_recently_failed_and_kept_by_the_process() {
    let store = Arc::new(Shared::default());
    let at = SystemTime::now() - Duration::from_secs(3);
    let note = FailureNote { at, finding: exited() };
    store.note_failure(&acme(), Some(&note)).await.expect("note");
    let cli = FakeCli::succeeding(&fly("later"));
    let tokens = process(&cli, &store).await;
    let err = tokens.get("app-1").await.expect_err("within the window");
    match &err.no_token_report().expect("report").cli {
        CliFinding::RecentlyFailed { ago, finding } => {
            assert_eq!(ago.as_secs(), 3);
            assert_eq!(**finding, exited());
        }
        other => panic!("not the window's answer: {other:?}"),
    }
    // Another cold app of the process: the slot answers, no second lock.
    let err = tokens.get("app-2").await.expect_err("still within the window");
    assert!(matches!(
        err.no_token_report().expect("report").cli,
        CliFinding::RecentlyFailed { .. }
    ));
    assert_eq!(store.granted(), 1);
    assert_eq!(cli.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_note_past_the_window_is_ignored_and_a_success_clears_it() {
    let store = Arc::new(Shared::default());
    let note = FailureNote {
        at: SystemTime::now() - Duration::from_secs(11),
        finding: exited(),
    };
    store.note_failure(&acme(), Some(&note)).await.expect("note");
    let cli = FakeCli::succeeding(&fly("later"));
    let tokens = process(&cli, &store).await;
    assert_eq!(tokens.get("my-app").await.expect("runs").expose(), fly("later"));
    assert_eq!(cli.calls(), 1);
    assert_eq!(store.note(&acme()), None, "the success cleared the note");
}

#[tokio::test(start_paused = true)]
async fn with_no_failure_window_only_a_failure_during_the_wait_is_shared() {
    let store = Arc::new(Shared::default());
    let note = FailureNote {
        at: SystemTime::now() - Duration::from_secs(1),
        finding: exited(),
    };
    store.note_failure(&acme(), Some(&note)).await.expect("note");
    let cli = FakeCli::succeeding(&fly("later"));
    let tokens = process_with(&cli, &store, |c| c.configure(|s| s.failure_window(Duration::ZERO))).await;
    assert_eq!(tokens.get("my-app").await.expect("runs").expose(), fly("later"));
    assert_eq!(cli.calls(), 1);
}
