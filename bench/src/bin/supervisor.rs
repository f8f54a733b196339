//! atlas-supervisor beside real OTP and beside what a Rust user would pick
//! instead (kameo, ractor with ractor-supervisor), all in the same run and
//! on the same work: restart latency of a permanent child (a fresh
//! supervisor every 100 crashes, and every restart inside one intensity
//! window), and 10,000 idle children under a dynamic supervisor (start
//! time, bytes per child).
//!
//! cargo run --release -p atlas-bench --bin supervisor -- [--quick] [--json]

use std::time::Duration;

use atlas_bench::alloc::CountingAlloc;
use atlas_bench::contenders::{atlas, kameo, ractor};
use atlas_bench::otp::{self, Figures, Work};
use atlas_bench::restart::{idle_run, idle_summary, restart_run, Idle, Summary};
use atlas_bench::Opts;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const KAMEO: &str = "kameo 0.22";
const RACTOR: &str = "ractor-supervisor 0.2";
/// Children of the idle-children bench, on both sides.
const CHILDREN: usize = 10_000;

/// One restart bench: its OTP name, what it is, restarts per supervisor
/// and the intensity period (the same on the OTP side).
struct Variant {
    name: &'static str,
    what: &'static str,
    per_sup: Option<usize>,
    period: Duration,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        name: "fresh100",
        what: "a fresh supervisor every 100 crashes",
        per_sup: Some(100),
        period: Duration::from_secs(1),
    },
    Variant {
        name: "window",
        what: "every restart inside one intensity window (period 3600 s)",
        per_sup: None,
        period: Duration::from_secs(3600),
    },
];

async fn restart_latency(opts: &Opts, work: &Work, figures: Option<&Figures>, flavor: &str, schedulers: usize) {
    for v in &VARIANTS {
        opts.section(&format!(
            "restart latency, one_for_one, permanent child: {}, {} restarts per sample, \
             median of {} samples [{flavor}]",
            v.what, work.crashes, work.samples
        ));
        let per_sup = v.per_sup.unwrap_or(work.crashes);
        // The samples are interleaved across the contenders, so that load
        // from elsewhere on the machine hits them alike.
        let (mut ours, mut km, mut rc) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..work.samples {
            ours.push(restart_run(&atlas::Atlas, work.crashes, per_sup, v.period).await);
            km.push(restart_run(&kameo::Kameo, work.crashes, per_sup, v.period).await);
            rc.push(restart_run(&ractor::Ractor, work.crashes, per_sup, v.period).await);
        }
        let (ours, km, rc) = (Summary::of(&ours), Summary::of(&km), Summary::of(&rc));
        let erl = figures.and_then(|f| Summary::from_otp(f, v.name));
        for (i, (label, unit, value)) in ours.rows().into_iter().enumerate() {
            let bench = format!("restart {} {label} [{flavor}]", v.name);
            match &erl {
                Some(e) => opts.report(
                    &bench,
                    value,
                    unit,
                    &format!("OTP, {schedulers} scheduler(s)"),
                    e.rows()[i].2,
                ),
                None => opts.report_alone(&bench, value, unit, "OTP not measured (no escript)"),
            }
            opts.report(&bench, value, unit, KAMEO, km.rows()[i].2);
            opts.report(&bench, value, unit, RACTOR, rc.rows()[i].2);
        }
    }
}

/// The median over `samples` of each idle-children kind, samples
/// interleaved across the kinds.
async fn idle_kinds(samples: usize) -> [Idle; 4] {
    let mut all: [Vec<Idle>; 4] = Default::default();
    for _ in 0..samples {
        all[0].push(idle_run(&atlas::BareTask, CHILDREN).await);
        all[1].push(idle_run(&atlas::Mailbox, CHILDREN).await);
        all[2].push(idle_run(&kameo::IdleActor, CHILDREN).await);
        all[3].push(idle_run(&ractor::IdleActor, CHILDREN).await);
    }
    all.map(|s| idle_summary(&s))
}

async fn idle_children(opts: &Opts, samples: usize, otp_dyn: Option<&Figures>, flavor: &str, schedulers: usize) {
    opts.section(&format!(
        "10,000 idle children under a dynamic supervisor, median of {samples} samples [{flavor}]"
    ));
    opts.note("bare task: a child that only awaits its shutdown signal (no mailbox); OTP's peer is a bare");
    opts.note("spawn_link'ed process in receive. With a mailbox: the child owns a bounded tokio mpsc (64)");
    opts.note("and its caller keeps the sender; OTP's peer is a gen_server, kameo's and ractor's an idle actor");
    let [bare, mailbox, km, rc] = idle_kinds(samples).await;
    let erl = |what: &str| otp_dyn.and_then(|f| otp::find(f, &format!("dynsup {what}")));
    let otp_label = |peer: &str| format!("OTP {peer}, {schedulers} scheduler(s)");
    let rows: [(&str, Idle, &str, &str); 3] = [
        ("bare task", bare, "bare process", "bare"),
        (
            "bare task",
            bare,
            "gen_server (unlike: ours has no mailbox)",
            "gen_server",
        ),
        ("child with a mailbox", mailbox, "gen_server", "gen_server"),
    ];
    for (ours, figures, peer, otp_kind) in rows {
        for (what, unit, value, otp_what) in [
            (
                "start 10,000 children",
                "ms",
                figures.start_ms,
                format!("{otp_kind} start"),
            ),
            (
                "bytes per idle child",
                "bytes",
                figures.bytes_per_child,
                format!("{otp_kind} bytes"),
            ),
        ] {
            let bench = format!("dynsup {what}, {ours} [{flavor}]");
            match erl(&otp_what) {
                Some(o) => opts.report(&bench, value, unit, &otp_label(peer), o),
                None => opts.report_alone(&bench, value, unit, "OTP not measured (no escript)"),
            }
        }
    }
    for (what, unit, pick) in [
        (
            "start 10,000 children",
            "ms",
            (|i: &Idle| i.start_ms) as fn(&Idle) -> f64,
        ),
        ("bytes per idle child", "bytes", |i: &Idle| i.bytes_per_child),
    ] {
        let bench = format!("dynsup {what}, child with a mailbox [{flavor}]");
        opts.report(
            &bench,
            pick(&mailbox),
            unit,
            &format!("{KAMEO} supervised actor"),
            pick(&km),
        );
        opts.report(
            &bench,
            pick(&mailbox),
            unit,
            &format!("{RACTOR} dynamic child"),
            pick(&rc),
        );
    }
    opts.report_goal(
        &format!("dynsup bytes per idle child, bare task [{flavor}]"),
        bare.bytes_per_child,
        "bytes",
        "goal: at most",
        1024.0,
    );
}

fn main() {
    let opts = Opts::from_args();
    let work = Work::of(&opts);
    opts.note("[current_thread]: one tokio thread, OTP with +S 1:1; [2 workers]: a multi-thread runtime");
    opts.note("with 2 workers, OTP with +S 2:2. kameo and ractor run on the same runtime, in the same run.");
    opts.note("Every figure is the median over samples of a per-sample statistic, on every side.");
    opts.note("The measuring loop is a task on the runtime; from a non-worker thread (block_on) each");
    opts.note("crash signal would pay a thread unpark instead.");
    for (flavor, workers) in [("current_thread", 1), ("2 workers", 2)] {
        let figures = otp::otp_bench(&work, workers);
        let otp_dyn = otp::dynsup(CHILDREN, work.samples, workers);
        let rt = match workers {
            1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            n => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build(),
        }
        .expect("runtime");
        // The measuring loop runs as a task on the runtime, as a real caller
        // would: `block_on`'s own thread is not a worker, and every wake-up
        // from it would go through the injection queue and a thread unpark.
        rt.block_on(async move {
            tokio::spawn(async move {
                restart_latency(&opts, &work, figures.as_ref(), flavor, workers).await;
                idle_children(&opts, work.samples, otp_dyn.as_ref(), flavor, workers).await;
            })
            .await
            .expect("bench task");
        });
    }
}
