//! ractor 0.16 with ractor-supervisor 0.2: a static `Supervisor`
//! (one_for_one) for the restart bench, a `DynamicSupervisor` for the idle
//! children. ractor names every supervised actor in its global registry,
//! so each supervisor and child here gets a name of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};
use ractor_supervisor::{
    ChildSpec, DynamicSupervisor, DynamicSupervisorMsg, DynamicSupervisorOptions, Restart, SpawnFn, Supervisor,
    SupervisorArguments, SupervisorMsg, SupervisorOptions, SupervisorStrategy,
};

use crate::restart::{Contender, IdleKind, UpTx};

/// A fresh actor name: ractor's registry is global to the process.
fn fresh_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The only message of [`Worker`]: handling it fails the actor.
pub struct Crash;

/// The supervised child: reports from `pre_start` (ractor's `init`) and
/// returns an error from its handler when it receives [`Crash`].
pub struct Worker;

#[ractor::async_trait]
impl Actor for Worker {
    type Msg = Crash;
    type State = ();
    type Arguments = Option<UpTx<ActorRef<Crash>>>;

    async fn pre_start(&self, me: ActorRef<Crash>, up: Self::Arguments) -> Result<(), ActorProcessingErr> {
        if let Some(up) = up {
            let _ = up.send((Instant::now(), me));
        }
        Ok(())
    }

    async fn handle(&self, _: ActorRef<Crash>, _: Crash, _: &mut ()) -> Result<(), ActorProcessingErr> {
        Err("crash".into())
    }
}

async fn spawn_worker(sup: ActorCell, id: String, up: Option<UpTx<ActorRef<Crash>>>) -> Result<ActorCell, SpawnErr> {
    let (worker, _) = Supervisor::spawn_linked(id, Worker, up, sup).await?;
    Ok(worker.get_cell())
}

fn spec(id: String, up: Option<UpTx<ActorRef<Crash>>>) -> ChildSpec {
    ChildSpec {
        id,
        restart: Restart::Permanent,
        spawn_fn: SpawnFn::new(move |sup, id| spawn_worker(sup, id, up.clone())),
        backoff_fn: None,
        reset_after: None,
    }
}

/// ractor-supervisor as a [`Contender`].
pub struct Ractor;

impl Contender for Ractor {
    type Crash = ActorRef<Crash>;
    type Sup = (ActorRef<SupervisorMsg>, JoinHandle<()>);

    async fn start(&self, period: Duration, up: UpTx<Self::Crash>) -> Self::Sup {
        let args = SupervisorArguments {
            child_specs: vec![spec(fresh_name("bench-worker"), Some(up))],
            options: SupervisorOptions {
                strategy: SupervisorStrategy::OneForOne,
                max_restarts: 1_000_000_000,
                max_window: period,
                reset_after: None,
            },
        };
        Supervisor::spawn(fresh_name("bench-sup"), args).await.expect("starts")
    }

    fn crash(&self, worker: ActorRef<Crash>) {
        worker.cast(Crash).expect("the worker runs");
    }

    async fn stop(&self, (sup, handle): Self::Sup) {
        sup.stop(None);
        let _ = handle.await;
    }
}

/// Idle children under a ractor-supervisor `DynamicSupervisor`.
pub struct IdleActor;

impl IdleKind for IdleActor {
    type Sup = (ActorRef<DynamicSupervisorMsg>, JoinHandle<()>);
    type Handle = ();

    async fn start_sup(&self) -> Self::Sup {
        let options = DynamicSupervisorOptions {
            max_children: None,
            max_restarts: 20,
            max_window: Duration::from_secs(60),
            reset_after: None,
        };
        DynamicSupervisor::spawn(fresh_name("bench-dynsup"), options)
            .await
            .expect("starts")
    }

    async fn start_child(&self, (sup, _): &Self::Sup) {
        DynamicSupervisor::spawn_child(sup.clone(), spec(fresh_name("bench-idle"), None))
            .await
            .expect("starts");
    }

    async fn stop(&self, (sup, handle): Self::Sup) {
        sup.stop(None);
        let _ = handle.await;
    }
}
