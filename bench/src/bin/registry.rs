//! atlas-registry beside what a Rust user would otherwise reach for
//! (`parking_lot::RwLock<HashMap>`, `dashmap`) and beside real OTP's
//! ETS-based unique registry: lookups of an existing key (uniform over 1,000
//! keys and one hot key), `start_or_lookup` on an existing key, and
//! register + lookup + unregister cycles, on 1 and 2 threads.
//!
//! cargo run --release -p atlas-bench --bin registry -- [--quick] [--json]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use atlas_bench::otp::{self, Work};
use atlas_bench::{median, on_threads, Opts};
use atlas_registry::Registry;
use dashmap::DashMap;
use parking_lot::RwLock;

/// A server handle as the token stack holds one: a shared pointer.
#[derive(Clone)]
struct Handle(#[allow(dead_code)] Arc<u64>);

const KEYS: usize = 1_000;

/// The access order of each thread: a fixed pseudo-random walk over the
/// keys (a different one per thread), or the hot key only.
fn order(thread: usize, len: usize, hot: bool) -> Vec<usize> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ (thread as u64 + 1);
    (0..4096)
        .map(|_| {
            if hot {
                return 123;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % len as u64) as usize
        })
        .collect()
}

/// Runs `op` `iters` times on each of `threads` threads, `reps` times;
/// returns (median ns per op on one thread, median total ops/s).
fn measure(threads: usize, iters: usize, reps: usize, hot: bool, op: impl Fn(usize) + Sync) -> (f64, f64) {
    let orders: Vec<Vec<usize>> = (0..threads).map(|t| order(t, KEYS, hot)).collect();
    // Warm up caches, branch predictors and the CPU's clock first.
    on_threads(threads, |t| {
        for i in 0..iters / 4 {
            op(orders[t][i & 4095]);
        }
    });
    let (mut ns, mut rate) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let wall = on_threads(threads, |t| {
            let order = &orders[t];
            for i in 0..iters {
                op(order[i & 4095]);
            }
        });
        ns.push(wall / iters as f64);
        rate.push((threads * iters) as f64 / (wall / 1e9));
    }
    (median(&ns), median(&rate))
}

/// `start_or_lookup` on an existing key, polled once with a no-op waker
/// (it completes on its first poll); `None` if it did not.
#[inline(never)]
fn start_or_lookup_once(registry: &Registry<String, Handle>, key: &String) -> Option<Handle> {
    let mut cx = Context::from_waker(Waker::noop());
    let never_called = || async { Err::<(), ()>(()) };
    match pin!(registry.start_or_lookup(key, never_called)).poll(&mut cx) {
        Poll::Ready(Ok(h)) => Some(h),
        _ => None,
    }
}

fn lookups(opts: &Opts) {
    let iters = opts.pick(5_000_000, 1_000_000);
    let reps = opts.samples();
    let names: Vec<String> = (0..KEYS).map(|i| format!("app-{i}")).collect();
    let handles: Vec<Handle> = (0..KEYS).map(|i| Handle(Arc::new(i as u64))).collect();

    let registry: Registry<String, Handle> = Registry::new();
    let _guards: Vec<_> = names
        .iter()
        .zip(&handles)
        .map(|(k, h)| registry.register(k.clone(), h.clone()).expect("distinct keys"))
        .collect();
    let rwlock: RwLock<HashMap<String, Handle>> =
        RwLock::new(names.iter().cloned().zip(handles.iter().cloned()).collect());
    let dash: DashMap<String, Handle> = names.iter().cloned().zip(handles.iter().cloned()).collect();

    opts.section("registry lookup of an existing key (handle cloned out: an Arc)");
    opts.note("keys like `app-123`, 1,000 of them; `uniform` walks them pseudo-randomly, `hot` is one key");
    opts.note("anchors: dashmap::DashMap::get + clone, parking_lot::RwLock<HashMap> read + get + clone");
    for hot in [false, true] {
        let pattern = if hot { "hot key" } else { "uniform" };
        for threads in [1, 2] {
            let reg = measure(threads, iters, reps, hot, |i| {
                black_box(registry.lookup(names[i].as_str()));
            });
            let with = measure(threads, iters, reps, hot, |i| {
                black_box(registry.with(names[i].as_str(), |h| black_box(Arc::as_ptr(&h.0))));
            });
            let dm = measure(threads, iters, reps, hot, |i| {
                black_box(dash.get(names[i].as_str()).map(|h| h.clone()));
            });
            let rw = measure(threads, iters, reps, hot, |i| {
                black_box(rwlock.read().get(names[i].as_str()).cloned());
            });
            let t = format!("{pattern}, {threads} thr");
            opts.report(&format!("lookup, {t}"), reg.0, "ns/op", "dashmap get+clone", dm.0);
            opts.report(
                &format!("lookup, {t}"),
                reg.0,
                "ns/op",
                "RwLock<HashMap> get+clone",
                rw.0,
            );
            opts.report(
                &format!("lookup, {t}, total"),
                reg.1 / 1e6,
                "M/s",
                "dashmap get+clone, total",
                dm.1 / 1e6,
            );
            opts.report(
                &format!("lookup, {t}, total"),
                reg.1 / 1e6,
                "M/s",
                "RwLock<HashMap>, total",
                rw.1 / 1e6,
            );
            opts.report(
                &format!("with (borrowed handle), {t}, total"),
                with.1 / 1e6,
                "M/s",
                "dashmap get (borrowed), total",
                measure(threads, iters, reps, hot, |i| {
                    black_box(dash.get(names[i].as_str()).map(|h| black_box(Arc::as_ptr(&h.0))));
                })
                .1 / 1e6,
            );
        }
    }

    opts.section("start_or_lookup on an existing key (the caller's first poll completes it)");
    let probe = registry.start_or_lookup(&names[0], || async { Err::<(), ()>(()) });
    opts.note(&format!("size of its future: {} bytes", std::mem::size_of_val(&probe)));
    drop(probe);
    for threads in [1, 2] {
        let sol = measure(threads, iters, reps, false, |i| {
            black_box(start_or_lookup_once(&registry, &names[i]));
        });
        let lk = measure(threads, iters, reps, false, |i| {
            black_box(registry.lookup(names[i].as_str()));
        });
        let t = format!("uniform, {threads} thr");
        opts.report(
            &format!("start_or_lookup, {t}"),
            sol.0,
            "ns/op",
            "registry lookup",
            lk.0,
        );
        let dm = measure(threads, iters, reps, false, |i| {
            black_box(dash.get(names[i].as_str()).map(|h| h.clone()));
        });
        opts.report(
            &format!("start_or_lookup, {t}"),
            sol.0,
            "ns/op",
            "dashmap get+clone",
            dm.0,
        );
    }
}

/// Register + lookup + unregister of `work.reg_keys` distinct keys per
/// thread, once per sample (as OTP's bench), after one untimed pass;
/// returns the median total cycles/s over `work.samples`.
fn cycle_rate(threads: usize, work: &Work, cycle: impl Fn(&Arc<str>, &Handle) + Sync) -> f64 {
    let keys: Vec<Vec<Arc<str>>> = (0..threads)
        .map(|t| (0..work.reg_keys).map(|i| format!("w{t}-app-{i}").into()).collect())
        .collect();
    let handles: Vec<Handle> = (0..threads).map(|t| Handle(Arc::new(t as u64))).collect();
    let pass = |t: usize| {
        for k in &keys[t] {
            cycle(k, &handles[t]);
        }
    };
    on_threads(threads, pass);
    let rates: Vec<f64> = (0..work.samples)
        .map(|_| (threads * work.reg_keys) as f64 / (on_threads(threads, pass) / 1e9))
        .collect();
    median(&rates)
}

fn cycles(opts: &Opts) {
    let work = Work::of(opts);
    opts.section(&format!(
        "register + lookup + unregister cycles ({} distinct keys per thread, Arc<str> keys), median of {} samples",
        work.reg_keys, work.samples
    ));
    opts.note("one cycle: register (guard) -> lookup -> drop the guard; OTP: ets insert_new -> lookup -> delete");
    opts.note("OTP runs with as many schedulers as the Rust side has threads (+S N:N)");
    for threads in [1, 2] {
        let figures = otp::otp_bench(&work, threads);
        let registry: Registry<Arc<str>, Handle> = Registry::new();
        let reg = cycle_rate(threads, &work, |k, h| {
            let guard = registry.register(k.clone(), h.clone()).expect("free key");
            black_box(registry.lookup(&**k));
            drop(guard);
        });
        let dash: DashMap<Arc<str>, Handle> = DashMap::new();
        let dm = cycle_rate(threads, &work, |k, h| {
            match dash.entry(k.clone()) {
                dashmap::Entry::Vacant(v) => {
                    v.insert(h.clone());
                }
                dashmap::Entry::Occupied(_) => panic!("free key"),
            }
            black_box(dash.get(&**k).map(|h| h.clone()));
            dash.remove(&**k);
        });
        let rw: RwLock<HashMap<Arc<str>, Handle>> = RwLock::new(HashMap::new());
        let rwr = cycle_rate(threads, &work, |k, h| {
            assert!(rw.write().insert(k.clone(), h.clone()).is_none(), "free key");
            black_box(rw.read().get(&**k).cloned());
            rw.write().remove(&**k);
        });
        let name = format!("register+lookup+unregister, {threads} thr");
        let otp_label = format!("ets register+lookup+unregister cycles, {threads} proc(s)");
        match figures.as_ref().and_then(|f| otp::find(f, &otp_label)) {
            Some(otp_rate) => opts.report(
                &name,
                reg / 1e6,
                "M/s",
                &format!("OTP ets unique registry, +S {threads}"),
                otp_rate / 1e6,
            ),
            None => opts.report_alone(&name, reg / 1e6, "M/s", "OTP not measured (no escript)"),
        }
        opts.report(&name, reg / 1e6, "M/s", "dashmap insert+get+remove", dm / 1e6);
        opts.report(&name, reg / 1e6, "M/s", "RwLock<HashMap> insert+get+remove", rwr / 1e6);
    }
}

fn main() {
    let opts = Opts::from_args();
    opts.note("no tracing subscriber installed");
    opts.note(&format!(
        "each figure: the median of {} samples, after a warm-up",
        opts.samples()
    ));
    lookups(&opts);
    cycles(&opts);
}
