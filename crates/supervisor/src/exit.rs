//! Why a child stopped.

use std::fmt;
use std::sync::Arc;

/// The reason a child (or a supervisor) stopped, as OTP's exit reasons.
///
/// | reason | normal? | `permanent` | `transient` | `temporary` |
/// |---|---|---|---|---|
/// | `Normal` | yes | restarted | not restarted | removed |
/// | `Shutdown` | yes | restarted | not restarted | removed |
/// | `Killed` | no | restarted | restarted | removed |
/// | `Panic(_)` | no | restarted | restarted | removed |
/// | `Error(_)` | no | restarted | restarted | removed |
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// The child finished its work (`normal`).
    Normal,
    /// The child stopped because it was asked to, or a supervisor gave up
    /// (`shutdown`).
    Shutdown,
    /// The child was aborted from outside: `brutal_kill`, a shutdown timeout
    /// that ran out, or [`ChildRef::kill`](crate::ChildRef::kill) (`killed`).
    Killed,
    /// The child's task panicked; the message is the panic payload when it
    /// was a string.
    Panic(Arc<str>),
    /// The child returned an error.
    Error(Arc<str>),
}

impl ExitReason {
    /// A new [`ExitReason::Error`].
    pub fn error(message: impl fmt::Display) -> Self {
        ExitReason::Error(message.to_string().into())
    }

    /// `Normal` and `Shutdown` are normal exits: a `transient` child is not
    /// restarted after them (OTP also counts `{shutdown, _}` here).
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }

    /// The short OTP-style name: `normal`, `shutdown`, `killed`, `panic`,
    /// `error`.
    pub fn name(&self) -> &'static str {
        match self {
            ExitReason::Normal => "normal",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Killed => "killed",
            ExitReason::Panic(_) => "panic",
            ExitReason::Error(_) => "error",
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Panic(m) => write!(f, "panic: {m}"),
            ExitReason::Error(m) => write!(f, "error: {m}"),
            other => f.write_str(other.name()),
        }
    }
}

impl From<()> for ExitReason {
    fn from((): ()) -> Self {
        ExitReason::Normal
    }
}

impl<E: fmt::Display> From<Result<(), E>> for ExitReason {
    fn from(r: Result<(), E>) -> Self {
        match r {
            Ok(()) => ExitReason::Normal,
            Err(e) => ExitReason::error(e),
        }
    }
}
