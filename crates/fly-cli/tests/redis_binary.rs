//! The `fly-tokens` binary on a Redis store: many processes against one
//! real `redis-server` mint once, the store is chosen by `--store` and
//! `ATLAS_FLY_TOKENS_STORE`, and what each command answers while Redis is
//! down.
#![cfg(feature = "redis")]

mod redis_support;
mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use redis_support::{free_port, Options, RedisServer};
use support::sandbox::Sandbox;

/// A fake `fly` that counts its runs in `calls`, takes a while, and mints a
/// token of its own (its pid in it).
fn slow_counting_fly(sandbox: &Sandbox, delay: &str) {
    let calls = sandbox.path("calls");
    sandbox.fly(&format!(
        "echo run >> '{}'\nsleep {delay}\necho \"{{\\\"token\\\":\\\"FlyV1 fm2_minted$$\\\"}}\"",
        calls.display()
    ));
}

fn calls(sandbox: &Sandbox) -> usize {
    std::fs::read_to_string(sandbox.path("calls"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// `fly-tokens ARGS…` in the sandbox (no `--store`: the arguments say).
fn fly_tokens(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fly-tokens"));
    sandbox.env(&mut cmd);
    cmd.current_dir(sandbox.path("tmp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` (with `stdin`, if any), failing the test if it has not exited
/// within 30 s: for what could hang.
fn bounded(cmd: Command, stdin: Option<&str>) -> Output {
    support::run_bounded(cmd, stdin, Duration::from_secs(30), "fly-tokens")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn url(server: &RedisServer) -> String {
    format!("redis://127.0.0.1:{}/0", server.port())
}

#[test]
fn processes_cold_on_one_scope_against_one_redis_run_the_cli_once_and_print_one_token() {
    let server = server!();
    let sandbox = Sandbox::new();
    slow_counting_fly(&sandbox, "1");
    let url = url(&server);
    let children: Vec<_> = (0..8)
        .map(|i| {
            fly_tokens(&sandbox, &["--store", &url, "get", &format!("app-{i}")])
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    let first = stdout(&outputs[0]);
    assert!(first.starts_with("FlyV1 fm2_minted"), "{first}");
    assert!(
        outputs.iter().all(|o| stdout(o) == first),
        "every process printed the one token"
    );
    assert_eq!(calls(&sandbox), 1, "8 processes, one CLI call");
    assert_eq!(server.raw(&["EXISTS", "atlas:fly-tokens:scope:org:acme"]), "1");
    // The lease is gone (released, not left to lapse).
    assert_eq!(server.raw(&["EXISTS", "atlas:fly-tokens:lease:org:acme"]), "0");
}

#[test]
fn the_environment_names_a_redis_store_the_flag_wins_and_status_masks_the_password() {
    let server = match RedisServer::start_with(Options {
        tcp: true,
        args: vec!["--requirepass".into(), "hunter2".into()],
        ..Options::default()
    }) {
        Some(s) => s,
        None => return,
    };
    let sandbox = Sandbox::new();
    slow_counting_fly(&sandbox, "0");
    let secret = format!("redis://:hunter2@127.0.0.1:{}/0", server.port());
    let masked = format!("redis://:***@127.0.0.1:{}/0", server.port());
    let with_env = |args: &[&str]| {
        let mut cmd = fly_tokens(&sandbox, args);
        cmd.env("ATLAS_FLY_TOKENS_STORE", &secret)
            .env("ATLAS_FLY_TOKENS_DIR", sandbox.path("ignored"));
        bounded(cmd, None)
    };
    let out = with_env(&["get", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = with_env(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("store: {masked} (keys under atlas:fly-tokens:)")),
        "{text}"
    );
    assert!(text.contains("org:acme") && text.contains("minted"), "{text}");
    let out = with_env(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (v["store"].as_str(), v["backend"].as_str()),
        (Some(&*masked), Some("redis"))
    );
    assert_eq!(v["tokens"][0]["scope"], "org:acme");
    for out in [with_env(&["status"]), with_env(&["status", "--json"])] {
        assert!(!stdout(&out).contains("hunter2") && !stderr(&out).contains("hunter2"));
    }
    assert!(
        !sandbox.path("ignored").exists(),
        "ATLAS_FLY_TOKENS_STORE comes before ATLAS_FLY_TOKENS_DIR"
    );
    // `--store` comes before both.
    let dir = sandbox.path("flagged");
    let out = with_env(&["--store", dir.to_str().expect("utf-8"), "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("store: {}", dir.display())),
        "{}",
        stdout(&out)
    );
}

#[test]
fn another_url_scheme_is_bad_usage_never_a_directory() {
    let sandbox = Sandbox::new();
    slow_counting_fly(&sandbox, "0");
    for args in [
        &["--store", "s3://bucket/tokens", "get", "web"][..],
        &["--store", "ftp://x", "status"],
    ] {
        let out = bounded(fly_tokens(&sandbox, args), None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("unsupported store URL scheme"),
            "{}",
            stderr(&out)
        );
    }
    let mut cmd = fly_tokens(&sandbox, &["get", "web"]);
    cmd.env("ATLAS_FLY_TOKENS_STORE", "s3://bucket");
    let out = bounded(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ATLAS_FLY_TOKENS_STORE"),
        "names the setting: {}",
        stderr(&out)
    );
    let made: Vec<_> = std::fs::read_dir(sandbox.path("tmp")).expect("ls").collect();
    assert!(made.is_empty(), "no `s3:` or `ftp:` directory: {made:?}");
    assert_eq!(calls(&sandbox), 0);
}

/// Every command against a Redis nobody listens on.
#[test]
fn exit_codes_while_redis_is_down() {
    let sandbox = Sandbox::new();
    slow_counting_fly(&sandbox, "0");
    let down = format!("redis://127.0.0.1:{}/0", free_port());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["--store", &down];
        all.extend_from_slice(args);
        bounded(fly_tokens(&sandbox, &all), stdin)
    };
    let out = run(&["get", "web"], None);
    assert_eq!(out.status.code(), Some(0), "get still answers: {}", stderr(&out));
    assert!(stdout(&out).starts_with("FlyV1 fm2_minted"));
    assert!(
        stderr(&out).contains("acquiring without the lock"),
        "with a warning: {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("subscribe"),
        "a one-shot command does not listen for invalidations: {}",
        stderr(&out)
    );
    let out = run(&["refresh", "web"], None);
    assert_eq!(out.status.code(), Some(0), "refresh still answers: {}", stderr(&out));
    assert_eq!(calls(&sandbox), 2);
    for (args, stdin) in [
        (&["set-manual", "web"][..], Some("FlyV1 fm2_manual\n")),
        (&["clear-manual", "web"], None),
        (&["invalidate", "web"], None),
        (&["status"], None),
    ] {
        let out = run(args, stdin);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("redis at redis://127.0.0.1:"),
            "{args:?}: {}",
            stderr(&out)
        );
        if args[0] == "set-manual" {
            assert!(stderr(&out).contains("NOT stored"), "{}", stderr(&out));
        }
    }
    // Nothing has a token: the CLI fails, Redis is down: exit 1.
    sandbox.fly("echo 'Error: not logged in' >&2; exit 1");
    let out = run(&["get", "other"], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_hung_redis_costs_a_get_its_timeouts_not_a_hang() {
    let server = server!();
    let sandbox = Sandbox::new();
    slow_counting_fly(&sandbox, "0");
    let url = url(&server);
    server.pause();
    let cmd = fly_tokens(
        &sandbox,
        &[
            "--store",
            &url,
            "--redis-connect-timeout",
            "200ms",
            "--redis-response-timeout",
            "200ms",
            "get",
            "web",
        ],
    );
    let out = bounded(cmd, None);
    server.resume();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("FlyV1 fm2_minted"));
}
