//! A small supervision tree: a worker panics, its supervisor restarts it,
//! and a nested supervisor that gives up is restarted by the root.
//!
//! cargo run -p atlas-supervisor --example crash_and_restart

use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{ChildSpec, Event, ExitReason, Strategy, Supervisor};

#[tokio::main]
async fn main() {
    // The panic message of the crashing worker is expected: keep it short.
    std::panic::set_hook(Box::new(|info| eprintln!("  (panic: {info})")));
    let print: Arc<dyn Fn(&Event) + Send + Sync> = Arc::new(|e| println!("  event: {e}"));

    let ticker = ChildSpec::task("ticker", |stop| async move {
        stop.cancelled().await;
        ExitReason::Shutdown
    });
    let flaky = ChildSpec::task("flaky", |stop| async move {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => panic!("flaky worker crashed"),
            () = stop.cancelled() => ExitReason::Shutdown,
        }
    });
    let inner = Supervisor::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(5))
        .observer(print.clone())
        .child(flaky);

    println!("starting: root (one_for_one) -> [ticker, inner (one_for_one, 2 restarts / 5 s) -> [flaky]]");
    let root = Supervisor::new(Strategy::OneForOne)
        .name("root")
        .intensity(1, Duration::from_secs(5))
        .observer(print)
        .child(ticker)
        .child(inner.into_child_spec("inner"))
        .start()
        .await
        .expect("the tree starts");

    println!("flaky crashes every 50 ms; inner restarts it twice, then gives up; root restarts inner once...");
    let reason = root.wait().await;
    println!("root exited: {reason} (its own intensity, 1 restart in 5 s, was exceeded)");
}
