//! A real `redis-server` per test: on a free loopback port, in a temp dir,
//! with no persistence; it can be stopped, paused and restarted, and it is
//! always killed at the end (also when the test process itself dies).
//!
//! Without `redis-server` a test is reported as skipped, by name, on the
//! terminal (not through the captured test output), and fails under
//! `CI=true`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use atlas_fly_cli::{RedisSettings, RedisStore, RedisUrl};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a starting server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The running test's name (libtest names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current().name().unwrap_or("<unnamed test>").to_owned()
}

/// `redis-server` on `PATH` (or `ATLAS_REDIS_SERVER`), or `None` after
/// reporting the running test as skipped. Panics under `CI=true`.
pub fn redis_server_bin() -> Option<PathBuf> {
    let test = test_name();
    let found = std::env::var_os("ATLAS_REDIS_SERVER")
        .map(PathBuf::from)
        .or_else(|| which("redis-server"));
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: redis-server is not installed (CI=true: Redis tests may not be skipped)");
        }
        // Straight to the terminal: `eprintln!` would be captured and hidden.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: redis-server not found (apt-get install redis-server)"
        );
    }
    found
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Extra arguments for a server (password, TLS, a Unix socket, …).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Appended to the command line; `{port}` and `{dir}` stand for the
    /// server's port and directory.
    pub args: Vec<String>,
    /// Listen on TCP (`--port`); false for a socket-only or TLS-only server.
    pub tcp: bool,
    /// Where `PING` goes to check readiness (the TCP port when `None`).
    pub ready_port: Option<u16>,
}

/// A running `redis-server` (or a stopped one that can be restarted).
pub struct RedisServer {
    bin: PathBuf,
    port: u16,
    opts: Options,
    dir: tempfile::TempDir,
    proc: Option<Proc>,
}

/// The server and the shell that kills it when our end of its stdin closes
/// (when this process dies, even by `SIGKILL`).
struct Proc {
    pid: i32,
    keeper: Child,
    stdin: Option<ChildStdin>,
}

impl RedisServer {
    /// A plain server on a free loopback port; `None` when skipped.
    pub fn start() -> Option<Self> {
        Self::start_with(Options {
            tcp: true,
            ..Options::default()
        })
    }

    /// A server with `opts`; `None` when skipped.
    pub fn start_with(opts: Options) -> Option<Self> {
        let bin = redis_server_bin()?;
        let test = test_name();
        let mut last = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                bin: bin.clone(),
                port: free_port(),
                opts: opts.clone(),
                dir: tempfile::tempdir().expect("tempdir"),
                proc: None,
            };
            match server.spawn() {
                Ok(()) => return Some(server),
                // Another process took the port between our probe and the
                // server's bind: take another one.
                Err(e) => last = e,
            }
        }
        panic!("{test}: redis-server did not start: {last}");
    }

    /// The TCP port (also for `--tls-port` servers: tests pass it).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (config files, sockets, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> RedisUrl {
        format!("redis://127.0.0.1:{}/0", self.port).parse().expect("url")
    }

    /// Settings for this server with short timeouts, under `prefix`.
    pub fn settings(&self, prefix: &str) -> RedisSettings {
        RedisSettings::new(self.url())
            .prefix(prefix)
            .expect("prefix")
            .connect_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_millis(500))
    }

    /// A store on this server under `prefix`.
    pub fn store(&self, prefix: &str) -> RedisStore {
        RedisStore::new(self.settings(prefix)).expect("store")
    }

    /// Sends one command in RESP and returns the raw reply: for looking at
    /// what the store left in Redis, independently of the store's client.
    pub fn raw(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("send");
        let mut reader = BufReader::new(s);
        read_reply(&mut reader)
    }

    /// Kills the server (`SIGKILL`: an outage, not a shutdown) and waits
    /// until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            drop(p.stdin.take());
            let _ = p.keeper.wait();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{}", p.pid)).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts it again, on the same port (so clients find it where it was).
    pub fn restart(&mut self) {
        self.stop();
        let mut last = String::new();
        for _ in 0..50 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}: {last}", self.port);
    }

    /// Freezes the server (`SIGSTOP`): connections stay open, nothing answers.
    pub fn pause(&self) {
        if let Some(p) = &self.proc {
            kill(Pid::from_raw(p.pid), Signal::SIGSTOP).expect("SIGSTOP");
        }
    }

    /// Thaws a paused server.
    pub fn resume(&self) {
        if let Some(p) = &self.proc {
            kill(Pid::from_raw(p.pid), Signal::SIGCONT).expect("SIGCONT");
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let log = dir.join("redis.log");
        let mut args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            if self.opts.tcp {
                self.port.to_string()
            } else {
                "0".into()
            },
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--daemonize".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--logfile".into(),
            log.display().to_string(),
        ];
        let (port, dir_text) = (self.port.to_string(), dir.display().to_string());
        args.extend(
            self.opts
                .args
                .iter()
                .map(|a| a.replace("{port}", &port).replace("{dir}", &dir_text)),
        );
        // The shell prints the server's pid, then waits on its stdin: when
        // our end closes (this process ended, however), it kills the server.
        let mut keeper = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"bin="$1"; shift; "$bin" "$@" </dev/null >/dev/null 2>&1 & echo $!; read _; kill -9 $! 2>/dev/null"#)
            .arg("sh")
            .arg(&self.bin)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let mut line = String::new();
        let stdout = keeper.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let pid: i32 = line
            .trim()
            .parse()
            .map_err(|_| format!("no pid from the keeper: {line:?}"))?;
        let proc = Proc {
            pid,
            stdin: keeper.stdin.take(),
            keeper,
        };
        self.proc = Some(proc);
        let ready_port = self.opts.ready_port.unwrap_or(self.port);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if !Path::new(&format!("/proc/{pid}")).exists() || zombie(pid) {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                self.stop();
                return Err(format!("redis-server exited: {}", log.lines().last().unwrap_or("")));
            }
            if self.opts.ready_port.is_some() || self.opts.tcp {
                if pong(ready_port) {
                    return Ok(());
                }
            } else if std::fs::read_to_string(&log)
                .is_ok_and(|l| l.to_lowercase().contains("ready to accept connections"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err("redis-server did not answer PING in time".into())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// A loopback port nobody listens on right now (bind port 0, read it, let
/// it go).
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("addr").port()
}

fn pong(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    // `-NOAUTH`: up, and wants a password.
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

/// One RESP reply, flattened to text: `+OK` → `OK`, `:3` → `3`, bulk →
/// its bytes, nil → `(nil)`, arrays → items joined by `\n`.
fn read_reply(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("reply");
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | ":" => rest.to_owned(),
        "-" => format!("ERR {rest}"),
        "$" => {
            let n: i64 = rest.parse().expect("bulk length");
            if n < 0 {
                return "(nil)".into();
            }
            let mut buf = vec![0u8; usize::try_from(n).expect("len") + 2];
            r.read_exact(&mut buf).expect("bulk");
            String::from_utf8_lossy(&buf[..buf.len() - 2]).into_owned()
        }
        "*" => {
            let n: i64 = rest.parse().expect("array length");
            (0..n.max(0)).map(|_| read_reply(r)).collect::<Vec<_>>().join("\n")
        }
        other => panic!("unexpected RESP type {other:?}"),
    }
}

/// A server for the running test, or `return` from it when skipped.
#[macro_export]
macro_rules! server {
    () => {
        match $crate::redis_support::RedisServer::start() {
            Some(s) => s,
            None => return,
        }
    };
}

/// Polls `f` every 10 ms until it holds, for at most `within`.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}
