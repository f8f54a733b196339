//! [`Env`]: where the adapters read environment variables from.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A source of environment variables.
///
/// The adapters read `FLY_ACCESS_TOKEN`, `FLY_ORG`, `ATLAS_FLY_TOKENS_DIR`,
/// `HOME`, … through an `Env` instead of `std::env`, so a test can hand them
/// a fixed map without mutating the process environment (tests run in
/// parallel, and `set_var` would race).
///
/// ```
/// use atlas_fly_cli::Env;
/// let env = Env::from_pairs([("FLY_ORG", "acme")]);
/// assert_eq!(env.var("FLY_ORG").as_deref(), Some("acme"));
/// assert_eq!(env.var("HOME"), None);
/// ```
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Env {
    /// The process environment (`std::env::var`; a value that is not UTF-8
    /// reads as unset).
    pub fn process() -> Self {
        Env(Arc::new(|name| std::env::var(name).ok()))
    }

    /// No variable is set.
    pub fn empty() -> Self {
        Env(Arc::new(|_| None))
    }

    /// A fixed set of variables; everything else is unset.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Env(Arc::new(move |name| map.get(name).cloned()))
    }

    /// Any lookup function.
    pub fn from_fn(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Env(Arc::new(f))
    }

    /// The raw value of `name`, or `None` when unset.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The value of `name` trimmed of whitespace, or `None` when unset or
    /// blank (flyctl treats an empty variable as unset too).
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }
}

impl Default for Env {
    /// The process environment.
    fn default() -> Self {
        Env::process()
    }
}

impl fmt::Debug for Env {
    // Values may be secrets (FLY_API_TOKEN): never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env(..)")
    }
}
