//! `NoTokenReport`: what each link of the chain found when none had a token.

use std::fmt;
use std::time::Duration;

use crate::{sanitize, AppName, Scope, StorageError, TokenTextError};

/// What the stored minted record of the app's scope gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageFinding {
    /// No record.
    None,
    /// A record whose `expires_at` (unix seconds, capped by the token's own
    /// expiry) is not in the future (`None`: a minted record without an
    /// expiry, never trusted).
    Expired {
        /// When it expired.
        expires_at: Option<i64>,
    },
    /// It holds the token a refresh or soft-expiry re-resolution is
    /// replacing, so it is skipped.
    Skipped,
    /// Nothing to look up: the app has no scope (a `readonly` token with no
    /// org configured).
    NoScope,
    /// Reading it failed.
    Failed(StorageError),
    /// The record holds a value that cannot be a token
    /// ([`check_token_text`](crate::check_token_text)); it is not served.
    Refused(TokenTextError),
}

/// What the user's own token link gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTokenFinding {
    /// No token in the environment or the config file.
    None,
    /// Disabled by `config_file_enabled(false)`.
    Disabled,
    /// The token's own expiry has passed.
    Expired,
    /// The value found cannot be a token
    /// ([`check_token_text`](crate::check_token_text)); it is not served.
    Refused(TokenTextError),
    /// Reading it took longer than
    /// [`USER_TOKEN_READ_TIMEOUT`](crate::USER_TOKEN_READ_TIMEOUT) (a file
    /// on a hung mount, …); the read was abandoned.
    TimedOut {
        /// The bound that ran out.
        after: Duration,
    },
}

/// What the fly CLI gave. Never holds its stdout (it may be a token); its
/// stderr only sanitised ([`sanitize`](crate::sanitize): no control
/// characters, credentials masked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliFinding {
    /// It exited non-zero.
    Exited {
        /// The exit code.
        code: i32,
        /// Its stderr, sanitised, blank lines dropped, bounded (about
        /// 4 KiB: the last lines, and the `Error:` line whatever its place).
        /// Hints may look for words anywhere in it; the line to quote is
        /// [`CliFinding::stderr_line`].
        stderr: String,
    },
    /// A signal ended it.
    Killed {
        /// The signal's number ([`signal_name`] names it).
        signal: i32,
        /// Its stderr, as in [`CliFinding::Exited`].
        stderr: String,
    },
    /// It exited 0 with empty stdout.
    EmptyOutput,
    /// It exited 0, but its stdout was over the runner's size limit (and
    /// was discarded).
    TooLarge,
    /// It exited 0, but stdout does not look like a Fly token.
    NotAToken,
    /// It did not finish within `cli_timeout` (and was stopped).
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// It could not be run at all (no CLI configured, not installed, …).
    NotRun(String),
    /// Not run: a `readonly` token needs an org (`--org`, else `FLY_ORG`);
    /// flyctl cannot pick one without a terminal.
    NoOrg,
    /// Not run: it failed for this scope `ago`, within the failure window.
    RecentlyFailed {
        /// How long ago it failed.
        ago: Duration,
        /// How it failed then.
        finding: Box<CliFinding>,
    },
    /// It printed a token whose own expiry has already passed.
    AlreadyExpired,
}

impl CliFinding {
    /// The line of its stderr worth quoting: the first `Error:` line (flyctl
    /// prints notices, such as an available update, before it), else the
    /// last non-empty line; at most 200 characters. Empty when there is no
    /// stderr.
    ///
    /// ```
    /// use atlas_app_server::CliFinding;
    /// let f = CliFinding::Exited { code: 1, stderr: "Update available\nError: not logged in\nhint".into() };
    /// assert_eq!(f.stderr_line(), "Error: not logged in");
    /// ```
    pub fn stderr_line(&self) -> String {
        match self {
            CliFinding::Exited { stderr, .. } | CliFinding::Killed { stderr, .. } => quote_line(stderr),
            _ => String::new(),
        }
    }
}

/// What the manual override link gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManualFinding {
    /// No manual token stored.
    None,
    /// A manual token whose own expiry (unix seconds) has passed: not
    /// served; set a new one.
    Expired {
        /// When it expired (its `not_after`, less the clock-skew margin).
        at: i64,
    },
    /// Reading it failed (an unreadable manual record is left for an
    /// operator to decide).
    Failed(StorageError),
    /// The record holds a value that cannot be a token
    /// ([`check_token_text`](crate::check_token_text)); it is not served,
    /// and left in place for an operator to replace.
    Refused(TokenTextError),
}

/// Why no token is available for an app: one finding per link of the chain
/// (SPEC.md §5). It never holds a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoTokenReport {
    /// The app.
    pub app: AppName,
    /// The scope its minted token would be for (`None`: no org set).
    pub scope: Option<Scope>,
    /// The stored minted record.
    pub storage: StorageFinding,
    /// The user's own token.
    pub user_token: UserTokenFinding,
    /// The fly CLI.
    pub cli: CliFinding,
    /// The manual override.
    pub manual: ManualFinding,
}

/// How much sanitised stderr a finding keeps, in bytes.
const STDERR_KEEP: usize = 4096;
/// The longest line kept, in characters.
const LINE_KEEP: usize = 300;
/// The longest line quoted, in characters.
const QUOTE_KEEP: usize = 200;

/// The CLI's raw stderr as a finding keeps it: sanitised, trimmed lines
/// with the blank ones dropped, each at most 300 characters, the last ones
/// up to about 4 KiB, and the first `Error:` line kept wherever it is.
pub(crate) fn stderr_summary(raw: &str) -> String {
    let clean = sanitize(raw);
    let lines: Vec<String> = clean
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| cap(l, LINE_KEEP))
        .collect();
    let mut keep = vec![false; lines.len()];
    let mut size = 0;
    for (i, line) in lines.iter().enumerate().rev() {
        size += line.len() + 1;
        if size > STDERR_KEEP {
            break;
        }
        keep[i] = true;
    }
    if let Some(i) = lines.iter().position(|l| is_error_line(l)) {
        keep[i] = true;
    }
    let kept: Vec<&str> = lines
        .iter()
        .zip(keep)
        .filter_map(|(l, k)| k.then_some(l.as_str()))
        .collect();
    kept.join("\n")
}

/// The first `Error:` line of `text`, else its last non-empty line, capped.
fn quote_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines
        .clone()
        .find(|l| is_error_line(l))
        .or_else(|| lines.next_back())
        .unwrap_or("");
    cap(line, QUOTE_KEEP)
}

fn is_error_line(line: &str) -> bool {
    line.get(..6).is_some_and(|head| head.eq_ignore_ascii_case("error:"))
}

/// `s` cut to `max` characters, with `…` when something was cut.
fn cap(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// The name of signal number `signal` (`SIGSEGV`), for the signals whose
/// numbers are the same on Linux, macOS and the BSDs; `signal N` otherwise.
///
/// ```
/// assert_eq!(atlas_app_server::signal_name(9), "SIGKILL");
/// assert_eq!(atlas_app_server::signal_name(64), "signal 64");
/// ```
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

impl fmt::Display for StorageFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageFinding::None => f.write_str("none"),
            StorageFinding::Expired { expires_at: Some(at) } => write!(f, "expired (at {at})"),
            StorageFinding::Expired { expires_at: None } => f.write_str("expired (no expiry recorded)"),
            StorageFinding::Skipped => f.write_str("skipped (being replaced)"),
            StorageFinding::NoScope => f.write_str("none (no org configured)"),
            StorageFinding::Failed(e) => write!(f, "failed ({e})"),
            StorageFinding::Refused(e) => write!(f, "refused ({e})"),
        }
    }
}

impl fmt::Display for UserTokenFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserTokenFinding::None => f.write_str("none"),
            UserTokenFinding::Disabled => f.write_str("disabled"),
            UserTokenFinding::Expired => f.write_str("expired"),
            UserTokenFinding::Refused(e) => write!(f, "refused ({e})"),
            UserTokenFinding::TimedOut { after } => write!(f, "timed out after {after:?}"),
        }
    }
}

impl fmt::Display for CliFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliFinding::Exited { code, .. } => write!(f, "exit {code}"),
            CliFinding::Killed { signal, .. } => write!(f, "killed by {}", signal_name(*signal)),
            CliFinding::EmptyOutput => f.write_str("exit 0 with empty output"),
            CliFinding::TooLarge => f.write_str("exit 0, output too large"),
            CliFinding::NotAToken => f.write_str("exit 0, output is not a Fly token"),
            CliFinding::TimedOut { after } => write!(f, "timed out after {after:?}"),
            CliFinding::NotRun(why) => write!(f, "not run ({why})"),
            CliFinding::NoOrg => f.write_str(
                "not run (no org configured: set --org or FLY_ORG; flyctl cannot pick an org without a terminal)",
            ),
            CliFinding::RecentlyFailed { ago, finding } => write!(f, "failed {}s ago ({finding})", ago.as_secs()),
            CliFinding::AlreadyExpired => f.write_str("exit 0, but the token it printed has already expired"),
        }?;
        match self.stderr_line() {
            line if line.is_empty() => Ok(()),
            line => write!(f, " ({line})"),
        }
    }
}

impl fmt::Display for ManualFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManualFinding::None => f.write_str("none"),
            ManualFinding::Expired { at } => write!(f, "expired (at {at}; set a new one)"),
            ManualFinding::Failed(e) => write!(f, "failed ({e})"),
            ManualFinding::Refused(e) => write!(f, "refused ({e})"),
        }
    }
}

impl fmt::Display for NoTokenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no token available for app {}: storage: {}; user token: {}; cli: {}; manual: {}",
            self.app, self.storage, self.user_token, self.cli, self.manual
        )?;
        if let Some(scope) = &self.scope {
            write!(f, " (scope {scope})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quoted_line_is_the_error_line_else_the_last() {
        let exited = |stderr: &str| CliFinding::Exited {
            code: 1,
            stderr: stderr_summary(stderr),
        };
        let real = "\x1b[33mA new release of flyctl is available: 0.3 -> 0.4\x1b[0m\n\n\
                    \x1b[31mError:\x1b[0m not logged in (FlyV1 fm2_c2VjcmV0)\nRun 'fly auth login'\n";
        assert_eq!(exited(real).stderr_line(), "Error: not logged in (FlyV1 …)");
        assert_eq!(exited("notice\n  last words  \n\n").stderr_line(), "last words");
        assert_eq!(exited("").stderr_line(), "");
        assert_eq!(CliFinding::TooLarge.stderr_line(), "");
        let long = exited(&"x".repeat(500)).stderr_line();
        assert_eq!(long.chars().count(), 201, "200 characters and an ellipsis");
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_summary_is_sanitised_bounded_and_keeps_the_error_line() {
        let mut raw = String::from("Error: organization slug needed\r\n");
        for i in 0..2000 {
            raw.push_str(&format!("noise line {i} fo1_SECRET\x07\n"));
        }
        let s = stderr_summary(&raw);
        assert!(s.len() <= 4096 + 400, "{}", s.len());
        assert!(s.starts_with("Error: organization slug needed\nnoise line"), "{s:.80}");
        assert!(s.ends_with("noise line 1999 fo1_…"), "the last lines are kept");
        assert!(!s.contains("SECRET") && !s.contains('\x07') && !s.contains('\r'));
        assert_eq!(stderr_summary("\n a \n\n b\n"), "a\nb");
        assert_eq!(stderr_summary(&"y".repeat(1000)).chars().count(), 301);
    }

    #[test]
    fn signals_are_named() {
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(0), "signal 0");
        let killed = CliFinding::Killed {
            signal: 11,
            stderr: "Segmentation fault".into(),
        };
        assert_eq!(killed.to_string(), "killed by SIGSEGV (Segmentation fault)");
        assert_eq!(CliFinding::TooLarge.to_string(), "exit 0, output too large");
    }

    #[test]
    fn display_names_every_link() {
        let r = NoTokenReport {
            app: AppName::new("my-app").expect("valid"),
            scope: None,
            storage: StorageFinding::Expired { expires_at: Some(5) },
            user_token: UserTokenFinding::Disabled,
            cli: CliFinding::Exited {
                code: 1,
                stderr: "Error: not logged in".into(),
            },
            manual: ManualFinding::None,
        };
        assert_eq!(
            r.to_string(),
            "no token available for app my-app: storage: expired (at 5); user token: disabled; \
             cli: exit 1 (Error: not logged in); manual: none"
        );
    }
}
