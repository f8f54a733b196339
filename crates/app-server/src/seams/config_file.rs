//! `ConfigFileFn`: where the user's own token comes from.

use crate::Token;

/// Reads the user's own token (flyctl's order: `FLY_ACCESS_TOKEN`,
/// `FLY_API_TOKEN`, then `access_token` in the fly config file).
pub trait ConfigFileFn: Send + Sync + 'static {
    /// The token, or `None` (missing file, no key, empty value).
    fn read_token(&self) -> Option<Token>;
}

impl<F> ConfigFileFn for F
where
    F: Fn() -> Option<Token> + Send + Sync + 'static,
{
    fn read_token(&self) -> Option<Token> {
        self()
    }
}

/// The default [`ConfigFileFn`]: no user token.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConfigFile;

impl ConfigFileFn for NoConfigFile {
    fn read_token(&self) -> Option<Token> {
        None
    }
}
