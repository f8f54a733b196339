//! Running `fly tokens create … --json` under `cli_timeout`, and reading
//! what it printed.

use crate::report::stderr_summary;
use crate::token_shape::looks_like_fly_token;
use crate::{AppName, CliFinding, Scope, Token, TokensConfig};

/// `fly tokens create --json` prints `{"token": "…"}`.
#[derive(serde::Deserialize)]
struct Json {
    token: String,
}

/// Runs the fly CLI once for `scope` (on behalf of `app`, named in logs). A token, or what it found instead.
///
/// The command's future is dropped when `cli_timeout` runs out: the
/// [`CmdFn`](crate::CmdFn) contract says dropping it stops the process.
/// Warnings carry the exit code or signal, never the output (stdout may be
/// a token); the finding keeps stderr only sanitised.
pub(crate) async fn acquire(config: &TokensConfig, app: &AppName, scope: &Scope) -> Result<Token, CliFinding> {
    let settings = &config.settings;
    let args = settings.cli_args(scope);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = config.cmd_fn.run("fly", &args);
    let out = match tokio::time::timeout(settings.cli_timeout, run).await {
        Err(_) => {
            tracing::warn!(
                app = %app,
                scope = %scope,
                timeout_ms = u64::try_from(settings.cli_timeout.as_millis()).unwrap_or(u64::MAX),
                "`fly tokens create` timed out; the process was stopped"
            );
            return Err(CliFinding::TimedOut {
                after: settings.cli_timeout,
            });
        }
        Ok(Err(e)) => {
            tracing::warn!(app = %app, scope = %scope, error = %e, "`fly tokens create` could not be run");
            return Err(CliFinding::NotRun(e.to_string()));
        }
        Ok(Ok(out)) => out,
    };
    if let Some(signal) = out.signal {
        tracing::warn!(app = %app, scope = %scope, signal, "`fly tokens create` was killed by a signal");
        return Err(CliFinding::Killed {
            signal,
            stderr: stderr_summary(&out.stderr),
        });
    }
    if out.exit_code != 0 {
        tracing::warn!(app = %app, scope = %scope, exit_code = out.exit_code, "`fly tokens create` failed");
        return Err(CliFinding::Exited {
            code: out.exit_code,
            stderr: stderr_summary(&out.stderr),
        });
    }
    if out.stdout_truncated {
        tracing::warn!(app = %app, scope = %scope, exit_code = 0, "`fly tokens create` printed more than the output limit");
        return Err(CliFinding::TooLarge);
    }
    let stdout = out.stdout.trim();
    if stdout.is_empty() {
        tracing::warn!(app = %app, scope = %scope, exit_code = 0, "`fly tokens create` printed nothing");
        return Err(CliFinding::EmptyOutput);
    }
    let Some(candidate) = candidate(stdout) else {
        tracing::warn!(app = %app, scope = %scope, exit_code = 0, "`fly tokens create --json` printed no token");
        return Err(CliFinding::NotAToken);
    };
    if super::resolve::refused(app, "the output of `fly tokens create`", &candidate).is_some() {
        return Err(CliFinding::NotAToken);
    }
    if !looks_like_fly_token(candidate.expose()) {
        tracing::warn!(
            app = %app,
            scope = %scope,
            exit_code = 0,
            "`fly tokens create` printed something that is not a Fly token"
        );
        return Err(CliFinding::NotAToken);
    }
    Ok(candidate)
}

/// What `stdout` (trimmed) offers as the token: the `token` of a JSON
/// object, or, from a CLI that ignores `--json`, the whole output. `None`
/// for JSON without a `token` string.
fn candidate(stdout: &str) -> Option<Token> {
    if stdout.starts_with('{') {
        return serde_json::from_str::<Json>(stdout).ok().map(|j| Token::new(j.token));
    }
    Some(Token::new(stdout))
}

/// The token in `stdout`, if it is one (for the tests below).
#[cfg(test)]
fn parse(stdout: &str) -> Option<Token> {
    candidate(stdout).filter(|t| crate::check_token_text(t.expose()).is_ok() && looks_like_fly_token(t.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cmd_fn, CmdOutput, OrgName};

    async fn finding(out: CmdOutput) -> CliFinding {
        let settings = TokensConfig::default().cmd_fn(cmd_fn(move |_, _| {
            let out = out.clone();
            async move { Ok(out) }
        }));
        let app = AppName::new("my-app").expect("valid");
        let scope = Scope::Org(OrgName::new("acme").expect("valid"));
        acquire(&settings, &app, &scope).await.expect_err("a miss")
    }

    #[tokio::test]
    async fn a_signal_is_named_not_an_exit_code() {
        let f = finding(CmdOutput::killed(11, "Segmentation fault\n")).await;
        assert_eq!(
            f,
            CliFinding::Killed {
                signal: 11,
                stderr: "Segmentation fault".into()
            }
        );
        assert_eq!(f.to_string(), "killed by SIGSEGV (Segmentation fault)");
    }

    #[tokio::test]
    async fn output_over_the_limit_is_too_large_not_empty() {
        let f = finding(CmdOutput::new(0, "", "").stdout_too_large()).await;
        assert_eq!(f, CliFinding::TooLarge);
    }

    #[tokio::test]
    async fn stderr_is_kept_sanitised() {
        let stderr = "\x1b[1mA new version is out\x1b[0m\nError: bad token FlyV1 fm2_SECRET\x07\nsee docs\n";
        let f = finding(CmdOutput::new(1, "", stderr)).await;
        assert_eq!(
            f,
            CliFinding::Exited {
                code: 1,
                stderr: "A new version is out\nError: bad token FlyV1 …\nsee docs".into()
            }
        );
        assert_eq!(f.stderr_line(), "Error: bad token FlyV1 …");
    }

    #[test]
    fn json_or_a_plain_line() {
        let t = |s: &str| parse(s).map(|t| t.expose().to_owned());
        assert_eq!(t(r#"{"token":"FlyV1 fm2_abc"}"#).as_deref(), Some("FlyV1 fm2_abc"));
        assert_eq!(t(r#"{"token": "fm2_abc", "other": 1}"#).as_deref(), Some("fm2_abc"));
        assert_eq!(t("FlyV1 fm2_abc").as_deref(), Some("FlyV1 fm2_abc"));
        assert_eq!(t(r#"{"token":"not a token"}"#), None);
        assert_eq!(t(r#"{"tok":"fm2_abc"}"#), None);
        assert_eq!(t("{broken"), None);
        assert_eq!(t("Update available\nFlyV1 fm2_abc"), None);
    }
}
