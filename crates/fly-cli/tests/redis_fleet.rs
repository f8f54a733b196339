//! Several token stacks in one test process, each with its own Redis
//! connection, standing for machines that share one real `redis-server`:
//! the fleet herd, the invalidation fan-out, a holder killed mid-lease and
//! Redis restarted mid-run.
#![cfg(feature = "redis")]

mod redis_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{cmd_fn, CmdOutput, OrgName, TokenError, TokenKind, Tokens, TokensConfig};
use atlas_fly_cli::{RedisSettings, RedisStore, RedisUrl};
use redis_support::{eventually, RedisServer};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

/// A generous bound: catches a hang, not a slowness.
const WITHIN: Duration = Duration::from_secs(15);

fn fly(tag: &str) -> String {
    format!("FlyV1 fm2_{tag}")
}

/// A stack on `store` with `cli`, minting the org `acme`'s token.
async fn stack(store: RedisStore, cli: impl atlas_app_server::CmdFn, kind: TokenKind) -> Tokens {
    let config = TokensConfig::default()
        .cmd_fn(cli)
        .storage(store)
        .configure(|s| s.org(OrgName::new("acme").expect("org")).token_kind(kind));
    Tokens::start(config).await.expect("stack starts")
}

/// `n` machines on `server`: each a stack on its own store, with its CLI.
async fn machines(server: &RedisServer, prefix: &str, n: usize, token: &str) -> Vec<(Tokens, FakeCli)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let cli = FakeCli::succeeding(token).with_delay(Duration::from_millis(300));
        out.push((stack(server.store(prefix), cli.clone(), TokenKind::Readonly).await, cli));
    }
    out
}

/// Waits until every stack's invalidation listener hears the channel: a
/// probe published until each has dropped a probe app's token.
async fn all_listening(server: &RedisServer, prefix: &str, stacks: &[&Tokens]) {
    let probe = server.store(prefix);
    for tokens in stacks {
        tokens.get("probe").await.expect("probe token");
    }
    let deadline = Instant::now() + WITHIN;
    for tokens in stacks {
        while tokens.cached("probe").is_some() {
            assert!(Instant::now() < deadline, "a stack never heard the channel");
            probe.publish_invalidation("org:acme").await.expect("publish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `fut`'s output, or a panic naming `what` if it hangs.
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WITHIN, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} hung"),
    }
}

async fn shutdown(stacks: impl IntoIterator<Item = &Tokens>) {
    for tokens in stacks {
        tokens.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_machines_times_sixteen_callers_cold_on_one_scope_run_the_cli_once() {
    let server = server!();
    let fleet = machines(&server, "herd:", 4, &fly("one")).await;
    let mut gets = Vec::new();
    for (i, (tokens, _)) in fleet.iter().enumerate() {
        for j in 0..16 {
            let tokens = tokens.clone();
            gets.push(tokio::spawn(async move { tokens.get(&format!("app-{i}-{j}")).await }));
        }
    }
    for get in gets {
        let token = tokio::time::timeout(WITHIN, get).await.expect("in time").expect("task");
        assert_eq!(token.expect("token").expose(), fly("one"));
    }
    let calls: usize = fleet.iter().map(|(_, cli)| cli.calls()).sum();
    assert_eq!(calls, 1, "64 cold callers on 4 machines: one CLI call");
    shutdown(fleet.iter().map(|(t, _)| t)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_behind_a_failing_cli_run_it_once_and_share_its_failure() {
    let server = server!();
    let mut fleet = Vec::new();
    for _ in 0..4 {
        let cli = FakeCli::new().with_delay(Duration::from_millis(300));
        cli.always_fail(1, "Error: not logged in");
        fleet.push((
            stack(server.store("failing:"), cli.clone(), TokenKind::Readonly).await,
            cli,
        ));
    }
    let mut gets = Vec::new();
    for (i, (tokens, _)) in fleet.iter().enumerate() {
        for j in 0..4 {
            let tokens = tokens.clone();
            gets.push(tokio::spawn(async move { tokens.get(&format!("app-{i}-{j}")).await }));
        }
    }
    for get in gets {
        let got = bounded("a get", get).await.expect("task");
        assert!(matches!(got, Err(TokenError::NoTokenAvailable(_))), "{got:?}");
    }
    let calls: usize = fleet.iter().map(|(_, cli)| cli.calls()).sum();
    assert_eq!(
        calls, 1,
        "the failure note: the other machines answer it instead of running the CLI"
    );
    shutdown(fleet.iter().map(|(t, _)| t)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_on_one_machine_reaches_every_other() {
    let server = server!();
    let fleet = machines(&server, "fanout:", 4, &fly("rejected")).await;
    let stacks: Vec<&Tokens> = fleet.iter().map(|(t, _)| t).collect();
    all_listening(&server, "fanout:", &stacks).await;
    for tokens in &stacks {
        assert_eq!(tokens.get("web").await.expect("token").expose(), fly("rejected"));
        assert_eq!(tokens.get("api").await.expect("token").expose(), fly("rejected"));
    }
    let t0 = Instant::now();
    stacks[0].invalidate("web").await.expect("invalidate");
    for tokens in &stacks[1..] {
        let dropped = eventually(WITHIN, || {
            tokens.cached("web").is_none() && tokens.cached("api").is_none()
        })
        .await;
        assert!(dropped, "every other machine dropped the org's token, for every app");
    }
    eprintln!("fan-out to 3 machines: {:?}", t0.elapsed());
    assert_eq!(
        server.raw(&["EXISTS", "fanout:scope:org:acme"]),
        "0",
        "and Redis's copy"
    );
    shutdown(stacks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_on_one_machine_hands_the_others_its_new_token() {
    let server = server!();
    let fleet = machines(&server, "refresh:", 3, &fly("old")).await;
    let stacks: Vec<&Tokens> = fleet.iter().map(|(t, _)| t).collect();
    all_listening(&server, "refresh:", &stacks).await;
    for tokens in &stacks {
        tokens.get("web").await.expect("token");
    }
    let before: usize = fleet.iter().map(|(_, cli)| cli.calls()).sum();
    fleet[0].1.always_ok(&fly("new"));
    assert_eq!(stacks[0].refresh("web").await.expect("new").expose(), fly("new"));
    for tokens in &stacks[1..] {
        assert!(eventually(WITHIN, || tokens.cached("web").is_none()).await);
        assert_eq!(tokens.get("web").await.expect("new").expose(), fly("new"));
    }
    let after: usize = fleet.iter().map(|(_, cli)| cli.calls()).sum();
    assert_eq!(after - before, 1, "the refresh minted once for the fleet");
    shutdown(stacks).await;
}

/// A TCP proxy to Redis standing for a machine's network: `cut` drops every
/// connection and refuses new ones, as a machine that died.
struct Link {
    port: u16,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Link {
    async fn to(redis_port: u16) -> Link {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accepted = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", redis_port)).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepted.lock().expect("lock").push(pipe);
            }
        });
        tasks.lock().expect("lock").push(accept);
        Link { port, tasks }
    }

    fn url(&self) -> RedisUrl {
        format!("redis://127.0.0.1:{}/0", self.port).parse().expect("url")
    }

    fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_mid_lease_delays_the_others_by_its_lease_time_then_another_takes_over() {
    let server = server!();
    let lease_key = "killed:lease:org:acme";
    let settings = |url: RedisUrl| {
        RedisSettings::new(url)
            .prefix("killed:")
            .expect("prefix")
            .connect_timeout(Duration::from_millis(300))
            .response_timeout(Duration::from_millis(300))
            .lease_time(Duration::from_secs(1))
    };
    // Machine A reaches Redis through a link we can cut; its CLI never ends.
    let link = Link::to(server.port()).await;
    let a_cli = FakeCli::new();
    a_cli.always_hang();
    let a = stack(
        RedisStore::new(settings(link.url())).expect("store"),
        a_cli.clone(),
        TokenKind::Readonly,
    )
    .await;
    let a_get = {
        let a = a.clone();
        tokio::spawn(async move { a.get("web").await })
    };
    assert!(
        eventually(WITHIN, || server.raw(&["GET", lease_key]) != "(nil)").await,
        "A holds the lease"
    );
    let a_owner = server.raw(&["GET", lease_key]);
    assert_eq!(a_cli.calls(), 1);
    // A dies: its connection is gone, it never releases.
    link.cut();

    // Machine B: its CLI notes who held the lease while it ran.
    let seen = Arc::new(Mutex::new(String::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let b_cli = {
        let (seen, calls, port) = (seen.clone(), calls.clone(), server.port());
        cmd_fn(move |_program, _args| {
            let (seen, calls) = (seen.clone(), calls.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let owner = tokio::task::spawn_blocking(move || raw_get(port, lease_key))
                    .await
                    .expect("raw");
                *seen.lock().expect("lock") = owner;
                Ok(CmdOutput::new(0, format!("{{\"token\":\"{}\"}}\n", fly("b")), ""))
            }
        })
    };
    let b_url: RedisUrl = format!("redis://127.0.0.1:{}/0", server.port()).parse().expect("url");
    let b = stack(
        RedisStore::new(settings(b_url)).expect("store"),
        b_cli,
        TokenKind::Readonly,
    )
    .await;
    let token = tokio::time::timeout(WITHIN, b.get("web")).await.expect("in time");
    assert_eq!(token.expect("B's token").expose(), fly("b"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let b_owner = seen.lock().expect("lock").clone();
    assert!(
        b_owner != "(nil)" && b_owner != a_owner,
        "B ran the CLI holding a lease of its own (A's lapsed): {b_owner:?} vs {a_owner:?}"
    );
    a_get.abort();
    shutdown([&a, &b]).await;
}

/// `GET key` on its own connection (for use inside a CLI double).
fn raw_get(port: u16, key: &str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).expect("send");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("reply");
    let n: i64 = line.trim_end()[1..].parse().expect("bulk length");
    if n < 0 {
        return "(nil)".into();
    }
    let mut buf = vec![0; usize::try_from(n).expect("len") + 2];
    r.read_exact(&mut buf).expect("bulk");
    String::from_utf8_lossy(&buf[..buf.len() - 2]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_stops_nothing_and_everything_recovers_by_itself() {
    let mut server = server!();
    // Deploy tokens: one scope per app, so a cold app needs a new token.
    let new_stack = |store: RedisStore| async move {
        let cli = FakeCli::succeeding(&fly("minted")).with_delay(Duration::from_millis(50));
        (stack(store, cli.clone(), TokenKind::Deploy).await, cli)
    };
    let (a, a_cli) = new_stack(server.store("restart:")).await;
    let (b, _) = new_stack(server.store("restart:")).await;
    assert_eq!(a.get("web").await.expect("minted").expose(), fly("minted"));
    assert_eq!(b.get("web").await.expect("from redis").expose(), fly("minted"));
    assert!(
        eventually(WITHIN, || server.raw(&["EXISTS", "restart:scope:app:web"]) == "1").await,
        "stored"
    );

    server.stop();
    // Warm gets are served from the table.
    for tokens in [&a, &b] {
        assert_eq!(tokens.get("web").await.expect("warm").expose(), fly("minted"));
    }
    // A cold one acquires on its own.
    let cold = bounded("a cold get", a.get("api")).await;
    assert_eq!(cold.expect("acquired locally").expose(), fly("minted"));
    assert_eq!(a_cli.calls(), 2);
    // A manual token is never kept in memory only.
    let manual = bounded("set_manual", a.set_manual("web", fly("manual"))).await;
    assert!(matches!(manual, Err(TokenError::PersistFailed(_))), "{manual:?}");
    let invalidate = bounded("invalidate", a.invalidate("api")).await;
    assert!(matches!(invalidate, Err(TokenError::Storage(_))), "{invalidate:?}");

    // Back (empty: the test server keeps nothing): every stack drops what it
    // may have missed, then works on Redis again.
    server.restart();
    for tokens in [&a, &b] {
        assert!(
            eventually(WITHIN, || tokens.cached("web").is_none()).await,
            "resynced after the outage"
        );
    }
    assert_eq!(b.get("web").await.expect("again").expose(), fly("minted"));
    assert!(
        eventually(WITHIN, || server.raw(&["EXISTS", "restart:scope:app:web"]) == "1").await,
        "stored in the restarted Redis"
    );
    a.set_manual("web", fly("manual")).await.expect("stored now");
    assert_eq!(server.raw(&["EXISTS", "restart:manual:web"]), "1");
    shutdown([&a, &b]).await;
}
