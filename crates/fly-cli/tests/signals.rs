//! `fly-tokens` against real signals and a real terminal: a slow fake `fly`
//! on `PATH`, signals sent to the binary, and a pseudo-terminal from
//! `script(1)` (util-linux) where a terminal is the point.

mod support;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::sandbox::{gone, pids_in, Sandbox};

/// Waits for `child` to exit, for at most 10 s (a hang, not a slow exit).
fn exit_of(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fly-tokens did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid"))
}

fn output_of(child: &mut Child) -> (String, String) {
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    (out, err)
}

#[test]
fn sigkill_takes_the_cli_and_what_it_forked_along() {
    let s = Sandbox::new();
    let pids = s.slow_fly();
    let mut child = s.command(&["get", "my-app"]).spawn().expect("spawn");
    let p = pids_in(&pids);
    kill(pid_of(&child), Signal::SIGKILL).expect("SIGKILL");
    exit_of(&mut child);
    assert!(gone(p[0]), "the fly CLI outlived fly-tokens");
    assert!(gone(p[1]), "the CLI's child outlived fly-tokens");
}

#[test]
fn sigint_sigterm_and_sighup_stop_the_cli_and_exit_128_plus_the_signal() {
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let s = Sandbox::new();
        let pids = s.slow_fly();
        let mut child = s.command(&["get", "my-app"]).spawn().expect("spawn");
        let p = pids_in(&pids);
        kill(pid_of(&child), signal).expect("signal");
        let status = exit_of(&mut child);
        let (out, err) = output_of(&mut child);
        assert_eq!(status.code(), Some(code), "{signal}: {status:?} {err}");
        assert_eq!(out, "", "{signal}: nothing on stdout");
        assert!(err.contains(&format!("fly-tokens: stopped by {signal}")), "{err}");
        assert!(
            !err.contains("no token available"),
            "the interrupted get says nothing more: {err}"
        );
        assert!(gone(p[0]), "{signal}: the fly CLI was left running");
        assert!(gone(p[1]), "{signal}: the CLI's child was left running");
    }
}

/// A shell line run by `script` on a new pseudo-terminal, its output (the
/// terminal's) collected as it comes.
struct Terminal {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn run(s: &Sandbox, line: &str) -> Terminal {
        let mut cmd = Command::new("script");
        s.env(&mut cmd);
        let mut child = cmd
            .env("TERM", "dumb")
            .args(["-qec", line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script(1) from util-linux runs");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                sink.lock().expect("lock").extend_from_slice(&chunk[..n]);
            }
        });
        Terminal { child, stdin, output }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("lock")).into_owned()
    }

    /// Waits (at most 10 s) until the terminal shows `what`.
    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.text().contains(what) {
            assert!(Instant::now() < deadline, "{what:?} never showed: {:?}", self.text());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (at most 10 s) until the terminal (named by a `pty=` line of
    /// its output) no longer echoes.
    fn wait_until_echo_is_off(&self) {
        let text = self.text();
        let pty = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("pty="))
            .expect("the line printed its terminal");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("stty").args(["-F", pty, "-a"]).output().expect("stty");
            let settings = String::from_utf8_lossy(&out.stdout).into_owned();
            if settings.split([' ', ';', '\n']).any(|w| w == "-echo") {
                return;
            }
            assert!(Instant::now() < deadline, "echo never went off: {settings}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `keys` on the terminal.
    fn type_keys(&mut self, keys: &[u8]) {
        self.stdin.write_all(keys).expect("type");
        self.stdin.flush().expect("flush");
    }

    /// Waits for the line to finish; the terminal's whole output.
    fn finish(self) -> String {
        let Terminal {
            mut child,
            stdin,
            output,
        } = self;
        // Its input stays open until it is done: script(1) may end the line
        // early on end of input.
        exit_of(&mut child);
        drop(stdin);
        // The reader thread drains what is left once script has exited.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&output) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = String::from_utf8_lossy(&output.lock().expect("lock")).into_owned();
        text
    }
}

#[test]
fn ctrl_c_at_the_set_manual_prompt_puts_echo_back() {
    let s = Sandbox::new();
    // The trap keeps the shell alive through the SIGINT that the terminal
    // sends its whole foreground group (fly-tokens gets the default
    // disposition: traps are reset on exec); then the shell reports the
    // exit code and whether the terminal echoes.
    let line = format!(
        "echo \"pty=$(tty)\"\n\
         trap 'echo shell-saw-sigint' INT\n\
         {} set-manual my-app\n\
         echo \"rc=$?\"\n\
         stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo",
        s.shell_command()
    );
    let mut t = Terminal::run(&s, &line);
    t.wait_for("(input hidden): ");
    // The prompt shows before echo goes off: wait for that, so the Ctrl-C
    // lands while the terminal is in the prompt's state.
    t.wait_until_echo_is_off();
    t.type_keys(b"\x03");
    let text = t.finish();
    let echo = text.lines().map(str::trim).find(|l| l.ends_with("echo"));
    assert_eq!(echo, Some("echo"), "echo is on again: {text:?}");
    assert!(text.contains("rc=130"), "{text:?}");
    assert!(text.contains("fly-tokens: stopped by SIGINT"), "{text:?}");
    // The store is opened (and judged) before the prompt; no token is in it.
    assert!(!s.path("store/manual/my-app.json").exists(), "nothing was stored");
}

#[test]
fn the_cli_cannot_open_the_terminal_fly_tokens_runs_in() {
    let s = Sandbox::new();
    let result = s.path("tty-result");
    s.fly(&format!(
        "if (exec 3</dev/tty) 2>/dev/null; then echo tty; else echo no-tty; fi > '{}'\n\
         echo 'Error: boom' >&2\nexit 1",
        result.display()
    ));
    // fly-tokens itself does have the terminal, or the test proves nothing.
    let line = format!(
        "if (exec 3</dev/tty) 2>/dev/null; then echo outer-tty; fi\n\
         {} get my-app\n\
         echo \"rc=$?\"",
        s.shell_command()
    );
    let text = Terminal::run(&s, &line).finish();
    assert!(text.contains("outer-tty"), "{text:?}");
    assert!(text.contains("rc=1"), "{text:?}");
    assert_eq!(
        std::fs::read_to_string(&result).expect("the fake fly ran"),
        "no-tty\n",
        "the CLI reached fly-tokens' terminal"
    );
}

#[test]
fn set_manual_with_an_unusable_store_fails_before_it_prompts() {
    let s = Sandbox::new();
    // A store others can use: refused, so no token should be asked for.
    let shared = s.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let line = format!(
        "'{}' --store '{}' set-manual my-app\n\
         echo \"rc=$?\"",
        env!("CARGO_BIN_EXE_fly-tokens"),
        shared.display()
    );
    // Today's code would prompt and wait for the token: `finish` would hit
    // its bound.
    let text = Terminal::run(&s, &line).finish();
    assert!(text.contains("rc=3"), "{text:?}");
    assert!(!text.contains("input hidden"), "a token was asked for: {text:?}");
    assert!(text.contains("chmod 700"), "{text:?}");
}
