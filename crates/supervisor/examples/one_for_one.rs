//! `one_for_one`: what happens when the middle of three children is killed.
//! Expected: only b is restarted.
//!
//! cargo run -p atlas-supervisor --example one_for_one

use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{ChildSpec, Event, ExitReason, Strategy, Supervisor};

fn worker(id: &'static str) -> ChildSpec {
    ChildSpec::task(id, |stop| async move {
        stop.cancelled().await;
        ExitReason::Shutdown
    })
    .shutdown(atlas_supervisor::Shutdown::Timeout(Duration::from_secs(1)))
}

#[tokio::main]
async fn main() {
    let observer: Arc<dyn Fn(&Event) + Send + Sync> = Arc::new(|e| println!("  {e}"));
    let sup = Supervisor::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(5))
        .observer(observer)
        .child(worker("a"))
        .child(worker("b"))
        .child(worker("c"))
        .start()
        .await
        .expect("starts");
    println!("-- killing b");
    let b = sup.which_children().await.expect("alive")[1]
        .child_ref()
        .cloned()
        .expect("running");
    b.kill();
    // Let the restart happen, then show the tree.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for c in sup.which_children().await.expect("alive") {
        println!("-- {} running: {}", c.id, c.child_ref().is_some());
    }
    println!("-- shutdown (reverse start order)");
    sup.shutdown().await;
}
