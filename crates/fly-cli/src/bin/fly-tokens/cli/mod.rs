//! The `fly-tokens` command line: flags, dispatch, logging and exit codes.

mod commands;
mod demo;
mod explain;
mod fingerprint;
mod mask;
mod output;
mod signals;
mod status;

use std::ffi::OsString;
use std::process::ExitCode;

use atlas_fly_cli::ConfigOptions;
use clap::{Parser, Subcommand};
use output::tell;

/// Success.
pub const EXIT_OK: u8 = 0;
/// No token available: every link of the chain missed (the message says
/// what each found).
pub const EXIT_NO_TOKEN: u8 = 1;
/// Bad usage: an unknown flag, an invalid app name or org, a duration that
/// cannot work, a manual token that is empty, not one line, too large or
/// unreadable, a token on the command line.
pub const EXIT_USAGE: u8 = 2;
/// Anything else: the store cannot be used (a Redis that cannot be reached,
/// for the commands that need it: `set-manual`, `clear-manual`,
/// `invalidate`, `status`), the stack failed.
pub const EXIT_FAILURE: u8 = 3;

const AFTER_HELP: &str = "\
How `get` finds a token (first hit wins):
  1. the token cached in this process, then the store: the minted token of the
     app's scope, if unexpired
  2. your own token: FLY_ACCESS_TOKEN, FLY_API_TOKEN, then access_token in
     $FLY_CONFIG_DIR/config.yml or ~/.fly/config.yml   (off with --no-config-file)
     Kept in memory for --user-token-ttl, NEVER written to the store.
  3. `fly tokens create readonly -o ORG --expiry D --name 'atlas@HOST org:ORG' --json`
     (or, with --deploy, `fly tokens create deploy -a APP ...`), bounded by --cli-timeout
  4. the manual token stored with `fly-tokens set-manual APP`

Scope and lifetime of what it mints:
  readonly (default)  read-only access to every app of the org; ONE token per org,
                      shared by all its apps; needs --org or FLY_ORG
  deploy (--deploy)   can deploy to and change one app; one token per app
  Minted tokens are stored for --ttl (24h) and minted with --expiry ttl + 10m, so
  Fly itself expires them shortly after they stop being used (flyctl's own default
  is 20 years). A token's own expiry always caps how long it is served.
  `refresh APP` drops the scope's token (for every app of the org) and mints one.

Examples:
  FLY_API_TOKEN=$(fly-tokens get my-app) fly status -a my-app
  APP_TOKEN=$(fly-tokens get my-app)     # a variable of your own, for curl, deploy scripts, ...
  fly-tokens --org my-org get my-app
  fly-tokens refresh my-app              # after Fly rejected the token
  fly-tokens set-manual my-app < token.txt
  fly-tokens status --json               # kind, scope, source, expires_at, fingerprint
  fly-tokens demo                        # the whole stack, simulated, no Fly account needed
  fly-tokens --store redis://cache.internal:6379/0 get my-app
                                         # one store, lease and invalidation for a whole fleet

Set FLY_API_TOKEN for one command only, never `export` it: fly-tokens reads
FLY_API_TOKEN as *your own* token, so an exported app token would be handed
back for every app by every later `get` in that shell.

Exit codes: 0 ok, 1 no token available, 2 bad usage, 3 other failure (e.g. the store);
  130, 143, 129 when stopped by SIGINT (Ctrl-C), SIGTERM, SIGHUP (the fly CLI is killed).
  With a Redis store that cannot be reached, `get` and `refresh` still answer (0 or 1;
  a cold one acquires on its own, with a warning); set-manual, clear-manual, invalidate
  and status exit 3.
Logs go to stderr; RUST_LOG=info (or debug) shows more (default: warnings).";

/// Fly.io API tokens for your apps: resolved once, cached, kept across runs.
///
/// `fly-tokens get APP` prints a token on stdout and nothing else, so that
/// `FLY_API_TOKEN=$(fly-tokens get my-app) fly …` works. Tokens are kept in
/// a private store (0700 directory, 0600 files) and never appear in logs,
/// error messages or command lines.
#[derive(Debug, Parser)]
#[command(name = "fly-tokens", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The settings, defined once in the library (`ConfigOptions` is
    /// `clap::Args`): every flag that applies to all commands.
    #[command(flatten)]
    options: ConfigOptions,
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print APP's token on stdout (and nothing else); on failure, say on
    /// stderr what each source found and how to fix it
    Get {
        /// The Fly app name
        app: String,
    },
    /// Drop APP's token and acquire a new one in one step (use after the Fly
    /// API rejected the token): the scope's token is dropped for every app of
    /// the org and minted once; prints it like `get`
    Refresh {
        /// The Fly app name
        app: String,
    },
    /// Drop APP's minted token, for its whole scope (this process and the
    /// store); the manual token, if any, stays
    Invalidate {
        /// The Fly app name
        app: String,
    },
    /// Store a manual token for APP, used when nothing else has one. The
    /// token is read from stdin, or from a hidden prompt when stdin is a
    /// terminal; never from the command line
    SetManual {
        /// The Fly app name
        app: String,
        /// A token given on the command line anyway: refused, never echoed
        /// (clap would print an unexpected argument back).
        #[arg(hide = true)]
        on_command_line: Vec<OsString>,
    },
    /// Remove APP's manual token
    ClearManual {
        /// The Fly app name
        app: String,
    },
    /// List the tokens in the store: kind, scope, source, expiry and a
    /// fingerprint (first 8 hex characters of its SHA-256), never the token
    Status {
        /// One JSON object on stdout instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Run the whole stack against a simulated fly CLI and a temporary
    /// store, with no Fly account and no network, and narrate what happens
    Demo,
}

impl Command {
    /// The app the command is about, if any.
    fn app(&self) -> Option<&str> {
        match self {
            Command::Get { app }
            | Command::Refresh { app }
            | Command::Invalidate { app }
            | Command::SetManual { app, .. }
            | Command::ClearManual { app } => Some(app),
            Command::Status { .. } | Command::Demo => None,
        }
    }
}

/// Parses the command line, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(parse_error(&e)),
    };
    init_logging(matches!(cli.command, Command::Demo));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tell!("fly-tokens: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(run(cli));
    // A prompt a signal interrupted may still block a thread: do not wait
    // for it (everything that matters was awaited in `run`).
    runtime.shutdown_background();
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    let options = ConfigOptions {
        one_shot: true,
        ..cli.options
    };
    let mut signals = match signals::Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            tell!("fly-tokens: cannot listen for signals: {e}");
            return EXIT_FAILURE;
        }
    };
    match cli.command {
        Command::Demo => signals.run(demo::run()).await,
        Command::Status { json } => {
            // A store setting that names no store is bad usage, as for the
            // other commands.
            if let Err(e) = options.resolved_store() {
                tell!("fly-tokens: {}", mask::mask_secrets(&e.to_string()));
                return EXIT_USAGE;
            }
            signals.run(status::run(&options, json)).await
        }
        command => commands::run(&options, command, &mut signals).await,
    }
}

/// Prints a command-line error and returns its exit code (0 for `--help`
/// and `--version`). Usage errors quote the arguments, where a token may
/// have been typed by mistake: they are printed masked.
fn parse_error(e: &clap::Error) -> u8 {
    if !e.use_stderr() {
        // Help or version, on stdout; a closed pipe (`--help | head`) is fine.
        let _ = e.print();
        return EXIT_OK;
    }
    output::to_stderr(&mask::mask_secrets(&e.render().to_string()));
    EXIT_USAGE
}

/// Logs to stderr, filtered by `RUST_LOG`. The default is `warn`, less the
/// CLI link's own warnings (a failed `get` prints all they would say, once,
/// in its message); `off` for the demo, whose narration is the point and
/// which makes the CLI fail on purpose.
fn init_logging(demo: bool) {
    let default = if demo {
        "off"
    } else {
        "warn,atlas_app_server::app_server::cli=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from(["fly-tokens", "get", "my-app", "--cli-timeout", "2m", "--org", "acme"])
            .expect("parses");
        assert_eq!(cli.options.cli_timeout, Some(std::time::Duration::from_secs(120)));
        assert_eq!(cli.options.org.as_deref(), Some("acme"));
        assert!(Cli::try_parse_from(["fly-tokens", "--ttl", "500ms", "status"]).is_err());
        assert!(Cli::try_parse_from(["fly-tokens", "--cli-timeout", "0", "status"]).is_err());
    }

    #[test]
    fn a_token_on_the_command_line_is_caught_not_echoed_by_clap() {
        let cli = Cli::try_parse_from(["fly-tokens", "set-manual", "my-app", "FlyV1 fm2_x", "--store", "/s"])
            .expect("parses, to be refused by the command");
        assert_eq!(cli.options.store.as_deref(), Some(std::ffi::OsStr::new("/s")));
        assert!(matches!(cli.command, Command::SetManual { ref on_command_line, .. } if on_command_line.len() == 1));
    }
}
