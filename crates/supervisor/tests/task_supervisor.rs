//! TaskSupervisor: fire-and-forget tasks, contained panics, waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_supervisor::{ChildSpec, Closed, Strategy, Supervisor, TaskSupervisor};
use tokio::sync::oneshot;

#[tokio::test]
async fn counts_live_tasks_and_waits_until_none_is_left() {
    let ts = TaskSupervisor::new("tasks");
    let done = Arc::new(AtomicUsize::new(0));
    let mut gates = Vec::new();
    for _ in 0..5 {
        let (tx, rx) = oneshot::channel::<()>();
        gates.push(tx);
        let done = done.clone();
        ts.spawn(async move {
            let _ = rx.await;
            done.fetch_add(1, Ordering::SeqCst);
        })
        .expect("open");
    }
    assert_eq!(ts.live(), 5);
    drop(gates);
    ts.wait_idle().await;
    assert_eq!(ts.live(), 0);
    assert_eq!(done.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_panicking_task_is_contained() {
    let ts = TaskSupervisor::new("tasks");
    ts.spawn(async { panic!("task panics") }).expect("open");
    ts.wait_idle().await;
    let (tx, rx) = oneshot::channel();
    ts.spawn(async move {
        let _ = tx.send(7);
    })
    .expect("still open after a panic");
    assert_eq!(rx.await.expect("ran"), 7);
}

#[tokio::test(start_paused = true)]
async fn shutdown_refuses_new_tasks_and_aborts_stragglers() {
    let ts = TaskSupervisor::new("tasks");
    ts.spawn(std::future::pending()).expect("open");
    assert_eq!(ts.shutdown(Duration::from_millis(10)).await, 1);
    assert_eq!(ts.spawn(async {}), Err(Closed));
    ts.wait_idle().await;
}

#[tokio::test]
async fn as_a_supervised_child_it_drains_on_stop() {
    let slot: Arc<parking_lot::Mutex<Option<TaskSupervisor>>> = Arc::default();
    let s = slot.clone();
    let sup = Supervisor::new(Strategy::OneForOne)
        .child(ChildSpec::worker("tasks", move |ctx| {
            let (ts, child) = TaskSupervisor::start_linked("tasks", ctx);
            *s.lock() = Some(ts);
            async move { Ok(child) }
        }))
        .start()
        .await
        .expect("starts");
    let ts = slot.lock().clone().expect("published");
    let (tx, rx) = oneshot::channel::<()>();
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    ts.spawn(async move {
        let _ = rx.await;
        f.fetch_add(1, Ordering::SeqCst);
    })
    .expect("open");
    let stopping = tokio::spawn({
        let sup = sup.clone();
        async move { sup.shutdown().await }
    });
    tokio::task::yield_now().await;
    assert_eq!(finished.load(Ordering::SeqCst), 0, "shutdown waits for the live task");
    tx.send(()).expect("task waits");
    stopping.await.expect("joins");
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert!(!ts.is_open());
}

#[test]
fn a_task_that_finishes_before_spawn_returns_is_not_counted_as_live() {
    // A multi-thread runtime: the task may finish on a worker before
    // `spawn` has recorded it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let ts = TaskSupervisor::new("tasks");
    let _enter = rt.enter();
    for _ in 0..2_000 {
        ts.spawn(async {}).expect("open");
    }
    rt.block_on(ts.wait_idle());
    assert_eq!(ts.live(), 0);
}

#[test]
fn spawning_onto_a_runtime_that_is_shutting_down_does_not_deadlock() {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let handle = rt.handle().clone();
    rt.shutdown_background();
    let ts = TaskSupervisor::new("tasks");
    let _enter = handle.enter();
    // The future is dropped inside tokio::spawn; its guard must not
    // need a lock this thread holds.
    ts.spawn(async {}).expect("open");
    assert_eq!(ts.live(), 0);
}

/// `spawn` racing `shutdown` on another thread: every task that `spawn`
/// accepted has ended (run or aborted) by the time `shutdown` returns.
#[test]
fn every_accepted_task_has_ended_when_shutdown_returns() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for _ in 0..50 {
        let ts = TaskSupervisor::new("tasks");
        let ended = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (ts, ended, accepted) = (ts.clone(), ended.clone(), accepted.clone());
            let handle = rt.handle().clone();
            std::thread::spawn(move || {
                let _enter = handle.enter();
                loop {
                    let guard = Ended(ended.clone());
                    let task = async move {
                        tokio::task::yield_now().await;
                        drop(guard);
                    };
                    match ts.spawn(task) {
                        Ok(()) => accepted.fetch_add(1, Ordering::SeqCst),
                        Err(Closed) => break,
                    };
                }
            })
        };
        // Let the spawner get going, then shut down under it.
        while accepted.load(Ordering::SeqCst) < 20 {
            std::thread::yield_now();
        }
        rt.block_on(ts.shutdown(Duration::from_secs(10)));
        let ended_at_shutdown = ended.load(Ordering::SeqCst);
        spawner.join().expect("spawner");
        assert_eq!(
            ended_at_shutdown,
            accepted.load(Ordering::SeqCst),
            "accepted tasks outlived shutdown"
        );
    }
}

/// Counts a task as ended when its future is dropped (run or aborted) in
/// its task; a refused task, dropped by `spawn` on the caller's thread,
/// does not count.
struct Ended(Arc<AtomicUsize>);

impl Drop for Ended {
    fn drop(&mut self) {
        if tokio::task::try_id().is_some() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
