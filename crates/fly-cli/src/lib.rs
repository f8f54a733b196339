//! # atlas-fly-cli
//!
//! The real world for the atlas token stack: the three adapters behind the
//! seams of [`atlas_app_server`], [`default_config`] that wires them, and the
//! `fly-tokens` binary. This is the only atlas crate that spawns processes
//! or touches files.
//!
//! | seam | adapter | what it does |
//! | --- | --- | --- |
//! | [`CmdFn`](atlas_app_server::CmdFn) | [`ProcessCmd`] | runs `fly`/`flyctl` in a session of its own (no terminal), capped output, its whole process group killed on every way out, even if this process is killed |
//! | [`ConfigFileFn`](atlas_app_server::ConfigFileFn) | [`FlyConfig`] | `FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`, then `access_token` in `~/.fly/config.yml` |
//! | [`Storage`](atlas_app_server::Storage) | [`FileStorage`] | one JSON file per record, crash-safe writes, owner-only permissions |
//! | [`Storage`](atlas_app_server::Storage) | [`RedisStore`] (feature `redis`) | records in Redis with Redis's own expiry, a fleet-wide lease per scope, the invalidation broadcast |
//!
//! Which store: [`ConfigOptions::store`] (`--store DIR|URL`), else
//! `ATLAS_FLY_TOKENS_STORE`, else `ATLAS_FLY_TOKENS_DIR`, else the default
//! directory ([`StoreLocation::resolve`]); [`ConfigOptions::open_store`]
//! opens it as a [`TokenStore`].
//!
//! Most users start from [`default_config`] (or [`ConfigOptions`], whose
//! methods mirror the `fly-tokens` flags) and hand it to
//! [`Tokens::start`](atlas_app_server::Tokens::start):
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use atlas_app_server::Tokens;
//!
//! let tokens = Tokens::start(atlas_fly_cli::ConfigOptions::new().org("acme").build()?).await?;
//! let token = tokens.get("my-app").await?; // cache, store, your own token, `fly tokens create`, manual
//! # let _ = token;
//! tokens.shutdown().await; // background persists land before this returns
//! # Ok(()) }
//! ```
//!
//! Helpers: [`resolve_org`] picks the `-o` org (setting, then `FLY_ORG`),
//! [`looks_like_fly_token`] and [`token_expiry`] (re-exported from
//! `atlas-app-server`, which applies them to every source) read a token's
//! shape and its validity window,
//! [`default_store_dir`] says where tokens are kept, [`TokenShapeCheck`]
//! turns non-token output of any [`CmdFn`](atlas_app_server::CmdFn) into a
//! miss, and [`Env`] lets every environment lookup be replaced in tests.
//!
//! Each adapter also works alone, with no process or network in sight:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use atlas_app_server::{AppName, CmdFn, ConfigFileFn, Storage, StorageKey, TokenRecord};
//! use atlas_fly_cli::{Env, FileStorage, FlyConfig, ProcessCmd};
//!
//! // The user's own token, from a fixed environment instead of the process's.
//! let config = FlyConfig::with_env(Env::from_pairs([("FLY_ACCESS_TOKEN", "FlyV1 fm2_mine")]));
//! let mine = config.read_token().expect("a user token");
//!
//! // Keep a manual token durably (your own token is never stored).
//! let dir = std::env::temp_dir().join(format!("atlas-lib-doc-{}", std::process::id()));
//! let store = FileStorage::open(&dir)?;
//! let app = AppName::new("my-app")?;
//! let key = StorageKey::Manual(app.clone());
//! store.put(&key, TokenRecord::manual(app, mine)).await?;
//! assert!(store.get(&key).await?.is_some());
//!
//! // Run a "fly CLI" (here a shell standing in for it) the way the AppServer would.
//! let cli = ProcessCmd::new().fly_bin("/bin/sh");
//! let args = ["-c", "echo 'Update available!' >&2; echo FlyV1 fm2_minted"];
//! let out = cli.run("fly", &args).await?;
//! assert_eq!((out.exit_code, out.stdout.as_str()), (0, "FlyV1 fm2_minted\n"));
//! assert_eq!(out.stderr, "Update available!\n"); // stderr never mixes into the token
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
//!
//! ## The `fly-tokens` binary
//!
//! `fly-tokens get APP` prints a token for `FLY_API_TOKEN=$(fly-tokens get
//! my-app) fly …` (one command; exported, it would become "your own token"
//! for every later `get`); `refresh`, `invalidate`, `set-manual`, `clear-manual` and
//! `status` manage the store, and `fly-tokens demo` runs the whole stack
//! against a simulated CLI, with no Fly account and no network. See
//! `fly-tokens --help` and the README.
//!
//! Secrets: tokens never appear in logs, errors or `Debug` output of this
//! crate; CLI output is logged as a byte count only.
//!
//! ## Feature flags
//!
//! - `redis` (default): [`RedisStore`], tokens,
//!   the acquisition lease and the invalidation broadcast in Redis, shared
//!   by every process and machine that points at one Redis (see
//!   [`redis_store`] for what it keeps there and how to run Redis for it),
//!   behind the `Storage` seam: `--store redis://HOST:PORT/DB`.
//!
//! Unix only (process groups, file modes).

mod config;
mod defaults;
mod duration;
mod env;
mod fly_cmd;
#[cfg(feature = "redis")]
pub mod redis_store;
mod runner;
mod store;
mod store_location;
mod token_store;

pub use atlas_app_server::{check_token_text, looks_like_fly_token, mask_secrets, sanitize, token_expiry};
pub use config::{FlyConfig, UserTokenSource, CONFIG_SIZE_LIMIT};
pub use defaults::{default_config, ConfigOptions, InvalidOrg};
pub use duration::{human_secs, parse_cli_timeout, parse_duration, parse_ttl};
pub use env::Env;
pub use fly_cmd::{resolve_org, TokenShapeCheck, FLY_ORG_ENV};
#[cfg(feature = "redis")]
pub use redis_store::{
    BroadcastEvent, CompareDelete, Lease, LeaseWait, ListedRecord, RecordKey, RedisRecord, RedisSettings, RedisStore,
    RedisTransport, RedisUrl, RedisUrlError, Subscription, SubscriptionState,
};
pub use runner::{find_fly, stop_all_clis, ProcessCmd, DEFAULT_OUTPUT_LIMIT, NO_UPDATE_CHECK_ENV};
pub use store::{default_store_dir, FileStorage, MovedAside, OpenMode, DAMAGED_RECORD_RETENTION, STORE_DIR_ENV};
pub use store_location::{url_scheme, StoreLocation, StoreLocationError, StoreSetting, REDIS_SCHEMES, STORE_ENV};
pub use token_store::TokenStore;

/// The README's Rust snippets, compiled and run as doc tests (only under
/// `cargo test --doc`) so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
