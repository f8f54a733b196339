//! Ctrl-C (`SIGINT`), `SIGTERM` and `SIGHUP`: the fly CLI's process group
//! is killed, the terminal put back as it was (the `set-manual` prompt turns
//! echo off), background writes already queued get a short while to land,
//! and `fly-tokens` exits 128 + the signal's number (130, 143, 129).

use std::fs::File;
use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use atlas_app_server::Tokens;
use nix::sys::termios::{self, SetArg, Termios};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// How long queued background persists get to land after a signal.
pub const FLUSH_BOUND: Duration = Duration::from_secs(2);

/// A signal that stops `fly-tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caught {
    /// `SIGINT` (Ctrl-C).
    Int,
    /// `SIGTERM`.
    Term,
    /// `SIGHUP` (the terminal went away).
    Hup,
}

impl Caught {
    /// The exit code: 128 + the signal's number, as a shell reports a
    /// process that a signal ended.
    pub fn exit_code(self) -> u8 {
        128 + match self {
            Caught::Hup => 1,
            Caught::Int => 2,
            Caught::Term => 15,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Caught::Int => "SIGINT",
            Caught::Term => "SIGTERM",
            Caught::Hup => "SIGHUP",
        }
    }
}

/// The listeners, installed for the whole run, and the terminal's settings
/// at start.
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
    terminal: Option<Terminal>,
}

impl Signals {
    /// Starts listening (from now on these signals no longer end the
    /// process by themselves) and remembers the terminal's settings.
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            terminal: Terminal::capture(),
        })
    }

    /// Runs `work` to its end, unless a signal comes first: then `work` is
    /// dropped (it prints nothing more), every fly CLI's group is killed and
    /// the terminal restored.
    pub async fn until<T>(&mut self, work: impl Future<Output = T>) -> Result<T, Caught> {
        tokio::select! {
            biased;
            caught = self.next() => {
                atlas_fly_cli::stop_all_clis();
                if let Some(terminal) = &self.terminal {
                    terminal.restore();
                }
                Err(caught)
            }
            out = work => Ok(out),
        }
    }

    /// Runs the blocking `f` on a thread of its own (a prompt, a read of
    /// stdin), so that a signal is seen while it blocks. A panic in `f`
    /// goes on in the caller.
    pub async fn blocking<T, E>(
        &mut self,
        f: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, Caught>
    where
        T: Send + 'static,
        E: Send + From<String> + 'static,
    {
        match self.until(tokio::task::spawn_blocking(f)).await? {
            Ok(out) => Ok(out),
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => Ok(Err(E::from(format!("the read was cancelled: {e}")))),
            },
        }
    }

    /// [`until`](Self::until) for a command with no stack to flush: its
    /// exit code either way.
    pub async fn run(&mut self, work: impl Future<Output = u8>) -> u8 {
        match self.until(work).await {
            Ok(code) => code,
            Err(caught) => finish(caught, None).await,
        }
    }

    async fn next(&mut self) -> Caught {
        // `None` means the runtime is shutting down, not a signal.
        tokio::select! {
            Some(()) = self.int.recv() => Caught::Int,
            Some(()) = self.term.recv() => Caught::Term,
            Some(()) = self.hup.recv() => Caught::Hup,
            else => std::future::pending().await,
        }
    }
}

/// After `caught`: lets the queued background persists of `tokens` land
/// (at most [`FLUSH_BOUND`]), says what stopped the command, and returns
/// the exit code.
pub async fn finish(caught: Caught, tokens: Option<&Tokens>) -> u8 {
    if let Some(tokens) = tokens {
        if bounded(FLUSH_BOUND, tokens.shutdown()).await.is_none() {
            tracing::warn!("background writes to the store did not finish in time; some may be lost");
        }
    }
    // The terminal may be gone (SIGHUP): a failed write is no reason to
    // panic, as `eprintln!` would.
    let mut stderr = io::stderr();
    let newline = if stderr.is_terminal() { "\n" } else { "" };
    let _ = writeln!(stderr, "{newline}fly-tokens: stopped by {}", caught.name());
    caught.exit_code()
}

/// `work`'s output, or `None` when it takes longer than `bound`.
async fn bounded<T>(bound: Duration, work: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(bound, work).await.ok()
}

/// The controlling terminal and its settings when `fly-tokens` started.
struct Terminal {
    tty: File,
    saved: Termios,
}

impl Terminal {
    /// Only when stdin is a terminal: that is when `set-manual` prompts
    /// (on `/dev/tty`, with echo off).
    fn capture() -> Option<Terminal> {
        if !io::stdin().is_terminal() {
            return None;
        }
        let tty = File::options().read(true).write(true).open("/dev/tty").ok()?;
        let saved = termios::tcgetattr(&tty).ok()?;
        Some(Terminal { tty, saved })
    }

    /// Puts the saved settings back, only if they changed: setting them
    /// from a background job would stop this process (`SIGTTOU`).
    fn restore(&self) {
        if let Ok(now) = termios::tcgetattr(&self.tty) {
            if now != self.saved {
                let _ = termios::tcsetattr(&self.tty, SetArg::TCSANOW, &self.saved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use atlas_app_server::testing::FakeCli;
    use atlas_app_server::{AppName, MemoryStorage, Scope, Storage, StorageKey, TokenKind, TokensConfig};

    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(
            [Caught::Int, Caught::Term, Caught::Hup].map(Caught::exit_code),
            [130, 143, 129]
        );
    }

    #[tokio::test]
    async fn finish_lets_queued_persists_land() {
        let store = std::sync::Arc::new(MemoryStorage::new());
        let config = TokensConfig::default()
            .cmd_fn(FakeCli::succeeding("FlyV1 fm2_c2lnbmFs"))
            .storage(store.clone())
            .configure(|s| s.token_kind(TokenKind::Deploy));
        let tokens = Tokens::start(config).await.expect("start");
        let app = AppName::new("my-app").expect("app");
        tokens.get("my-app").await.expect("a token");
        assert_eq!(finish(Caught::Term, Some(&tokens)).await, 143);
        let stored = store.get(&StorageKey::Minted(Scope::App(app))).await.expect("read");
        assert!(stored.is_some(), "the persist queued by the get landed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_that_hangs_is_given_up_at_the_bound() {
        let started = tokio::time::Instant::now();
        assert_eq!(bounded(FLUSH_BOUND, std::future::pending::<()>()).await, None);
        assert_eq!(started.elapsed(), FLUSH_BOUND);
        assert_eq!(bounded(FLUSH_BOUND, async { 7 }).await, Some(7));
    }
}
