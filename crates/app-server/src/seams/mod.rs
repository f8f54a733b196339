//! The three seams through which the token stack reaches the world.

mod broadcast;
mod cmd;
mod config_file;
mod failure_note;
mod scope;
mod storage;
mod token;

pub use broadcast::{Invalidation, InvalidationFeed, InvalidationSender};
pub use cmd::{cmd_fn, CmdFn, CmdOutput, FnCmd, NoCli};
pub use config_file::{ConfigFileFn, NoConfigFile, USER_TOKEN_READ_TIMEOUT};
pub(crate) use config_file::{UserTokenRead, UserTokenReads};
pub(crate) use failure_note::wall_now;
pub use failure_note::{FailureNote, FAILURE_NOTE_LIMIT};
pub use scope::Scope;
pub use storage::{MemoryStorage, RecordSource, ScopeLease, Storage, StorageError, StorageKey, TokenRecord};
pub use token::{AppName, AppNameError, OrgName, OrgNameError, Token};
