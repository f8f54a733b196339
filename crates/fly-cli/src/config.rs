//! [`FlyConfig`]: the user's own token, found where flyctl finds it.

use std::fs::{FileType, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use atlas_app_server::{check_token_text, looks_like_fly_token, ConfigFileFn, Token};
use yaml_rust2::parser::{Event, EventReceiver, Parser};
use yaml_rust2::scanner::TScalarStyle;
use yaml_rust2::Yaml;

use crate::Env;

/// A config file larger than this (1 MiB) is not read: flyctl's is a few
/// hundred bytes.
pub const CONFIG_SIZE_LIMIT: u64 = 1024 * 1024;

/// flyctl rewrites `config.yml` in place (truncate + write) under a lock we
/// do not take; a parse failure may be a half-written file, so we look again
/// after this pause (the writer holds its lock for microseconds).
///
/// The AppServer calls [`ConfigFileFn::read_token`] on tokio's blocking
/// pool, so this sleep blocks no runtime worker; 1 ms outlasts flyctl's
/// write and happens only after a parse failure.
const REREAD_PAUSE: Duration = Duration::from_millis(1);

/// Where a user token came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserTokenSource {
    /// The `FLY_ACCESS_TOKEN` environment variable.
    FlyAccessToken,
    /// The `FLY_API_TOKEN` environment variable.
    FlyApiToken,
    /// `access_token` in this config file.
    ConfigFile(PathBuf),
}

impl std::fmt::Display for UserTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserTokenSource::FlyAccessToken => f.write_str("FLY_ACCESS_TOKEN"),
            UserTokenSource::FlyApiToken => f.write_str("FLY_API_TOKEN"),
            UserTokenSource::ConfigFile(p) => write!(f, "access_token in {}", p.display()),
        }
    }
}

/// The [`ConfigFileFn`] of flyctl's own token sources, in flyctl's order:
/// `FLY_ACCESS_TOKEN`, then `FLY_API_TOKEN`, then `access_token` in
/// `$FLY_CONFIG_DIR/config.yml` (or `~/.fly/config.yml`).
///
/// - An unset or blank variable, a missing file, a missing key, a null or
///   empty value: a miss, and the next source is tried. The first value
///   found is the answer (flyctl's precedence): whether it can be a token
///   at all (one line of printable characters) is checked by the
///   AppServer, which refuses it as a miss with a warning.
/// - A value that does not look like a Fly token (`FlyV1 fm2_…`, `fo1_…`)
///   is used anyway (flyctl may know a kind we don't), with a warning.
/// - Values are trimmed of whitespace and of one pair of surrounding quotes.
///   A `FlyV1 ` or `Bearer ` scheme is **kept as written**: the value goes to
///   an `Authorization` header, where the scheme matters (macaroons need
///   `FlyV1`, old personal tokens `Bearer`), so guessing one would break
///   tokens that work with flyctl. Several comma-joined tokens stay whole.
/// - The file is read with a real YAML parser; other keys are ignored. A
///   file that does not parse is read once more (flyctl may be rewriting
///   it), then it is a miss with a warning. An `access_token` that is not
///   a YAML string (`true`, `12345`, a list) is a miss with a warning.
/// - Only a regular file is read: a FIFO, a directory or a device in its
///   place is a miss with a warning. The file is opened without blocking
///   (a FIFO with no writer would block `open` forever) and its type is
///   checked before a byte is read. A file over [`CONFIG_SIZE_LIMIT`] is
///   not read.
/// - The environment comes from an [`Env`], so tests need no global state.
///
/// ```
/// use atlas_app_server::ConfigFileFn;
/// use atlas_fly_cli::{Env, FlyConfig};
///
/// let cfg = FlyConfig::with_env(Env::from_pairs([("FLY_API_TOKEN", " 'FlyV1 fm2_abc' ")]));
/// assert_eq!(cfg.read_token().unwrap().expose(), "FlyV1 fm2_abc");
/// ```
#[derive(Clone, Debug)]
pub struct FlyConfig {
    env: Env,
    path: Option<PathBuf>,
}

impl Default for FlyConfig {
    fn default() -> Self {
        FlyConfig::new()
    }
}

impl FlyConfig {
    /// Reads the process environment and the default config file.
    pub fn new() -> Self {
        FlyConfig::with_env(Env::process())
    }

    /// Reads `env` instead of the process environment (also for
    /// `FLY_CONFIG_DIR` and `HOME`).
    pub fn with_env(env: Env) -> Self {
        FlyConfig { env, path: None }
    }

    /// Reads this file instead of `$FLY_CONFIG_DIR/config.yml`.
    pub fn config_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The config file that would be read: the explicit one, else
    /// `$FLY_CONFIG_DIR/config.yml`, else `$HOME/.fly/config.yml`; `None`
    /// when neither variable is set.
    pub fn resolved_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.path {
            return Some(p.clone());
        }
        if let Some(dir) = self.env.non_empty("FLY_CONFIG_DIR") {
            return Some(Path::new(&dir).join("config.yml"));
        }
        self.env
            .non_empty("HOME")
            .map(|home| Path::new(&home).join(".fly").join("config.yml"))
    }

    /// The token and where it came from, or `None`.
    pub fn read(&self) -> Option<(Token, UserTokenSource)> {
        for (var, source) in [
            ("FLY_ACCESS_TOKEN", UserTokenSource::FlyAccessToken),
            ("FLY_API_TOKEN", UserTokenSource::FlyApiToken),
        ] {
            if let Some(token) = self.env.var(var).as_deref().and_then(clean) {
                warn_if_unusual(&token, &source);
                return Some((token, source));
            }
        }
        let path = self.resolved_path()?;
        let token = read_config_file(&path)?;
        let source = UserTokenSource::ConfigFile(path);
        warn_if_unusual(&token, &source);
        Some((token, source))
    }
}

/// A value that can be a token but does not look like a Fly one is used,
/// with a warning. One that cannot be a token at all is left to the
/// AppServer's check, which refuses it and says so (one warning, not two).
fn warn_if_unusual(token: &Token, source: &UserTokenSource) {
    if check_token_text(token.expose()).is_ok() && !looks_like_fly_token(token.expose()) {
        tracing::warn!(
            %source,
            "your own token does not look like a Fly token (FlyV1 fm2_…, fo1_…); using it anyway"
        );
    }
}

impl ConfigFileFn for FlyConfig {
    fn read_token(&self) -> Option<Token> {
        self.read().map(|(token, _)| token)
    }
}

/// Trims whitespace and one pair of matching surrounding quotes; empty is
/// no token.
fn clean(value: &str) -> Option<Token> {
    let v = value.trim();
    let v = ['"', '\'']
        .iter()
        .find_map(|q| v.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
        .unwrap_or(v)
        .trim();
    (!v.is_empty()).then(|| Token::new(v))
}

fn read_config_file(path: &Path) -> Option<Token> {
    read_twice(path, || read_limited(path))
}

/// Reads and parses, and on a parse failure reads and parses once more.
fn read_twice(path: &Path, mut read: impl FnMut() -> io::Result<Option<Vec<u8>>>) -> Option<Token> {
    let mut last_error = None;
    for attempt in 0..2 {
        if attempt > 0 {
            std::thread::sleep(REREAD_PAUSE);
        }
        let bytes = match read() {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the fly config file");
                return None;
            }
        };
        // Invalid UTF-8 is as good as malformed YAML (and is read again too).
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|e| YamlError(format!("not UTF-8 at byte {}", e.valid_up_to())))
            .and_then(access_token);
        match parsed {
            Ok(Found::String(value)) => return clean(&value),
            Ok(Found::NotAString(kind)) => {
                tracing::warn!(
                    path = %path.display(),
                    kind,
                    "access_token in the fly config file is not a string; ignoring it"
                );
                return None;
            }
            Ok(Found::Missing | Found::Null) => return None,
            Err(e) => last_error = Some(e),
        }
    }
    if let Some(YamlError(at)) = last_error {
        tracing::warn!(
            path = %path.display(),
            at = %at,
            "the fly config file is not valid YAML (read twice); ignoring it"
        );
    }
    None
}

/// The file's bytes; `None` when it does not exist, is not a regular file,
/// or is too large.
fn read_limited(path: &Path) -> io::Result<Option<Vec<u8>>> {
    // Judged by its path first, so that nothing but a regular file is even
    // opened (opening a device may act on it)...
    match std::fs::metadata(path) {
        Ok(meta) if !regular(path, &meta) => return Ok(None),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    // ...then opened without blocking (a FIFO swapped in meanwhile would
    // block a plain open until a writer comes) and judged again by what
    // was opened.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !regular(path, &file.metadata()?) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    // `take` rather than trusting the size from metadata: the file may grow
    // between the two.
    file.take(CONFIG_SIZE_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > CONFIG_SIZE_LIMIT {
        tracing::warn!(
            path = %path.display(),
            limit = CONFIG_SIZE_LIMIT,
            "the fly config file is larger than the limit; not reading it"
        );
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// Whether `meta` is a regular file's; warns when it is not.
fn regular(path: &Path, meta: &Metadata) -> bool {
    if meta.is_file() {
        return true;
    }
    tracing::warn!(
        path = %path.display(),
        kind = file_kind(meta.file_type()),
        "the fly config file is not a regular file; ignoring it"
    );
    false
}

fn file_kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Where a YAML document failed to parse (a position, never content).
#[derive(Debug)]
struct YamlError(String);

/// What `access_token` holds.
#[derive(Debug, Default, PartialEq, Eq)]
enum Found {
    /// No such key (or the document is not a mapping).
    #[default]
    Missing,
    /// `access_token:`, `~` or `null`.
    Null,
    /// A string (plain, quoted or a block scalar).
    String(String),
    /// Something else: what it is (`a boolean`, `a number`, `a list`, …).
    NotAString(&'static str),
}

/// The `access_token` value of the top-level mapping of the first document.
///
/// Walks parser events instead of building a tree: nothing but the one
/// value is kept, and anchors/aliases are never expanded, so a hostile file
/// cannot blow up memory ("billion laughs").
fn access_token(text: &str) -> Result<Found, YamlError> {
    let mut finder = Finder::default();
    Parser::new_from_str(text)
        .load(&mut finder, false)
        .map_err(|e| YamlError(format!("line {} column {}", e.marker().line(), e.marker().col())))?;
    Ok(finder.found)
}

/// A YAML node as the finder sees it.
enum Node<'a> {
    Scalar(&'a str, TScalarStyle),
    /// A mapping, a list or an alias: what it is.
    Other(&'static str),
}

/// What a value node is. A plain scalar is typed by YAML's core schema
/// (`true`, `12345`, `1.5` are not strings); a quoted or block one is a
/// string whatever it holds.
fn classify(node: Node<'_>) -> Found {
    match node {
        Node::Scalar(v, TScalarStyle::Plain) => match v {
            "" | "~" | "null" | "Null" | "NULL" => Found::Null,
            _ => match Yaml::from_str(v) {
                Yaml::Boolean(_) => Found::NotAString("a boolean"),
                Yaml::Integer(_) | Yaml::Real(_) => Found::NotAString("a number"),
                Yaml::Null => Found::Null,
                _ => Found::String(v.to_owned()),
            },
        },
        Node::Scalar(v, _) => Found::String(v.to_owned()),
        Node::Other(kind) => Found::NotAString(kind),
    }
}

/// Tracks the top-level mapping; at depth 1 nodes alternate key, value.
#[derive(Default)]
struct Finder {
    depth: usize,
    top_is_map: bool,
    expect_key: bool,
    key_is_access_token: bool,
    found: Found,
}

impl Finder {
    /// A node (scalar, alias or collection) starts at the current depth.
    fn node(&mut self, node: Node<'_>) {
        if self.depth != 1 || !self.top_is_map {
            return;
        }
        if self.expect_key {
            self.key_is_access_token = matches!(node, Node::Scalar("access_token", _));
        } else if self.key_is_access_token {
            self.found = classify(node);
        }
        self.expect_key = !self.expect_key;
    }
}

impl EventReceiver for Finder {
    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::MappingStart(..) if self.depth == 0 => {
                self.top_is_map = true;
                self.expect_key = true;
                self.depth = 1;
            }
            Event::MappingStart(..) => {
                self.node(Node::Other("a mapping"));
                self.depth += 1;
            }
            Event::SequenceStart(..) => {
                self.node(Node::Other("a list"));
                self.depth += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => self.depth = self.depth.saturating_sub(1),
            Event::Scalar(v, style, ..) => self.node(Node::Scalar(&v, style)),
            Event::Alias(_) => self.node(Node::Other("an alias")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> Option<String> {
        match access_token(text).expect("valid yaml") {
            Found::String(v) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn finds_access_token_among_other_keys() {
        let yml = "access_token: FlyV1 fm2_abc,fm2_def\nmetrics_token: other\nsend_metrics: true\n\
                   last_login: 2024-05-01T10:00:00Z\nwire_guard_state:\n  personal:\n    access_token: nested\n";
        assert_eq!(token(yml).as_deref(), Some("FlyV1 fm2_abc,fm2_def"));
        let later = "wire_guard_state: {a: {access_token: nested}}\nlist: [access_token, x]\naccess_token: 'fo1_x'\n";
        assert_eq!(token(later).as_deref(), Some("fo1_x"));
    }

    #[test]
    fn misses() {
        assert_eq!(token(""), None);
        assert_eq!(token("send_metrics: true\n"), None);
        assert_eq!(token("access_token:\n"), None);
        assert_eq!(token("access_token: ~\n"), None);
        assert_eq!(token("access_token: null\n"), None);
        assert_eq!(token("access_token: [a, b]\n"), None);
        assert_eq!(token("- access_token\n- fm2_x\n"), None, "not a mapping");
        assert_eq!(token("just a string"), None);
        assert_eq!(
            token("access_token: \"null\"\n").as_deref(),
            Some("null"),
            "a quoted null is a string"
        );
    }

    #[test]
    fn values_that_are_not_strings() {
        for (yml, kind) in [
            ("access_token: true\n", "a boolean"),
            ("access_token: FALSE\n", "a boolean"),
            ("access_token: 12345\n", "a number"),
            ("access_token: 0x1f\n", "a number"),
            ("access_token: -1.5e3\n", "a number"),
            ("access_token: [a, b]\n", "a list"),
            ("access_token: {a: b}\n", "a mapping"),
            ("a: &x fm2_a\naccess_token: *x\n", "an alias"),
        ] {
            assert_eq!(access_token(yml).expect("valid"), Found::NotAString(kind), "{yml:?}");
        }
        for (yml, value) in [
            ("access_token: \"12345\"\n", "12345"),
            ("access_token: 'true'\n", "true"),
            ("access_token: fm2_abc\n", "fm2_abc"),
            ("access_token: |\n  fm2_a\n  fm2_b\n", "fm2_a\nfm2_b\n"),
        ] {
            assert_eq!(
                access_token(yml).expect("valid"),
                Found::String(value.into()),
                "{yml:?}"
            );
        }
        assert_eq!(access_token("access_token: ~\n").expect("valid"), Found::Null);
        assert_eq!(access_token("other: 1\n").expect("valid"), Found::Missing);
    }

    #[test]
    fn aliases_are_not_expanded() {
        let yml = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\naccess_token: *b\nc: &t tok\n";
        assert_eq!(token(yml), None);
    }

    #[test]
    fn malformed() {
        assert!(access_token("access_token: [unclosed\n").is_err());
        assert!(access_token("\tfoo: : :\n  - ]").is_err());
    }

    #[test]
    fn a_torn_read_is_retried_once() {
        let path = Path::new("/nowhere/config.yml");
        let mut reads = vec![&b"access_token: fm2_whole\n"[..], b"access_token: \"fm2_ha"];
        let mut count = 0;
        let token = read_twice(path, || {
            count += 1;
            Ok(reads.pop().map(<[u8]>::to_vec))
        });
        assert_eq!(token.map(|t| t.expose().to_owned()).as_deref(), Some("fm2_whole"));
        assert_eq!(count, 2);

        let mut count = 0;
        let token = read_twice(path, || {
            count += 1;
            Ok(Some(b"access_token: [torn".to_vec()))
        });
        assert_eq!((token, count), (None, 2), "malformed twice: a miss, and no third read");

        let mut reads = vec![&b"access_token: fm2_second\n"[..], b"\xff\xfe not utf-8"];
        let token = read_twice(path, || Ok(reads.pop().map(<[u8]>::to_vec)));
        assert_eq!(token.map(|t| t.expose().to_owned()).as_deref(), Some("fm2_second"));
    }

    #[test]
    fn cleaning() {
        assert_eq!(
            clean("  \"FlyV1 fm2_a\" ").map(|t| t.expose().to_owned()).as_deref(),
            Some("FlyV1 fm2_a")
        );
        assert_eq!(
            clean("'Bearer abc'").map(|t| t.expose().to_owned()).as_deref(),
            Some("Bearer abc")
        );
        assert_eq!(
            clean("\"fm2_a'").map(|t| t.expose().to_owned()).as_deref(),
            Some("\"fm2_a'")
        );
        assert!(clean(" '' ").is_none());
        assert!(clean("   ").is_none());
    }
}
