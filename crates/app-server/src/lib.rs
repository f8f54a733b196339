//! # atlas-app-server
//!
//! The per-app Fly.io token resolver: one [`AppServer`](AppServerRef) per
//! app, the [`Tokens`] facade, and the `rest_for_one` supervision tree they
//! run in, built from `atlas-supervisor`, `atlas-registry` and
//! `atlas-cache`.
//!
//! [`Tokens::get`] reads the shared table in the caller's own task; only on
//! a miss does it ask the app's AppServer (started on demand), which runs
//! the resolution chain, first hit wins: the table again (coalescing),
//! the stored `cached` record, the user's own token, `fly tokens create`
//! (bounded by `cli_timeout`), the stored manual override, else
//! [`TokenError::NoTokenAvailable`] with what each link found.
//!
//! The crate reaches the world only through three seams, [`Storage`],
//! [`CmdFn`] and [`ConfigFileFn`], and reads time through a [`Clock`], so
//! every behaviour can be tested with in-memory fakes (the `testing`
//! feature ships them). `atlas-fly-cli` wires the real ones.
//!
//! ```
//! use atlas_app_server::{cmd_fn, CmdOutput, Source, Tokens, TokensConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), atlas_app_server::TokenError> {
//! let tokens = Tokens::start(TokensConfig::default().cmd_fn(cmd_fn(|_program, _args| async {
//!     Ok(CmdOutput::new(0, "FlyV1 fm2_c2VjcmV0\n", ""))
//! })))
//! .await?;
//!
//! // Cold: the AppServer runs the chain and the CLI mints a token.
//! let (token, source, _) = tokens.get_traced("my-app").await;
//! assert_eq!(token?.expose(), "FlyV1 fm2_c2VjcmV0");
//! assert_eq!(source, Source::Cli);
//!
//! // Warm: read from the shared table in this task, no message sent.
//! let (_, source, acquirer) = tokens.get_traced("my-app").await;
//! assert_eq!((source.as_str(), acquirer.as_str()), ("cache", "facade"));
//!
//! // Bad names never reach a table, a file or a command line.
//! assert!(tokens.get("../etc").await.is_err());
//! tokens.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## The tree
//!
//! ```text
//! tokens (rest_for_one)
//! ├── registry   app name → AppServer
//! ├── table      owns the shared token table
//! ├── tasks      background persists
//! └── apps       dynamic supervisor (one_for_one, 20 restarts / 60 s)
//! ```
//!
//! | crashed child | what restarts | effect |
//! |---|---|---|
//! | `registry` | everything | cache empty, servers started again on demand |
//! | `table` | table, tasks, apps | cache empty; the first call per app reads storage |
//! | `tasks` | tasks, apps | cache kept |
//! | an AppServer | that server | cache kept: the next `get` is still a hit |
//!
//! ## Observability
//!
//! Every `get` and `refresh` is a `tracing` span (`tokens.get`,
//! `tokens.refresh`) with `app`, `source` (`cache`, `storage`, `config`,
//! `cli`, `manual`, `none`) and `acquirer` (`facade` for a fast-path hit,
//! `app_server` otherwise). A failing or timed-out CLI is a warning with
//! its exit code. Tokens never appear in logs, spans, `Debug` or errors.
//!
//! ## Features
//!
//! - `testing`: the storage conformance suite and test doubles
//!   (the `testing` module).

mod app_server;
mod clock;
mod config;
mod error;
mod persist;
mod redact;
mod report;
mod seams;
mod source;
mod table;
mod token_shape;
mod tokens;
mod tree;

#[cfg(feature = "testing")]
pub mod testing;

pub use app_server::AppServerRef;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{TokenKind, TokensConfig};
pub use error::TokenError;
pub use redact::{mask_secrets, sanitize};
pub use report::{signal_name, CliFinding, ManualFinding, NoTokenReport, StorageFinding, UserTokenFinding};
pub use seams::*;
pub use source::{Acquirer, Source};
pub use token_shape::{check_token_text, looks_like_fly_token, TokenTextError};
pub use tokens::Tokens;
