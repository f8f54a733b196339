//! # atlas-fly-cli
//!
//! The real world for the atlas token stack: the three adapters behind the
//! seams of [`atlas_app_server`], and (later) the `fly-tokens` binary.
//! This is the only atlas crate that spawns processes or touches files.
//!
//! | seam | adapter | what it does |
//! | --- | --- | --- |
//! | [`CmdFn`](atlas_app_server::CmdFn) | [`ProcessCmd`] (+ [`TokenShapeCheck`]) | runs `fly`/`flyctl` with no terminal, capped output, its own process group killed when the future is dropped |
//! | [`ConfigFileFn`](atlas_app_server::ConfigFileFn) | [`FlyConfig`] | `FLY_ACCESS_TOKEN`, `FLY_API_TOKEN`, then `access_token` in `~/.fly/config.yml` |
//! | [`Storage`](atlas_app_server::Storage) | [`FileStorage`] | one JSON file per record, crash-safe writes, owner-only permissions |
//!
//! Helpers: [`readonly_args`]/[`deploy_args`] build the `fly tokens create`
//! command line, [`resolve_org`] picks the `-o` org (setting, then
//! `FLY_ORG`), [`looks_like_fly_token`] and [`token_expiry_hint`] read a
//! token's shape and its validity window, [`default_store_dir`] says where
//! tokens are kept, and [`Env`] lets every environment lookup be replaced in
//! tests.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use atlas_app_server::{AppName, CmdFn, ConfigFileFn, Storage, StorageKey, TokenRecord};
//! use atlas_fly_cli::{readonly_args, Env, FileStorage, FlyConfig, ProcessCmd, TokenShapeCheck};
//!
//! // The user's own token, from a fixed environment instead of the process's.
//! let config = FlyConfig::with_env(Env::from_pairs([("FLY_ACCESS_TOKEN", "FlyV1 fm2_mine")]));
//! let mine = config.read_token().expect("a user token");
//!
//! // Keep it durably.
//! let dir = std::env::temp_dir().join(format!("atlas-lib-doc-{}", std::process::id()));
//! let store = FileStorage::open(&dir)?;
//! let app = AppName::new("my-app")?;
//! store.put(&app, StorageKey::Cached, TokenRecord { token: mine, expires_at: Some(1_900_000_000) }).await?;
//! assert!(store.get(&app, StorageKey::Cached).await?.is_some());
//!
//! // Run a "fly CLI" (here a shell standing in for it) the way the AppServer would.
//! let cli = TokenShapeCheck::new(ProcessCmd::new().fly_bin("/bin/sh"));
//! let args = ["-c", "echo 'Update available!' >&2; echo FlyV1 fm2_minted"];
//! let out = cli.run("fly", &args).await?;
//! assert_eq!((out.exit_code, out.stdout.as_str()), (0, "FlyV1 fm2_minted"));
//! assert_eq!(readonly_args(Some("acme")), ["tokens", "create", "readonly", "-o", "acme"]);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```
//!
//! Secrets: tokens never appear in logs, errors or `Debug` output of this
//! crate; CLI output is logged as a byte count only.
//!
//! Unix only (process groups, file modes).

mod config;
mod env;
mod fly_cmd;
mod msgpack;
mod runner;
mod store;
mod token_format;

pub use config::{FlyConfig, UserTokenSource, CONFIG_SIZE_LIMIT};
pub use env::Env;
pub use fly_cmd::{deploy_args, readonly_args, resolve_org, TokenShapeCheck, FLY_ORG_ENV};
pub use runner::{find_fly, ProcessCmd, DEFAULT_OUTPUT_LIMIT};
pub use store::{default_store_dir, FileStorage, STORE_DIR_ENV};
pub use token_format::{looks_like_fly_token, token_expiry_hint};
