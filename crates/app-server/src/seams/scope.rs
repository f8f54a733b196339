//! `Scope`: whom a minted token is for.

use std::fmt;

use crate::{AppName, OrgName};

/// Whom a minted token is for, and so who shares it.
///
/// - [`Scope::Org`]: `fly tokens create readonly -o ORG` mints a read-only
///   token for the whole org; every app of the org is served the one token
///   (one CLI call however many apps ask).
/// - [`Scope::App`]: `fly tokens create deploy -a APP` mints a token that can
///   write to that app only; it is the app's own.
///
/// An org and an app may share a name; their scopes never compare equal and
/// their storage keys never collide (`org:acme` vs `app:acme`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// An org-wide read-only token.
    Org(OrgName),
    /// An app's deploy token.
    App(AppName),
}

impl Scope {
    /// `org` or `app`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Org(_) => "org",
            Scope::App(_) => "app",
        }
    }

    /// The org slug or the app name.
    pub fn name(&self) -> &str {
        match self {
            Scope::Org(org) => org.as_str(),
            Scope::App(app) => app.as_str(),
        }
    }

    /// Parses the `Display` form, `org:NAME` or `app:NAME`.
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, name) = s.split_once(':')?;
        match kind {
            "org" => OrgName::new(name).ok().map(Scope::Org),
            "app" => AppName::new(name).ok().map(Scope::App),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    /// `org:acme` or `app:my-app`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.name())
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_and_an_app_of_one_name_are_two_scopes() {
        let org = Scope::Org(OrgName::new("acme").expect("valid"));
        let app = Scope::App(AppName::new("acme").expect("valid"));
        assert_ne!(org, app);
        assert_eq!(
            (org.to_string(), app.to_string()),
            ("org:acme".into(), "app:acme".into())
        );
        assert_eq!(Scope::parse("org:acme"), Some(org));
        assert_eq!(Scope::parse("app:acme"), Some(app));
        assert_eq!(Scope::parse("acme"), None);
        assert_eq!(Scope::parse("org:../x"), None);
        assert_eq!(Scope::parse("app:Acme"), None);
    }
}
