//! The CLI link: `fly tokens create …` under `cli_timeout`.

use crate::report::stderr_summary;
use crate::token_shape::looks_like_fly_token;
use crate::{AppName, CliFinding, Token, TokensConfig};

/// Runs the fly CLI once for `app`. A token, or what it found instead.
///
/// The command's future is dropped when `cli_timeout` runs out: the
/// [`CmdFn`](crate::CmdFn) contract says dropping it stops the process.
/// Warnings carry the exit code or signal, never the output (stdout may be
/// a token); the finding keeps stderr only sanitised.
pub(crate) async fn acquire(settings: &TokensConfig, app: &AppName) -> Result<Token, CliFinding> {
    let args = settings.cli_args(app.as_str());
    let run = settings.cmd_fn.run("fly", &args);
    let out = match tokio::time::timeout(settings.cli_timeout, run).await {
        Err(_) => {
            tracing::warn!(
                app = %app,
                timeout_ms = u64::try_from(settings.cli_timeout.as_millis()).unwrap_or(u64::MAX),
                "`fly tokens create` timed out; the process was stopped"
            );
            return Err(CliFinding::TimedOut {
                after: settings.cli_timeout,
            });
        }
        Ok(Err(e)) => {
            tracing::warn!(app = %app, error = %e, "`fly tokens create` could not be run");
            return Err(CliFinding::NotRun(e.to_string()));
        }
        Ok(Ok(out)) => out,
    };
    if let Some(signal) = out.signal {
        tracing::warn!(app = %app, signal, "`fly tokens create` was killed by a signal");
        return Err(CliFinding::Killed {
            signal,
            stderr: stderr_summary(&out.stderr),
        });
    }
    if out.exit_code != 0 {
        tracing::warn!(app = %app, exit_code = out.exit_code, "`fly tokens create` failed");
        return Err(CliFinding::Exited {
            code: out.exit_code,
            stderr: stderr_summary(&out.stderr),
        });
    }
    if out.stdout_truncated {
        tracing::warn!(app = %app, exit_code = 0, "`fly tokens create` printed more than the output limit");
        return Err(CliFinding::TooLarge);
    }
    let stdout = out.stdout.trim();
    if stdout.is_empty() {
        tracing::warn!(app = %app, exit_code = 0, "`fly tokens create` printed nothing");
        return Err(CliFinding::EmptyOutput);
    }
    if super::resolve::refused(app, "the output of `fly tokens create`", &Token::new(stdout)).is_some() {
        return Err(CliFinding::NotAToken);
    }
    if !looks_like_fly_token(stdout) {
        tracing::warn!(
            app = %app,
            exit_code = 0,
            "`fly tokens create` printed something that is not a Fly token"
        );
        return Err(CliFinding::NotAToken);
    }
    Ok(Token::new(stdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cmd_fn, CmdOutput};

    async fn finding(out: CmdOutput) -> CliFinding {
        let settings = TokensConfig::default().cmd_fn(cmd_fn(move |_, _| {
            let out = out.clone();
            async move { Ok(out) }
        }));
        let app = AppName::new("my-app").expect("valid");
        acquire(&settings, &app).await.expect_err("a miss")
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
}
