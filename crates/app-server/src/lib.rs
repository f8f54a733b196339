//! # atlas-app-server
//!
//! The per-app Fly.io token resolver: one [`AppServer`](AppServerRef) per
//! app, the [`Tokens`] facade, and the `rest_for_one` supervision tree they
//! run in, built from `atlas-supervisor`, `atlas-registry` and
//! `atlas-cache`.
//!
//! [`Tokens::get`] reads the shared table in the caller's own task; only on
//! a miss does it ask the app's AppServer (started on demand), which runs
//! the resolution chain, first hit wins: the cache (the table again, then
//! the scope's current token), the store (the scope's minted record), the
//! user's own token (never stored), `fly tokens create` (once per scope,
//! bounded by `cli_timeout`), the app's manual override, else
//! [`TokenError::NoTokenAvailable`] with what each link found.
//!
//! ## Scopes, lifetimes, sources
//!
//! | source | scope | lives | stored |
//! |---|---|---|---|
//! | `fly tokens create readonly -o ORG` (default) | the org: every app of it shares one token | `ttl` (24 h), minted with `--expiry` ttl + 10 min | yes, under the org |
//! | `fly tokens create deploy -a APP` ([`TokenKind::Deploy`]) | the app | as above | yes, under the app |
//! | the user's own (`FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`, config file) | the user | `user_token_ttl` (60 s) in memory, then read again | never |
//! | manual ([`Tokens::set_manual`]) | the app | until cleared | yes, under the app |
//!
//! A token's own expiry (its macaroon's validity window, [`token_expiry`])
//! caps every lifetime, less [`EXPIRY_SKEW_SECS`]. Concurrent cold apps of
//! one scope run the CLI once; [`Tokens::refresh`] and
//! [`Tokens::invalidate`] drop the scope's token for every app of it.
//!
//! The crate reaches the world only through three seams, [`Storage`],
//! [`CmdFn`] and [`ConfigFileFn`], and reads time through a [`Clock`], so
//! every behaviour can be tested with in-memory fakes (the `testing`
//! feature ships them). `atlas-fly-cli` wires the real ones.
//!
//! ```
//! use atlas_app_server::{cmd_fn, CmdOutput, OrgName, Source, Tokens, TokensConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = TokensConfig::default()
//!     .cmd_fn(cmd_fn(|_program, _args| async {
//!         // What `fly tokens create readonly -o acme … --json` prints.
//!         Ok(CmdOutput::new(0, r#"{"token":"FlyV1 fm2_c2VjcmV0"}"#, ""))
//!     }))
//!     .configure(|s| s.org(OrgName::new("acme").expect("a valid slug")));
//! let tokens = Tokens::start(config).await?;
//!
//! // Cold: the AppServer runs the chain and the CLI mints the org's token.
//! let (token, source, _) = tokens.get_traced("my-app").await;
//! assert_eq!(token?.expose(), "FlyV1 fm2_c2VjcmV0");
//! assert_eq!(source, Source::Cli);
//!
//! // Another app of the org shares it: no second CLI run.
//! let (_, source, _) = tokens.get_traced("other-app").await;
//! assert_eq!(source, Source::Cache);
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
//! ├── apps       dynamic supervisor (one_for_one, 20 restarts / 60 s)
//! └── invalidations   only when the store broadcasts: drops what other stacks invalidated
//! ```
//!
//! | crashed child | what restarts | effect |
//! |---|---|---|
//! | `registry` | everything | cache empty, servers started again on demand |
//! | `table` | table, tasks, apps | cache empty; the first call per app reads storage |
//! | `tasks` | tasks, apps | cache kept |
//! | an AppServer | that server | cache kept: the next `get` is still a hit |
//! | `invalidations` | that listener | every scope's token dropped (an event may have been lost) |
//!
//! ## Stacks sharing a store
//!
//! A store shared by several processes or machines (Redis) coordinates
//! them through the [`Storage`] seam: [`Storage::lock_scope`] makes the
//! single flight of a scope fleet-wide (one CLI call however many stacks
//! are cold on it), and [`Storage::publish_invalidation`] /
//! [`Storage::subscribe_invalidations`] make `invalidate` and `refresh`
//! drop the scope's token in every stack, not only in the one that saw it
//! rejected. `testing::MemoryFleet` is such a store in memory, for tests.
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
mod expiry;
mod loom;
mod msgpack;
mod persist;
mod redact;
mod report;
mod scopes;
mod seams;
mod source;
mod table;
mod token_shape;
mod tokens;
mod tree;

#[cfg(feature = "testing")]
pub mod testing;

pub use app_server::{AppServerRef, LOCK_WAIT_MARGIN};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Settings, TokenKind, TokensConfig, MINT_MARGIN};
pub use error::TokenError;
pub use expiry::{token_expiry, EXPIRY_SKEW_SECS};
pub use redact::{mask_secrets, sanitize};
pub use report::{signal_name, CliFinding, ManualFinding, NoTokenReport, StorageFinding, UserTokenFinding};
pub use seams::*;
pub use source::{Acquirer, Source};
pub use token_shape::{check_token_text, looks_like_fly_token, TokenTextError};
pub use tokens::Tokens;

/// The `atlas-supervisor` types this crate's API hands out or takes, so
/// that users need this one crate (as tower re-exports `Service`).
pub use atlas_supervisor::{ChildInfo, ChildRef, ChildState, ControlError, ExitReason, StartError, SupervisorRef};
