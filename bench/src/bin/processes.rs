//! Many `fly-tokens` processes on one file store (SPEC.md §8): 20 processes
//! cold on one scope at once, the CLI calls they make between them (goal 1)
//! and their wall time, beside one process alone on a cold store (the
//! anchor, measured in the same run).
//!
//! The processes are the real `fly-tokens` binary (built here with cargo,
//! in this bench's profile) with a fake `fly` script on `PATH` that takes
//! [`CLI_DELAY`] and counts its runs in a file it appends to.
//!
//! cargo run --release -p atlas-bench --bin processes -- [--quick] [--json]

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use atlas_bench::{median, Opts};

/// How many processes start at once.
const HERD: usize = 20;
/// How long the fake `fly tokens create` takes.
const CLI_DELAY: &str = "0.3";

/// A private scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("atlas-bench-processes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("scratch dir");
        for sub in ["bin", "home", "flyconfig", "tmp"] {
            std::fs::create_dir(dir.join(sub)).expect("scratch subdir");
        }
        let fly = dir.join("bin/fly");
        let calls = dir.join("calls");
        std::fs::write(
            &fly,
            format!(
                "#!/bin/sh\necho x >> '{}'\nsleep {CLI_DELAY}\necho \"FlyV1 fm2_bench$$\"\n",
                calls.display()
            ),
        )
        .expect("fake fly");
        std::fs::set_permissions(&fly, std::fs::Permissions::from_mode(0o755)).expect("chmod fly");
        Scratch(dir)
    }

    /// The CLI runs so far; resets the count.
    fn take_calls(&self) -> usize {
        let path = self.0.join("calls");
        let n = std::fs::read_to_string(&path).map_or(0, |s| s.lines().count());
        let _ = std::fs::remove_file(&path);
        n
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `fly-tokens --store STORE get APP`, in the scratch's environment only.
fn get(bin: &Path, scratch: &Scratch, store: &Path, app: &str) -> Child {
    let dir = &scratch.0;
    Command::new(bin)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", dir.join("bin").display()))
        .env("HOME", dir.join("home"))
        .env("FLY_CONFIG_DIR", dir.join("flyconfig"))
        .env("TMPDIR", dir.join("tmp"))
        .env("FLY_ORG", "acme")
        .arg("--store")
        .arg(store)
        .args(["get", app])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fly-tokens")
}

/// `n` processes cold on one scope of a fresh store: the wall time until
/// the last one exits, in ms, and how many different tokens they printed.
fn run(bin: &Path, scratch: &Scratch, round: usize, n: usize) -> (f64, usize) {
    let store = scratch.0.join(format!("store-{n}-{round}"));
    let t0 = Instant::now();
    let children: Vec<_> = (0..n).map(|_| get(bin, scratch, &store, "same-app")).collect();
    let mut tokens: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success(), "fly-tokens get failed: {:?}", out.status);
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect();
    let wall = t0.elapsed().as_secs_f64() * 1e3;
    tokens.sort();
    tokens.dedup();
    (wall, tokens.len())
}

fn main() {
    let opts = Opts::from_args();
    let bin = atlas_bench::build_fly_tokens();
    let t0 = Instant::now();
    let scratch = Scratch::new();
    let rounds = opts.pick(7, 3);
    opts.section(&format!(
        "{HERD} fly-tokens processes cold on one scope, one file store (fake fly: {CLI_DELAY} s, counted)"
    ));
    opts.note("anchor: one process alone on a cold store, same fake fly, same run");
    let (mut alone, mut herd) = (Vec::new(), Vec::new());
    let (mut calls, mut distinct) = (0usize, 0usize);
    for round in 0..rounds {
        let (wall, _) = run(&bin, &scratch, round, 1);
        alone.push(wall);
        assert_eq!(scratch.take_calls(), 1, "one process alone runs the CLI once");
        let (wall, tokens) = run(&bin, &scratch, round, HERD);
        herd.push(wall);
        calls = calls.max(scratch.take_calls());
        distinct = distinct.max(tokens);
    }
    opts.report_goal(
        &format!("{HERD} processes cold on one scope: CLI calls (worst round)"),
        calls as f64,
        "calls",
        "one call for the whole herd",
        1.0,
    );
    opts.report_goal(
        &format!("{HERD} processes cold on one scope: distinct tokens"),
        distinct as f64,
        "tokens",
        "every process prints the same token",
        1.0,
    );
    opts.report(
        &format!("{HERD} processes cold on one scope: wall p50"),
        median(&herd),
        "ms",
        "1 process alone, cold: wall p50",
        median(&alone),
    );
    opts.note(&format!(
        "whole run (after building fly-tokens): {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    // Dropped before exit: the scratch dir goes.
    drop(scratch);
}
