//! `ConfigFileFn`: where the user's own token comes from.

use std::sync::Arc;
use std::time::Duration;

use crate::Token;

/// How long the AppServer waits for [`ConfigFileFn::read_token`] before it
/// gives up on that read (the user-token link is then a miss, with a
/// warning): 2 s, far beyond reading a small local file.
pub const USER_TOKEN_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the user's own token (flyctl's order: `FLY_ACCESS_TOKEN`,
/// `FLY_API_TOKEN`, then `access_token` in the fly config file).
///
/// `read_token` may block (it typically reads a file): the AppServer calls
/// it on tokio's blocking pool, never on a runtime worker, and waits at
/// most [`USER_TOKEN_READ_TIMEOUT`]. A read that never returns keeps its
/// blocking thread (and a runtime being dropped) waiting, so an
/// implementation should still not block without bound: `FlyConfig` opens
/// without blocking and refuses anything but a regular file.
///
/// A plain closure is a `ConfigFileFn`:
///
/// ```
/// use atlas_app_server::{Token, TokensConfig};
/// let config = TokensConfig::default().config_file_fn(|| Some(Token::new("FlyV1 fm2_bWluZQ==")));
/// # let _ = config;
/// ```
pub trait ConfigFileFn: Send + Sync + 'static {
    /// The token, or `None` (missing file, no key, empty value). The value
    /// is checked by the caller ([`check_token_text`](crate::check_token_text)).
    fn read_token(&self) -> Option<Token>;
}

impl<F> ConfigFileFn for F
where
    F: Fn() -> Option<Token> + Send + Sync + 'static,
{
    fn read_token(&self) -> Option<Token> {
        self()
    }
}

/// The default [`ConfigFileFn`]: no user token.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConfigFile;

impl ConfigFileFn for NoConfigFile {
    fn read_token(&self) -> Option<Token> {
        None
    }
}

/// How one off-runtime read of the user's token ended.
#[derive(Debug)]
pub(crate) enum UserTokenRead {
    /// It returned.
    Done(Option<Token>),
    /// It did not return within the bound; it was abandoned.
    TimedOut,
    /// It panicked.
    Panicked,
}

/// Runs `reader` on the blocking pool, waiting at most `bound`.
///
/// `spawn_blocking` rather than a thread of our own: tokio does not
/// auto-advance a paused clock while a blocking task runs, so tests on
/// paused time never see a read time out that merely took real time.
pub(crate) async fn read_user_token(reader: &Arc<dyn ConfigFileFn>, bound: Duration) -> UserTokenRead {
    let reader = Arc::clone(reader);
    let read = tokio::task::spawn_blocking(move || reader.read_token());
    match tokio::time::timeout(bound, read).await {
        Ok(Ok(token)) => UserTokenRead::Done(token),
        Ok(Err(_)) => UserTokenRead::Panicked,
        // Dropping the handle detaches the read; it ends on its own.
        Err(_) => UserTokenRead::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn a_read_that_hangs_is_abandoned_at_the_bound() {
        let (release, hung) = mpsc::channel::<()>();
        let hung = parking_lot::Mutex::new(hung);
        let reader: Arc<dyn ConfigFileFn> = Arc::new(move || {
            let _ = hung.lock().recv();
            None
        });
        let started = std::time::Instant::now();
        let read = read_user_token(&reader, Duration::from_millis(50)).await;
        assert!(matches!(read, UserTokenRead::TimedOut), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "bounded");
        release.send(()).expect("the reader still waits");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_runs_off_the_worker_and_its_answer_comes_back() {
        let worker = std::thread::current().id();
        let reader: Arc<dyn ConfigFileFn> = Arc::new(move || {
            assert_ne!(std::thread::current().id(), worker, "not on the runtime's thread");
            // Real time passes; the paused clock must not fire the bound.
            std::thread::sleep(Duration::from_millis(20));
            Some(Token::new("fm2_x"))
        });
        let read = read_user_token(&reader, Duration::from_millis(1)).await;
        assert!(
            matches!(read, UserTokenRead::Done(Some(ref t)) if t.expose() == "fm2_x"),
            "{read:?}"
        );
        let reader: Arc<dyn ConfigFileFn> = Arc::new(|| -> Option<Token> { panic!("reader bug") });
        assert!(matches!(
            read_user_token(&reader, Duration::from_secs(1)).await,
            UserTokenRead::Panicked
        ));
    }
}
