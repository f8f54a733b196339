//! Chaos: callers keep asking for tokens while the tree's children and the
//! AppServers are killed again and again (paced to stay inside the
//! restart intensities, so giving up is not the expected outcome). Every
//! call must end, with a token or a defined error; nothing panics; and the
//! stack answers normally once the chaos stops.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::TokenError;
use support::{fly, Fixture};

const APPS: [&str; 5] = ["app-a", "app-b", "app-c", "app-d", "app-e"];

#[tokio::test(start_paused = true)]
async fn callers_survive_repeated_crashes_of_every_part_of_the_tree() {
    let cli = FakeCli::succeeding(&fly("chaos")).with_delay(Duration::from_millis(30));
    let f = Arc::new(Fixture::with(cli, |c| c).await);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, server_down, calls) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let invalidations = Arc::new(AtomicUsize::new(0));

    let mut callers = Vec::new();
    for c in 0..8usize {
        let (f, stop, ok, server_down, calls, invalidations) = (
            f.clone(),
            stop.clone(),
            ok.clone(),
            server_down.clone(),
            calls.clone(),
            invalidations.clone(),
        );
        callers.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::SeqCst) {
                let app = APPS[i % APPS.len()];
                i = i.wrapping_mul(7).wrapping_add(3);
                calls.fetch_add(1, Ordering::SeqCst);
                let call = async {
                    match i % 10 {
                        0 => {
                            invalidations.fetch_add(1, Ordering::SeqCst);
                            f.tokens.invalidate(app).await.map(|()| None)
                        }
                        1 => {
                            invalidations.fetch_add(1, Ordering::SeqCst);
                            f.tokens.refresh(app).await.map(Some)
                        }
                        _ => f.tokens.get(app).await.map(Some),
                    }
                };
                // A hang guard, far above anything a call should take.
                let result = tokio::time::timeout(Duration::from_secs(60), call)
                    .await
                    .unwrap_or_else(|_| panic!("a call on {app} hung"));
                match result {
                    Ok(Some(token)) => {
                        assert_eq!(token.expose(), fly("chaos"), "only the minted token is ever handed out");
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(None) => {}
                    // The server answering this call was killed under it: a
                    // defined outcome, and the caller may simply retry.
                    Err(TokenError::ServerDown(_)) => {
                        server_down.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("unexpected error for {app}: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    // The chaos: each root child in turn (rest_for_one restarts), paced at
    // 2.5 s to stay within the root's 3 restarts / 5 s; and an AppServer
    // every other round, within the apps' 20 / 60 s.
    let root_children = ["table", "apps", "tasks", "registry"];
    for round in 0..24usize {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let id = root_children[round % root_children.len()];
        let child = f.tokens.supervisor().child(id).await.expect("the root runs");
        child.child_ref().expect("every root child runs between kills").kill();
        if round % 2 == 0 {
            if let Some(server) = f.tokens.whereis(APPS[round % APPS.len()]) {
                server.kill();
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        c.await.expect("no caller panicked");
    }

    assert!(f.tokens.supervisor().is_alive(), "the root never had to give up");
    // After the chaos every app resolves, without errors.
    for app in APPS {
        let token = tokio::time::timeout(Duration::from_secs(60), f.tokens.get(app))
            .await
            .expect("no hang after the chaos")
            .expect("a token after the chaos");
        assert_eq!(token.expose(), fly("chaos"));
    }
    let (ok, down, total) = (
        ok.load(Ordering::SeqCst),
        server_down.load(Ordering::SeqCst),
        calls.load(Ordering::SeqCst),
    );
    assert!(
        ok > total / 2,
        "most calls got a token: {ok} of {total} ({down} ServerDown)"
    );
    // The CLI runs for cold apps, after invalidations and refreshes, and at
    // most once more per kill that lost a token in flight: never per call.
    let bound = APPS.len() + invalidations.load(Ordering::SeqCst) + 24 * 2;
    assert!(f.cli.calls() <= bound, "CLI calls {} > {bound}", f.cli.calls());
}

/// The same on a real multi-threaded runtime, with real time: fewer kills
/// (the intensities hold in real seconds), but callers, servers and the
/// tree really run in parallel on two threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_survive_crashes_on_a_multi_threaded_runtime() {
    let cli = FakeCli::succeeding(&fly("chaos")).with_delay(Duration::from_millis(2));
    let f = Arc::new(Fixture::with(cli, |c| c).await);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for c in 0..6usize {
        let (f, stop, ok) = (f.clone(), stop.clone(), ok.clone());
        callers.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::SeqCst) {
                let app = APPS[i % APPS.len()];
                i = i.wrapping_mul(7).wrapping_add(3);
                let call = async {
                    if i % 10 == 0 {
                        f.tokens.invalidate(app).await.map(|()| None)
                    } else {
                        f.tokens.get(app).await.map(Some)
                    }
                };
                let result = tokio::time::timeout(Duration::from_secs(30), call)
                    .await
                    .unwrap_or_else(|_| panic!("a call on {app} hung"));
                match result {
                    Ok(Some(token)) => {
                        assert_eq!(token.expose(), fly("chaos"));
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(None) | Err(TokenError::ServerDown(_)) => {}
                    Err(e) => panic!("unexpected error for {app}: {e}"),
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    // 15 AppServer kills (the apps allow 20 in 60 s) and one kill of each
    // of three root children (the root allows 3 in 5 s), interleaved.
    for round in 0..15usize {
        tokio::time::sleep(Duration::from_millis(15)).await;
        if let Some(server) = f.tokens.whereis(APPS[round % APPS.len()]) {
            server.kill();
        }
        if round % 5 == 4 {
            let id = ["table", "tasks", "registry"][round / 5];
            let child = f.tokens.supervisor().child(id).await.expect("the root runs");
            if let Some(child) = child.child_ref() {
                child.kill();
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        c.await.expect("no caller panicked");
    }
    assert!(f.tokens.supervisor().is_alive(), "the root never had to give up");
    assert!(ok.load(Ordering::SeqCst) > 0);
    for app in APPS {
        let token = tokio::time::timeout(Duration::from_secs(30), f.tokens.get(app))
            .await
            .expect("no hang after the chaos")
            .expect("a token after the chaos");
        assert_eq!(token.expose(), fly("chaos"));
    }
}
