//! kameo 0.22: a supervisor actor with children spawned by
//! `Actor::supervise` (one_for_one, `RestartPolicy::Permanent`).

use std::time::{Duration, Instant};

use kameo::actor::{Actor, ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::message::{Context, Message};
use kameo::supervision::RestartPolicy;

use crate::restart::{Contender, IdleKind, UpTx};

/// The supervisor: an actor with no state of its own (one_for_one is
/// kameo's default strategy).
pub struct Sup;

impl Actor for Sup {
    type Args = ();
    type Error = Infallible;

    async fn on_start((): (), _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Sup)
    }
}

/// The supervised child: reports from `on_start` (kameo's `init`) and
/// fails when it handles [`Crash`].
#[derive(Clone)]
pub struct Worker {
    up: Option<UpTx<ActorRef<Worker>>>,
}

impl Actor for Worker {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(state: Self, me: ActorRef<Self>) -> Result<Self, Infallible> {
        if let Some(up) = &state.up {
            let _ = up.send((Instant::now(), me));
        }
        Ok(state)
    }
}

/// Makes a [`Worker`] return an error from its handler: kameo stops the
/// actor as panicked and its supervisor restarts it.
pub struct Crash;

impl Message<Crash> for Worker {
    type Reply = Result<(), &'static str>;

    async fn handle(&mut self, _: Crash, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        Err("crash")
    }
}

/// kameo as a [`Contender`].
pub struct Kameo;

impl Contender for Kameo {
    type Crash = ActorRef<Worker>;
    type Sup = ActorRef<Sup>;

    async fn start(&self, period: Duration, up: UpTx<Self::Crash>) -> ActorRef<Sup> {
        let sup = Sup::spawn(());
        Worker::supervise(&sup, Worker { up: Some(up) })
            .restart_policy(RestartPolicy::Permanent)
            .restart_limit(1_000_000_000, period)
            .spawn()
            .await;
        sup
    }

    fn crash(&self, worker: ActorRef<Worker>) {
        worker.tell(Crash).try_send().expect("the worker's mailbox has room");
    }

    async fn stop(&self, sup: ActorRef<Sup>) {
        let _ = sup.stop_gracefully().await;
        sup.wait_for_shutdown().await;
    }
}

/// Idle supervised actors under one supervisor actor, each with kameo's
/// default mailbox (bounded, 64).
pub struct IdleActor;

impl IdleKind for IdleActor {
    type Sup = ActorRef<Sup>;
    type Handle = ActorRef<Worker>;

    async fn start_sup(&self) -> ActorRef<Sup> {
        Sup::spawn(())
    }

    async fn start_child(&self, sup: &ActorRef<Sup>) -> ActorRef<Worker> {
        let worker = Worker::supervise(sup, Worker { up: None }).spawn().await;
        worker.wait_for_startup().await;
        worker
    }

    async fn stop(&self, sup: ActorRef<Sup>) {
        let _ = sup.stop_gracefully().await;
        sup.wait_for_shutdown().await;
    }
}
