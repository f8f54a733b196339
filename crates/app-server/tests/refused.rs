//! A token is one line of printable characters (SPEC.md §5): a value with a
//! control character, a newline or stray whitespace is refused by whichever
//! link found it (a miss with a warning, never printed), and the report says
//! so. Also: the user's own token is read off the runtime, within a bound.

mod support;

use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{
    CliFinding, CmdOutput, ManualFinding, Source, StorageFinding, Token, TokenError, TokenTextError, UserTokenFinding,
    USER_TOKEN_READ_TIMEOUT,
};
use support::capture::Capture;
use support::{fly, Fixture, T0};
use tracing::Level;

/// Values no link may serve, and what the check says about each.
const BAD: [(&str, TokenTextError); 6] = [
    ("FlyV1 fm2_LEAK1\nfm2_LEAK2", TokenTextError::Control { at: 15 }),
    ("\u{1b}]0;pwned\u{7}fm2_LEAK3", TokenTextError::Control { at: 0 }),
    ("FlyV1 fm2_LEAK4 fm2_LEAK5", TokenTextError::Whitespace { at: 15 }),
    ("FlyV1\tfm2_LEAK6", TokenTextError::Control { at: 5 }),
    ("fm2_LEAK7\u{202e}fm2_LEAK8", TokenTextError::NotAscii { at: 9 }),
    ("FlyV1 fm2_LEAK9\u{200b}", TokenTextError::NotAscii { at: 15 }),
];

fn failing_cli() -> FakeCli {
    let cli = FakeCli::new();
    cli.always_fail(1, "Error: not logged in");
    cli
}

/// A warning was logged, and nothing anywhere holds a secret part.
fn warned_without_leaking(capture: &Capture) {
    assert!(
        capture
            .events_at(Level::WARN)
            .iter()
            .any(|e| e.message().contains("not one line of printable characters")),
        "{:?}",
        capture.events()
    );
    let all = capture.everything();
    assert!(!all.contains("LEAK"), "{all}");
}

#[tokio::test(start_paused = true)]
async fn your_own_token_with_a_newline_escape_or_space_is_refused() {
    for (bad, problem) in BAD {
        let capture = Capture::default();
        let _guard = capture.install();
        let f = Fixture::with(failing_cli(), |c| c.config_file_fn(move || Some(Token::new(bad)))).await;
        let err = f.tokens.get("my-app").await.expect_err("refused, and the CLI fails");
        let report = err.no_token_report().expect("report");
        assert_eq!(report.user_token, UserTokenFinding::Refused(problem), "{bad:?}");
        assert!(!err.to_string().contains("LEAK"), "{err}");
        warned_without_leaking(&capture);

        // A working CLI is the next link (once the failure window is over).
        f.cli.always_ok(&fly("cli"));
        f.advance(std::time::Duration::from_secs(10)).await;
        let (token, source, _) = f.tokens.get_traced("my-app").await;
        assert_eq!(
            (token.expect("cli").expose(), source),
            (fly("cli").as_str(), Source::Cli)
        );
        f.tokens.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_stored_cached_record_that_is_not_a_token_is_not_served() {
    for (bad, problem) in BAD {
        let capture = Capture::default();
        let _guard = capture.install();
        let f = Fixture::with(failing_cli(), |c| c).await;
        f.store_minted(bad, T0 + 3_600).await;
        let err = f.tokens.get("my-app").await.expect_err("refused");
        assert_eq!(
            err.no_token_report().expect("report").storage,
            StorageFinding::Refused(problem),
            "{bad:?}"
        );
        warned_without_leaking(&capture);
        assert_eq!(f.tokens.cached("my-app"), None, "never put in the table");
        f.tokens.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_stored_manual_token_that_is_not_a_token_is_not_served() {
    for (bad, problem) in BAD {
        let capture = Capture::default();
        let _guard = capture.install();
        let f = Fixture::with(failing_cli(), |c| c).await;
        f.store_manual("my-app", bad).await;
        let err = f.tokens.get("my-app").await.expect_err("refused");
        assert_eq!(
            err.no_token_report().expect("report").manual,
            ManualFinding::Refused(problem),
            "{bad:?}"
        );
        assert!(err.to_string().contains("manual: refused ("), "{err}");
        warned_without_leaking(&capture);
        assert!(
            f.stored(&support::manual("my-app")).await.is_some(),
            "left for an operator to replace"
        );
        f.tokens.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn set_manual_refuses_a_value_that_is_not_a_token() {
    let f = Fixture::with(failing_cli(), |c| c).await;
    for (bad, problem) in BAD {
        let err = f.tokens.set_manual("my-app", bad).await.expect_err("refused");
        assert_eq!(err, TokenError::InvalidToken(problem), "{bad:?}");
        assert!(!err.to_string().contains("LEAK"), "{err}");
    }
    assert_eq!(f.tokens.set_manual("my-app", "  ").await, Err(TokenError::EmptyToken));
    assert!(f.stored(&support::manual("my-app")).await.is_none(), "nothing stored");
}

#[tokio::test(start_paused = true)]
async fn cli_output_with_a_control_character_is_not_a_token() {
    let cli = FakeCli::new();
    cli.then(CmdOutput::new(0, "FlyV1 fm2_LEAK1\u{1b}[2K\n", ""));
    let capture = Capture::default();
    let _guard = capture.install();
    let f = Fixture::with(cli, |c| c).await;
    let err = f.tokens.get("my-app").await.expect_err("refused");
    assert_eq!(err.no_token_report().expect("report").cli, CliFinding::NotAToken);
    warned_without_leaking(&capture);
}

/// Real time: a blocking read keeps the paused clock from moving.
#[tokio::test]
async fn a_user_token_read_that_hangs_is_abandoned_and_the_chain_goes_on() {
    let (release, hung) = std::sync::mpsc::channel::<()>();
    let hung = parking_lot::Mutex::new(hung);
    let f = Fixture::with(failing_cli(), move |c| {
        c.config_file_fn(move || {
            let _ = hung.lock().recv();
            None
        })
    })
    .await;
    let started = std::time::Instant::now();
    let err = f.tokens.get("my-app").await.expect_err("no token");
    assert!(started.elapsed() < USER_TOKEN_READ_TIMEOUT * 10, "bounded");
    let report = err.no_token_report().expect("report");
    assert_eq!(
        report.user_token,
        UserTokenFinding::TimedOut {
            after: USER_TOKEN_READ_TIMEOUT
        }
    );
    assert_eq!(f.cli.calls(), 1, "the CLI link still ran");
    assert!(err.to_string().contains("user token: timed out after 2s"), "{err}");
    // Let the abandoned reader end before the runtime is dropped.
    release.send(()).expect("the reader still waits");
    tokio::time::sleep(Duration::from_millis(1)).await;
}
