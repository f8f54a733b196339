//! `NoTokenReport`: what each link of the chain found when none had a token.

use std::fmt;
use std::time::Duration;

use crate::{AppName, StorageError, TokenTextError};

/// What the stored `cached` record gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageFinding {
    /// No record.
    None,
    /// A record whose `expires_at` (unix seconds) is not in the future
    /// (`None`: a cached record without an expiry, never trusted).
    Expired {
        /// When it expired.
        expires_at: Option<i64>,
    },
    /// Not consulted: a refresh or soft-expiry re-resolution replaces the
    /// stored copy, so it is skipped.
    Skipped,
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

/// What the fly CLI gave. Never holds its stdout (it may be a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliFinding {
    /// It exited non-zero; the first line of its stderr.
    Exited {
        /// The exit code.
        code: i32,
        /// The first line of stderr (diagnostics), trimmed and capped.
        stderr: String,
    },
    /// It exited 0 with empty stdout.
    EmptyOutput,
    /// It exited 0, but stdout does not look like a Fly token.
    NotAToken,
    /// It did not finish within `cli_timeout` (and was stopped).
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// It could not be run at all (no CLI configured, not installed, …).
    NotRun(String),
}

/// What the manual override link gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManualFinding {
    /// No manual token stored.
    None,
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
    /// The stored `cached` record.
    pub storage: StorageFinding,
    /// The user's own token.
    pub user_token: UserTokenFinding,
    /// The fly CLI.
    pub cli: CliFinding,
    /// The manual override.
    pub manual: ManualFinding,
}

/// The first line of `stderr`, trimmed, at most 200 characters.
pub(crate) fn first_line(stderr: &str) -> String {
    let line = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    line.chars().take(200).collect()
}

impl fmt::Display for StorageFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageFinding::None => f.write_str("none"),
            StorageFinding::Expired { expires_at: Some(at) } => write!(f, "expired (at {at})"),
            StorageFinding::Expired { expires_at: None } => f.write_str("expired (no expiry recorded)"),
            StorageFinding::Skipped => f.write_str("skipped (being replaced)"),
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
            UserTokenFinding::Refused(e) => write!(f, "refused ({e})"),
            UserTokenFinding::TimedOut { after } => write!(f, "timed out after {after:?}"),
        }
    }
}

impl fmt::Display for CliFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliFinding::Exited { code, stderr } if stderr.is_empty() => write!(f, "exit {code}"),
            CliFinding::Exited { code, stderr } => write!(f, "exit {code} ({stderr})"),
            CliFinding::EmptyOutput => f.write_str("exit 0 with empty output"),
            CliFinding::NotAToken => f.write_str("exit 0, output is not a Fly token"),
            CliFinding::TimedOut { after } => write!(f, "timed out after {after:?}"),
            CliFinding::NotRun(why) => write!(f, "not run ({why})"),
        }
    }
}

impl fmt::Display for ManualFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManualFinding::None => f.write_str("none"),
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
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_skips_blanks_and_caps() {
        assert_eq!(first_line("\n  Error: boom \nmore"), "Error: boom");
        assert_eq!(first_line(""), "");
        assert_eq!(first_line(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn display_names_every_link() {
        let r = NoTokenReport {
            app: AppName::new("my-app").expect("valid"),
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
