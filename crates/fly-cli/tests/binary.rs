//! The `fly-tokens` binary, run as a user runs it, with a fake `fly` script
//! on `PATH`. Each test has its own store, `HOME` and `FLY_CONFIG_DIR`
//! (empty temp dirs) and a child environment cleared of everything else, so
//! no real token (`FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`, `~/.fly`) can leak in.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::{dead, proc_state, script};

const TOKEN: &str = "FlyV1 fm2_lJPECAAAAAAAAV6Q,fm2_lJPEEA+/==";

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["bin", "home", "flyconfig", "store"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        Sandbox { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Puts a fake `fly` on PATH; every run appends its arguments to the
    /// `calls` file first.
    fn fly(&self, body: &str) {
        let calls = self.path("calls");
        script(
            &self.path("bin"),
            "fly",
            &format!("echo \"$*\" >> '{}'\n{body}", calls.display()),
        );
    }

    /// The arguments of each CLI run so far.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fly-tokens"));
        cmd.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.path("bin").display()))
            .env("HOME", self.path("home"))
            .env("FLY_CONFIG_DIR", self.path("flyconfig"))
            .arg("--store")
            .arg(self.path("store"))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run fly-tokens")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fly-tokens");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait fly-tokens")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fingerprint(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn get_prints_the_token_and_nothing_else() {
    let s = Sandbox::new();
    s.fly(&format!("echo 'Update available: 0.3 -> 0.4' >&2\necho '{TOKEN}'"));
    let out = s.run(&["--org", "acme", "get", "my-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{TOKEN}\n"));
    assert!(!stderr(&out).contains("fm2_"), "no token on stderr: {}", stderr(&out));
    assert_eq!(s.calls(), ["tokens create readonly -o acme"]);
}

#[test]
fn a_failing_cli_names_its_exit_code_and_first_stderr_line() {
    let s = Sandbox::new();
    s.fly(
        "echo \"Error: no access token available. Please login with 'flyctl auth login'\" >&2\n\
         echo 'second line' >&2\nexit 1",
    );
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("no token available for app `my-app`"), "{err}");
    assert!(err.contains("stored token:  none"), "{err}");
    assert!(err.contains("your token:    none"), "{err}");
    assert!(
        err.contains("exit code 1: Error: no access token available. Please login with 'flyctl auth login'"),
        "{err}"
    );
    assert!(err.contains("manual token:  none"), "{err}");
    assert!(err.contains("`fly auth login`"), "a fix is suggested: {err}");
    assert!(err.contains("fly-tokens set-manual my-app"), "{err}");
    assert!(!err.contains("second line"), "only the first stderr line: {err}");
}

#[test]
fn a_hung_cli_is_killed_at_the_timeout() {
    let s = Sandbox::new();
    let pids = s.path("pids");
    s.fly(&format!("sleep 30 &\necho \"$$ $!\" > '{}'\nwait", pids.display()));
    let started = Instant::now();
    let out = s.run(&["--cli-timeout", "1s", "get", "my-app"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(stderr(&out).contains("timed out after 1s"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--cli-timeout"), "{}", stderr(&out));
    let pids: Vec<i32> = std::fs::read_to_string(&pids)
        .expect("the fake fly wrote its pids")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in pids {
        while !dead(proc_state(pid)) {
            assert!(Instant::now() < deadline, "process {pid} outlived fly-tokens");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn stderr_noise_never_ends_up_in_the_token() {
    let s = Sandbox::new();
    s.fly(&format!(
        "echo 'fm2_NOISE Update available' >&2\necho '{TOKEN}'\necho 'more noise fm2_ZZZ' >&2\nexit 0"
    ));
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{TOKEN}\n"));
}

#[test]
fn garbage_output_is_a_miss_and_is_not_stored() {
    let s = Sandbox::new();
    s.fly("echo '<html>Service Unavailable</html>'");
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("not a Fly token"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("Service Unavailable"),
        "stdout is never repeated"
    );
    let status = s.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(v["tokens"], serde_json::json!([]));
}

#[test]
fn a_second_get_is_served_from_the_store() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let first = s.run(&["get", "my-app"]);
    let second = s.run(&["get", "my-app"]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second));
    assert_eq!(s.calls().len(), 1, "the CLI ran once");
}

#[test]
fn set_manual_from_stdin_then_get_with_a_failing_cli() {
    let s = Sandbox::new();
    s.fly("echo 'Error: boom' >&2\nexit 1");
    let manual = "FlyV1 fm2_bWFudWFs";
    let set = s.run_with_stdin(&["set-manual", "my-app"], &format!("{manual}\n"));
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    assert!(!stderr(&set).contains(manual), "{}", stderr(&set));
    assert!(stderr(&set).contains(&fingerprint(manual)), "{}", stderr(&set));
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{manual}\n"));
    // Never from argv; and empty stdin is refused.
    assert_eq!(s.run(&["set-manual", "my-app", manual]).status.code(), Some(2));
    assert_eq!(
        s.run_with_stdin(&["set-manual", "other"], "  \n").status.code(),
        Some(2)
    );
}

#[test]
fn status_shows_fingerprints_never_tokens() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    assert_eq!(s.run(&["get", "my-app"]).status.code(), Some(0));
    let manual = "FlyV1 fm2_b3ZlcnJpZGU=";
    assert_eq!(
        s.run_with_stdin(&["set-manual", "other-app"], manual).status.code(),
        Some(0)
    );
    for args in [&["status", "--json"][..], &["status"][..]] {
        let out = s.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.contains("fm2_"), "{text}");
        assert!(
            text.contains(&fingerprint(TOKEN)) && text.contains(&fingerprint(manual)),
            "{text}"
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&s.run(&["status", "--json"]).stdout).expect("json");
    let tokens = v["tokens"].as_array().expect("array");
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        (&tokens[0]["app"], &tokens[0]["kind"], &tokens[0]["expired"]),
        (&"my-app".into(), &"cached".into(), &false.into())
    );
    let left = tokens[0]["expires_in_secs"].as_i64().expect("secs");
    assert!((86_000..=86_400).contains(&left), "ttl 24 h: {left}");
    assert_eq!(
        (&tokens[1]["app"], &tokens[1]["kind"]),
        (&"other-app".into(), &"manual".into())
    );
    assert_eq!(tokens[1]["expires_at"], serde_json::Value::Null);
}

#[test]
fn invalidate_then_get_runs_the_cli_again() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    assert_eq!(s.run(&["get", "my-app"]).status.code(), Some(0));
    let inv = s.run(&["invalidate", "my-app"]);
    assert_eq!(inv.status.code(), Some(0), "{}", stderr(&inv));
    assert_eq!(s.calls().len(), 1);
    assert_eq!(s.run(&["get", "my-app"]).status.code(), Some(0));
    assert_eq!(s.calls().len(), 2, "the stored copy was removed too");
}

#[test]
fn usage_errors_exit_2_and_a_missing_cli_says_how_to_fix_it() {
    let s = Sandbox::new();
    let bad = s.run(&["get", "../etc"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert_eq!(s.run(&["get", "a", "--cli-timeout", "soon"]).status.code(), Some(2));
    // No fake fly on PATH (and none in /usr/bin or /bin on a test machine).
    let out = s.run(&["--no-config-file", "get", "my-app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--fly-bin"), "{}", stderr(&out));
    assert!(stderr(&out).contains("disabled (--no-config-file)"), "{}", stderr(&out));
}

#[test]
fn fly_bin_and_the_users_own_token() {
    let s = Sandbox::new();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let fly = script(elsewhere.path(), "my-flyctl", &format!("echo '{TOKEN}'"));
    let out = s.run(&["--fly-bin", fly.to_str().expect("utf-8"), "get", "my-app"]);
    assert_eq!(stdout(&out), format!("{TOKEN}\n"), "{}", stderr(&out));
    // The user's own token, from FLY_CONFIG_DIR/config.yml, comes before the CLI.
    std::fs::write(s.path("flyconfig/config.yml"), "access_token: FlyV1 fm2_bWluZQ==\n").expect("write");
    let out = s.run(&["get", "other-app"]);
    assert_eq!(stdout(&out), "FlyV1 fm2_bWluZQ==\n", "{}", stderr(&out));
}

#[test]
fn demo_runs_and_shows_no_raw_token() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_fly-tokens"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("run demo");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = stdout(&out);
    for (i, _) in text.match_indices("fm2_") {
        assert!(text[i + 4..].starts_with('…'), "a raw token in the demo output: {text}");
    }
    for expected in [
        "source=cli",
        "source=config",
        "source=manual",
        "sources: cli 1, cache 49",
        "50 callers -> 1 CLI call",
        "restarted: table, tasks, apps; kept: registry",
        "cached(\"alpha\") = none",
        "source=storage",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}
