//! `get`, `refresh`, `invalidate`, `set-manual`, `clear-manual`: each starts
//! the token stack on the real adapters, does one thing, and shuts the stack
//! down (so background persists land) before the process exits.

use std::io::{self, IsTerminal, Read, Write};

use atlas_app_server::{Token, TokenError, Tokens};
use atlas_fly_cli::{looks_like_fly_token, ConfigOptions};

use super::explain::{self, Context};
use super::fingerprint::fingerprint;
use super::{Command, EXIT_FAILURE, EXIT_NO_TOKEN, EXIT_OK, EXIT_USAGE};

/// The largest manual token read from stdin (a Fly token is a few hundred
/// bytes; several joined stay far below this).
const MANUAL_TOKEN_LIMIT: u64 = 64 * 1024;

/// Runs one stack command; returns the exit code.
pub async fn run(options: &ConfigOptions, command: Command) -> u8 {
    // Read a manual token before anything starts: a prompt should not race
    // with the stack's own start-up.
    let manual = match &command {
        Command::SetManual { app } => match read_manual_token(app) {
            Ok(token) => Some(token),
            Err(msg) => {
                eprintln!("fly-tokens: {msg}");
                return EXIT_USAGE;
            }
        },
        _ => None,
    };
    // A manual token cannot be re-acquired: it never goes to the temporary
    // fallback.
    let opened = if manual.is_some() {
        options.open_store_without_fallback()
    } else {
        options.open_store()
    };
    let store = match opened {
        Ok(store) => store,
        Err(e) => {
            eprintln!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    let config = options.build_with(store);
    let org = config.get_org().map(str::to_owned);
    let tokens = match Tokens::start(config).await {
        Ok(tokens) => tokens,
        Err(e) => {
            eprintln!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    let config_path = options.fly_config().resolved_path();
    let cx = Context {
        config_path: config_path.as_deref(),
        org: org.as_deref(),
    };
    let code = match command {
        Command::Get { app } => print_token(tokens.get(&app).await, &cx),
        Command::Refresh { app } => print_token(tokens.refresh(&app).await, &cx),
        Command::Invalidate { app } => done(tokens.invalidate(&app).await, &cx, || {
            format!("invalidated the cached token of {app}")
        }),
        Command::ClearManual { app } => done(tokens.clear_manual(&app).await, &cx, || {
            format!("removed the manual token of {app}")
        }),
        Command::SetManual { app } => match manual {
            Some(token) => {
                let fp = fingerprint(&token);
                done(tokens.set_manual(&app, token).await, &cx, || {
                    format!("stored the manual token of {app} (fingerprint {fp})")
                })
            }
            None => EXIT_FAILURE,
        },
        Command::Status { .. } | Command::Demo => EXIT_FAILURE,
    };
    tokens.shutdown().await;
    code
}

/// `get`/`refresh`: the token alone on stdout, or the explanation on stderr.
fn print_token(result: Result<Token, TokenError>, cx: &Context<'_>) -> u8 {
    match result {
        Ok(token) => {
            let mut out = io::stdout().lock();
            match writeln!(out, "{}", token.expose()).and_then(|()| out.flush()) {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("fly-tokens: cannot write the token to stdout: {e}");
                    EXIT_FAILURE
                }
            }
        }
        Err(e) => failure(&e, cx),
    }
}

/// A command with nothing to print: a short confirmation on stderr.
fn done(result: Result<(), TokenError>, cx: &Context<'_>, what: impl FnOnce() -> String) -> u8 {
    match result {
        Ok(()) => {
            eprintln!("fly-tokens: {}", what());
            EXIT_OK
        }
        Err(e) => failure(&e, cx),
    }
}

fn failure(e: &TokenError, cx: &Context<'_>) -> u8 {
    match e {
        TokenError::NoTokenAvailable(report) => {
            eprintln!("{}", explain::no_token(report, cx));
            EXIT_NO_TOKEN
        }
        TokenError::InvalidAppName(_) | TokenError::EmptyToken | TokenError::InvalidToken(_) => {
            eprintln!("fly-tokens: {e}");
            EXIT_USAGE
        }
        _ => {
            eprintln!("fly-tokens: {e}");
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
    if trimmed.is_empty() {
        return Err("no token given (pipe it on stdin: `fly-tokens set-manual APP < token.txt`)".to_owned());
    }
    if trimmed.lines().count() > 1 {
        return Err("the token must be one line (several tokens are joined with commas)".to_owned());
    }
    if !looks_like_fly_token(trimmed) {
        eprintln!("fly-tokens: warning: this does not look like a Fly token (FlyV1 fm2_…); storing it anyway");
    }
    Ok(Token::new(trimmed))
}
