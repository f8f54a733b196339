//! Property test: the engine against a small model of OTP's rules (flat
//! trees: strategies, restart types, intensity, start failures and retries).
//! The full differential against real OTP is `cargo xtask conformance`.

use std::time::Duration;

use atlas_supervisor::testing::{quiet_panics, settle, Recorder, Script, Workers};
use atlas_supervisor::{ExitReason, RestartType, Strategy, Supervisor};
#[allow(unused_imports)]
use proptest::prelude::*;
use proptest::strategy::Strategy as _;

#[derive(Clone, Debug)]
struct Kid {
    id: String,
    restart: RestartType,
    fail_starts: Vec<u64>,
}

#[derive(Clone, Debug)]
struct Scenario {
    strategy: Strategy,
    max_restarts: u32,
    kids: Vec<Kid>,
    /// (child index, reason: 0 normal, 1 shutdown, 2 crash)
    events: Vec<(usize, u8)>,
}

/// The model: a port of the rules in the oracle's README, notes 1–6 and 14.
struct Model {
    s: Scenario,
    kids: Vec<(Kid, &'static str)>, // state: running | stopped | restarting
    attempts: std::collections::HashMap<String, u64>,
    restarts: u32,
    alive: bool,
    out: Vec<String>,
}

impl Model {
    fn start(&mut self, i: usize) -> bool {
        let id = self.kids[i].0.id.clone();
        let n = self.attempts.entry(id.clone()).or_insert(0);
        *n += 1;
        if self.kids[i].0.fail_starts.contains(n) {
            self.out.push(format!("start_failed {id}"));
            return false;
        }
        self.out.push(format!("start {id}"));
        self.kids[i].1 = "running";
        true
    }

    fn terminate_all(&mut self) {
        for i in (0..self.kids.len()).rev() {
            if self.kids[i].1 == "running" {
                self.out.push(format!("stop {} shutdown", self.kids[i].0.id));
                self.kids[i].1 = "stopped";
            }
        }
    }

    fn run(mut self) -> Vec<String> {
        for i in 0..self.kids.len() {
            if !self.start(i) {
                self.terminate_all();
                self.out.push("supervisor_start_failed".into());
                return self.out;
            }
        }
        for (idx, reason) in self.s.events.clone() {
            let Some(i) = self.kids.iter().position(|k| k.0.id == format!("k{idx}")) else {
                continue;
            };
            if !self.alive || self.kids[i].1 != "running" {
                continue;
            }
            let reason = ["normal", "shutdown", "crash"][reason as usize];
            self.out.push(format!("stop k{idx} {reason}"));
            self.kids[i].1 = "stopped";
            let restart = self.kids[i].0.restart;
            if restart == RestartType::Permanent || (restart == RestartType::Transient && reason == "crash") {
                let mut pending = self.restart(i);
                while let Some(id) = pending.take() {
                    if !self.alive {
                        break;
                    }
                    if let Some(j) = self.kids.iter().position(|k| k.0.id == id && k.1 == "restarting") {
                        pending = self.restart(j);
                    }
                }
            } else if restart == RestartType::Temporary {
                self.kids.remove(i);
            }
        }
        if !self.alive {
            self.out.push("supervisor_exit".into());
        }
        self.out
    }

    /// Returns the id of a child whose start failed (to be retried).
    fn restart(&mut self, i: usize) -> Option<String> {
        self.restarts += 1;
        if self.restarts > self.s.max_restarts {
            if self.kids[i].0.restart == RestartType::Temporary {
                self.kids.remove(i);
            } else {
                self.kids[i].1 = "stopped";
            }
            self.terminate_all();
            self.alive = false;
            return None;
        }
        let failed = if self.s.strategy == Strategy::OneForOne {
            (!self.start(i)).then_some(i)
        } else {
            self.kids[i].1 = "stopped";
            let from = if self.s.strategy == Strategy::RestForOne { i } else { 0 };
            for j in (from..self.kids.len()).rev() {
                if self.kids[j].1 == "running" {
                    self.out.push(format!("stop {} shutdown", self.kids[j].0.id));
                }
                if self.kids[j].0.restart == RestartType::Temporary {
                    self.kids.remove(j);
                } else {
                    self.kids[j].1 = "stopped";
                }
            }
            (from..self.kids.len()).find(|&j| !self.start(j))
        };
        failed.map(|j| {
            self.kids[j].1 = "restarting";
            self.kids[j].0.id.clone()
        })
    }
}

async fn engine(s: &Scenario) -> Vec<String> {
    let (w, rec) = (Workers::default(), Recorder::default());
    let mut sup = Supervisor::new(s.strategy)
        .intensity(s.max_restarts, Duration::from_secs(3600))
        .observer(rec.observer());
    for k in &s.kids {
        sup = sup.child(
            w.scripted(&k.id, Script::new().fail_starts(k.fail_starts.clone()))
                .restart(k.restart),
        );
    }
    let sup = match sup.start().await {
        Ok(sup) => sup,
        Err(_) => {
            let mut out = rec.lines();
            out.push("supervisor_start_failed".into());
            return out;
        }
    };
    let mut alive = true;
    for &(idx, reason) in &s.events {
        let id = format!("k{idx}");
        let running = alive && sup.child(&id).await.is_ok_and(|k| k.child_ref().is_some());
        if !running {
            continue;
        }
        match reason {
            0 => w.exit(&id, ExitReason::Normal),
            1 => w.exit(&id, ExitReason::Shutdown),
            _ => w.crash(&id),
        }
        .expect("listed as running");
        alive = settle(&sup).await;
    }
    let mut out: Vec<String> = rec
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("start") || l.starts_with("stop"))
        .collect();
    if !alive {
        out.push("supervisor_exit".into());
    } else {
        sup.shutdown().await;
    }
    out
}

fn scenario() -> impl proptest::strategy::Strategy<Value = Scenario> {
    let restart = prop_oneof![
        Just(RestartType::Permanent),
        Just(RestartType::Transient),
        Just(RestartType::Temporary)
    ];
    let strategy = prop_oneof![
        Just(Strategy::OneForOne),
        Just(Strategy::OneForAll),
        Just(Strategy::RestForOne)
    ];
    let fails = prop::collection::vec(2u64..6, 0..2);
    (strategy, 0u32..5, prop::collection::vec((restart, fails), 1..6))
        .prop_flat_map(|(strategy, max_restarts, kids)| {
            let n = kids.len();
            let events = prop::collection::vec((0..n, 0u8..3), 0..12);
            (Just(strategy), Just(max_restarts), Just(kids), events)
        })
        .prop_map(|(strategy, max_restarts, kids, events)| Scenario {
            strategy,
            max_restarts,
            kids: kids
                .into_iter()
                .enumerate()
                .map(|(i, (restart, fail_starts))| Kid {
                    id: format!("k{i}"),
                    restart,
                    fail_starts,
                })
                .collect(),
            events,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(s in scenario()) {
        quiet_panics();
        let model = Model {
            kids: s.kids.iter().map(|k| (k.clone(), "stopped")).collect(),
            s: s.clone(),
            attempts: Default::default(),
            restarts: 0,
            alive: true,
            out: Vec::new(),
        }
        .run();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
        let got = rt.block_on(engine(&s));
        prop_assert_eq!(got, model);
    }
}
