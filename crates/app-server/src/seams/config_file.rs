//! `ConfigFileFn`: where the user's own token comes from.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

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

/// The reads of the user's token of one stack incarnation, one at a time:
/// the token is the user's, not an app's, so a herd of cold apps shares the
/// read in flight instead of each taking a blocking thread to read the same
/// file. Nothing is kept once a read is done: a read that starts after it
/// sees a changed value, exactly as without sharing.
#[derive(Default)]
pub(crate) struct UserTokenReads {
    flight: Mutex<Option<Flight>>,
}

/// One read in flight: the reader it runs (a reconfigured stack's new
/// reader never joins an old read) and its answer, once there.
struct Flight {
    reader: Arc<dyn ConfigFileFn>,
    answer: watch::Receiver<Option<Answer>>,
}

/// What a read returned; `Err` when it panicked.
type Answer = Result<Option<Token>, ()>;

impl UserTokenReads {
    /// The answer of the read of `reader` in flight, or of a new one, run on
    /// the blocking pool; waits at most `bound` (the read itself goes on and
    /// ends on its own).
    ///
    /// `spawn_blocking` rather than a thread of our own: tokio does not
    /// auto-advance a paused clock while a blocking task runs, so tests on
    /// paused time never see a read time out that merely took real time.
    pub(crate) async fn read(&self, reader: &Arc<dyn ConfigFileFn>, bound: Duration) -> UserTokenRead {
        let mut answer = self.join_or_start(reader);
        let waited = tokio::time::timeout(bound, async {
            answer.wait_for(Option::is_some).await.map(|done| done.clone())
        })
        .await;
        match waited {
            Ok(Ok(Some(Ok(token)))) => UserTokenRead::Done(token),
            // It panicked, or was dropped unrun (the runtime is shutting down).
            Ok(Ok(Some(Err(())) | None) | Err(_)) => UserTokenRead::Panicked,
            Err(_) => UserTokenRead::TimedOut,
        }
    }

    fn join_or_start(&self, reader: &Arc<dyn ConfigFileFn>) -> watch::Receiver<Option<Answer>> {
        let mut flight = self.flight.lock();
        if let Some(f) = flight.as_ref() {
            if Arc::ptr_eq(&f.reader, reader) && f.answer.borrow().is_none() {
                return f.answer.clone();
            }
        }
        let (tx, rx) = watch::channel(None);
        let read = Arc::clone(reader);
        tokio::task::spawn_blocking(move || {
            let answer = std::panic::catch_unwind(AssertUnwindSafe(|| read.read_token())).map_err(drop);
            let _ = tx.send(Some(answer));
        });
        *flight = Some(Flight {
            reader: Arc::clone(reader),
            answer: rx.clone(),
        });
        rx
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
        let read = UserTokenReads::default().read(&reader, Duration::from_millis(50)).await;
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
        let read = UserTokenReads::default().read(&reader, Duration::from_millis(1)).await;
        assert!(
            matches!(read, UserTokenRead::Done(Some(ref t)) if t.expose() == "fm2_x"),
            "{read:?}"
        );
        let reader: Arc<dyn ConfigFileFn> = Arc::new(|| -> Option<Token> { panic!("reader bug") });
        assert!(matches!(
            UserTokenReads::default().read(&reader, Duration::from_secs(1)).await,
            UserTokenRead::Panicked
        ));
    }

    #[tokio::test]
    async fn concurrent_reads_share_the_one_in_flight_and_later_ones_read_again() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (release, gate) = mpsc::channel::<()>();
        let gate = parking_lot::Mutex::new(gate);
        let counted = calls.clone();
        let reader: Arc<dyn ConfigFileFn> = Arc::new(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = gate.lock().recv();
            Some(Token::new("fm2_x"))
        });
        let reads = Arc::new(UserTokenReads::default());
        let herd: Vec<_> = (0..10)
            .map(|_| {
                let (reads, reader) = (reads.clone(), reader.clone());
                tokio::spawn(async move { reads.read(&reader, Duration::from_secs(20)).await })
            })
            .collect();
        // Every caller asks while the first read is still blocked.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            let _ = release.send(());
        }
        for read in herd {
            let read = read.await.expect("joins");
            assert!(
                matches!(read, UserTokenRead::Done(Some(ref t)) if t.expose() == "fm2_x"),
                "{read:?}"
            );
        }
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one read for the herd"
        );
        // Done reads are not kept: the next caller reads again.
        assert!(matches!(
            reads.read(&reader, Duration::from_secs(20)).await,
            UserTokenRead::Done(Some(_))
        ));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn another_reader_never_joins_a_read_of_the_old_one() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = parking_lot::Mutex::new(gate);
        let old: Arc<dyn ConfigFileFn> = Arc::new(move || {
            let _ = gate.lock().recv();
            Some(Token::new("fm2_old"))
        });
        let new: Arc<dyn ConfigFileFn> = Arc::new(|| Some(Token::new("fm2_new")));
        let reads = Arc::new(UserTokenReads::default());
        let (r, o) = (reads.clone(), old.clone());
        let pending = tokio::spawn(async move { r.read(&o, Duration::from_secs(20)).await });
        tokio::task::yield_now().await;
        let read = reads.read(&new, Duration::from_secs(20)).await;
        assert!(
            matches!(read, UserTokenRead::Done(Some(ref t)) if t.expose() == "fm2_new"),
            "{read:?}"
        );
        release.send(()).expect("the old read waits");
        let read = pending.await.expect("joins");
        assert!(
            matches!(read, UserTokenRead::Done(Some(ref t)) if t.expose() == "fm2_old"),
            "{read:?}"
        );
    }
}
