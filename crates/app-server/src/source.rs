//! `Source` and `Acquirer`: where a token came from and who fetched it, as
//! recorded on every `get`/`refresh` span (SPEC.md §7).

use std::fmt;

/// Which link of the resolution chain produced the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Memory: the shared table (a fast-path hit, or a coalesced caller),
    /// or the scope's current token (another app of the org fetched it).
    Cache,
    /// The stored minted record of the app's scope.
    Storage,
    /// The user's own token (environment or fly config file).
    Config,
    /// `fly tokens create`.
    Cli,
    /// The stored manual override.
    Manual,
    /// Nothing: no token available (or the call failed before resolving).
    None,
}

impl Source {
    /// `cache`, `storage`, `config`, `cli`, `manual` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Storage => "storage",
            Source::Config => "config",
            Source::Cli => "cli",
            Source::Manual => "manual",
            Source::None => "none",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who answered: the caller's own task or the app's server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acquirer {
    /// A fast-path hit, read in the caller's task; no message was sent.
    Facade,
    /// The AppServer answered (slow path, or a coalesced caller).
    AppServer,
}

impl Acquirer {
    /// `facade` or `app_server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Acquirer::Facade => "facade",
            Acquirer::AppServer => "app_server",
        }
    }
}

impl fmt::Display for Acquirer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
