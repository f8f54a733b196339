//! Shared test doubles: a server handle that knows its incarnation, and
//! servers run as plain tokio tasks holding their registration.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use atlas_registry::{AlreadyRegistered, Registration, Registry};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server's handle in tests: which incarnation it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handle {
    pub incarnation: u64,
}

impl Handle {
    pub fn new(incarnation: u64) -> Self {
        Self { incarnation }
    }
}

/// A fresh incarnation number for each call.
#[derive(Clone, Debug, Default)]
pub struct Incarnations(Arc<AtomicU64>);

impl Incarnations {
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// How a test server ends.
#[derive(Debug)]
pub enum End {
    Normal,
    Panic,
}

/// A server task that registered `key` and holds its guard until told how
/// to end (or is aborted; dropping `end` leaves it running).
pub struct Server {
    pub handle: Handle,
    pub task: JoinHandle<()>,
    pub end: oneshot::Sender<End>,
}

/// Registers `key` as incarnation `n` and runs the server as a task.
pub fn spawn_server(
    registry: &Registry<String, Handle>,
    key: &str,
    n: u64,
) -> Result<Server, AlreadyRegistered<Handle>> {
    let handle = Handle::new(n);
    let registration = registry.register(key.to_owned(), handle.clone())?;
    let (end, rx) = oneshot::channel();
    let task = tokio::spawn(serve(registration, rx));
    Ok(Server { handle, task, end })
}

async fn serve(registration: Registration<String, Handle>, end: oneshot::Receiver<End>) {
    let _registration = registration;
    match end.await {
        Ok(End::Panic) => panic!("server crashed"),
        Ok(End::Normal) => {}
        // Nobody will tell it to end: it runs until aborted.
        Err(_) => std::future::pending().await,
    }
}

/// Keeps the default panic hook from printing test servers' deliberate
/// panics.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            if !msg.contains("crashed") {
                default(info);
            }
        }));
    });
}
