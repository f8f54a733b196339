//! The links of the chain, one file each; their order is `CHAIN` in
//! `resolve.rs`.

mod cache;
mod cli;
mod manual;
mod store;
mod user_token;

pub(crate) use cache::cache;
pub(crate) use cli::cli;
pub(crate) use manual::manual;
pub(crate) use store::{store, usable as usable_stored};
pub(crate) use user_token::user_token;
