//! Helpers to test code built on supervisors (feature `testing`): what
//! this crate's own tests and its OTP conformance runner use.
//!
//! - [`Recorder`]: an [`Observer`](crate::Observer) that records the
//!   events as OTP trace lines (`start a`, `stop a crash`, ...), the format
//!   of the OTP oracle's traces.
//! - [`Workers`] and [`Script`]: real child tasks whose starts fail, panic
//!   or answer ignore on the attempts given, that obey or ignore their
//!   shutdown signal, and that exit with a reason when told to.
//! - [`settle`]: waits until a tree has handled everything pending;
//!   [`running_ids`]: what runs in it.
//!
//! ```
//! use std::time::Duration;
//! use atlas_supervisor::testing::{quiet_panics, running_ids, settle, Recorder, Workers};
//! use atlas_supervisor::{Strategy, Supervisor};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! quiet_panics();
//! let (rec, workers) = (Recorder::new(), Workers::new());
//! let sup = Supervisor::new(Strategy::RestForOne)
//!     .intensity(1, Duration::from_secs(60))
//!     .observer(rec.observer())
//!     .child(workers.spec("a"))
//!     .child(workers.spec("b"))
//!     .child(workers.spec("c"))
//!     .start()
//!     .await
//!     .expect("starts");
//! rec.take();
//! workers.crash("b").expect("b runs");
//! assert!(settle(&sup).await);
//! assert_eq!(rec.take(), ["stop b crash", "stop c shutdown", "start b", "start c"]);
//! workers.crash("a").expect("a runs"); // a second restart: more than 1
//! assert!(!settle(&sup).await, "the supervisor gave up");
//! assert_eq!(running_ids(&sup).await, Vec::<String>::new());
//! # }
//! ```

mod recorder;
mod settle;
mod workers;

pub use recorder::{otp_line, reason_name, Recorder};
pub use settle::{running_ids, settle};
pub use workers::{NotRunning, Script, Workers};

/// The payload of a scripted worker's panic: [`quiet_panics`] silences it,
/// and only it.
const CRASH: &str = "atlas_supervisor::testing: scripted crash";

/// Keeps the default panic hook for every panic but the scripted workers'
/// ([`Workers::crash`], [`Script::panic_starts`]), whose messages would
/// only clutter a test's output. Call it as often as you like: it installs
/// the hook once.
///
/// ```
/// use atlas_supervisor::testing::{quiet_panics, Recorder, Workers};
/// use atlas_supervisor::{Strategy, Supervisor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// quiet_panics();
/// let (rec, workers) = (Recorder::new(), Workers::new());
/// let sup = Supervisor::new(Strategy::OneForOne)
///     .observer(rec.observer())
///     .child(workers.spec("a"))
///     .start()
///     .await
///     .expect("starts");
/// workers.crash("a").expect("a runs"); // prints nothing
/// rec.wait_count("start a", 2).await;
/// sup.shutdown().await;
/// # }
/// ```
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&CRASH) {
                default(info);
            }
        }));
    });
}
