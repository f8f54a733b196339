//! The restart-latency and idle-children measurements of the supervisor
//! bench, one loop for every contender (atlas, kameo, ractor) so that each
//! does exactly the same work, measured the same way as OTP's side
//! (`xtask/oracle/otp_bench.escript`, `bench/otp/dynsup.escript`).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::alloc::live_bytes;
use crate::otp::{self, Figures};
use crate::{median, percentile};

/// What a new incarnation sends when it starts: when, and how to crash it.
pub type Up<C> = (Instant, C);

/// Where incarnations report that they started.
pub type UpTx<C> = mpsc::UnboundedSender<Up<C>>;

/// A supervisor library under test: a one_for_one supervisor with one
/// permanent child that reports from its start hook (the moment the new
/// incarnation exists, as OTP's `init/1`) and crashes when told.
pub trait Contender {
    /// What the bench holds to crash the running incarnation.
    type Crash: Send + 'static;
    /// The running supervisor.
    type Sup;
    /// Starts a supervisor whose intensity never runs out within `period`.
    fn start(&self, period: Duration, up: UpTx<Self::Crash>) -> impl Future<Output = Self::Sup>;
    /// Makes the incarnation behind `crash` exit abnormally.
    fn crash(&self, crash: Self::Crash);
    /// Stops the supervisor and its child.
    fn stop(&self, sup: Self::Sup) -> impl Future<Output = ()>;
}

/// One sample of a restart bench: every restart's latency, in order.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Crash sent → new incarnation started, µs, in order.
    pub alive_us: Vec<f64>,
    /// Crash + restart cycles per second over the whole sample.
    pub cycles_per_s: f64,
}

/// `total` crash → restart cycles, a new supervisor every `per_sup`.
pub async fn restart_run<C: Contender>(c: &C, total: usize, per_sup: usize, period: Duration) -> Run {
    let (tx, mut rx) = mpsc::unbounded_channel::<Up<C::Crash>>();
    let mut alive_us = Vec::with_capacity(total);
    let t_all = Instant::now();
    let mut left = total;
    while left > 0 {
        let n = left.min(per_sup);
        let sup = c.start(period, tx.clone()).await;
        let (_, mut crash) = rx.recv().await.expect("the first incarnation starts");
        for _ in 0..n {
            let t0 = Instant::now();
            c.crash(crash);
            let (t_up, next) = rx.recv().await.expect("restarted");
            alive_us.push(t_up.saturating_duration_since(t0).as_nanos() as f64 / 1000.0);
            crash = next;
        }
        c.stop(sup).await;
        left -= n;
    }
    Run {
        alive_us,
        cycles_per_s: total as f64 / t_all.elapsed().as_secs_f64(),
    }
}

/// The figures of several samples, each the median over the samples of the
/// per-sample statistic (as OTP's bench reports them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median latency, µs.
    pub p50: f64,
    /// 99th percentile latency, µs.
    pub p99: f64,
    /// Median latency of the first 1,000 restarts, µs.
    pub first_p50: f64,
    /// Median latency of the last 1,000 restarts, µs.
    pub last_p50: f64,
    /// Crash + restart cycles per second.
    pub cycles_per_s: f64,
}

impl Summary {
    /// Summarizes `runs` (at least one, each of at least one restart).
    pub fn of(runs: &[Run]) -> Self {
        let per = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let k = |r: &Run| 1000.min(r.alive_us.len());
        Self {
            p50: per(&|r| percentile(&r.alive_us, 50.0)),
            p99: per(&|r| percentile(&r.alive_us, 99.0)),
            first_p50: per(&|r| percentile(&r.alive_us[..k(r)], 50.0)),
            last_p50: per(&|r| percentile(&r.alive_us[r.alive_us.len() - k(r)..], 50.0)),
            cycles_per_s: per(&|r| r.cycles_per_s),
        }
    }

    /// The same figures from `otp_bench.escript`'s output for `variant`.
    pub fn from_otp(figures: &Figures, variant: &str) -> Option<Self> {
        let f = |what: &str| otp::find(figures, &format!("{variant} {what}"));
        Some(Self {
            p50: f("alive p50 (crash")?,
            p99: f("alive p99")?,
            first_p50: f("alive p50 first 1000")?,
            last_p50: f("alive p50 last 1000")?,
            cycles_per_s: f("crash+restart cycles/s")?,
        })
    }

    /// How much slower the last 1,000 restarts are than the first 1,000
    /// (1.0: flat).
    pub fn flatness(&self) -> f64 {
        self.last_p50 / self.first_p50
    }

    /// `(label, unit, value)` of each figure, in report order.
    pub fn rows(&self) -> [(&'static str, &'static str, f64); 6] {
        [
            ("p50", "us", self.p50),
            ("p99", "us", self.p99),
            ("p50 first 1000", "us", self.first_p50),
            ("p50 last 1000", "us", self.last_p50),
            ("crash+restart cycles/s", "/s", self.cycles_per_s),
            ("flatness last/first 1000 p50", "x", self.flatness()),
        ]
    }
}

/// A way to start idle children under a dynamic supervisor.
pub trait IdleKind {
    /// The running supervisor.
    type Sup;
    /// What the caller keeps of one child (its handle or its address).
    type Handle;
    /// Starts an empty dynamic supervisor.
    fn start_sup(&self) -> impl Future<Output = Self::Sup>;
    /// Starts one idle child under `sup`, returning once it runs.
    fn start_child(&self, sup: &Self::Sup) -> impl Future<Output = Self::Handle>;
    /// Stops the supervisor and every child.
    fn stop(&self, sup: Self::Sup) -> impl Future<Output = ()>;
}

/// One sample of the idle-children bench.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Idle {
    /// Time to start all `n` children one after the other, ms.
    pub start_ms: f64,
    /// Live heap bytes per idle child (with the handle the caller keeps).
    pub bytes_per_child: f64,
}

/// Starts `n` idle children under a fresh supervisor (one first, so that
/// one-time allocations don't count per child), measures, stops them.
pub async fn idle_run<K: IdleKind>(k: &K, n: usize) -> Idle {
    let sup = k.start_sup().await;
    let mut handles = Vec::with_capacity(n + 1);
    handles.push(k.start_child(&sup).await);
    settle().await;
    let before = live_bytes();
    let t0 = Instant::now();
    for _ in 0..n {
        handles.push(k.start_child(&sup).await);
    }
    let start_ms = t0.elapsed().as_secs_f64() * 1e3;
    settle().await;
    let bytes_per_child = (live_bytes() - before) as f64 / n as f64;
    drop(handles);
    k.stop(sup).await;
    // What the stopped children free on other threads must not land in
    // the next measurement.
    settle().await;
    Idle {
        start_ms,
        bytes_per_child,
    }
}

/// Waits until the live heap has not changed for three 5 ms ticks (tasks
/// started or stopped on other threads allocate and free a little later),
/// two seconds at most.
pub async fn settle() {
    let t0 = Instant::now();
    let (mut last, mut still) = (live_bytes(), 0);
    while still < 3 && t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = live_bytes();
        if now == last {
            still += 1;
        } else {
            (last, still) = (now, 0);
        }
    }
}

/// The median of each figure over `samples`.
pub fn idle_summary(samples: &[Idle]) -> Idle {
    Idle {
        start_ms: median(&samples.iter().map(|s| s.start_ms).collect::<Vec<_>>()),
        bytes_per_child: median(&samples.iter().map(|s| s.bytes_per_child).collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(alive: &[f64], rate: f64) -> Run {
        Run {
            alive_us: alive.to_vec(),
            cycles_per_s: rate,
        }
    }

    #[test]
    fn a_summary_is_the_median_over_samples_of_each_samples_statistic() {
        let runs = [
            run(&[1.0, 2.0, 3.0], 10.0),
            run(&[5.0, 5.0, 9.0], 30.0),
            run(&[2.0, 4.0, 4.0], 20.0),
        ];
        let s = Summary::of(&runs);
        // Per sample p50 (the round(0.5*3)=2nd smallest): 2, 5, 4 -> median 4.
        assert_eq!(s.p50, 4.0);
        // Per sample p99 (the 3rd): 3, 9, 4 -> 4.
        assert_eq!(s.p99, 4.0);
        assert_eq!(s.cycles_per_s, 20.0);
        assert_eq!(s.flatness(), s.last_p50 / s.first_p50);
    }

    #[test]
    fn first_and_last_thousand_are_the_ends_of_each_sample() {
        let mut alive = vec![1.0; 1000];
        alive.extend(vec![7.0; 1000]);
        let s = Summary::of(&[run(&alive, 1.0)]);
        assert_eq!((s.first_p50, s.last_p50), (1.0, 7.0));
        assert_eq!(s.flatness(), 7.0);
    }

    #[test]
    fn the_otp_summary_reads_the_same_figures() {
        let figs: Figures = [
            ("window alive p50 (crash sent -> new child's init)", 80.0),
            ("window alive p99", 200.0),
            ("window alive p50 first 1000 crashes", 20.0),
            ("window alive p50 last 1000 crashes", 140.0),
            ("window crash+restart cycles/s", 12_000.0),
            ("fresh100 alive p50 (crash sent -> new child's init)", 4.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let s = Summary::from_otp(&figs, "window").expect("all figures");
        assert_eq!(s.flatness(), 7.0);
        assert_eq!(s.cycles_per_s, 12_000.0);
        assert!(
            Summary::from_otp(&figs, "fresh100").is_none(),
            "missing figures: no anchor"
        );
    }

    /// Each contender's loop really crashes and restarts its child, on
    /// both runtime flavours (a hang fails through the generous timeout).
    #[test]
    fn every_contender_restarts_its_child_and_starts_idle_children() {
        use crate::contenders::{atlas, kameo, ractor};
        let runtimes = [
            tokio::runtime::Builder::new_current_thread().enable_all().build(),
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        ];
        for rt in runtimes {
            rt.expect("runtime").block_on(async {
                let all = async {
                    let p = Duration::from_secs(1);
                    for run in [
                        restart_run(&atlas::Atlas, 7, 3, p).await,
                        restart_run(&kameo::Kameo, 7, 3, p).await,
                        restart_run(&ractor::Ractor, 7, 3, p).await,
                    ] {
                        assert_eq!(run.alive_us.len(), 7);
                        assert!(run.cycles_per_s > 0.0);
                    }
                    idle_run(&atlas::BareTask, 3).await;
                    idle_run(&atlas::Mailbox, 3).await;
                    idle_run(&kameo::IdleActor, 3).await;
                    idle_run(&ractor::IdleActor, 3).await;
                };
                tokio::time::timeout(Duration::from_secs(60), all)
                    .await
                    .expect("no contender hangs");
            });
        }
    }

    #[test]
    fn idle_figures_are_medians() {
        let i = |start_ms, bytes_per_child| Idle {
            start_ms,
            bytes_per_child,
        };
        let s = idle_summary(&[i(3.0, 900.0), i(1.0, 700.0), i(2.0, 800.0)]);
        assert_eq!(s, i(2.0, 800.0));
    }
}
