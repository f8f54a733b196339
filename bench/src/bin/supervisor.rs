//! atlas-supervisor beside real OTP: restart latency (fresh supervisor and
//! 10,000 restarts inside one intensity window), 10,000 children under a
//! DynamicSupervisor (start time, bytes per idle child).
//!
//! cargo run --release -p atlas-bench --bin supervisor -- [--quick] [--json]

use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_bench::alloc::{live_bytes, CountingAlloc};
use atlas_bench::{otp, quantile, Opts};
use atlas_supervisor::{Child, ChildSpec, DynamicSupervisor, ExitReason, Strategy, Supervisor};
use tokio::sync::{mpsc, oneshot};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

type Up = (Instant, oneshot::Sender<()>);

/// A worker that reports "up" from its start function (the moment the new
/// incarnation exists, as OTP's `init/1`) and crashes when told.
fn crashing_worker(up: mpsc::UnboundedSender<Up>) -> ChildSpec {
    let reason: Arc<str> = "crash".into();
    ChildSpec::worker("w", move |ctx| {
        let (up, reason) = (up.clone(), reason.clone());
        async move {
            let (kill_tx, kill_rx) = oneshot::channel();
            let _ = up.send((Instant::now(), kill_tx));
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

/// `total` crash → restart cycles, a new supervisor every `per_sup`;
/// returns the latencies in µs, in order.
async fn restart_run(total: usize, per_sup: usize, period: Duration) -> (Vec<f64>, f64) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Up>();
    let mut samples = Vec::with_capacity(total);
    let t_all = Instant::now();
    let mut left = total;
    while left > 0 {
        let n = left.min(per_sup);
        let sup = Supervisor::new(Strategy::OneForOne)
            .intensity(1_000_000_000, period)
            .child(crashing_worker(tx.clone()))
            .start()
            .await
            .expect("starts");
        let (_, mut kill) = rx.recv().await.expect("up");
        for _ in 0..n {
            let t0 = Instant::now();
            let _ = kill.send(());
            let (t_up, next) = rx.recv().await.expect("restarted");
            samples.push(t_up.duration_since(t0).as_nanos() as f64 / 1000.0);
            kill = next;
        }
        sup.shutdown().await;
        left -= n;
    }
    let rate = total as f64 / t_all.elapsed().as_secs_f64();
    (samples, rate)
}

async fn restart_latency(opts: &Opts, figures: Option<&std::collections::HashMap<String, f64>>, flavor: &str) {
    let total = opts.pick(10_000, 3_000);
    for (name, otp_name, per_sup, period) in [
        (
            "fresh supervisor (new one every 100 crashes)",
            "fresh100",
            100,
            Duration::from_secs(1),
        ),
        (
            "10,000 restarts inside one intensity window",
            "window1",
            total,
            Duration::from_secs(3600),
        ),
    ] {
        opts.section(&format!(
            "restart latency, one_for_one, permanent child: {name} [{flavor}]"
        ));
        let (mut s, rate) = restart_run(total, per_sup, period).await;
        let first = quantile(&mut s[..1000.min(total)].to_vec(), 0.5);
        let last = quantile(&mut s[total - 1000.min(total)..].to_vec(), 0.5);
        let (p50, p99) = (quantile(&mut s, 0.5), quantile(&mut s, 0.99));
        let rows = [
            ("p50", p50, "alive p50 (crash"),
            ("p99", p99, "alive p99"),
            ("p50 first 1000", first, "alive p50 first 1000"),
            ("p50 last 1000", last, "alive p50 last 1000"),
        ];
        for (what, v, otp_label) in rows {
            let bench = format!("restart {otp_name} {what} [{flavor}]");
            match figures.and_then(|f| otp::find(f, &format!("{otp_name} {otp_label}"))) {
                Some(o) => opts.report(&bench, v, "us", &format!("OTP {otp_name} {what}"), o),
                None => opts.report_alone(&bench, v, "us", "OTP not measured: no escript"),
            }
        }
        let bench = format!("restart {otp_name} crash+restart cycles/s [{flavor}]");
        match figures.and_then(|f| otp::find(f, &format!("{otp_name} crash+restart"))) {
            Some(o) => opts.report(&bench, rate, "/s", &format!("OTP {otp_name} cycles/s"), o),
            None => opts.report_alone(&bench, rate, "/s", "OTP not measured"),
        }
        opts.report(
            &format!("restart {otp_name} flatness last/first 1000 p50 [{flavor}]"),
            last / first,
            "x",
            "flat = 1.0",
            1.0,
        );
    }
}

async fn dynamic_children(opts: &Opts, otp_dyn: Option<&std::collections::HashMap<String, f64>>, flavor: &str) {
    let n = 10_000;
    opts.section(&format!("10,000 idle children under a DynamicSupervisor [{flavor}]"));
    let dsup = DynamicSupervisor::new().intensity(20, Duration::from_secs(60)).start();
    let spec = ChildSpec::task("idle", |stop| async move {
        stop.cancelled().await;
        ExitReason::Shutdown
    });
    // One child first, so one-time allocations (the runtime's, the
    // supervisor's first) don't count per child.
    let _ = dsup.start_child(spec.clone()).await.expect("starts");
    let before = live_bytes();
    let t0 = Instant::now();
    for _ in 0..n {
        let _ = dsup.start_child(spec.clone()).await.expect("starts");
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let per_child = (live_bytes() - before) as f64 / n as f64;
    match otp_dyn.and_then(|f| otp::find(f, "dynsup start")) {
        Some(o) => opts.report(
            &format!("{} [{flavor}]", "dynsup start 10,000 children"),
            ms,
            "ms",
            "OTP simple_one_for_one",
            o,
        ),
        None => opts.report_alone(
            &format!("{} [{flavor}]", "dynsup start 10,000 children"),
            ms,
            "ms",
            "OTP not measured",
        ),
    }
    match otp_dyn.and_then(|f| otp::find(f, "dynsup bytes")) {
        Some(o) => opts.report(
            &format!("{} [{flavor}]", "dynsup bytes per idle child"),
            per_child,
            "bytes",
            "OTP bytes per idle child",
            o,
        ),
        None => opts.report_alone(
            &format!("{} [{flavor}]", "dynsup bytes per idle child"),
            per_child,
            "bytes",
            "OTP not measured",
        ),
    }
    opts.report(
        &format!("{} [{flavor}]", "dynsup bytes per idle child vs goal"),
        per_child,
        "bytes",
        "goal",
        1024.0,
    );
    let t0 = Instant::now();
    dsup.shutdown().await;
    opts.report_alone(
        &format!("{} [{flavor}]", "dynsup shutdown 10,001 children (concurrent)"),
        t0.elapsed().as_secs_f64() * 1000.0,
        "ms",
        "no anchor",
    );
}

fn main() {
    let opts = Opts::from_args();
    let figures = otp::otp_bench();
    let otp_dyn = otp::available()
        .then(|| otp::run_escript(&otp::workspace_root().join("bench/otp/dynsup.escript"), &[]))
        .flatten()
        .map(|t| otp::parse(&t));
    opts.note("[current_thread]: one tokio thread; [2 workers]: multi-thread runtime with 2 workers.");
    opts.note("OTP runs with its default schedulers (2 here) in both comparisons.");
    opts.note("The measuring loop is a task on the runtime; from a non-worker thread (block_on) each");
    opts.note("crash signal pays a thread unpark instead: ~5-6 us p50 on 2 workers, measured earlier.");
    let runtimes = [
        (
            "current_thread",
            tokio::runtime::Builder::new_current_thread().enable_all().build(),
        ),
        (
            "2 workers",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        ),
    ];
    for (flavor, rt) in runtimes {
        let rt = rt.expect("runtime");
        // The measuring loop runs as a task on the runtime, as a real caller
        // would: `block_on`'s own thread is not a worker, and every wake-up
        // from it would go through the injection queue and a thread unpark.
        let (figures, otp_dyn) = (figures.clone(), otp_dyn.clone());
        rt.block_on(async move {
            tokio::spawn(async move {
                restart_latency(&opts, figures.as_ref(), flavor).await;
                dynamic_children(&opts, otp_dyn.as_ref(), flavor).await;
            })
            .await
            .expect("bench task");
        });
    }
}
