//! `fly-tokens demo`: the whole token stack on this machine, against a
//! simulated fly CLI and a temporary store, narrated on stdout for people
//! who want Fly tokens: each step says what it means for them (a crash
//! costs no new CLI call, …); the OTP words get one explanatory line each.
//! No Fly account, no network, no process spawned; tokens appear as
//! fingerprints.

mod sim;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_app_server::{Acquirer, OrgName, Settings, Source, Token, TokenError, Tokens, TokensConfig};
use atlas_fly_cli::FileStorage;
use tokio::task::JoinSet;

use super::fingerprint::fingerprint;
use super::output::{say, tell};
use super::{EXIT_FAILURE, EXIT_OK};
use sim::SimCli;

/// How long one simulated `fly tokens create` takes.
const CLI_DELAY: Duration = Duration::from_millis(50);
/// The size of the burst of concurrent callers.
const BURST: usize = 50;
/// The org the simulated CLI mints for.
const ORG: &str = "demo-org";

/// The root's children as `(id, running incarnation)`, inline: the
/// incarnation is the supervisor crate's `ChildRef`, which this crate does
/// not name (it depends on `atlas-app-server` only).
macro_rules! children {
    ($tokens:expr) => {
        $tokens
            .supervisor()
            .which_children()
            .await
            .map_err(|e| format!("which_children: {e}"))
            .map(|list| {
                list.into_iter()
                    .map(|c| (c.id.to_string(), c.child_ref().cloned()))
                    .collect::<Vec<_>>()
            })
    };
}

/// Runs the demo; returns the exit code.
pub async fn run() -> u8 {
    let dir = std::env::temp_dir().join(format!("fly-tokens-demo-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    match demo(dir).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tell!("fly-tokens demo: {e}");
            EXIT_FAILURE
        }
    }
}

/// The demo's temporary store goes away however the demo ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The stand-in for the user's own token (`FLY_API_TOKEN`), switched on for
/// one step.
fn user_token(on: Arc<AtomicBool>) -> impl Fn() -> Option<Token> + Send + Sync + 'static {
    move || {
        on.load(Ordering::SeqCst)
            .then(|| Token::new(sim::fake_token("your-own-token")))
    }
}

async fn demo(dir: PathBuf) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(&dir);
    let store = FileStorage::open(&dir).map_err(|e| e.to_string())?;
    let cli = Arc::new(SimCli::new(CLI_DELAY, ORG));
    let user_on = Arc::new(AtomicBool::new(false));
    let org = OrgName::new(ORG).map_err(|e| e.to_string())?;
    let settings = Settings::default().org(org).minter("atlas-demo");
    let config = || {
        TokensConfig::default()
            .name("demo")
            .storage(store.clone())
            .cmd_fn(cli.clone())
            .config_file_fn(user_token(user_on.clone()))
            .settings(settings.clone())
    };

    say!("fly-tokens demo: how fly-tokens gets Fly API tokens for your apps and keeps them, on this machine");
    say!("  no Fly account, no network: the fly CLI is simulated ({CLI_DELAY:?} per `fly tokens create`)");
    say!("  the token store is a temporary directory, removed at the end");
    say!("  tokens are shown by fingerprint (first 8 hex characters of their SHA-256), never in full");
    say!("  source= is where each answer came from: cache (memory), storage (disk), config (your own token), cli, manual");
    say!();

    let tokens = Tokens::start(config()).await.map_err(|e| e.to_string())?;
    let mut gets = 0usize;

    say!("1. Where a token comes from: the first source that has one wins");
    user_on.store(true, Ordering::SeqCst);
    gets += 1;
    show(
        &tokens,
        "gamma",
        "FLY_API_TOKEN is set: your own token comes before any CLI call (kept 60 s in memory, never stored)",
    )
    .await?;
    user_on.store(false, Ordering::SeqCst);
    gets += 1;
    show(
        &tokens,
        "alpha",
        "first ask: one `fly tokens create readonly -o demo-org --expiry 87000s --name ... --json` call",
    )
    .await?;
    gets += 1;
    let acquirer = show(&tokens, "alpha", "asked again: from memory, no CLI call, no wait").await?;
    if acquirer != Acquirer::Facade {
        return Err(format!(
            "the warm get was answered by {acquirer}, not in the caller's task"
        ));
    }
    say!("   (acquirer=facade: a warm get is a table read in your own task, with no message to any server)");
    gets += 1;
    show(
        &tokens,
        "beta",
        "another app of demo-org: the org's one read-only token, no CLI call",
    )
    .await?;
    say!(
        "   fly CLI calls so far: {} (one token per org, not per app)",
        cli.calls()
    );
    // A new AppServer snapshots the settings: delta's has no org.
    tokens.reconfigure(Settings {
        org: None,
        ..settings.clone()
    });
    gets += 1;
    match tokens.get("delta").await {
        Err(TokenError::NoTokenAvailable(report)) => {
            say!(
                "   get {:<6} no token: storage {}; your token {}; cli {}; manual {}",
                "delta",
                report.storage,
                report.user_token,
                report.cli,
                report.manual
            );
            say!("              (`fly-tokens get` says what each source found, and how to fix it)");
        }
        other => return Err(format!("expected no token for delta, got {}", describe(&other))),
    }
    let manual = Token::new(sim::fake_token("set-by-hand"));
    tokens
        .set_manual("delta", manual.clone())
        .await
        .map_err(|e| e.to_string())?;
    say!("   set-manual delta    stored {}", fingerprint(&manual));
    gets += 1;
    show(&tokens, "delta", "nothing else has one: the token you stored by hand").await?;
    tokens.reconfigure(settings.clone());
    say!();

    say!("2. The org's token is rejected; then {BURST} callers ask for 10 new apps at the same moment");
    tokens.invalidate("alpha").await.map_err(|e| e.to_string())?;
    let before = cli.calls();
    let mut burst = JoinSet::new();
    for i in 0..BURST {
        let tokens = tokens.clone();
        burst.spawn(async move {
            let app = format!("app-{}", i % 10);
            let (token, source, _) = tokens.get_traced(&app).await;
            (token.map(|t| fingerprint(&t)), source)
        });
    }
    let (mut from_cli, mut from_cache, mut fps) = (0, 0, Vec::new());
    while let Some(joined) = burst.join_next().await {
        let (fp, source) = joined.map_err(|e| format!("a caller failed: {e}"))?;
        match source {
            Source::Cli => from_cli += 1,
            Source::Cache => from_cache += 1,
            other => return Err(format!("unexpected source {other} in the burst")),
        }
        fps.push(fp.map_err(|e| e.to_string())?);
    }
    gets += BURST;
    fps.dedup();
    let org_fp = match fps.as_slice() {
        [one] => one.clone(),
        _ => return Err("the burst saw different tokens".to_owned()),
    };
    say!("   sources: cli {from_cli}, cache {from_cache}; every caller got {org_fp}");
    say!(
        "   {BURST} callers, 10 apps -> {} CLI call: one token minted for the whole org (the others wait for the \
         first answer)",
        cli.calls() - before
    );
    gets += 1;
    show(
        &tokens,
        "beta",
        "beta lost the rejected token with the org, and takes the new one",
    )
    .await?;
    cli.set_logged_in(false);
    say!("   (the simulated CLI is logged out now)");
    let before = cli.calls();
    let refreshed = tokens.refresh("beta").await;
    say!("   refresh beta        {}", describe(&refreshed));
    gets += 1;
    let cold = tokens.get("epsilon").await;
    say!("   get epsilon         {}", describe(&cold));
    say!(
        "   fly CLI calls for both: {} (within the 10 s failure window the failure is reported, not retried)",
        cli.calls() - before
    );
    cli.set_logged_in(true);
    tokens.reconfigure(Settings {
        failure_window: Duration::ZERO,
        ..settings.clone()
    });
    gets += 1;
    show(
        &tokens,
        "zeta",
        "logged in again (a server started with failure window 0): minted",
    )
    .await?;
    tokens.reconfigure(settings.clone());
    // alpha's entry went with the rejected org token: fill it again.
    tokens.get("alpha").await.map_err(|e| e.to_string())?;
    gets += 1;
    say!();

    say!("3. A crash inside fly-tokens: the server that answers for `alpha` is killed");
    let calls = cli.calls();
    let old = tokens.whereis("alpha").ok_or("alpha has no AppServer")?;
    let other = tokens.whereis("beta").ok_or("beta has no AppServer")?;
    old.kill();
    let new = eventually("alpha's AppServer to restart", || async {
        tokens.whereis("alpha").filter(|s| s.is_alive() && *s != old)
    })
    .await?;
    if new == old || !other.is_alive() {
        return Err("the crash was not contained to alpha's AppServer".to_owned());
    }
    say!("   it was restarted at once, alone: the server for `beta` kept running (one_for_one: only what crashed restarts)");
    gets += 1;
    show(&tokens, "alpha", "the token outlived the crash, in memory").await?;
    say!("   the crash cost no new CLI call: still {}", same(calls, cli.calls()));
    say!();

    say!("4. A bigger crash: the in-memory token table itself is lost");
    // The background persist of alpha's token must have landed first.
    eventually("alpha's token to be stored", || async {
        store_has(&store).await.then_some(())
    })
    .await?;
    let calls = cli.calls();
    let before = children!(tokens)?;
    let table = before
        .iter()
        .find(|(id, _)| id == "table")
        .and_then(|(_, r)| r.clone())
        .ok_or("no running `table` child")?;
    table.kill();
    let after = eventually("the tree to be rebuilt", || async {
        let now = children!(tokens).ok()?;
        let all_up = now.iter().all(|(_, r)| r.is_some());
        let table_new = now.iter().any(|(id, r)| id == "table" && r.as_ref() != Some(&table));
        (all_up && table_new).then_some(now)
    })
    .await?;
    let restarted: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((id, _), _)| id.as_str())
        .collect();
    let kept: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|((_, a), (_, b))| a == b)
        .map(|((id, _), _)| id.as_str())
        .collect();
    say!(
        "   restarted: {}; kept: {}  (rest_for_one: what depends on the table restarts with it)",
        restarted.join(", "),
        if kept.is_empty() {
            "none".to_owned()
        } else {
            kept.join(", ")
        }
    );
    say!(
        "   memory is empty: cached(\"alpha\") = {}",
        tokens.cached("alpha").map_or("none".to_owned(), |t| fingerprint(&t))
    );
    gets += 1;
    show(&tokens, "alpha", "read back from the store on disk").await?;
    say!("   the crash cost no new CLI call: still {}", same(calls, cli.calls()));
    say!();

    say!("5. Your program restarts: a new stack on the same store");
    tokens.shutdown().await;
    let calls = cli.calls();
    let tokens = Tokens::start(config()).await.map_err(|e| e.to_string())?;
    gets += 1;
    show(&tokens, "beta", "kept across the restart").await?;
    say!(
        "   the restart cost no new CLI call: still {}",
        same(calls, cli.calls())
    );
    say!();

    say!("6. Clean shutdown");
    tokens.shutdown().await;
    let entries = store.entries().await.map_err(|e| e.to_string())?;
    let list = |kind: &str| {
        entries
            .iter()
            .filter(|k| k.kind() == kind)
            .map(|k| k.scope().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    say!("   every token fetched was written to the store before shutdown() returned: nothing is lost on exit");
    say!(
        "   the store holds: minted [{}], manual [{}] (never your own token)",
        list("minted"),
        list("manual")
    );
    say!(
        "   in total: {} fly CLI calls for {gets} gets of 16 apps of one org",
        cli.calls()
    );
    Ok(())
}

/// One `get`, printed as source and fingerprint; returns who answered it.
async fn show(tokens: &Tokens, app: &str, note: &str) -> Result<Acquirer, String> {
    let (result, source, acquirer) = tokens.get_traced(app).await;
    let token = result.map_err(|e| format!("get {app}: {e}"))?;
    say!(
        "   get {app:<6} {:<15} {}  {note}",
        format!("source={source}"),
        fingerprint(&token)
    );
    Ok(acquirer)
}

fn describe(r: &Result<Token, TokenError>) -> String {
    match r {
        Ok(t) => format!("token {}", fingerprint(t)),
        Err(e) => e.to_string(),
    }
}

fn same(before: usize, now: usize) -> String {
    if before == now {
        now.to_string()
    } else {
        format!("{now} (was {before}!)")
    }
}

async fn store_has(store: &FileStorage) -> bool {
    use atlas_app_server::{Scope, Storage, StorageKey};
    match OrgName::new(ORG) {
        Ok(org) => matches!(store.get(&StorageKey::Minted(Scope::Org(org))).await, Ok(Some(_))),
        Err(_) => false,
    }
}

/// Polls `check` until it yields, for at most two seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("gave up waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
