//! The message of a failed `get`/`refresh`: what each link of the chain
//! found, and how to fix it. Never a token: a [`NoTokenReport`] holds none.

use std::fmt::Write as _;
use std::path::Path;

use atlas_app_server::{signal_name, CliFinding, ManualFinding, NoTokenReport, StorageFinding, UserTokenFinding};

/// Where the user's own token was looked for, for the message.
pub struct Context<'a> {
    /// The config file that was read, if any.
    pub config_path: Option<&'a Path>,
    /// The org passed as `-o`, if any.
    pub org: Option<&'a str>,
    /// Where your own token came from, when it was refused
    /// (`FLY_API_TOKEN`, `access_token in PATH`, …).
    pub user_source: Option<&'a str>,
}

/// The whole message, several lines, no trailing newline.
pub fn no_token(report: &NoTokenReport, cx: &Context<'_>) -> String {
    let app = &report.app;
    let mut m = match &report.scope {
        Some(scope) => format!("fly-tokens: no token available for app `{app}` (scope {scope}):\n"),
        None => format!("fly-tokens: no token available for app `{app}`:\n"),
    };
    let _ = writeln!(m, "  stored token:  {}", storage(&report.storage));
    let _ = writeln!(m, "  your token:    {}", user_token(report.user_token, cx));
    let _ = writeln!(m, "  fly CLI:       {}", cli(&report.cli));
    let _ = writeln!(m, "  manual token:  {}", manual(&report.manual));
    m.push_str("how to fix:");
    for hint in hints(report, cx) {
        let _ = write!(m, "\n  - {hint}");
    }
    m
}

fn storage(f: &StorageFinding) -> String {
    match f {
        StorageFinding::None => "none".to_owned(),
        StorageFinding::Expired { .. } => "expired".to_owned(),
        StorageFinding::Skipped => "skipped (being replaced)".to_owned(),
        StorageFinding::NoScope => "none (no org configured)".to_owned(),
        StorageFinding::Failed(e) => format!("unreadable: {e}"),
        StorageFinding::Refused(e) => {
            format!("refused: the stored record is not one line of printable characters ({e})")
        }
    }
}

fn user_token(f: UserTokenFinding, cx: &Context<'_>) -> String {
    match (f, cx.config_path) {
        (UserTokenFinding::Disabled, _) => "disabled (--no-config-file)".to_owned(),
        (UserTokenFinding::Expired, _) => "expired (its own validity window has passed)".to_owned(),
        (UserTokenFinding::None, Some(path)) => format!(
            "none (FLY_ACCESS_TOKEN and FLY_API_TOKEN unset, no usable access_token in {})",
            path.display()
        ),
        (UserTokenFinding::None, None) => "none (FLY_ACCESS_TOKEN and FLY_API_TOKEN unset, no config file)".to_owned(),
        (UserTokenFinding::Refused(e), _) => format!(
            "refused: {} is not one line of printable characters ({e})",
            cx.user_source.unwrap_or("the value")
        ),
        (UserTokenFinding::TimedOut { after }, _) => {
            format!("timed out after {after:?} reading it (is the fly config file on a hung mount?)")
        }
    }
}

fn cli(f: &CliFinding) -> String {
    match f {
        CliFinding::Exited { code, .. } => with_stderr_line(format!("exit code {code}"), f),
        CliFinding::Killed { signal, .. } => with_stderr_line(format!("killed by {}", signal_name(*signal)), f),
        CliFinding::EmptyOutput => "exit code 0 but it printed nothing".to_owned(),
        CliFinding::TooLarge => "exit code 0 but its output is too large to be a token (ignored)".to_owned(),
        CliFinding::NotAToken => "exit code 0 but its output is not a Fly token (ignored)".to_owned(),
        CliFinding::TimedOut { after } => format!("timed out after {after:?} (the process was killed)"),
        CliFinding::NotRun(why) => format!("not run: {why}"),
        CliFinding::NoOrg => "not run: no org configured (a read-only token is minted per org)".to_owned(),
        CliFinding::RecentlyFailed { ago, finding } => {
            format!("not run again: it failed {}s ago ({})", ago.as_secs(), cli(finding))
        }
        CliFinding::AlreadyExpired => "exit code 0 but the token it printed has already expired".to_owned(),
    }
}

/// `what`, then the line of stderr worth quoting (already sanitised).
fn with_stderr_line(what: String, f: &CliFinding) -> String {
    match f.stderr_line() {
        line if line.is_empty() => format!("{what} (nothing on stderr)"),
        line => format!("{what}: {line}"),
    }
}

fn manual(f: &ManualFinding) -> String {
    match f {
        ManualFinding::None => "none".to_owned(),
        ManualFinding::Expired { .. } => "expired (its own validity window has passed; not served)".to_owned(),
        ManualFinding::Failed(e) => format!("unreadable: {e}"),
        ManualFinding::Refused(e) => format!("refused: the stored token is not one line of printable characters ({e})"),
    }
}

fn hints(report: &NoTokenReport, cx: &Context<'_>) -> Vec<String> {
    let app = &report.app;
    let org = cx.org.map(|o| format!(" -o {o}")).unwrap_or_default();
    let mut hints = Vec::new();
    let mut cli_finding = &report.cli;
    if let CliFinding::RecentlyFailed { finding, .. } = cli_finding {
        cli_finding = finding;
    }
    match cli_finding {
        CliFinding::NoOrg => hints.push(
            "name your Fly org: `--org ORG` or `export FLY_ORG=ORG` (flyctl cannot pick one without a terminal), \
             or mint per-app tokens with `--deploy`"
                .to_owned(),
        ),
        CliFinding::RecentlyFailed { .. } => {}
        CliFinding::AlreadyExpired => hints.push("check the clock of this machine against Fly's".to_owned()),
        // The hints look at all of stderr: the line quoted above may be
        // another one than the one that names the cause.
        CliFinding::Exited { stderr, .. } | CliFinding::Killed { stderr, .. } => {
            let lower = stderr.to_lowercase();
            if lower.contains("slug") || lower.contains("organization") || lower.contains(" org") {
                hints.push(
                    "name your Fly org: `--org ORG` or `export FLY_ORG=ORG` (flyctl cannot ask for one without a \
                     terminal)"
                        .to_owned(),
                );
            } else if lower.contains("login") || lower.contains("access token") || lower.contains("auth") {
                hints.push("log in to Fly: `fly auth login`, then run this again".to_owned());
            } else {
                hints.push(format!(
                    "run `fly tokens create readonly{org}` yourself to see the whole error"
                ));
            }
        }
        CliFinding::NotRun(_) => {
            hints.push("install flyctl, or give its path with `--fly-bin PATH`".to_owned());
        }
        CliFinding::TimedOut { .. } => {
            hints.push("give the CLI more time: `--cli-timeout 60s` (it may be waiting on the network)".to_owned());
        }
        CliFinding::EmptyOutput | CliFinding::NotAToken | CliFinding::TooLarge => hints.push(format!(
            "check what `fly tokens create readonly{org}` prints: it should be one line `FlyV1 fm2_…`"
        )),
    }
    match report.user_token {
        UserTokenFinding::Disabled => {
            hints.push("or drop `--no-config-file` to use your own token (FLY_API_TOKEN, ~/.fly/config.yml)".to_owned())
        }
        UserTokenFinding::Refused(_) => hints.push(format!(
            "or fix your own token in {}: one line, such as `FlyV1 fm2_…` (`fly auth token` prints it)",
            cx.user_source
                .unwrap_or("FLY_ACCESS_TOKEN, FLY_API_TOKEN or ~/.fly/config.yml")
        )),
        UserTokenFinding::None | UserTokenFinding::TimedOut { .. } | UserTokenFinding::Expired => {}
    }
    if let ManualFinding::Expired { .. } = report.manual {
        hints.push(format!(
            "the manual token has expired: store a new one with `fly-tokens set-manual {app}`"
        ));
    } else if let ManualFinding::Refused(_) = report.manual {
        hints.push(format!(
            "the manual token is not usable: store it again with `fly-tokens set-manual {app}`, or remove it \
             with `fly-tokens clear-manual {app}`"
        ));
    } else if let ManualFinding::Failed(_) = report.manual {
        hints.push(format!(
            "the manual token file is damaged: fix or remove it, or store it again with `fly-tokens set-manual {app}`"
        ));
    } else {
        hints.push(format!(
            "or store a token by hand: `fly-tokens set-manual {app}` (reads it from stdin)"
        ));
    }
    hints
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use atlas_app_server::AppName;

    use super::*;

    fn report(cli: CliFinding) -> NoTokenReport {
        NoTokenReport {
            app: AppName::new("my-app").expect("valid"),
            scope: None,
            storage: StorageFinding::None,
            user_token: UserTokenFinding::None,
            cli,
            manual: ManualFinding::None,
        }
    }

    #[test]
    fn names_every_link_and_the_fix() {
        let cx = Context {
            config_path: Some(Path::new("/home/me/.fly/config.yml")),
            org: None,
            user_source: None,
        };
        let m = no_token(
            &report(CliFinding::Exited {
                code: 1,
                stderr: "Error: no access token available. Please login with 'flyctl auth login'".into(),
            }),
            &cx,
        );
        assert_eq!(
            m,
            "fly-tokens: no token available for app `my-app`:\n  \
             stored token:  none\n  \
             your token:    none (FLY_ACCESS_TOKEN and FLY_API_TOKEN unset, no usable access_token in /home/me/.fly/config.yml)\n  \
             fly CLI:       exit code 1: Error: no access token available. Please login with 'flyctl auth login'\n  \
             manual token:  none\n\
             how to fix:\n  \
             - log in to Fly: `fly auth login`, then run this again\n  \
             - or store a token by hand: `fly-tokens set-manual my-app` (reads it from stdin)"
        );
    }

    #[test]
    fn org_and_timeout_hints() {
        let cx = Context {
            config_path: None,
            org: None,
            user_source: None,
        };
        let m = no_token(
            &report(CliFinding::Exited {
                code: 1,
                stderr: "Error: slug argument must be specified when not running interactively".into(),
            }),
            &cx,
        );
        assert!(m.contains("--org ORG"), "{m}");
        let m = no_token(
            &report(CliFinding::TimedOut {
                after: Duration::from_secs(1),
            }),
            &cx,
        );
        assert!(m.contains("timed out after 1s") && m.contains("--cli-timeout"), "{m}");
    }

    #[test]
    fn the_error_line_is_quoted_and_hints_look_at_all_of_stderr() {
        let cx = Context {
            config_path: None,
            org: None,
            user_source: None,
        };
        let m = no_token(
            &report(CliFinding::Exited {
                code: 1,
                stderr: "A new release of flyctl is available\nError: could not mint a token\n\
                         Run 'fly auth login' first"
                    .into(),
            }),
            &cx,
        );
        assert!(
            m.contains("fly CLI:       exit code 1: Error: could not mint a token\n"),
            "{m}"
        );
        assert!(m.contains("`fly auth login`"), "the login hint, from a later line: {m}");
        let m = no_token(
            &report(CliFinding::Killed {
                signal: 11,
                stderr: String::new(),
            }),
            &cx,
        );
        assert!(
            m.contains("fly CLI:       killed by SIGSEGV (nothing on stderr)"),
            "{m}"
        );
        let m = no_token(&report(CliFinding::TooLarge), &cx);
        assert!(m.contains("its output is too large"), "{m}");
        assert!(!m.contains("printed nothing"), "{m}");
    }
}
