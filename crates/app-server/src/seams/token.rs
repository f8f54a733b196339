//! `Token` (a secret), `AppName` and `OrgName` (validated).

use std::fmt;
use std::sync::Arc;

/// A Fly API token. A secret: `Debug` and `Display` never show it, and the
/// one way to read it is [`expose`](Token::expose). Cloning shares the bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(Arc<str>);

impl Token {
    /// Wraps `secret`, trimmed of surrounding whitespace.
    pub fn new(secret: impl AsRef<str>) -> Self {
        Token(secret.as_ref().trim().into())
    }

    /// The secret itself. Don't log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty (an empty value is never a token).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Self {
        Token::new(s)
    }
}

impl From<String> for Token {
    fn from(s: String) -> Self {
        Token::new(s)
    }
}

/// A Fly app name: 1 to 63 lowercase ASCII letters, digits and dashes, not
/// starting or ending with a dash (it is a DNS label: `APP.fly.dev`).
///
/// Validating here keeps bad input out of tables, file names and command
/// lines.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppName(Arc<str>);

/// Why a string is not a Fly app name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppNameError {
    /// The name is empty.
    #[error("app name is empty")]
    Empty,
    /// Longer than 63 characters.
    #[error("app name is {0} characters long; Fly allows at most 63")]
    TooLong(usize),
    /// A character other than `a-z`, `0-9` and `-`.
    #[error(
        "app name {name:?} has {ch:?} at position {pos}; Fly app names use only lowercase letters, digits and dashes"
    )]
    InvalidChar {
        /// The name as given (an app name is not a secret).
        name: String,
        /// The offending character.
        ch: char,
        /// Its position, counted in characters from 0.
        pos: usize,
    },
    /// Starts or ends with a dash.
    #[error("app name {0:?} starts or ends with a dash")]
    EdgeDash(String),
}

impl AppName {
    /// Validates `name` by Fly's rules.
    pub fn new(name: &str) -> Result<Self, AppNameError> {
        Self::validate(name)?;
        Ok(AppName(name.into()))
    }

    /// Checks `name` by Fly's rules without allocating (the facade's hot path
    /// validates every `&str` it is given this way).
    pub fn validate(name: &str) -> Result<(), AppNameError> {
        // Fast accept: all bytes in `a-z0-9-`, no edge dash, 1..=63 bytes.
        let bytes = name.as_bytes();
        if !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        {
            return Ok(());
        }
        if name.is_empty() {
            return Err(AppNameError::Empty);
        }
        let len = name.chars().count();
        if len > 63 {
            return Err(AppNameError::TooLong(len));
        }
        if let Some((pos, ch)) = name
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(AppNameError::InvalidChar {
                name: name.to_owned(),
                ch,
                pos,
            });
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(AppNameError::EdgeDash(name.to_owned()));
        }
        Ok(())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AppName {
    type Err = AppNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppName::new(s)
    }
}

impl AsRef<str> for AppName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for AppName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A Fly org slug, as passed to `fly tokens create readonly -o ORG`: 1 to
/// 100 ASCII letters, digits, `-` and `_`, not starting with `-` (so it can
/// never be read as a flag).
///
/// Validated once, where the org comes in (`--org`, `FLY_ORG`, a setting),
/// so a bad value is a clear error there instead of a surprise on the CLI's
/// command line. Unlike [`AppNameError`], an [`OrgNameError`] never repeats
/// the value: a token pasted into the wrong place must not be echoed back.
///
/// ```
/// use atlas_app_server::{OrgName, OrgNameError};
/// assert_eq!(OrgName::new("my-org_2").expect("valid").as_str(), "my-org_2");
/// assert_eq!(OrgName::new("-rf"), Err(OrgNameError::LeadingDash));
/// let e = OrgName::new("acme corp").expect_err("a space");
/// assert_eq!(e.to_string(), "the org has ' ' at character 4; an org slug uses only letters, digits, `-` and `_`");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgName(Arc<str>);

/// Why a string is not a Fly org slug. Never holds the value itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrgNameError {
    /// The org is empty.
    #[error("the org is empty")]
    Empty,
    /// Longer than 100 characters.
    #[error("the org is {0} characters long; an org slug has at most 100")]
    TooLong(usize),
    /// A character other than ASCII letters, digits, `-` and `_`.
    #[error("the org has {ch:?} at character {pos}; an org slug uses only letters, digits, `-` and `_`")]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its position, counted in characters from 0.
        pos: usize,
    },
    /// Starts with `-` (it would be read as a flag).
    #[error("the org starts with `-`; an org slug never does (it would be read as a flag)")]
    LeadingDash,
}

impl OrgName {
    /// The longest org slug accepted.
    pub const MAX_LEN: usize = 100;

    /// Validates `org` as a Fly org slug.
    pub fn new(org: &str) -> Result<Self, OrgNameError> {
        if org.is_empty() {
            return Err(OrgNameError::Empty);
        }
        let len = org.chars().count();
        if len > Self::MAX_LEN {
            return Err(OrgNameError::TooLong(len));
        }
        if let Some((pos, ch)) = org
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(OrgNameError::InvalidChar { ch, pos });
        }
        if org.starts_with('-') {
            return Err(OrgNameError::LeadingDash);
        }
        Ok(OrgName(org.into()))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for OrgName {
    type Err = OrgNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgName::new(s)
    }
}

impl AsRef<str> for OrgName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<OrgName> for Arc<str> {
    fn from(org: OrgName) -> Self {
        org.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_shows_itself() {
        let t = Token::new("  FlyV1 fm2_secret  ");
        assert_eq!(t.expose(), "FlyV1 fm2_secret");
        assert!(!format!("{t:?}").contains("secret"));
        assert!(!format!("{t}").contains("secret"));
    }

    #[test]
    fn app_names() {
        assert!(AppName::new("my-app-123").is_ok());
        assert!(AppName::new("a").is_ok());
        assert_eq!(AppName::new(""), Err(AppNameError::Empty));
        assert!(matches!(
            AppName::new("My-App"),
            Err(AppNameError::InvalidChar { ch: 'M', pos: 0, .. })
        ));
        assert!(matches!(
            AppName::new("a/../b"),
            Err(AppNameError::InvalidChar { ch: '/', .. })
        ));
        assert!(matches!(AppName::new("a b"), Err(AppNameError::InvalidChar { .. })));
        assert!(matches!(AppName::new("-a"), Err(AppNameError::EdgeDash(_))));
        assert!(matches!(AppName::new("a-"), Err(AppNameError::EdgeDash(_))));
        assert!(AppName::new(&"a".repeat(63)).is_ok());
        assert_eq!(AppName::new(&"a".repeat(64)), Err(AppNameError::TooLong(64)));
        assert!(AppName::new("ünï").is_err());
    }

    #[test]
    fn org_names() {
        for ok in ["acme", "my-org", "my_org-2", "Personal", &"a".repeat(100)] {
            assert!(OrgName::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(OrgName::new(""), Err(OrgNameError::Empty));
        assert_eq!(OrgName::new("-rf"), Err(OrgNameError::LeadingDash));
        assert_eq!(OrgName::new("--help"), Err(OrgNameError::LeadingDash));
        assert_eq!(OrgName::new(&"a".repeat(101)), Err(OrgNameError::TooLong(101)));
        assert_eq!(
            OrgName::new("acme corp"),
            Err(OrgNameError::InvalidChar { ch: ' ', pos: 4 })
        );
        assert_eq!(
            OrgName::new("a\nb"),
            Err(OrgNameError::InvalidChar { ch: '\n', pos: 1 })
        );
        let e = OrgName::new("FlyV1 fm2_SECRET").expect_err("a token in the wrong place");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(!format!("{e:?}").contains("SECRET"), "{e:?}");
    }
}
