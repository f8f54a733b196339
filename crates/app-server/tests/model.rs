//! Model-based test of token resolution (SPEC.md §5): random sequences of
//! operations run against the real stack (fake CLI, flaky memory storage,
//! manual clock, paused tokio time) and against a small model written from
//! the spec; every answer, the table, the stored records and the number of
//! CLI runs must agree after every step.
//!
//! Both apps are of one org (`readonly` tokens: one scope, shared) or each
//! its own scope (`deploy` tokens), drawn per case. Soft expiry (lead 0)
//! and the failure window (0) are disabled to keep the model small; they
//! have their own tests (`soft_expiry.rs`, `concurrency.rs`).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    cmd_fn, CliFinding, CmdOutput, ManualFinding, Scope, Source, Storage, StorageFinding, StorageKey, Token,
    TokenError, TokenKind, UserTokenFinding,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use support::{app, org, Fixture, ORG, T0};

const APPS: [&str; 2] = ["app-a", "app-b"];
const TTL: i64 = 24 * 3_600;
const USER_TTL: i64 = 60;
const CLI_TIMEOUT: Duration = Duration::from_secs(15);
/// Every CLI run takes this long (paused time), so concurrent gets overlap.
const CLI_DELAY: Duration = Duration::from_millis(10);

/// What the fake `fly tokens create` does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cli {
    /// Exit 0 with this (Fly-looking) token on stdout.
    Ok(String),
    /// Exit 0 with a notice on stdout: a miss.
    NotAToken,
    /// Exit 0 with blank stdout: a miss.
    Empty,
    /// Exit 1: a miss.
    Fail,
    /// Never finishes: a miss after `cli_timeout`.
    Hang,
    /// Cannot be run at all (not installed): a miss.
    NotRun,
}

#[derive(Clone, Debug)]
enum Op {
    Get(usize),
    /// Two concurrent gets of the same app: one resolution for both.
    GetPair(usize),
    /// Concurrent gets of both apps: with one scope, one flight for both.
    GetBoth,
    Invalidate(usize),
    Refresh(usize),
    SetManual(usize),
    ClearManual(usize),
    /// The CLI mints a new token from now on.
    CliOk,
    CliNotAToken,
    CliEmpty,
    CliFail,
    CliHang,
    CliNotRun,
    /// The user's own token becomes a new one.
    UserSet,
    /// The user's own token is blank (a miss).
    UserBlank,
    UserClear,
    FailPuts(bool),
    FailGets(bool),
    FailDeletes(bool),
    /// Wall clock and tokio time move together, by this many seconds.
    Advance(i64),
    KillServer(usize),
    KillTable,
}

fn op() -> impl Strategy<Value = Op> {
    let app = || 0..APPS.len();
    prop_oneof![
        8 => app().prop_map(Op::Get),
        2 => app().prop_map(Op::GetPair),
        2 => Just(Op::GetBoth),
        2 => app().prop_map(Op::Invalidate),
        2 => app().prop_map(Op::Refresh),
        1 => app().prop_map(Op::SetManual),
        1 => app().prop_map(Op::ClearManual),
        2 => Just(Op::CliOk),
        1 => prop_oneof![Just(Op::CliNotAToken), Just(Op::CliEmpty), Just(Op::CliHang), Just(Op::CliNotRun)],
        1 => Just(Op::CliFail),
        1 => Just(Op::UserSet),
        1 => prop_oneof![Just(Op::UserBlank), Just(Op::UserClear)],
        1 => any::<bool>().prop_map(Op::FailPuts),
        1 => prop_oneof![any::<bool>().prop_map(Op::FailGets), any::<bool>().prop_map(Op::FailDeletes)],
        3 => prop::sample::select(vec![1, USER_TTL - 1, USER_TTL, 3_600, 12 * 3_600, TTL - 1, TTL, 25 * 3_600]).prop_map(Op::Advance),
        1 => app().prop_map(Op::KillServer),
        1 => Just(Op::KillTable),
    ]
}

/// An answer, reduced to what is compared: the token, or the error's kind
/// (for `NoTokenAvailable`, what each link found).
type Answer = Result<String, String>;

/// The model of one stack: SPEC.md §5, one operation at a time.
#[derive(Clone, Debug)]
struct Model {
    now: i64,
    /// Deploy tokens: each app its own scope; else both share the org's.
    deploy: bool,
    /// app → (token, expires_at): the shared table.
    table: HashMap<usize, (String, i64)>,
    /// scope → (token, expires_at): the scope's current token.
    current: HashMap<usize, (String, i64)>,
    /// scope → apps whose table entry holds the scope's token.
    holders: HashMap<usize, BTreeSet<usize>>,
    /// scope → (token, expires_at): the stored minted records.
    minted: HashMap<usize, (String, i64)>,
    /// app → token: the stored manual overrides.
    manual: HashMap<usize, String>,
    /// Apps whose AppServer runs.
    servers: BTreeSet<usize>,
    cli: Cli,
    user: Option<String>,
    /// `config_file_enabled`: the user's own token is consulted at all.
    user_enabled: bool,
    fail_puts: bool,
    fail_gets: bool,
    fail_deletes: bool,
    cli_runs: usize,
}

/// What a CLI run found, as the report shows it.
type CliOutcome = Result<String, String>;

impl Model {
    fn new(user_enabled: bool, deploy: bool) -> Self {
        Self {
            now: T0,
            deploy,
            servers: BTreeSet::new(),
            user_enabled,
            table: HashMap::new(),
            current: HashMap::new(),
            holders: HashMap::new(),
            minted: HashMap::new(),
            manual: HashMap::new(),
            cli: Cli::Fail,
            user: None,
            fail_puts: false,
            fail_gets: false,
            fail_deletes: false,
            cli_runs: 0,
        }
    }

    /// The scope of app `a` (an index: the app's own, or 0 for the org).
    fn scope(&self, a: usize) -> usize {
        if self.deploy {
            a
        } else {
            0
        }
    }

    fn table_hit(&self, a: usize) -> Option<String> {
        self.table
            .get(&a)
            .filter(|(_, at)| *at > self.now)
            .map(|(t, _)| t.clone())
    }

    /// `a` takes its scope's token.
    fn hold(&mut self, a: usize, token: &str, at: i64) {
        self.table.insert(a, (token.to_owned(), at));
        let s = self.scope(a);
        self.holders.entry(s).or_default().insert(a);
    }

    /// One CLI run for `a`'s scope.
    fn run_cli(&mut self) -> CliOutcome {
        self.cli_runs += 1;
        match self.cli.clone() {
            Cli::Ok(t) => Ok(t),
            Cli::NotAToken => Err("not-a-token".to_owned()),
            Cli::Empty => Err("empty".to_owned()),
            Cli::Fail => Err("exit 1".to_owned()),
            Cli::Hang => Err("timed out".to_owned()),
            Cli::NotRun => Err("not run".to_owned()),
        }
    }

    /// The chain. `replacing` (a refresh) skips the table and any copy equal
    /// to the token being replaced. `shared`: a CLI outcome of a concurrent
    /// flight of the same scope, which this resolution waited for.
    fn resolve(
        &mut self,
        a: usize,
        replacing: Option<Option<String>>,
        shared: Option<CliOutcome>,
    ) -> (Answer, Source, Option<CliOutcome>) {
        let s = self.scope(a);
        let now = self.now;
        let refresh = replacing.is_some();
        let replacing = replacing.flatten();
        let not_replaced = |t: &String| Some(t) != replacing.as_ref();
        if !refresh {
            if let Some(t) = self.table_hit(a) {
                return (Ok(t), Source::Cache, None);
            }
        }
        if let Some((t, at)) = self
            .current
            .get(&s)
            .cloned()
            .filter(|(t, at)| *at > now && not_replaced(t))
        {
            self.hold(a, &t, at);
            return (Ok(t), Source::Cache, None);
        }
        let storage = if self.fail_gets {
            "failed".to_owned()
        } else {
            match self.minted.get(&s).cloned() {
                None => "none".to_owned(),
                Some((t, _)) if !not_replaced(&t) => "skipped".to_owned(),
                Some((t, at)) if at > now => {
                    self.current.insert(s, (t.clone(), at));
                    self.hold(a, &t, at);
                    return (Ok(t), Source::Storage, None);
                }
                Some((_, at)) => format!("expired@{at}"),
            }
        };
        let user = if !self.user_enabled {
            "disabled"
        } else if let Some(u) = self
            .user
            .clone()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty() && not_replaced(u))
        {
            self.table.insert(a, (u.clone(), now + USER_TTL));
            return (Ok(u), Source::Config, None);
        } else {
            "none"
        };
        let ran = match shared {
            // A concurrent flight minted it: the look-again finds it.
            Some(Ok(t)) => {
                let at = self.current.get(&s).map(|(_, at)| *at).expect("the flight set it");
                self.hold(a, &t, at);
                return (Ok(t), Source::Cache, None);
            }
            Some(Err(e)) => Err(e),
            None => self.run_cli(),
        };
        let cli = match ran.clone() {
            Ok(t) => {
                let at = now + TTL;
                self.current.insert(s, (t.clone(), at));
                self.hold(a, &t, at);
                if !self.fail_puts {
                    self.minted.insert(s, (t.clone(), at));
                }
                return (Ok(t), Source::Cli, Some(ran));
            }
            Err(e) => e,
        };
        let manual = if self.fail_gets {
            "failed"
        } else if let Some(m) = self.manual.get(&a) {
            return (Ok(m.clone()), Source::Manual, Some(ran));
        } else {
            "none"
        };
        let report = format!("no token: storage={storage} user={user} cli={cli} manual={manual}");
        (Err(report), Source::None, Some(ran))
    }

    /// Drops what `a` was served, for its whole scope; `Ok(replaced)`.
    fn invalidate(&mut self, a: usize) -> Result<Option<String>, String> {
        let s = self.scope(a);
        let served = self.table.remove(&a).map(|(t, _)| t);
        let current = self.current.get(&s).map(|(t, _)| t.clone());
        let replaced = served.or(current.clone());
        if let Some(r) = &replaced {
            if current.as_ref() == Some(r) {
                self.current.remove(&s);
                for other in self.holders.remove(&s).unwrap_or_default() {
                    if self.table.get(&other).map(|(t, _)| t) == Some(r) {
                        self.table.remove(&other);
                    }
                }
            }
        }
        let target = match &replaced {
            Some(r) => Some(r.clone()),
            // Failed gets are `Unavailable`: the store cannot be reached.
            None if self.fail_gets => return Err(UNAVAILABLE.into()),
            None => self.minted.get(&s).map(|(t, _)| t.clone()),
        };
        let Some(target) = target else { return Ok(replaced) };
        if self.fail_deletes {
            return Err("storage".into());
        }
        if self.minted.get(&s).map(|(t, _)| t) == Some(&target) {
            self.minted.remove(&s);
        }
        Ok(Some(target))
    }
}

/// The model's invalidation could not reach the store at all: `invalidate`
/// reports it as a storage failure, a refresh goes on without the delete.
const UNAVAILABLE: &str = "storage unavailable";

fn kind(e: &TokenError) -> String {
    match e {
        TokenError::NoTokenAvailable(r) => {
            let storage = match &r.storage {
                StorageFinding::None => "none".to_owned(),
                StorageFinding::Expired { expires_at: Some(at) } => format!("expired@{at}"),
                StorageFinding::Expired { expires_at: None } => "expired@none".to_owned(),
                StorageFinding::Skipped => "skipped".to_owned(),
                StorageFinding::Failed(_) => "failed".to_owned(),
                other => format!("unexpected {other}"),
            };
            let user = match r.user_token {
                UserTokenFinding::None => "none",
                UserTokenFinding::Disabled => "disabled",
                _ => "unexpected",
            };
            let cli = match &r.cli {
                CliFinding::Exited { code, .. } => format!("exit {code}"),
                CliFinding::Killed { .. } => "killed".to_owned(),
                CliFinding::EmptyOutput => "empty".to_owned(),
                CliFinding::TooLarge => "too large".to_owned(),
                CliFinding::NotAToken => "not-a-token".to_owned(),
                CliFinding::TimedOut { .. } => "timed out".to_owned(),
                CliFinding::NotRun(_) => "not run".to_owned(),
                other => format!("unexpected {other}"),
            };
            let manual = match &r.manual {
                ManualFinding::None => "none",
                ManualFinding::Failed(_) => "failed",
                _ => "unexpected",
            };
            format!("no token: storage={storage} user={user} cli={cli} manual={manual}")
        }
        TokenError::PersistFailed(_) => "persist failed".into(),
        TokenError::Storage(_) => "storage".into(),
        other => format!("unexpected: {other}"),
    }
}

fn answer<T>(r: Result<T, TokenError>, ok: impl FnOnce(T) -> String) -> Answer {
    r.map(ok).map_err(|e| kind(&e))
}

/// The real stack and the handles the operations turn.
struct Real {
    f: Fixture,
    cli: Arc<Mutex<Cli>>,
    cli_runs: Arc<AtomicUsize>,
    user: Arc<Mutex<Option<String>>>,
}

impl Real {
    async fn start(user_enabled: bool, deploy: bool) -> Self {
        let cli = Arc::new(Mutex::new(Cli::Fail));
        let cli_runs = Arc::new(AtomicUsize::new(0));
        let user: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let (c, runs, u) = (cli.clone(), cli_runs.clone(), user.clone());
        let f = Fixture::with(FakeCli::new(), move |config| {
            config
                .cmd_fn(cmd_fn(move |_program, _args| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let mode = c.lock().expect("cli lock").clone();
                    async move {
                        tokio::time::sleep(CLI_DELAY).await;
                        let out = |code: i32, stdout: &str| {
                            CmdOutput::new(code, stdout, if code == 0 { "" } else { "Error: not logged in" })
                        };
                        match mode {
                            Cli::Ok(t) => Ok(out(0, &format!("{}\n", serde_json::json!({ "token": t })))),
                            Cli::NotAToken => Ok(out(0, "Update available 0.3.1 -> 0.3.2\n")),
                            Cli::Empty => Ok(out(0, " \n")),
                            Cli::Fail => Ok(out(1, "")),
                            Cli::Hang => std::future::pending().await,
                            Cli::NotRun => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no fly")),
                        }
                    }
                }))
                .config_file_fn(move || u.lock().expect("user lock").as_deref().map(Token::new))
                .configure(|s| {
                    s.config_file_enabled(user_enabled)
                        .soft_expiry_lead(Duration::ZERO)
                        .failure_window(Duration::ZERO)
                        .cli_timeout(CLI_TIMEOUT)
                        .token_kind(if deploy { TokenKind::Deploy } else { TokenKind::Readonly })
                })
        })
        .await;
        Self { f, cli, cli_runs, user }
    }

    /// Lets the background persists (and any restart) run to completion:
    /// the ready tasks run before paused time moves.
    async fn settle(&self) {
        for _ in 0..3 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stored(&self, key: &StorageKey) -> Option<(String, Option<i64>)> {
        // The inner store: what is really there, whatever failures are injected.
        let rec = self.f.store.inner().get(key).await.expect("memory get");
        rec.map(|r| (r.token.expose().to_owned(), r.expires_at))
    }
}

/// The storage key of model scope `s`.
fn scope_key(deploy: bool, s: usize) -> StorageKey {
    StorageKey::Minted(if deploy {
        Scope::App(app(APPS[s]))
    } else {
        Scope::Org(org(ORG))
    })
}

fn with_source((answer, source, _): (Answer, Source, Option<CliOutcome>)) -> (Answer, Source) {
    (answer, source)
}

async fn run(user_enabled: bool, deploy: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let real = Real::start(user_enabled, deploy).await;
    let mut model = Model::new(user_enabled, deploy);
    let mut next = 0usize;
    let mut fresh = |tag: &str| {
        next += 1;
        format!("FlyV1 fm2_{tag}{next}")
    };
    for (step, op) in ops.iter().enumerate() {
        let tokens = &real.f.tokens;
        match *op {
            Op::Get(a) => {
                // A fast-path hit sends nothing and starts nothing.
                if model.table_hit(a).is_none() {
                    model.servers.insert(a);
                }
                let (got, source, _) = tokens.get_traced(APPS[a]).await;
                let got = (answer(got, |t| t.expose().to_owned()), source);
                let want = with_source(model.resolve(a, None, None));
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
            }
            Op::GetPair(a) => {
                if model.table_hit(a).is_none() {
                    model.servers.insert(a);
                }
                let (one, two) = tokio::join!(tokens.get_traced(APPS[a]), tokens.get_traced(APPS[a]));
                let mut got: Vec<_> = [one, two]
                    .into_iter()
                    .map(|(r, source, _)| (answer(r, |t| t.expose().to_owned()), format!("{source:?}")))
                    .collect();
                got.sort();
                let (first, source) = with_source(model.resolve(a, None, None));
                // The other caller was coalesced: it reads the table the
                // resolution filled, or shares its manual token or failure.
                let other = match source {
                    Source::Storage | Source::Config | Source::Cli => Source::Cache,
                    s => s,
                };
                let mut want = vec![(first.clone(), format!("{source:?}")), (first, format!("{other:?}"))];
                want.sort();
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
            }
            Op::GetBoth => {
                let cold: Vec<usize> = (0..APPS.len()).filter(|a| model.table_hit(*a).is_none()).collect();
                model.servers.extend(cold.iter().copied());
                let (one, two) = tokio::join!(tokens.get_traced(APPS[0]), tokens.get_traced(APPS[1]));
                let got: Vec<_> = [one, two]
                    .into_iter()
                    .map(|(r, source, _)| (answer(r, |t| t.expose().to_owned()), source))
                    .collect();
                // With one scope, the second cold app waits for the first
                // one's flight and takes its outcome. Which app is first is
                // the scheduler's choice: either order is the model's.
                let mut outcomes = Vec::new();
                for order in [[0, 1], [1, 0]] {
                    let mut m = model.clone();
                    let mut want = vec![None, None];
                    let mut flight = None;
                    for a in order {
                        let shared = if cold.len() == 2 && !m.deploy {
                            flight.clone()
                        } else {
                            None
                        };
                        let (answer, source, ran) = m.resolve(a, None, shared);
                        flight = flight.or(ran);
                        want[a] = Some((answer, source));
                    }
                    let want: Vec<_> = want.into_iter().flatten().collect();
                    outcomes.push((want, m));
                }
                let first = outcomes[0].0.clone();
                let Some((_, m)) = outcomes.into_iter().find(|(want, _)| *want == got) else {
                    prop_assert_eq!(got, first, "step {} {:?}", step, op);
                    unreachable!()
                };
                model = m;
            }
            Op::Refresh(a) => {
                let got = answer(tokens.refresh(APPS[a]).await, |t| t.expose().to_owned());
                model.servers.insert(a);
                let want = match model.invalidate(a) {
                    Ok(replaced) => model.resolve(a, Some(replaced), None).0,
                    // Only reached with nothing replaced (see `invalidate`).
                    Err(e) if e == UNAVAILABLE => model.resolve(a, Some(None), None).0,
                    Err(e) => Err(e),
                };
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
            }
            Op::Invalidate(a) => {
                let got = answer(tokens.invalidate(APPS[a]).await, |()| String::new());
                let want = model.invalidate(a).map(|_| String::new()).map_err(|e| {
                    if e == UNAVAILABLE {
                        "storage".to_owned()
                    } else {
                        e
                    }
                });
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
            }
            Op::SetManual(a) => {
                let t = fresh("m");
                model.servers.insert(a);
                let got = answer(tokens.set_manual(APPS[a], t.as_str()).await, |()| String::new());
                let want = if model.fail_puts {
                    Err("persist failed".to_owned())
                } else {
                    model.manual.insert(a, t);
                    Ok(String::new())
                };
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
            }
            Op::ClearManual(a) => {
                let got = answer(tokens.clear_manual(APPS[a]).await, |()| String::new());
                let want = if model.fail_deletes {
                    Err("storage".to_owned())
                } else {
                    model.manual.remove(&a);
                    Ok(String::new())
                };
                prop_assert_eq!(got, want, "step {} {:?}", step, op);
            }
            Op::CliOk | Op::CliNotAToken | Op::CliEmpty | Op::CliFail | Op::CliHang | Op::CliNotRun => {
                let mode = match *op {
                    Op::CliOk => Cli::Ok(fresh("c")),
                    Op::CliNotAToken => Cli::NotAToken,
                    Op::CliEmpty => Cli::Empty,
                    Op::CliFail => Cli::Fail,
                    Op::CliHang => Cli::Hang,
                    _ => Cli::NotRun,
                };
                *real.cli.lock().expect("cli lock") = mode.clone();
                model.cli = mode;
            }
            Op::UserSet | Op::UserBlank | Op::UserClear => {
                let user = match *op {
                    Op::UserSet => Some(fresh("u")),
                    Op::UserBlank => Some("  ".to_owned()),
                    _ => None,
                };
                real.user.lock().expect("user lock").clone_from(&user);
                model.user = user;
            }
            Op::FailPuts(on) => {
                real.f.store.fail_puts(on);
                model.fail_puts = on;
            }
            Op::FailGets(on) => {
                real.f.store.fail_gets(on);
                model.fail_gets = on;
            }
            Op::FailDeletes(on) => {
                real.f.store.fail_deletes(on);
                model.fail_deletes = on;
            }
            Op::Advance(secs) => {
                real.f.advance(Duration::from_secs(secs.unsigned_abs())).await;
                model.now += secs;
            }
            Op::KillServer(a) => {
                if let Some(old) = tokens.whereis(APPS[a]) {
                    old.kill();
                    // Wait for its restart (a new, live incarnation); one
                    // that never comes shows in the running servers below.
                    for _ in 0..1_000 {
                        match tokens.whereis(APPS[a]) {
                            Some(now) if now != old && now.is_alive() => break,
                            _ => tokio::task::yield_now().await,
                        }
                    }
                }
                // Stay far inside the restart intensities (tokio time only).
                tokio::time::advance(Duration::from_secs(30)).await;
            }
            Op::KillTable => {
                real.f.kill_child("table").await;
                // The apps supervisor restarts empty: servers start again on
                // demand; the scopes are forgotten with the cache.
                model.table.clear();
                model.current.clear();
                model.holders.clear();
                model.servers.clear();
                tokio::time::advance(Duration::from_secs(30)).await;
            }
        }
        real.settle().await;

        // Everything observable agrees after every step.
        for (a, name) in APPS.iter().enumerate() {
            let cached = tokens.cached(name).map(|t| t.expose().to_owned());
            prop_assert_eq!(
                cached,
                model.table_hit(a),
                "table of {} after step {} {:?}",
                name,
                step,
                op
            );
            let s = model.scope(a);
            let stored = real.stored(&scope_key(deploy, s)).await;
            let want = model.minted.get(&s).map(|(t, at)| (t.clone(), Some(*at)));
            prop_assert_eq!(
                stored,
                want,
                "stored minted of {}'s scope after step {} {:?}",
                name,
                step,
                op
            );
            let stored = real.stored(&StorageKey::Manual(app(name))).await;
            let want = model.manual.get(&a).map(|t| (t.clone(), None));
            prop_assert_eq!(stored, want, "stored manual of {} after step {} {:?}", name, step, op);
        }
        let mut running: Vec<usize> = tokens
            .running_apps()
            .iter()
            .map(|n| APPS.iter().position(|a| *a == n.as_str()).expect("a known app"))
            .collect();
        running.sort_unstable();
        let want: Vec<usize> = model.servers.iter().copied().collect();
        prop_assert_eq!(running, want, "running servers after step {} {:?}", step, op);
        let runs = real.cli_runs.load(Ordering::SeqCst);
        prop_assert_eq!(runs, model.cli_runs, "CLI runs after step {} {:?}", step, op);
    }
    real.f.tokens.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(Config {
        cases: 128,
        // Minimal failing sequences are reported by the run; no files written.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn the_stack_follows_the_model(
        user_enabled in prop::bool::weighted(0.8),
        deploy in prop::bool::weighted(0.3),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(run(user_enabled, deploy, ops))?;
    }
}
