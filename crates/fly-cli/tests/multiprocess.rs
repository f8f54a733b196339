//! Many `fly-tokens` processes on one file store: the scope's lock file
//! makes them run the fly CLI once between them (SPEC.md §8). Each test has
//! its own sandbox (store, `HOME`, a fake `fly` that counts its runs in a
//! file it appends to); the processes are real ones, started together.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    FailureNote, OrgName, Scope, ScopeLease, Storage, StorageError, StorageKey, Token, TokenRecord, Tokens,
    TokensConfig,
};
use atlas_fly_cli::FileStorage;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::sandbox::{gone, Sandbox};

/// How many processes each herd test starts.
const N: usize = 20;

/// What the waiters log (at debug) when they find the lock held.
const WAITING: &str = "another process holds the scope's lock; waiting";

/// A running `fly-tokens`, its output collected as it comes.
struct Running {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// What a finished `fly-tokens` gave.
struct Done {
    status: ExitStatus,
    out: String,
    err: String,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut chunk) {
            into.lock()
                .expect("output")
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    })
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("spawn fly-tokens");
        let (out, err) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), Arc::clone(&out)),
            collect(child.stderr.take().expect("stderr"), Arc::clone(&err)),
        ];
        Running {
            child,
            out,
            err,
            readers,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    fn stderr(&self) -> String {
        self.err.lock().expect("stderr").clone()
    }

    /// Waits for the exit, for at most 60 s (a hang, not a slow run).
    fn finish(mut self) -> Done {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("fly-tokens did not exit: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("reader");
        }
        let out = self.out.lock().expect("stdout").clone();
        let err = self.stderr();
        Done { status, out, err }
    }
}

/// Waits (at most 30 s) until `check` holds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fake `fly` that appends "PID PARENT" to `calls` (O_APPEND: one
/// line per run, whoever runs at once), then runs `body`.
fn counting_fly(s: &Sandbox, body: &str) {
    let calls = s.path("calls");
    s.fly(&format!("echo \"$$ $PPID\" >> '{}'\n{body}", calls.display()));
}

/// The runs of the fake `fly` so far: (its pid, its parent's).
fn calls(s: &Sandbox) -> Vec<(i32, i32)> {
    std::fs::read_to_string(s.path("calls"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (pid, parent) = l.split_once(' ').expect("PID PARENT");
            (pid.parse().expect("pid"), parent.parse().expect("parent"))
        })
        .collect()
}

/// `fly-tokens get APP` for each app, all started at once; their results.
fn herd(s: &Sandbox, apps: &[String]) -> Vec<Done> {
    let running: Vec<_> = apps
        .iter()
        .map(|app| Running::start(s.command(&["get", app])))
        .collect();
    running.into_iter().map(Running::finish).collect()
}

/// A fake `fly` slow enough that the herd piles up behind the first run,
/// printing a token of its own (`fm2_callPID`), so two runs would show.
fn slow_minting_fly(s: &Sandbox) {
    counting_fly(s, "sleep 1\necho \"FlyV1 fm2_call$$\"");
}

fn one_token(done: &[Done]) -> String {
    for d in done {
        assert!(d.status.success(), "{:?}: {}", d.status, d.err);
    }
    let first = done[0].out.trim().to_owned();
    assert!(first.starts_with("FlyV1 fm2_call"), "{first}");
    assert!(
        done.iter().all(|d| d.out.trim() == first),
        "the processes printed different tokens"
    );
    first
}

#[test]
fn twenty_processes_cold_on_one_app_run_the_cli_once_and_print_one_token() {
    let s = Sandbox::new();
    slow_minting_fly(&s);
    let done = herd(&s, &vec!["same-app".to_owned(); N]);
    let token = one_token(&done);
    assert_eq!(calls(&s).len(), 1, "one CLI run for {N} processes");
    let stored = std::fs::read_to_string(s.path("store/org/acme.json")).expect("the record");
    assert!(stored.contains(&token), "the store keeps the token everyone printed");
}

#[test]
fn twenty_apps_of_one_org_in_twenty_processes_run_the_cli_once() {
    let s = Sandbox::new();
    slow_minting_fly(&s);
    let apps: Vec<_> = (0..N).map(|i| format!("app-{i}")).collect();
    one_token(&herd(&s, &apps));
    assert_eq!(calls(&s).len(), 1, "one CLI run for the org");
}

#[test]
fn a_failing_cli_runs_once_and_every_process_reports_its_failure() {
    let s = Sandbox::new();
    counting_fly(&s, "sleep 1\necho 'Error: boom, not logged in' >&2\nexit 1");
    let done = herd(&s, &vec!["same-app".to_owned(); N]);
    for d in &done {
        assert_eq!(d.status.code(), Some(1), "{}", d.err);
        assert_eq!(d.out, "");
        assert!(d.err.contains("Error: boom, not logged in"), "{}", d.err);
    }
    assert_eq!(calls(&s).len(), 1, "the failing CLI ran once for {N} processes");
    let note = s.path("store/org/acme.failure");
    let text = std::fs::read_to_string(&note).expect("the holder left a failure note");
    assert!(text.contains("Error: boom, not logged in"), "{text}");
    assert_eq!(mode(&note), 0o600);
}

#[test]
fn a_holder_killed_mid_acquisition_frees_the_lock_and_a_waiter_takes_over() {
    let s = Sandbox::new();
    // The first run hangs (the holder is killed during it); the next ones
    // mint at once.
    let first = s.path("first-run");
    counting_fly(
        &s,
        &format!(
            "if mkdir '{}' 2>/dev/null; then exec sleep 300; fi\necho \"FlyV1 fm2_call$$\"",
            first.display()
        ),
    );
    let holder = Running::start(s.command(&["get", "app-0"]));
    eventually("the holder runs the CLI", || calls(&s).len() == 1);
    let (hung_fly, parent) = calls(&s)[0];
    assert_eq!(parent, holder.pid().as_raw(), "the holder itself runs the CLI");
    let waiters: Vec<_> = (1..N)
        .map(|i| {
            let mut cmd = s.command(&["get", &format!("app-{i}")]);
            cmd.env("RUST_LOG", "warn,atlas_fly_cli::store=debug");
            Running::start(cmd)
        })
        .collect();
    eventually("every waiter waits for the lock", || {
        waiters.iter().all(|w| w.stderr().contains(WAITING))
    });
    kill(holder.pid(), Signal::SIGKILL).expect("kill -9 the holder");
    let killed = holder.finish();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed.status), Some(9));
    let done: Vec<_> = waiters.into_iter().map(Running::finish).collect();
    one_token(&done);
    assert_eq!(calls(&s).len(), 2, "one waiter took over, the others took its token");
    assert!(gone(hung_fly), "the killed holder's CLI was left running");
}

#[test]
fn a_signal_ends_the_wait_for_the_lock_with_128_plus_its_number() {
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let s = Sandbox::new();
        counting_fly(&s, "echo \"FlyV1 fm2_call$$\"");
        let _held = hold_lock(&s);
        let mut cmd = s.command(&["get", "my-app"]);
        cmd.env("RUST_LOG", "warn,atlas_fly_cli::store=debug");
        let waiter = Running::start(cmd);
        eventually("the process waits for the lock", || waiter.stderr().contains(WAITING));
        kill(waiter.pid(), signal).expect("signal");
        let done = waiter.finish();
        assert_eq!(done.status.code(), Some(code), "{signal}: {}", done.err);
        assert_eq!(done.out, "");
        assert!(done.err.contains(&format!("stopped by {signal}")), "{}", done.err);
        assert!(calls(&s).is_empty(), "{signal}: no CLI run");
    }
}

#[test]
fn a_lock_held_too_long_is_waited_for_the_cli_timeout_plus_the_margin_then_the_process_acquires() {
    let s = Sandbox::new();
    counting_fly(&s, "echo \"FlyV1 fm2_call$$\"");
    let _held = hold_lock(&s);
    let started = Instant::now();
    let done = Running::start(s.command(&["--cli-timeout", "1s", "get", "my-app"])).finish();
    assert!(done.status.success(), "{}", done.err);
    assert!(done.out.starts_with("FlyV1 fm2_call"));
    assert!(done.err.contains("acquiring without the lock"), "{}", done.err);
    assert!(
        started.elapsed() >= Duration::from_secs(1) + atlas_app_server::LOCK_WAIT_MARGIN,
        "it waited the bound first"
    );
    assert_eq!(calls(&s).len(), 1);
}

#[test]
fn lock_files_are_private_not_records_not_damage_and_listings_make_none() {
    let s = Sandbox::new();
    counting_fly(&s, "echo \"FlyV1 fm2_call$$\"");
    // A store with no lock file yet; a listing adds none.
    assert!(Running::start(s.command(&["invalidate", "my-app"]))
        .finish()
        .status
        .success());
    assert!(Running::start(s.command(&["status"])).finish().status.success());
    assert!(!s.path("store/org/acme.lock").exists(), "status made a lock file");
    let got = Running::start(s.command(&["get", "my-app"])).finish();
    assert!(got.status.success(), "{}", got.err);
    let lock = s.path("store/org/acme.lock");
    assert_eq!(mode(&lock), 0o600);
    // Listed: the record only.
    let listed = Running::start(s.command(&["status", "--json"])).finish();
    assert!(listed.status.success(), "{}", listed.err);
    assert!(!listed.out.contains(".lock"), "{}", listed.out);
    let status: serde_json::Value = serde_json::from_str(&listed.out).expect("json");
    assert_eq!(status["tokens"].as_array().map(Vec::len), Some(1), "{}", listed.out);
    assert_eq!(
        status["moved_aside"].as_array().map(Vec::len),
        Some(0),
        "{}",
        listed.out
    );
    // A writer's sweep leaves it where it is.
    assert!(Running::start(s.command(&["invalidate", "my-app"]))
        .finish()
        .status
        .success());
    assert!(lock.exists(), "the sweep removed the lock file");
    let names: Vec<_> = std::fs::read_dir(s.path("store/org"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["acme.lock"], "nothing was moved aside");
}

/// The lock of the sandbox's org, held by this test as another process
/// would (the store is made first by a command that mints nothing).
fn hold_lock(s: &Sandbox) -> Flock<std::fs::File> {
    assert!(Running::start(s.command(&["invalidate", "my-app"]))
        .finish()
        .status
        .success());
    let path = s.path("store/org/acme.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .expect("lock file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .expect("lock")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// The file store, counting the locks it is asked for.
struct Counting {
    files: FileStorage,
    locks: AtomicUsize,
}

#[async_trait]
impl Storage for Counting {
    async fn get(&self, key: &StorageKey) -> Result<Option<TokenRecord>, StorageError> {
        self.files.get(key).await
    }
    async fn put(&self, key: &StorageKey, record: TokenRecord) -> Result<(), StorageError> {
        self.files.put(key, record).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.files.delete(key).await
    }
    async fn delete_if(&self, key: &StorageKey, token: &Token) -> Result<bool, StorageError> {
        self.files.delete_if(key, token).await
    }
    async fn lock_scope(&self, scope: &Scope) -> Result<ScopeLease, StorageError> {
        self.locks.fetch_add(1, Ordering::SeqCst);
        self.files.lock_scope(scope).await
    }
    async fn note_failure(&self, scope: &Scope, note: Option<&FailureNote>) -> Result<(), StorageError> {
        self.files.note_failure(scope, note).await
    }
    async fn failure_note(&self, scope: &Scope) -> Result<Option<FailureNote>, StorageError> {
        self.files.failure_note(scope).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_locks_the_file_store_once_per_scope_not_once_per_caller() {
    let dir = support::private_tempdir();
    let store = Arc::new(Counting {
        files: FileStorage::open(dir.path().join("store")).expect("open"),
        locks: AtomicUsize::new(0),
    });
    let cli = FakeCli::succeeding("FlyV1 fm2_one").with_delay(Duration::from_millis(300));
    let config = TokensConfig::default()
        .cmd_fn(cli.clone())
        .storage(store.clone())
        .configure(|s| s.org(OrgName::new("acme").expect("org")));
    let tokens = Tokens::start(config).await.expect("start");
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.get(&format!("app-{}", i % 10)).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.expect("joins").expect("token").expose(), "FlyV1 fm2_one");
    }
    assert_eq!(
        store.locks.load(Ordering::SeqCst),
        1,
        "one lock for the org, not one per caller"
    );
    assert_eq!(cli.calls(), 1);
    tokens.shutdown().await;
    let org = Scope::Org(OrgName::new("acme").expect("org"));
    assert_eq!(mode(&store.files.lock_path(&org)), 0o600);
}
