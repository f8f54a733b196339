//! The key layout in Redis: what each key holds, built in one place.
//!
//! ```text
//! {prefix}scope:{scope}   a scope's acquired token   JSON record, expires with the token (PXAT)
//! {prefix}manual:{app}    an app's manual token      JSON record, never expires
//! {prefix}lease:{scope}   who is acquiring a scope   owner id, PX lease time
//! {prefix}failure:{scope} the last failed CLI run    FailureNote JSON (sanitised finding, when), PX 1 h
//! {prefix}invalidate      pub/sub channel            {"v":1,"scope":…,"origin":…}, never a token
//! ```
//!
//! The second segment (`scope:`, `manual:`, `lease:`, `failure:`) is one of a fixed set,
//! none a prefix of another, so a scope's key and an app's key never collide,
//! whatever the names (an org and an app may share one).

use atlas_app_server::AppName;

/// Which record: a scope's acquired token or an app's manual one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    /// The token acquired for a scope (for example `org:acme` for the
    /// org's read-only token, `app:web` for one app's deploy token); expires.
    Scope(String),
    /// The operator's token for one app; never expires in Redis.
    Manual(AppName),
}

const SCOPE: &str = "scope:";
const MANUAL: &str = "manual:";
const LEASE: &str = "lease:";
const FAILURE: &str = "failure:";
const CHANNEL: &str = "invalidate";

/// The keys under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn record(&self, key: &RecordKey) -> String {
        match key {
            RecordKey::Scope(scope) => format!("{}{SCOPE}{scope}", self.prefix),
            RecordKey::Manual(app) => format!("{}{MANUAL}{app}", self.prefix),
        }
    }

    pub(crate) fn lease(&self, scope: &str) -> String {
        format!("{}{LEASE}{scope}", self.prefix)
    }

    pub(crate) fn failure(&self, scope: &str) -> String {
        format!("{}{FAILURE}{scope}", self.prefix)
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}{CHANNEL}", self.prefix)
    }

    /// The `SCAN MATCH` pattern for every key under the prefix (glob
    /// characters in the prefix escaped).
    pub(crate) fn scan_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 1);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// The record a key holds; `None` for leases and keys not ours.
    pub(crate) fn parse(&self, key: &str) -> Option<RecordKey> {
        let rest = key.strip_prefix(&self.prefix)?;
        if let Some(scope) = rest.strip_prefix(SCOPE) {
            return valid_scope(scope).then(|| RecordKey::Scope(scope.to_owned()));
        }
        rest.strip_prefix(MANUAL)
            .and_then(|app| AppName::new(app).ok())
            .map(RecordKey::Manual)
    }
}

/// A scope names a key: non-empty, printable, no spaces.
pub(crate) fn valid_scope(scope: &str) -> bool {
    !scope.is_empty() && !scope.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_app_keys_never_collide() {
        let keys = Keys::new("p:");
        let app = AppName::new("acme").expect("app");
        let scope = RecordKey::Scope("acme".into());
        let manual = RecordKey::Manual(app);
        assert_ne!(keys.record(&scope), keys.record(&manual));
        assert_ne!(keys.record(&scope), keys.lease("acme"));
        // A scope spelled like another kind's key stays a scope.
        let tricky = RecordKey::Scope("manual:acme".into());
        assert_eq!(keys.parse(&keys.record(&tricky)), Some(tricky.clone()));
        assert_ne!(keys.record(&tricky), keys.record(&manual));
        for key in [scope, manual] {
            assert_eq!(keys.parse(&keys.record(&key)), Some(key));
        }
        assert_eq!(keys.parse(&keys.lease("acme")), None);
        assert_eq!(keys.parse(&keys.failure("acme")), None);
        assert_ne!(keys.failure("acme"), keys.lease("acme"));
        assert_eq!(keys.parse("other:scope:acme"), None);
        assert_eq!(keys.parse("p:manual:Not_An_App"), None);
    }

    #[test]
    fn scan_pattern_escapes_globs() {
        assert_eq!(Keys::new("a*b?[c]\\:").scan_pattern(), "a\\*b\\?\\[c\\]\\\\:*");
        assert_eq!(Keys::new("atlas:").scan_pattern(), "atlas:*");
    }
}
