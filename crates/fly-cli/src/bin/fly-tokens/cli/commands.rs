//! `get`, `refresh`, `invalidate`, `set-manual`, `clear-manual`: each starts
//! the token stack on the real adapters, does one thing, and shuts the stack
//! down (so background persists land) before the process exits.

use std::io::{self, IsTerminal, Read};
use std::time::Duration;

use atlas_app_server::{AppName, StorageError, Token, TokenError, TokenTextError, Tokens, UserTokenFinding};
use atlas_fly_cli::{check_token_text, looks_like_fly_token, ConfigOptions};

use super::explain::{self, Context};
use super::fingerprint::fingerprint;
use super::mask::mask_secrets;
use super::output::{tell, write_stdout};
use super::signals::{self, Signals};
use super::{Command, EXIT_FAILURE, EXIT_NO_TOKEN, EXIT_OK, EXIT_USAGE};

/// How long the store's background work (lease releases) may take after
/// the stack stopped.
const SETTLE_BOUND: Duration = Duration::from_secs(2);

/// The largest manual token read from stdin (a Fly token is a few hundred
/// bytes; several joined stay far below this).
const MANUAL_TOKEN_LIMIT: u64 = 64 * 1024;

/// Runs one stack command; returns the exit code. A signal stops it
/// (see [`signals`](super::signals)).
pub async fn run(options: &ConfigOptions, command: Command, signals: &mut Signals) -> u8 {
    // Bad usage is refused before anything is opened or asked for.
    if let Err(msg) = check_usage(options, &command) {
        tell!("fly-tokens: {}", mask_secrets(&msg));
        return EXIT_USAGE;
    }
    // The store is opened (and judged) before a manual token is asked for:
    // a store that cannot be used is exit 3 before any secret is typed. A
    // manual token cannot be re-acquired: it never goes to the temporary
    // fallback.
    let opened = if matches!(command, Command::SetManual { .. }) {
        options.open_store_without_fallback()
    } else {
        options.open_store()
    };
    let store = match opened {
        Ok(store) => store,
        Err(e) => {
            tell!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    // Read a manual token before the stack starts: a prompt should not race
    // with the stack's own start-up.
    let manual = match &command {
        Command::SetManual { app, .. } => {
            let app = app.clone();
            match signals.blocking(move || read_manual_token(&app)).await {
                Ok(Ok(token)) => Some(token),
                Ok(Err(msg)) => {
                    tell!("fly-tokens: {msg}");
                    return EXIT_USAGE;
                }
                Err(caught) => return signals::finish(caught, None).await,
            }
        }
        _ => None,
    };
    let config = options.build_with(store.clone());
    let org = config.get_settings().org.as_ref().map(|o| o.as_str().to_owned());
    let tokens = match Tokens::start(config).await {
        Ok(tokens) => tokens,
        Err(e) => {
            tell!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    let config_path = options.fly_config().resolved_path();
    let cx = Context {
        config_path: config_path.as_deref(),
        org: org.as_deref(),
        user_source: None,
    };
    let code = match signals.until(execute(&tokens, command, manual, &cx, options)).await {
        Ok(code) => code,
        Err(caught) => return signals::finish(caught, Some(&tokens)).await,
    };
    tokens.shutdown().await;
    // A Redis lease released in the background must reach Redis before we
    // exit, or the next process waits for it to lapse.
    store.settle(SETTLE_BOUND).await;
    code
}

/// The command itself, on a started stack.
async fn execute(
    tokens: &Tokens,
    command: Command,
    manual: Option<Token>,
    cx: &Context<'_>,
    options: &ConfigOptions,
) -> u8 {
    match command {
        Command::Get { app } => print_token(tokens.get(&app).await, cx, options),
        Command::Refresh { app } => print_token(tokens.refresh(&app).await, cx, options),
        Command::Invalidate { app } => done(tokens.invalidate(&app).await, cx, options, || {
            format!("invalidated the cached token of {app}")
        }),
        Command::ClearManual { app } => done(tokens.clear_manual(&app).await, cx, options, || {
            format!("{app} has no manual token now")
        }),
        Command::SetManual { app, .. } => match manual {
            Some(token) => {
                let fp = fingerprint(&token);
                done(tokens.set_manual(&app, token).await, cx, options, || {
                    format!("stored the manual token of {app} (fingerprint {fp})")
                })
            }
            None => EXIT_FAILURE,
        },
        Command::Status { .. } | Command::Demo => EXIT_FAILURE,
    }
}

/// What is wrong with the command line beyond what clap checks: a token
/// on it, an invalid app name, an invalid org. Messages are masked by the
/// caller.
fn check_usage(options: &ConfigOptions, command: &Command) -> Result<(), String> {
    if let Command::SetManual { on_command_line, .. } = command {
        if !on_command_line.is_empty() {
            return Err(
                "set-manual takes no token on the command line (it would show in `ps` and your shell \
                        history): pipe it on stdin, `fly-tokens set-manual APP < token.txt`, or type it at the \
                        hidden prompt"
                    .to_owned(),
            );
        }
    }
    if let Some(app) = command.app() {
        AppName::validate(app).map_err(|e| format!("invalid app name: {e}"))?;
    }
    options.resolved_org().map_err(|e| e.to_string())?;
    options.resolved_store().map_err(|e| e.to_string())?;
    Ok(())
}

/// `get`/`refresh`: the token alone on stdout, or the explanation on stderr.
fn print_token(result: Result<Token, TokenError>, cx: &Context<'_>, options: &ConfigOptions) -> u8 {
    match result {
        Ok(token) => write_stdout(&format!("{}\n", token.expose())),
        Err(e) => failure(&e, cx, options),
    }
}

/// A command with nothing to print: a short confirmation on stderr.
fn done(
    result: Result<(), TokenError>,
    cx: &Context<'_>,
    options: &ConfigOptions,
    what: impl FnOnce() -> String,
) -> u8 {
    match result {
        Ok(()) => {
            tell!("fly-tokens: {}", what());
            EXIT_OK
        }
        Err(e) => failure(&e, cx, options),
    }
}

fn failure(e: &TokenError, cx: &Context<'_>, options: &ConfigOptions) -> u8 {
    match e {
        TokenError::NoTokenAvailable(report) => {
            // Which of your own token's sources was refused: read again,
            // only for the message (the source's name, never the value).
            let source = matches!(report.user_token, UserTokenFinding::Refused(_))
                .then(|| options.fly_config().read().map(|(_, source)| source.to_string()))
                .flatten();
            let cx = Context {
                user_source: source.as_deref(),
                ..*cx
            };
            tell!("{}", explain::no_token(report, &cx));
            EXIT_NO_TOKEN
        }
        TokenError::PersistFailed(StorageError::Unavailable(_)) => {
            tell!("fly-tokens: {e}");
            tell!(
                "fly-tokens: the manual token was NOT stored (it is never kept in memory only): run the command \
                 again once the store is reachable"
            );
            EXIT_FAILURE
        }
        TokenError::InvalidAppName(_) | TokenError::EmptyToken | TokenError::InvalidToken(_) => {
            tell!("fly-tokens: {}", mask_secrets(&e.to_string()));
            EXIT_USAGE
        }
        _ => {
            tell!("fly-tokens: {e}");
            EXIT_FAILURE
        }
    }
}

/// The manual token: from a hidden prompt when stdin is a terminal, else all
/// of stdin (one line; surrounding whitespace trimmed). Never from argv,
/// where other users could read it (`ps`, shell history).
fn read_manual_token(app: &str) -> Result<Token, String> {
    let text = if io::stdin().is_terminal() {
        rpassword::prompt_password(format!("manual token for {app} (input hidden): "))
            .map_err(|e| format!("cannot read the token from the terminal: {e}"))?
    } else {
        let mut text = String::new();
        io::stdin()
            .take(MANUAL_TOKEN_LIMIT + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the token from stdin: {e}"))?;
        if text.len() as u64 > MANUAL_TOKEN_LIMIT {
            return Err(format!("the token on stdin is larger than {MANUAL_TOKEN_LIMIT} bytes"));
        }
        text
    };
    let trimmed = text.trim();
    match check_token_text(trimmed) {
        Ok(()) => {}
        Err(TokenTextError::Empty) => {
            return Err("no token given (pipe it on stdin: `fly-tokens set-manual APP < token.txt`)".to_owned())
        }
        Err(e) => {
            return Err(format!(
                "not stored: a token is one line of printable characters, and {e} (several tokens are joined \
                 with commas)"
            ))
        }
    }
    if !looks_like_fly_token(trimmed) {
        tell!("fly-tokens: warning: this does not look like a Fly token (FlyV1 fm2_…); storing it anyway");
    }
    Ok(Token::new(trimmed))
}
