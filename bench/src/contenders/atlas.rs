//! atlas-supervisor.

use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{
    Child, ChildSpec, DynamicSupervisor, DynamicSupervisorRef, ExitReason, Strategy, Supervisor, SupervisorRef,
};
use tokio::sync::{mpsc, oneshot};

use crate::restart::{Contender, IdleKind, UpTx};

/// A `Supervisor` (one_for_one) with one permanent worker that reports from
/// its start function and exits with an error when told.
pub struct Atlas;

impl Contender for Atlas {
    type Crash = oneshot::Sender<()>;
    type Sup = SupervisorRef;

    async fn start(&self, period: Duration, up: UpTx<Self::Crash>) -> SupervisorRef {
        Supervisor::new(Strategy::OneForOne)
            .intensity(1_000_000_000, period)
            .child(crashing_worker(up))
            .start()
            .await
            .expect("starts")
    }

    fn crash(&self, crash: Self::Crash) {
        let _ = crash.send(());
    }

    async fn stop(&self, sup: SupervisorRef) {
        sup.shutdown().await;
    }
}

fn crashing_worker(up: UpTx<oneshot::Sender<()>>) -> ChildSpec {
    let reason: Arc<str> = "crash".into();
    ChildSpec::worker("w", move |ctx| {
        let (up, reason) = (up.clone(), reason.clone());
        async move {
            let (kill_tx, kill_rx) = oneshot::channel();
            let _ = up.send((std::time::Instant::now(), kill_tx));
            let stop = ctx.shutdown_signal();
            Ok(Child::new(async move {
                tokio::select! {
                    _ = kill_rx => ExitReason::Error(reason),
                    () = stop.cancelled() => ExitReason::Shutdown,
                }
            }))
        }
    })
}

/// Bare tasks under a `DynamicSupervisor`: each child waits for its
/// shutdown signal and nothing else (no mailbox).
pub struct BareTask;

impl IdleKind for BareTask {
    type Sup = (DynamicSupervisorRef, ChildSpec);
    type Handle = atlas_supervisor::ChildRef;

    async fn start_sup(&self) -> Self::Sup {
        let dsup = DynamicSupervisor::new().intensity(20, Duration::from_secs(60)).start();
        let spec = ChildSpec::task("idle", |stop| async move {
            stop.cancelled().await;
            ExitReason::Shutdown
        });
        (dsup, spec)
    }

    async fn start_child(&self, (dsup, spec): &Self::Sup) -> Self::Handle {
        dsup.start_child(spec.clone()).await.expect("starts")
    }

    async fn stop(&self, (dsup, _): Self::Sup) {
        dsup.shutdown().await;
    }
}

/// A message to an idle server (never sent: the mailbox only has to exist).
#[derive(Debug)]
pub struct Ping;

/// Children with a mailbox under a `DynamicSupervisor`: each creates a
/// bounded tokio channel (capacity 64, kameo's default) in its start
/// function, hands the sender to its caller (as a server registers its
/// address) and serves it until shut down: the peer of a `gen_server`.
pub struct Mailbox;

impl IdleKind for Mailbox {
    type Sup = (
        DynamicSupervisorRef,
        ChildSpec,
        tokio::sync::Mutex<mpsc::UnboundedReceiver<mpsc::Sender<Ping>>>,
    );
    type Handle = (atlas_supervisor::ChildRef, mpsc::Sender<Ping>);

    async fn start_sup(&self) -> Self::Sup {
        let dsup = DynamicSupervisor::new().intensity(20, Duration::from_secs(60)).start();
        let (addr_tx, addr_rx) = mpsc::unbounded_channel();
        let spec = ChildSpec::worker("server", move |ctx| {
            let addr_tx = addr_tx.clone();
            async move {
                let (tx, mut rx) = mpsc::channel::<Ping>(64);
                let _ = addr_tx.send(tx);
                let stop = ctx.shutdown_signal();
                Ok(Child::new(async move {
                    loop {
                        tokio::select! {
                            msg = rx.recv() => if msg.is_none() { stop.cancelled().await; break },
                            () = stop.cancelled() => break,
                        }
                    }
                    ExitReason::Shutdown
                }))
            }
        });
        (dsup, spec, tokio::sync::Mutex::new(addr_rx))
    }

    async fn start_child(&self, (dsup, spec, addrs): &Self::Sup) -> Self::Handle {
        let child = dsup.start_child(spec.clone()).await.expect("starts");
        let addr = addrs.lock().await.recv().await.expect("the server's address");
        (child, addr)
    }

    async fn stop(&self, (dsup, _, _): Self::Sup) {
        dsup.shutdown().await;
    }
}
