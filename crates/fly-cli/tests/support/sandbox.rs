//! A sandbox for running the `fly-tokens` binary: its own store, `HOME`,
//! `FLY_CONFIG_DIR` and a fake `fly` on `PATH`, with the child environment
//! cleared of everything else (no real token can leak in).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::script;

/// Temp dirs `bin`, `home`, `flyconfig` and `tmp`; `store` is left for the
/// program to create (it refuses a store others can use, and one made here
/// would get the umask's mode).
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A fresh sandbox.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["bin", "home", "flyconfig", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        Sandbox { dir }
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Puts a fake `fly` with this body on `PATH`.
    pub fn fly(&self, body: &str) {
        script(&self.path("bin"), "fly", body);
    }

    /// A fake `fly` that starts a child (`sleep 300`), writes "PID CHILD"
    /// to the returned file and waits.
    pub fn slow_fly(&self) -> PathBuf {
        let pids = self.path("pids");
        self.fly(&format!("sleep 300 &\necho \"$$ $!\" > '{}'\nwait", pids.display()));
        pids
    }

    /// The sandbox's environment, on any command.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.path("bin").display()))
            .env("HOME", self.path("home"))
            .env("FLY_CONFIG_DIR", self.path("flyconfig"))
            // The org readonly tokens are minted for.
            .env("FLY_ORG", "acme")
            // The temporary fallback store, if any, lands here.
            .env("TMPDIR", self.path("tmp"));
    }

    /// `fly-tokens --store STORE ARGS…`, stdin null, output piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fly-tokens"));
        self.env(&mut cmd);
        cmd.arg("--store")
            .arg(self.path("store"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// The shell words of `fly-tokens --store STORE` (for a `sh -c` line).
    pub fn shell_command(&self) -> String {
        format!(
            "'{}' --store '{}'",
            env!("CARGO_BIN_EXE_fly-tokens"),
            self.path("store").display()
        )
    }
}

/// Reads "PID PID …" from `path` once it is complete, for at most 10 s.
pub fn pids_in(path: &std::path::Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s.split_whitespace().map(|p| p.parse().expect("pid")).collect();
            }
        }
        assert!(Instant::now() < deadline, "the fake fly never wrote its pids");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (at most 5 s) until `pid` is dead or a zombie; false if never.
pub fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if super::dead(super::proc_state(pid)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
