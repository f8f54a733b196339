//! The `fly-tokens` binary, run as a user runs it, with a fake `fly` script
//! on `PATH`. Each test has its own store, `HOME` and `FLY_CONFIG_DIR`
//! (empty temp dirs) and a child environment cleared of everything else, so
//! no real token (`FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`, `~/.fly`) can leak in.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::{dead, proc_state, script, snapshot};

const TOKEN: &str = "FlyV1 fm2_lJPECAAAAAAAAV6Q,fm2_lJPEEA+/==";

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // No `store`: the program creates it (0700); one made here would
        // have the umask's mode, and the program refuses a store that is
        // not private.
        for sub in ["bin", "home", "flyconfig", "tmp"] {
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
        let mut cmd = self.bare();
        cmd.arg("--store").arg(self.path("store")).args(args);
        cmd
    }

    /// The command with its sandboxed environment and no arguments (no
    /// `--store`: the default store under the sandbox's `HOME`).
    fn bare(&self) -> Command {
        self.sandboxed(Command::new(env!("CARGO_BIN_EXE_fly-tokens")))
    }

    /// [`bare`](Self::bare), run by a shell that sets `umask` first (umask
    /// is per process: set in the child, it races no other test).
    fn under_umask(&self, umask: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_fly-tokens"));
        self.sandboxed(cmd)
    }

    fn sandboxed(&self, mut cmd: Command) -> Command {
        cmd.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.path("bin").display()))
            .env("HOME", self.path("home"))
            .env("FLY_CONFIG_DIR", self.path("flyconfig"))
            // The org readonly tokens are minted for (tests without one
            // remove it).
            .env("FLY_ORG", "acme")
            // The temporary fallback store, if any, lands here.
            .env("TMPDIR", self.path("tmp"))
            .stdin(Stdio::null());
        cmd
    }

    /// The fallback store directory under the sandbox's `TMPDIR`.
    fn fallback_dir(&self) -> PathBuf {
        self.path("tmp")
            .join(format!("atlas-fly-tokens-{}", nix::unistd::getuid().as_raw()))
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run fly-tokens")
    }

    /// Runs with `env` set (a `None` value removes the variable).
    fn run_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.output().expect("run fly-tokens")
    }

    /// `status --json`'s records.
    fn status(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["status", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["tokens"].as_array().expect("array").clone()
    }

    /// Runs `cmd`, failing the test if it has not exited within 10 s: for
    /// what used to hang.
    fn run_bounded(&self, cmd: Command, what: &str) -> Output {
        support::run_bounded(cmd, None, Duration::from_secs(10), what)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        feed(self.command(args), stdin)
    }
}

/// Runs `cmd` with `stdin` on its standard input.
fn feed(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fly-tokens");
    // A command that fails before reading its stdin closes it: a broken
    // pipe here is its answer, not the test's failure.
    let _ = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
    child.wait_with_output().expect("wait fly-tokens")
}

/// Runs `cmd` with piped output, failing (not hanging) when it does not
/// finish within a bound only a hang exceeds.
fn run_bounded(cmd: Command) -> Output {
    support::run_bounded(cmd, None, Duration::from_secs(20), "fly-tokens")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One CLI run, minting acme's read-only token with an expiry, a name and
/// JSON output.
fn assert_minted_for_acme(calls: &[String]) {
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("tokens create readonly -o acme --expiry 87000s --name atlas")
            && calls[0].ends_with(" org:acme --json"),
        "{calls:?}"
    );
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
    assert_minted_for_acme(&s.calls());
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
    // Sorted: minted records (org:acme), then manual ones.
    assert_eq!(
        (
            &tokens[0]["kind"],
            &tokens[0]["scope"],
            &tokens[0]["source"],
            &tokens[0]["expired"]
        ),
        (&"minted".into(), &"org:acme".into(), &"cli".into(), &false.into())
    );
    assert_eq!(tokens[0]["fingerprint"], fingerprint(TOKEN));
    assert!(tokens[0]["expires_at"].is_i64());
    let left = tokens[0]["expires_in_secs"].as_i64().expect("secs");
    assert!((86_000..=86_400).contains(&left), "ttl 24 h: {left}");
    assert_eq!(
        (&tokens[1]["kind"], &tokens[1]["scope"], &tokens[1]["source"]),
        (&"manual".into(), &"app:other-app".into(), &"manual".into())
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
    // The user's own token, from FLY_CONFIG_DIR/config.yml, comes before the
    // CLI (though after the org's stored token: a fresh org here).
    std::fs::write(s.path("flyconfig/config.yml"), "access_token: FlyV1 fm2_bWluZQ==\n").expect("write");
    std::fs::set_permissions(s.path("flyconfig/config.yml"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = s.run_env(&["get", "other-app"], &[("FLY_ORG", Some("other-org"))]);
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
        "50 callers, 10 apps -> 1 CLI call",
        "failed 0s ago",
        "restarted: table, tasks, apps; kept: registry",
        "cached(\"alpha\") = none",
        "source=storage",
        "the crash cost no new CLI call: still 4",
        "the restart cost no new CLI call: still 4",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    // For people who want tokens: each OTP word once, where it is explained.
    for word in ["acquirer=", "rest_for_one", "one_for_one"] {
        assert_eq!(text.matches(word).count(), 1, "{word:?} in:\n{text}");
    }
}

/// Nothing in the output may hold a secret part of a test value.
fn assert_no_leak(o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    assert!(!all.contains("LEAK"), "a secret was printed: {all}");
    assert!(!all.contains('\u{1b}'), "an escape sequence was printed: {all:?}");
}

#[test]
fn a_fifo_as_config_yml_is_a_miss_and_get_does_not_hang() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let fifo = s.path("flyconfig/config.yml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let out = s.run_bounded(s.command(&["get", "my-app"]), "a FIFO as config.yml");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{TOKEN}\n"), "the CLI is the next link");
    assert!(stderr(&out).contains("not a regular file"), "{}", stderr(&out));
}

#[test]
fn your_own_token_that_is_not_one_line_is_refused_never_printed() {
    let s = Sandbox::new();
    s.fly("echo 'Error: not logged in' >&2\nexit 1");
    let config = s.path("flyconfig/config.yml");
    std::fs::write(&config, "access_token: |\n  FlyV1 fm2_LEAK1\n  fm2_LEAK2\n").expect("write");
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "your token:    refused: access_token in {} is not one line",
            config.display()
        )),
        "{err}"
    );
    assert!(err.contains("or fix your own token in access_token in"), "{err}");
    assert_no_leak(&out);

    // An escape sequence in the environment: refused too, and named.
    let out = s
        .command(&["get", "my-app"])
        .env("FLY_API_TOKEN", "\u{1b}]0;LEAK3\u{7}FlyV1 fm2_LEAK4")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("your token:    refused: FLY_API_TOKEN is not one line"),
        "{}",
        stderr(&out)
    );
    assert_no_leak(&out);
}

#[test]
fn an_escape_sequence_in_config_yml_is_refused_never_printed() {
    let s = Sandbox::new();
    s.fly("echo 'Error: not logged in' >&2\nexit 1");
    // YAML's own `\e` escape: the value holds a real ESC.
    std::fs::write(
        s.path("flyconfig/config.yml"),
        "access_token: \"\\e]0;LEAK1\\aFlyV1 fm2_LEAK2\\e[2J\"\n",
    )
    .expect("write");
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("your token:    refused: access_token in"),
        "{}",
        stderr(&out)
    );
    assert_no_leak(&out);
}

#[test]
fn a_config_value_that_is_not_a_yaml_string_is_never_printed_as_a_token() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    for yml in ["access_token: true\n", "access_token: 12345\n"] {
        std::fs::write(s.path("flyconfig/config.yml"), yml).expect("write");
        let out = s.run(&["get", "my-app"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("{TOKEN}\n"),
            "{yml:?}: the CLI's token, not the value"
        );
        assert!(stderr(&out).contains("is not a string"), "{}", stderr(&out));
        assert_eq!(s.run(&["invalidate", "my-app"]).status.code(), Some(0));
    }
}

#[test]
fn set_manual_refuses_a_token_that_is_not_one_line_and_never_echoes_it() {
    let s = Sandbox::new();
    for bad in [
        "FlyV1 fm2_LEAK1\nfm2_LEAK2\n",
        "\u{1b}[31mFlyV1 fm2_LEAK3",
        "FlyV1 fm2_LEAK4 fm2_LEAK5",
    ] {
        let out = s.run_with_stdin(&["set-manual", "my-app"], bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not stored: a token is one line"),
            "{}",
            stderr(&out)
        );
        assert_no_leak(&out);
    }
    let status = s.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(v["tokens"], serde_json::json!([]), "nothing was stored");
}

#[test]
fn a_manual_token_too_large_or_unreadable_is_a_usage_error() {
    let s = Sandbox::new();
    let huge = format!("FlyV1 fm2_{}", "A".repeat(70_000));
    let out = s.run_with_stdin(&["set-manual", "my-app"], &huge);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("larger than 65536 bytes"), "{}", stderr(&out));
    // stdin is a directory: it cannot be read.
    let dir = std::fs::File::open(s.path("home")).expect("open a directory");
    let out = s
        .command(&["set-manual", "my-app"])
        .stdin(Stdio::from(dir))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read the token from stdin"),
        "{}",
        stderr(&out)
    );
    assert!(!s.path("store/manual/my-app.json").exists(), "nothing was stored");
}

#[test]
fn a_token_typed_on_the_command_line_is_never_echoed() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    for args in [
        &["set-manual", "my-app", "FlyV1 fm2_LEAK1"][..],
        &["set-manual", "FlyV1 fm2_LEAK2"][..],
        &["get", "FlyV1 fm2_LEAK3"][..],
        &["get", "my-app", "fm2_LEAK4"][..],
        &["--ttl", "FlyV1 fm2_LEAK5", "get", "my-app"][..],
        &["get", "my-app", "--org", "FlyV1 fm2_LEAK6"][..],
    ] {
        let out = s.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_no_leak(&out);
    }
    let out = s.run(&["set-manual", "my-app", "FlyV1 fm2_LEAK1"]);
    assert!(
        stderr(&out).contains("takes no token on the command line"),
        "{}",
        stderr(&out)
    );
    assert!(s.calls().is_empty(), "nothing ran");
}

#[test]
fn set_manual_checks_the_app_name_before_it_asks_for_the_token() {
    let s = Sandbox::new();
    // stdin stays open and empty: reading it would wait forever.
    let mut cmd = s.command(&["set-manual", "../etc"]);
    cmd.stdin(Stdio::piped());
    let out = s.run_bounded(cmd, "set-manual read stdin before checking the app name");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid app name"), "{}", stderr(&out));
}

#[test]
fn set_manual_judges_the_store_before_it_asks_for_the_token() {
    let s = Sandbox::new();
    std::fs::write(s.path("a-file"), "not a directory").expect("write");
    let shared = s.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    chmod(&shared, 0o755);
    for store in [s.path("a-file/store"), shared] {
        // stdin stays open and empty: reading it would wait forever.
        let mut cmd = s.bare();
        cmd.arg("--store").arg(&store).args(["set-manual", "my-app"]);
        cmd.stdin(Stdio::piped());
        let out = s.run_bounded(cmd, "set-manual read the token before it opened the store");
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("token store directory"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read_dir(s.path("tmp")).expect("ls").count(), 0, "no fallback");
}

#[test]
fn an_invalid_org_is_a_usage_error_that_does_not_echo_it() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let out = s.run(&["--org", "acme corpLEAK", "get", "my-app"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid --org: the org has ' ' at character 4"),
        "{}",
        stderr(&out)
    );
    assert_no_leak(&out);
    let out = s
        .command(&["get", "my-app"])
        .env("FLY_ORG", "-rfLEAK")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid FLY_ORG: the org starts with `-`"),
        "{}",
        stderr(&out)
    );
    assert_no_leak(&out);
    assert!(s.calls().is_empty(), "the CLI never ran without -o");
    // A valid FLY_ORG is passed on.
    let out = s
        .command(&["get", "my-app"])
        .env("FLY_ORG", "acme")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_minted_for_acme(&s.calls());
}

#[test]
fn a_zero_cli_timeout_or_a_sub_second_ttl_is_a_usage_error() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    for args in [
        &["--cli-timeout", "0", "get", "my-app"][..],
        &["--cli-timeout", "0ms", "get", "my-app"][..],
        &["--ttl", "500ms", "get", "my-app"][..],
        &["--ttl", "0", "get", "my-app"][..],
    ] {
        let out = s.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(s.calls().is_empty());
    assert!(
        stderr(&s.run(&["--ttl", "500ms", "status"])).contains("stored already expired"),
        "says why"
    );
}

#[test]
fn a_closed_stdout_pipe_exits_0_quietly() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    // The reader is gone before anything is written: `fly-tokens status | head -0`.
    for args in [&["status"][..], &["get", "my-app"][..], &["demo"][..]] {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        drop(read);
        let out = s
            .command(args)
            .stdout(Stdio::from(write))
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let err = stderr(&out).to_lowercase();
        for noise in ["pipe", "panic", "cannot write", "error"] {
            assert!(!err.contains(noise), "{args:?}: quietly, but: {err}");
        }
    }
}

#[test]
fn a_closed_stderr_pipe_keeps_the_commands_exit_code() {
    let s = Sandbox::new();
    s.fly("echo 'Error: not logged in' >&2\nexit 1");
    std::fs::write(s.path("a-file"), "not a directory").expect("write");
    let store = s.path("store");
    let store = store.to_str().expect("utf-8");
    let blocked = s.path("a-file/store");
    let blocked = blocked.to_str().expect("utf-8");
    // `fly-tokens … 2>&1 | head -0`: every message goes to a pipe nobody
    // reads any more; the exit code is still the command's own (no panic,
    // no 101).
    for (args, code) in [
        (&["--store", store, "invalidate", "my-app"][..], 0),
        (&["--store", store, "get", "my-app"][..], 1),
        (&["--store", store, "get", "../etc"][..], 2),
        (&["--no-such-flag", "get", "my-app"][..], 2),
        (&["--store", blocked, "get", "my-app"][..], 3),
    ] {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        drop(read);
        let out = s
            .bare()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(write))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

#[test]
fn readme_and_help_set_fly_api_token_per_command_never_export_it() {
    let readme = include_str!("../../../README.md");
    let help = stdout(&Sandbox::new().run(&["--help"]));
    for text in [readme, help.as_str()] {
        assert!(!text.contains("export FLY_API_TOKEN"), "{text}");
        assert!(text.contains("FLY_API_TOKEN=$(fly-tokens get my-app) fly"), "{text}");
    }
    assert!(help.contains("never `export` it"), "and says why: {help}");
}

#[test]
fn readme_and_help_name_the_same_exit_codes() {
    use std::collections::BTreeSet;
    /// The text from `Exit codes:` up to `end`.
    fn list<'a>(text: &'a str, end: &str) -> &'a str {
        let start = text.find("Exit codes:").expect("an exit-code list");
        let list = &text[start..];
        &list[..list.find(end).expect("the list's end")]
    }
    let readme = include_str!("../../../README.md");
    let help = stdout(&Sandbox::new().run(&["--help"]));
    // The README writes each code in backticks: `0` ok, … `130`, `143`, `129`.
    let in_readme: BTreeSet<u32> = list(readme, "\n\n")
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|w| w.parse().ok())
        .collect();
    let in_help: BTreeSet<u32> = list(&help, "Logs go")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // What the program exits with: each has its own test in this file or
    // in signals.rs.
    let codes = BTreeSet::from([0, 1, 2, 3, 129, 130, 143]);
    assert_eq!(in_readme, codes, "README");
    assert_eq!(in_help, codes, "--help: {help}");
}

#[test]
fn readme_security_notes_say_a_shared_store_is_refused_not_tightened() {
    let readme = include_str!("../../../README.md");
    let notes = &readme[readme.find("## Security notes").expect("security notes")..];
    let notes = &notes[..notes.find("\n## ").unwrap_or(notes.len())];
    let flat = notes.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!flat.to_lowercase().contains("tighten"), "{flat}");
    for promise in [
        "never changes the mode of a directory it did not create",
        "is refused with exit 3",
        "`chmod 700 DIR`, or another `--store`",
        "A symlinked store is judged by its target, and nothing is chmod-ed either way",
    ] {
        assert!(flat.contains(promise), "{promise:?} missing from: {flat}");
    }
}

#[test]
fn a_store_others_can_use_is_refused_and_never_chmod_ed() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    // Stand-ins for `--store /` (as root) and `--store "$HOME"`: existing
    // directories with the usual mode 0755.
    let shared = s.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    chmod(&shared, 0o755);
    chmod(&s.path("home"), 0o755);
    for dir in [shared, s.path("home")] {
        let runs = [
            (&["status"][..], None),
            (&["status", "--json"][..], None),
            (&["get", "my-app"][..], None),
            (&["invalidate", "my-app"][..], None),
            (&["set-manual", "my-app"][..], Some("FlyV1 fm2_bWFudWFs\n")),
        ];
        for (args, stdin) in runs {
            let mut cmd = s.bare();
            cmd.arg("--store").arg(&dir).args(args);
            let out = match stdin {
                Some(input) => feed(cmd, input),
                None => cmd.output().expect("run"),
            };
            assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains(&format!("chmod 700 {}", dir.display())), "{err}");
            assert!(err.contains("--store"), "{err}");
            assert_eq!(mode(&dir), 0o755, "{args:?} left the mode alone");
            assert_eq!(
                std::fs::read_dir(&dir).expect("ls").count(),
                0,
                "{args:?} created nothing"
            );
        }
    }
    assert!(s.calls().is_empty(), "nothing was acquired");
    assert_eq!(
        std::fs::read_dir(s.path("tmp")).expect("ls").count(),
        0,
        "no fallback either"
    );
}

#[test]
fn a_shared_directory_holding_other_files_is_refused_without_suggesting_its_chmod() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    // A home directory (or `/`): `chmod 700` there would lock others, or
    // the user's own tools, out. Only another store is suggested.
    let home = s.path("home-like");
    std::fs::create_dir(&home).expect("mkdir");
    std::fs::write(home.join(".bashrc"), "# mine\n").expect("write");
    chmod(&home, 0o755);
    let out = s.bare().arg("--store").arg(&home).arg("status").output().expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("chmod"), "no chmod suggested: {err}");
    assert!(err.contains("holds other files") && err.contains("--store"), "{err}");
    assert_eq!(mode(&home), 0o755);
    // A loose directory that holds only a store's entries is offered the chmod.
    let store = s.path("loose-store");
    std::fs::create_dir_all(store.join("org")).expect("mkdir");
    std::fs::write(store.join("org/acme.json"), "{}").expect("write");
    chmod(&store, 0o750);
    let out = s.bare().arg("--store").arg(&store).arg("status").output().expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("chmod 700 {}", store.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(mode(&store), 0o750);
}

#[test]
fn a_symlinked_store_is_judged_by_its_target_and_never_chmod_ed() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let target = s.path("target");
    std::fs::create_dir(&target).expect("mkdir");
    chmod(&target, 0o755);
    let link = s.path("link");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let run = |args: &[&str]| {
        let mut cmd = s.bare();
        cmd.arg("--store").arg(&link).args(args);
        cmd.output().expect("run")
    };
    for args in [&["status"][..], &["get", "my-app"][..]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("chmod 700"), "{}", stderr(&out));
        assert_eq!(mode(&target), 0o755);
        assert_eq!(std::fs::read_dir(&target).expect("ls").count(), 0);
    }
    chmod(&target, 0o700);
    let out = run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(target.join("org/acme.json").exists(), "the store is the target");
    assert_eq!(mode(&target), 0o700);
}

#[test]
fn a_store_of_another_user_is_refused() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let root = nix::unistd::geteuid().is_root();
    let (dir, owner) = if root {
        let dir = s.path("theirs");
        std::fs::create_dir(&dir).expect("mkdir");
        chmod(&dir, 0o700);
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).expect("chown");
        (dir, 65534)
    } else {
        // Not root: `/` is another user's (and only read-only commands
        // are tried on it).
        (PathBuf::from("/"), 0)
    };
    let commands: &[&[&str]] = if root {
        &[&["status"], &["get", "my-app"]]
    } else {
        &[&["status"]]
    };
    for args in commands {
        let mut cmd = s.bare();
        cmd.arg("--store").arg(&dir).args(*args);
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("belongs to uid {owner}")),
            "{}",
            stderr(&out)
        );
    }
    if root {
        assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 0, "nothing created");
    }
}

#[test]
fn a_store_created_under_any_umask_is_private_and_usable() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let store = s.path("new/store");
    for _ in 0..2 {
        let mut cmd = s.under_umask("0277");
        cmd.arg("--store").arg(&store).args(["get", "my-app"]);
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("{TOKEN}\n"));
    }
    assert_eq!(s.calls().len(), 1, "the second get was served from the store");
    let mut cmd = s.under_umask("0277");
    cmd.arg("--store").arg(&store).args(["set-manual", "my-app"]);
    let out = feed(cmd, "FlyV1 fm2_bWFudWFs\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for dir in [&store, &store.join("org"), &store.join("app"), &store.join("manual")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    for file in ["org/acme.json", "manual/my-app.json"] {
        assert_eq!(mode(&store.join(file)), 0o600, "{file}");
    }
    // A missing parent, as `mkdir -p` makes it: the umask's 0500 plus the
    // owner's write and search, so that the store could be made inside.
    assert_eq!(mode(&s.path("new")), 0o700);
}

#[test]
fn the_default_stores_parents_get_normal_modes() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let mut cmd = s.under_umask("022");
    cmd.args(["get", "my-app"]);
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let home = s.path("home");
    for parent in [".local", ".local/share", ".local/share/atlas"] {
        assert_eq!(mode(&home.join(parent)), 0o755, "{parent}");
    }
    assert_eq!(mode(&home.join(".local/share/atlas/fly-tokens")), 0o700);
    assert!(home.join(".local/share/atlas/fly-tokens/org/acme.json").exists());
}

#[test]
fn status_of_a_store_that_does_not_exist_creates_nothing() {
    let s = Sandbox::new();
    let typo = format!("{}/nonexistent/x/y/../z", s.dir.path().display());
    let run = |args: &[&str]| {
        let mut cmd = s.bare();
        cmd.args(args);
        cmd.output().expect("run")
    };
    let out = run(&["--store", &typo, "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no tokens stored"), "{}", stdout(&out));
    let out = run(&["--store", &typo, "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["tokens"], serde_json::json!([]));
    assert!(!s.path("nonexistent").exists(), "nothing created");
    // The implicit default, too.
    let out = run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(s.path("home")).expect("ls").count(), 0);
    assert_eq!(std::fs::read_dir(s.path("tmp")).expect("ls").count(), 0);
}

#[test]
fn status_changes_nothing_and_lists_damaged_expired_and_moved_aside_records() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    assert_eq!(s.run(&["get", "my-app"]).status.code(), Some(0));
    let minted = s.path("store/org");
    let write = |name: &str, body: &str| {
        let path = minted.join(name);
        std::fs::write(&path, body).expect("write");
        chmod(&path, 0o600);
        path
    };
    write("torn.json", "{\"tok");
    write(
        "old-app.json",
        r#"{"version":2,"kind":"minted","scope":"org:old-app","source":"cli","token":"FlyV1 fm2_b2xk","expires_at":1}"#,
    );
    let old_temp = write(".acme.json.tmp-1-2-3", "{\"tok");
    support::age(&old_temp, Duration::from_secs(7200));
    write(&support::temp_file_name("acme.json", support::dead_pid()), "{\"tok");
    let a_day_ago = std::time::SystemTime::now() - Duration::from_secs(86_400);
    let secs = a_day_ago
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    write(&format!("gone.json.corrupt-{secs}"), "{\"tok");
    let before = snapshot(&s.path("store"));

    let out = s.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = |scope: &str| {
        v["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .find(|t| t["scope"] == scope)
            .unwrap_or_else(|| panic!("{scope} is listed: {v}"))
            .clone()
    };
    assert!(
        row("org:torn")["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid JSON")),
        "{v}"
    );
    assert_eq!(row("org:old-app")["expired"], true, "{v}");
    assert_eq!(row("org:acme")["expired"], false, "{v}");
    assert_eq!(v["moved_aside"][0]["scope"], "org:gone", "{v}");
    let table = stdout(&s.run(&["status"]));
    assert!(table.contains("unreadable") && table.contains("expired"), "{table}");
    assert!(table.contains("damaged records moved aside"), "{table}");
    assert!(!table.contains("fm2_") && !stdout(&out).contains("fm2_"), "{table}");
    assert_eq!(snapshot(&s.path("store")), before, "status changed nothing");
}

#[test]
fn an_unusable_explicit_store_is_exit_3_and_never_a_fallback() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    std::fs::write(s.path("a-file"), "not a directory").expect("write");
    let blocked = s.path("a-file/store");
    let via_flag = |args: &[&str]| {
        let mut cmd = s.bare();
        cmd.arg("--store").arg(&blocked).args(args);
        cmd
    };
    let via_env = |args: &[&str]| {
        let mut cmd = s.bare();
        cmd.env("ATLAS_FLY_TOKENS_DIR", &blocked).args(args);
        cmd
    };
    for make in [&via_flag as &dyn Fn(&[&str]) -> Command, &via_env] {
        let out = make(&["get", "my-app"]).output().expect("run");
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&blocked.display().to_string()),
            "{}",
            stderr(&out)
        );
        let out = feed(make(&["set-manual", "my-app"]), "FlyV1 fm2_bWFudWFs\n");
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(!stderr(&out).contains("stored"), "{}", stderr(&out));
    }
    assert!(s.calls().is_empty());
    assert_eq!(std::fs::read_dir(s.path("tmp")).expect("ls").count(), 0, "no fallback");
}

#[test]
fn only_the_implicit_default_falls_back_and_never_for_a_manual_token() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    // HOME is a regular file: the default store cannot be created.
    std::fs::write(s.path("home-file"), "x").expect("write");
    let run = |args: &[&str]| {
        let mut cmd = s.bare();
        cmd.env("HOME", s.path("home-file")).args(args);
        cmd
    };
    let out = run(&["get", "my-app"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{TOKEN}\n"));
    assert!(
        stderr(&out).contains("falling back to a temporary one"),
        "{}",
        stderr(&out)
    );
    let fallback = s.fallback_dir();
    assert_eq!(mode(&fallback), 0o700);
    assert!(fallback.join("org/acme.json").exists());

    let out = feed(run(&["set-manual", "my-app"]), "FlyV1 fm2_bWFudWFs\n");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!fallback.join("manual/my-app.json").exists(), "never in a temp dir");

    let out = run(&["status"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("(temporary fallback)"), "{}", stdout(&out));
}

#[test]
fn a_fifo_as_a_record_never_hangs_get_or_status() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    assert_eq!(s.run(&["get", "my-app"]).status.code(), Some(0));
    let store = s.path("store");
    std::fs::remove_file(store.join("org/acme.json")).expect("rm");
    for fifo in ["org/acme.json", "manual/my-app.json"] {
        nix::unistd::mkfifo(&store.join(fifo), nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    }
    let out = run_bounded(s.command(&["status", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let tokens = v["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 2, "{v}");
    for t in tokens {
        assert!(
            t["error"].as_str().is_some_and(|e| e.contains("not a regular file")),
            "{v}"
        );
    }
    let out = run_bounded(s.command(&["get", "my-app"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{TOKEN}\n"));
    assert_eq!(s.calls().len(), 2, "the FIFO was a miss: the CLI ran again");
}

#[test]
fn a_dead_writers_copy_of_a_token_is_removed_by_the_next_command_that_writes() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    assert_eq!(s.run(&["get", "my-app"]).status.code(), Some(0));
    let temp = s
        .path("store/org")
        .join(support::temp_file_name("acme.json", support::dead_pid()));
    std::fs::write(&temp, TOKEN).expect("write");
    chmod(&temp, 0o600);
    assert_eq!(s.run(&["status"]).status.code(), Some(0));
    assert!(temp.exists(), "status removes nothing");
    let out = s.run(&["invalidate", "my-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!temp.exists(), "a copy of the token a dead writer left is gone");
}

/// A fake `fly` that mints like flyctl: it checks its arguments (`tokens
/// create readonly -o acme --expiry Ns --name … --json`; anything else is
/// flyctl's exit 1) and prints `{"token": …}` with a validity window.
fn strict_fly(s: &Sandbox, token: &str) {
    s.fly(&format!(
        r#"case "$*" in
  "tokens create readonly -o acme --expiry "*"s --name atlas"*" org:acme --json") ;;
  "tokens create deploy -a "*" --expiry "*"s --name atlas"*" app:"*" --json") ;;
  *) echo "Error: unexpected arguments: $*" >&2; exit 1 ;;
esac
printf '{{"token":"%s"}}\n' '{token}'"#
    ));
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

#[test]
fn a_minted_token_is_asked_for_with_an_expiry_and_a_name_and_lives_no_longer_than_its_own() {
    let s = Sandbox::new();
    let not_after = now() + 7_200;
    let token = atlas_app_server::testing::token_with_expiry("strict", not_after);
    strict_fly(&s, &token);
    let out = s.run(&["get", "my-app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{token}\n"));
    let records = s.status();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["expires_at"],
        not_after - atlas_app_server::EXPIRY_SKEW_SECS,
        "capped by the token's own expiry, not now + 24 h"
    );
}

#[test]
fn the_apps_of_an_org_share_one_minted_token() {
    let s = Sandbox::new();
    let token = atlas_app_server::testing::token_with_expiry("org", now() + 90_000);
    strict_fly(&s, &token);
    for app in ["app-a", "app-b", "app-c"] {
        let out = s.run(&["get", app]);
        assert_eq!(stdout(&out), format!("{token}\n"), "{}", stderr(&out));
    }
    assert_eq!(s.calls().len(), 1, "one CLI call for the org");
    let records = s.status();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["scope"], "org:acme");
    // `--deploy` mints per app.
    let out = s.run(&["--deploy", "get", "app-a"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        s.calls()[1].starts_with("tokens create deploy -a app-a "),
        "{:?}",
        s.calls()
    );
}

#[test]
fn with_no_org_the_report_says_to_set_one_and_the_cli_is_not_run() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let out = s.run_env(&["get", "my-app"], &[("FLY_ORG", None)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("--org ORG") && err.contains("FLY_ORG"), "{err}");
    assert!(s.calls().is_empty());
}

#[test]
fn your_own_token_is_never_stored_and_the_current_one_wins() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    let old = "FlyV1 fm2_b2xk";
    let new = "FlyV1 fm2_bmV3";
    let out = s.run_env(&["get", "a"], &[("FLY_API_TOKEN", Some(old))]);
    assert_eq!(stdout(&out), format!("{old}\n"), "{}", stderr(&out));
    assert!(s.status().is_empty(), "your own token is not in the store");
    let out = s.run_env(&["get", "a"], &[("FLY_API_TOKEN", Some(new))]);
    assert_eq!(stdout(&out), format!("{new}\n"), "the changed token wins");
    // Logged out: the CLI mints.
    let out = s.run(&["get", "a"]);
    assert_eq!(stdout(&out), format!("{TOKEN}\n"), "{}", stderr(&out));
    // --no-config-file never serves your token.
    let out = s.run_env(&["--no-config-file", "get", "b"], &[("FLY_API_TOKEN", Some(new))]);
    assert_eq!(stdout(&out), format!("{TOKEN}\n"), "{}", stderr(&out));
    assert!(s.status().iter().all(|r| r["source"] == "cli"));
}

#[test]
fn cached_records_of_the_earlier_format_are_deleted_once_and_reacquired() {
    let s = Sandbox::new();
    s.fly(&format!("echo '{TOKEN}'"));
    // What an earlier fly-tokens left: the user's own token, stored per app.
    let old = s.path("store/cached");
    let manual_dir = s.path("store/manual");
    for dir in [s.path("store"), old.clone(), manual_dir.clone()] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        chmod(&dir, 0o700);
    }
    let write = |path: PathBuf, body: &str| {
        std::fs::write(&path, body).expect("write");
        chmod(&path, 0o600);
    };
    write(
        old.join("my-app.json"),
        r#"{"version":1,"app":"my-app","key":"cached","token":"FlyV1 fm2_T0xE","expires_at":99999999999}"#,
    );
    write(
        manual_dir.join("other.json"),
        r#"{"version":1,"app":"other","key":"manual","token":"FlyV1 fm2_bWFu","expires_at":null}"#,
    );
    let out = s.run(&["get", "my-app"]);
    assert_eq!(stdout(&out), format!("{TOKEN}\n"), "{}", stderr(&out));
    assert!(!old.exists(), "the earlier cached records are gone");
    // A manual record of the earlier format is kept and served.
    s.fly("exit 1");
    let out = s.run_env(&["get", "other"], &[("FLY_ORG", None)]);
    assert_eq!(stdout(&out), "FlyV1 fm2_bWFu\n", "{}", stderr(&out));
}
