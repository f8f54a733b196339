//! `fly-tokens demo`: the whole token stack on this machine, against a
//! simulated fly CLI and a temporary store, narrated on stdout. No Fly
//! account, no network, no process spawned; tokens appear as fingerprints.

mod sim;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_app_server::{Source, StorageKey, Token, TokenError, Tokens, TokensConfig};
use atlas_fly_cli::FileStorage;
use tokio::task::JoinSet;

use super::fingerprint::fingerprint;
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
            eprintln!("fly-tokens demo: {e}");
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
    let config = || {
        TokensConfig::default()
            .name("demo")
            .storage(store.clone())
            .cmd_fn(cli.clone())
            .config_file_fn(user_token(user_on.clone()))
            .org(ORG)
    };

    println!("fly-tokens demo: the atlas token stack on this machine, with no Fly account and no network");
    println!("  fly CLI  simulated in-process: {CLI_DELAY:?} per call, mints fake `FlyV1 fm2_…` tokens");
    println!("  store    a temporary FileStorage (removed at the end)");
    println!("  tokens   shown as fingerprints: the first 8 hex characters of their SHA-256");
    println!();

    let tokens = Tokens::start(config()).await.map_err(|e| e.to_string())?;
    let mut gets = 0usize;

    println!("1. Where a token comes from (the resolution chain; first hit wins)");
    gets += 1;
    show(
        &tokens,
        "alpha",
        "cold: the AppServer ran `fly tokens create readonly -o demo-org`",
    )
    .await?;
    gets += 1;
    show(
        &tokens,
        "alpha",
        "warm: read from the shared table in the caller's own task",
    )
    .await?;
    user_on.store(true, Ordering::SeqCst);
    gets += 1;
    show(
        &tokens,
        "gamma",
        "FLY_API_TOKEN is set: your own token comes before the CLI",
    )
    .await?;
    user_on.store(false, Ordering::SeqCst);
    cli.set_logged_in(false);
    println!("   (the simulated CLI is logged out from here on)");
    gets += 1;
    match tokens.get("delta").await {
        Err(TokenError::NoTokenAvailable(report)) => {
            println!(
                "   get {:<6} no token: storage {}; your token {}; cli {}; manual {}",
                "delta", report.storage, report.user_token, report.cli, report.manual
            );
        }
        other => return Err(format!("expected no token for delta, got {}", describe(&other))),
    }
    let manual = Token::new(sim::fake_token("set-by-hand"));
    tokens
        .set_manual("delta", manual.clone())
        .await
        .map_err(|e| e.to_string())?;
    println!("   set-manual delta    stored {}", fingerprint(&manual));
    gets += 1;
    show(
        &tokens,
        "delta",
        "every other link missed; the manual token is the last one",
    )
    .await?;
    cli.set_logged_in(true);
    println!("   (logged in again)   fly CLI calls so far: {}", cli.calls());
    println!();

    println!("2. Coalescing: {BURST} concurrent callers ask for the cold app `beta`");
    let before = cli.calls();
    let mut burst = JoinSet::new();
    for _ in 0..BURST {
        let tokens = tokens.clone();
        burst.spawn(async move {
            let (token, source, _) = tokens.get_traced("beta").await;
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
    let beta_fp = match fps.as_slice() {
        [one] => one.clone(),
        _ => return Err("the burst saw different tokens".to_owned()),
    };
    println!("   sources: cli {from_cli}, cache {from_cache}; every caller got {beta_fp}");
    println!(
        "   {BURST} callers -> {} CLI call (the AppServer serves one app's callers in turn; the first one's \
         answer fills the table for the rest)",
        cli.calls() - before
    );
    println!();

    println!("3. AppServer crash: whereis(\"alpha\").kill()");
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
    println!("   the apps supervisor restarted alpha's AppServer (one_for_one); beta's server was untouched");
    gets += 1;
    show(
        &tokens,
        "alpha",
        "the shared table outlived the server: still a cache hit",
    )
    .await?;
    println!("   fly CLI calls: still {}", same(calls, cli.calls()));
    println!();

    println!("4. Table-owner crash: the root's child `table` is killed (rest_for_one)");
    // The background persist of alpha's token must have landed first.
    eventually("alpha's token to be stored", || async {
        store_has(&store, "alpha", StorageKey::Cached).await.then_some(())
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
    println!(
        "   restarted: {}; kept: {}",
        restarted.join(", "),
        if kept.is_empty() {
            "none".to_owned()
        } else {
            kept.join(", ")
        }
    );
    println!(
        "   the cache is empty: cached(\"alpha\") = {}",
        tokens.cached("alpha").map_or("none".to_owned(), |t| fingerprint(&t))
    );
    gets += 1;
    show(
        &tokens,
        "alpha",
        "the first call after the rebuild reads the store, not the CLI",
    )
    .await?;
    println!("   fly CLI calls: still {}", same(calls, cli.calls()));
    println!();

    println!("5. Restart: the stack shuts down, a new one starts on the same store");
    tokens.shutdown().await;
    let tokens = Tokens::start(config()).await.map_err(|e| e.to_string())?;
    gets += 1;
    show(&tokens, "beta", "kept across restarts").await?;
    println!();

    println!("6. Clean shutdown");
    tokens.shutdown().await;
    let entries = store.entries().await.map_err(|e| e.to_string())?;
    let list = |key: StorageKey| {
        entries
            .iter()
            .filter(|(_, k)| *k == key)
            .map(|(app, _)| app.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("   every server stopped and every background persist landed before shutdown() returned");
    println!(
        "   the store holds: cached [{}], manual [{}]",
        list(StorageKey::Cached),
        list(StorageKey::Manual)
    );
    println!(
        "   fly CLI calls in total: {} for {gets} gets across 4 apps",
        cli.calls()
    );
    Ok(())
}

/// One `get`, printed as source, acquirer and fingerprint.
async fn show(tokens: &Tokens, app: &str, note: &str) -> Result<(), String> {
    let (result, source, acquirer) = tokens.get_traced(app).await;
    let token = result.map_err(|e| format!("get {app}: {e}"))?;
    println!(
        "   get {app:<6} {:<16} {:<20} {}  {note}",
        format!("source={source}"),
        format!("acquirer={acquirer}"),
        fingerprint(&token)
    );
    Ok(())
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

async fn store_has(store: &FileStorage, app: &str, key: StorageKey) -> bool {
    use atlas_app_server::{AppName, Storage};
    match AppName::new(app) {
        Ok(app) => matches!(store.get(&app, key).await, Ok(Some(_))),
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
