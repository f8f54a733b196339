//! Owner crash and restart under concurrent readers and writers: no panic,
//! and no value of an ended incarnation is ever seen in a later one.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use atlas_cache::Table;
use support::{guard, owner_ref, supervised, until};

/// Values are `(incarnation the writer was bound to, sequence)`; writes
/// through a following (unbound) handle carry `FOLLOWING` instead.
type T = Table<u32, (u64, u64)>;
const FOLLOWING: u64 = u64::MAX;
const KEYS: u32 = 64;
const KILLS: u64 = 25;

/// Writes through a handle bound to the incarnation it observed, and some
/// through the following handle; counts the writes that landed.
async fn writer(table: T, id: u64, stop: Arc<AtomicBool>, landed: Arc<AtomicU64>) {
    let mut n = id;
    while !stop.load(Ordering::Relaxed) {
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let key = (n >> 33) as u32 % KEYS;
        if let Ok(bound) = table.bind_current() {
            let Some(inc) = bound.incarnation() else { continue };
            for i in 0..8 {
                if bound.insert(key.wrapping_add(i) % KEYS, (inc, n)).is_ok() {
                    landed.fetch_add(1, Ordering::Relaxed);
                }
            }
            if n % 5 == 0 {
                let _ = bound.remove(&key);
            }
        }
        let _ = table.insert(key ^ 1, (FOLLOWING, n));
        tokio::task::yield_now().await;
    }
}

/// Checks every read: a value never carries an incarnation older than one
/// this reader had already observed, and a bound read only sees its own.
async fn reader(table: T, stop: Arc<AtomicBool>, reads: Arc<AtomicU64>) {
    let mut seen_at_least = 0;
    while !stop.load(Ordering::Relaxed) {
        for key in 0..KEYS {
            if let Some(inc) = table.incarnation() {
                seen_at_least = seen_at_least.max(inc);
            }
            if let Some((tag, _)) = table.get_with(&key, |v| *v) {
                assert!(
                    tag == FOLLOWING || tag >= seen_at_least,
                    "read a value of incarnation {tag} after observing {seen_at_least}"
                );
            }
            if let Ok(bound) = table.bind_current() {
                let Some(inc) = bound.incarnation() else { continue };
                if let Some((tag, _)) = bound.get(&key) {
                    assert!(tag == FOLLOWING || tag == inc, "bound to {inc}, read {tag}");
                }
            }
            let g = table.guard();
            if let Some(inc) = g.incarnation() {
                for (_, (tag, _)) in g.iter() {
                    assert!(*tag == FOLLOWING || *tag == inc, "guard of {inc} iterated {tag}");
                }
            }
            drop(g);
            reads.fetch_add(1, Ordering::Relaxed);
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_owner_under_load_never_leaks_an_old_value() {
    let table = T::new();
    let sup = supervised(&table).await;
    let stop = Arc::new(AtomicBool::new(false));
    let landed = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for id in 0..3 {
        tasks.push(tokio::spawn(writer(table.clone(), id, stop.clone(), landed.clone())));
        tasks.push(tokio::spawn(reader(table.clone(), stop.clone(), reads.clone())));
    }

    for round in 1..=KILLS {
        // Let the load run in this incarnation before killing it.
        let (w0, r0) = (landed.load(Ordering::Relaxed), reads.load(Ordering::Relaxed));
        until("writes and reads in this incarnation", || {
            landed.load(Ordering::Relaxed) > w0 + 200 && reads.load(Ordering::Relaxed) > r0 + 200
        })
        .await;
        owner_ref(&sup).await.kill();
        until("the restarted owner", || table.incarnation() == Some(round + 1)).await;

        // Whatever is in the new table was written in the new incarnation.
        let g = table.guard();
        if let Some(inc) = g.incarnation() {
            for (key, (tag, _)) in g.iter() {
                assert!(
                    *tag == FOLLOWING || *tag == inc,
                    "key {key}: tag {tag} in incarnation {inc}"
                );
            }
        }
    }

    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        guard("a load task", task).await.expect("no task panicked");
    }
    assert_eq!(table.incarnation(), Some(KILLS + 1));
    sup.shutdown().await;
    assert!(!table.is_live());
    assert_eq!(table.len(), 0);
}
