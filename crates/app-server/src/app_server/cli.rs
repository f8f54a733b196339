//! The CLI link: `fly tokens create …` under `cli_timeout`.

use crate::report::first_line;
use crate::token_shape::looks_like_fly_token;
use crate::{AppName, CliFinding, Token, TokensConfig};

/// Runs the fly CLI once for `app`. A token, or what it found instead.
///
/// The command's future is dropped when `cli_timeout` runs out: the
/// [`CmdFn`](crate::CmdFn) contract says dropping it stops the process.
/// Warnings carry the exit code, never the output (stdout may be a token).
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
    if out.exit_code != 0 {
        tracing::warn!(app = %app, exit_code = out.exit_code, "`fly tokens create` failed");
        return Err(CliFinding::Exited {
            code: out.exit_code,
            stderr: first_line(&out.stderr),
        });
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
