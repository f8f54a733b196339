//! The org `fly tokens create` is run for, and [`TokenShapeCheck`], which
//! turns output that is not a token into a miss.
//!
//! The command line itself is built by `atlas-app-server`
//! ([`Settings::cli_args`](atlas_app_server::Settings::cli_args)),
//! from the org and [`TokenKind`](atlas_app_server::TokenKind) set there.

use std::io;

use async_trait::async_trait;
use atlas_app_server::{CmdFn, CmdOutput};

use crate::{looks_like_fly_token, Env};

/// The environment variable flyctl reads the org from.
pub const FLY_ORG_ENV: &str = "FLY_ORG";

/// The org to pass as `-o`: the explicit setting (`--org`) when given,
/// otherwise `FLY_ORG` from `env`. Blank values count as unset; a value that
/// is not an org slug ([`OrgName`](atlas_app_server::OrgName): letters,
/// digits, `-`, `_`; not starting with `-`, so it can never be read as a
/// flag) is ignored with a warning. `fly-tokens` refuses one instead, with
/// [`ConfigOptions::resolved_org`](crate::ConfigOptions::resolved_org).
///
/// ```
/// use atlas_fly_cli::{resolve_org, Env};
/// let env = Env::from_pairs([("FLY_ORG", "from-env")]);
/// assert_eq!(resolve_org(Some("acme"), &env).as_deref(), Some("acme"));
/// assert_eq!(resolve_org(None, &env).as_deref(), Some("from-env"));
/// assert_eq!(resolve_org(Some("-rf"), &Env::empty()), None);
/// ```
pub fn resolve_org(setting: Option<&str>, env: &Env) -> Option<String> {
    let (org, from) = match setting.map(str::trim).filter(|s| !s.is_empty()) {
        Some(org) => (org.to_owned(), "the org setting"),
        None => (env.non_empty(FLY_ORG_ENV)?, FLY_ORG_ENV),
    };
    if is_org_slug(&org) {
        Some(org)
    } else {
        // Never the value: a token pasted in the wrong place is a secret.
        tracing::warn!(from, "ignoring an org that is not a Fly org slug");
        None
    }
}

fn is_org_slug(s: &str) -> bool {
    atlas_app_server::OrgName::new(s).is_ok()
}

/// Wraps a [`CmdFn`] so that a successful run whose stdout does not look
/// like a Fly token ([`looks_like_fly_token`]) becomes a miss.
///
/// On exit 0 the stdout is trimmed; if it is non-empty and not token-shaped
/// it is replaced by an empty string, a line saying so is put first on
/// stderr (so it is the "first stderr line" a `NoTokenAvailable` reports),
/// and a warning is logged with the byte count only, never the output.
/// Non-zero exits pass through untouched.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use atlas_app_server::{cmd_fn, CmdFn, CmdOutput};
/// use atlas_fly_cli::TokenShapeCheck;
///
/// let noisy = cmd_fn(|_, _| async {
///     Ok(CmdOutput::new(0, "Update available!\n", ""))
/// });
/// let out = TokenShapeCheck::new(noisy).run("fly", &["tokens", "create", "readonly"]).await?;
/// assert_eq!((out.exit_code, out.stdout.as_str()), (0, ""));
/// assert!(out.stderr.starts_with("atlas: "));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TokenShapeCheck<C> {
    inner: C,
}

impl<C: CmdFn> TokenShapeCheck<C> {
    /// Checks the output of `inner`.
    pub fn new(inner: C) -> Self {
        TokenShapeCheck { inner }
    }

    /// The wrapped runner.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

#[async_trait]
impl<C: CmdFn> CmdFn for TokenShapeCheck<C> {
    async fn run(&self, program: &str, args: &[&str]) -> io::Result<CmdOutput> {
        let mut out = self.inner.run(program, args).await?;
        if out.exit_code != 0 {
            return Ok(out);
        }
        let trimmed = out.stdout.trim();
        if trimmed.is_empty() || looks_like_fly_token(trimmed) {
            out.stdout = trimmed.to_owned();
            return Ok(out);
        }
        let bytes = trimmed.len();
        tracing::warn!(
            program,
            stdout_bytes = bytes,
            "the fly CLI exited 0 but its output does not look like a Fly token; treating it as a miss"
        );
        out.stdout = String::new();
        out.stderr = format!(
            "atlas: `{program}` printed {bytes} bytes on stdout that do not look like a Fly token\n{}",
            out.stderr
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use atlas_app_server::cmd_fn;

    use super::*;

    fn printing(stdout: &'static str, code: i32) -> impl CmdFn {
        cmd_fn(move |_, _| async move { Ok(CmdOutput::new(code, stdout, "Update available 1 -> 2\n")) })
    }

    #[tokio::test]
    async fn token_shaped_output_is_trimmed_and_kept() {
        let out = TokenShapeCheck::new(printing("  FlyV1 fm2_abc,fm2_def==\n", 0))
            .run("fly", &[])
            .await
            .expect("run");
        assert_eq!(out.stdout, "FlyV1 fm2_abc,fm2_def==");
        assert_eq!(out.stderr, "Update available 1 -> 2\n", "stderr untouched");
    }

    #[tokio::test]
    async fn garbage_is_a_miss_and_failures_pass_through() {
        let out = TokenShapeCheck::new(printing("<html>oops</html>\n", 0))
            .run("fly", &[])
            .await
            .expect("run");
        assert_eq!((out.exit_code, out.stdout.as_str()), (0, ""));
        assert_eq!(
            out.stderr.lines().next(),
            Some("atlas: `fly` printed 17 bytes on stdout that do not look like a Fly token")
        );
        assert!(!out.stderr.contains("oops"), "the output itself is never repeated");

        let out = TokenShapeCheck::new(printing("whatever", 1))
            .run("fly", &[])
            .await
            .expect("run");
        assert_eq!((out.exit_code, out.stdout.as_str()), (1, "whatever"));
    }

    #[test]
    fn org_resolution() {
        let none = Env::empty();
        assert_eq!(resolve_org(None, &none), None);
        assert_eq!(resolve_org(Some("  "), &none), None);
        let env = Env::from_pairs([("FLY_ORG", " personal ")]);
        assert_eq!(resolve_org(Some(" "), &env).as_deref(), Some("personal"));
        assert_eq!(resolve_org(Some("my_org-2"), &env).as_deref(), Some("my_org-2"));
        assert_eq!(
            resolve_org(Some("a b"), &env),
            None,
            "an invalid setting is not replaced by FLY_ORG"
        );
        assert_eq!(resolve_org(None, &Env::from_pairs([("FLY_ORG", "--help")])), None);
    }
}
