//! The shared token table: `(app, token, expires_at)` entries in an
//! `atlas-cache` table whose life is its owner's (the tree's `table` child).

use atlas_cache::{Expiring, Table};

use crate::{AppName, Token};

/// The table type: app name → token with its expiry (unix seconds).
pub(crate) type Tokens = Table<AppName, Expiring<Token>>;

/// One incarnation of the table, bound: once the owner that started it is
/// gone, reads miss and writes are dropped, even after the owner restarted.
/// An AppServer holds the one of the tree incarnation it was started in, so
/// it never writes into a newer table.
#[derive(Clone)]
pub(crate) struct TokenTable(Tokens);

impl TokenTable {
    /// The live incarnation of `table`, if its owner runs.
    pub(crate) fn bind(table: &Tokens) -> Option<Self> {
        table.bind_current().ok().map(TokenTable)
    }

    /// The unexpired token of `app` (`expires_at` after `now`).
    pub(crate) fn get(&self, app: &str, now: i64) -> Option<Token> {
        self.0.lookup(app, now)
    }

    /// The token of `app`'s entry, expired or not.
    pub(crate) fn token(&self, app: &str) -> Option<Token> {
        self.0.get_with(app, |e| e.value.clone())
    }

    /// The expiry of `app`'s entry, expired or not.
    pub(crate) fn expiry(&self, app: &str) -> Option<i64> {
        self.0.get_with(app, |e| e.expires_at)
    }

    /// Puts `app`'s token; dropped if this incarnation has ended.
    pub(crate) fn put(&self, app: &AppName, token: Token, expires_at: i64) {
        if self.0.insert_expiring(app.clone(), token, expires_at).is_err() {
            tracing::debug!(app = %app, "table incarnation ended; token not cached");
        }
    }

    /// Removes `app`'s entry.
    pub(crate) fn remove(&self, app: &str) {
        let _ = self.0.remove(app);
    }

    /// Whether this incarnation is still the live one.
    pub(crate) fn is_alive(&self) -> bool {
        self.0.is_live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_table_never_writes_into_a_newer_incarnation() {
        let table = Tokens::new();
        let first = table.owner().claim();
        let old = TokenTable::bind(&table).expect("live");
        let app = AppName::new("my-app").expect("valid");
        old.put(&app, Token::new("FlyV1 fm2_old"), 100);
        assert!(old.get("my-app", 0).is_some());
        drop(first);
        let _second = table.owner().claim();
        // A server of the old incarnation writes late: nothing lands.
        old.put(&app, Token::new("FlyV1 fm2_late"), 100);
        assert!(!old.is_alive());
        assert!(table.lookup("my-app", 0).is_none(), "the new table stays empty");
        let new = TokenTable::bind(&table).expect("live");
        assert!(new.get("my-app", 0).is_none());
    }
}
