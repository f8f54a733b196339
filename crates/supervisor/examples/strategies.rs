//! Each restart strategy, on the same tree: what happens when the middle
//! of three children (a, b, c) is killed.
//!
//! - `one_for_one`: only b is restarted.
//! - `one_for_all`: c and a are stopped (reverse start order), then a, b, c start.
//! - `rest_for_one`: c is stopped, then b and c start.
//!
//! cargo run -p atlas-supervisor --example strategies

use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{ChildSpec, Event, EventKind, ExitReason, Shutdown, Strategy, Supervisor};
use tokio::sync::mpsc;

fn worker(id: &'static str) -> ChildSpec {
    ChildSpec::task(id, |stop| async move {
        stop.cancelled().await;
        ExitReason::Shutdown
    })
    .shutdown(Shutdown::Timeout(Duration::from_secs(1)))
}

#[tokio::main]
async fn main() {
    for strategy in [Strategy::OneForOne, Strategy::OneForAll, Strategy::RestForOne] {
        println!("== {strategy:?}");
        let (tx, mut events) = mpsc::unbounded_channel::<Event>();
        let observer: Arc<dyn Fn(&Event) + Send + Sync> = Arc::new(move |e| {
            let _ = tx.send(e.clone());
        });
        let sup = Supervisor::new(strategy)
            .intensity(3, Duration::from_secs(5))
            .observer(observer)
            .child(worker("a"))
            .child(worker("b"))
            .child(worker("c"))
            .start()
            .await
            .expect("starts");
        let b = sup.child("b").await.expect("alive");
        let b = b.child_ref().expect("running");
        println!("   kill b");
        b.kill();
        // Print events until the last child of the group has started again.
        let last = if strategy == Strategy::OneForOne { "b" } else { "c" };
        let mut seen_kill = false;
        while let Some(e) = events.recv().await {
            seen_kill |= matches!(e.kind, EventKind::Exited(ExitReason::Killed));
            if seen_kill {
                println!("   {e}");
            }
            if seen_kill && e.kind == EventKind::Started && &*e.child == last {
                break;
            }
        }
        sup.shutdown().await;
    }
}
