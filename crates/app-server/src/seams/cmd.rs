//! `CmdFn`: how the AppServer runs the fly CLI.

use std::future::Future;
use std::io;
use std::sync::Arc;

use async_trait::async_trait;

/// What a finished command produced.
///
/// Build one with [`CmdOutput::new`] (or a struct literal ending in
/// `..Default::default()`), and [`killed`](Self::killed) /
/// [`stdout_too_large`](Self::stdout_too_large) for the other endings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// The exit code (`-1` when killed by a signal).
    pub exit_code: i32,
    /// Standard output. May hold a token: never log it.
    pub stdout: String,
    /// Standard error: diagnostics only, never part of a token.
    pub stderr: String,
    /// The signal that ended the process, when one did (then `exit_code`
    /// is `-1`).
    pub signal: Option<i32>,
    /// Standard output went over the runner's size limit and was discarded
    /// (`stdout` is then empty): the output was too large, not missing.
    pub stdout_truncated: bool,
}

impl CmdOutput {
    /// A process that exited with `exit_code`.
    ///
    /// ```
    /// use atlas_app_server::CmdOutput;
    /// let out = CmdOutput::new(0, "FlyV1 fm2_abc\n", "");
    /// assert_eq!((out.exit_code, out.signal, out.stdout_truncated), (0, None, false));
    /// ```
    pub fn new(exit_code: i32, stdout: impl Into<String>, stderr: impl Into<String>) -> Self {
        CmdOutput {
            exit_code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            ..CmdOutput::default()
        }
    }

    /// A process ended by `signal` (its number, e.g. 11 for `SIGSEGV`).
    pub fn killed(signal: i32, stderr: impl Into<String>) -> Self {
        CmdOutput {
            signal: Some(signal),
            ..CmdOutput::new(-1, "", stderr)
        }
    }

    /// This output, with its stdout marked as over the limit and dropped.
    pub fn stdout_too_large(self) -> Self {
        CmdOutput {
            stdout: String::new(),
            stdout_truncated: true,
            ..self
        }
    }
}

impl std::fmt::Debug for CmdOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmdOutput")
            .field("exit_code", &self.exit_code)
            .field("stdout", &format_args!("<{} bytes>", self.stdout.len()))
            .field("stderr", &self.stderr)
            .field("signal", &self.signal)
            .field("stdout_truncated", &self.stdout_truncated)
            .finish()
    }
}

/// Runs a program. The AppServer enforces its timeout by dropping the
/// future, so dropping it must stop the process.
#[async_trait]
pub trait CmdFn: Send + Sync + 'static {
    /// Run `program` with `args` and collect its output.
    async fn run(&self, program: &str, args: &[&str]) -> io::Result<CmdOutput>;
}

#[async_trait]
impl<T: CmdFn + ?Sized> CmdFn for Arc<T> {
    async fn run(&self, program: &str, args: &[&str]) -> io::Result<CmdOutput> {
        (**self).run(program, args).await
    }
}

/// A [`CmdFn`] from a closure over owned arguments, for tests and adapters:
/// `cmd_fn(|program, args| async move { Ok(CmdOutput::new(0, "FlyV1 fm2_…", "")) })`.
pub fn cmd_fn<F, Fut>(f: F) -> FnCmd<F>
where
    F: Fn(String, Vec<String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<CmdOutput>> + Send + 'static,
{
    FnCmd(f)
}

/// The [`CmdFn`] made by [`cmd_fn`].
#[derive(Clone)]
pub struct FnCmd<F>(F);

#[async_trait]
impl<F, Fut> CmdFn for FnCmd<F>
where
    F: Fn(String, Vec<String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<CmdOutput>> + Send + 'static,
{
    async fn run(&self, program: &str, args: &[&str]) -> io::Result<CmdOutput> {
        (self.0)(program.to_owned(), args.iter().map(|a| (*a).to_owned()).collect()).await
    }
}

/// The default [`CmdFn`]: no fly CLI is configured. Every run is a miss
/// (an `io::ErrorKind::NotFound` error), never a fake token.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCli;

#[async_trait]
impl CmdFn for NoCli {
    async fn run(&self, program: &str, _args: &[&str]) -> io::Result<CmdOutput> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no fly CLI configured (wanted to run `{program}`)"),
        ))
    }
}
