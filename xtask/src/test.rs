//! `cargo xtask test`: everything CI runs, each step reported, all steps
//! run even after a failure.

use std::process::ExitCode;
use std::time::Instant;

use crate::conformance::{self, Outcome};
use crate::{cmd, deps, loom, package};

/// A step's result: `Ok(true)` passed, `Ok(false)` skipped.
type StepResult = Result<bool, String>;

/// A named step.
type Step = (&'static str, fn() -> StepResult);

pub fn main(args: &[String]) -> ExitCode {
    if !args.is_empty() {
        eprintln!("usage: cargo xtask test");
        return ExitCode::from(64);
    }
    // The bench crate is linted and its targets built (in the test profile)
    // so that it cannot rot; its binaries are never run here.
    let steps: [Step; 7] = [
        ("fmt", || cargo(&["fmt", "--all", "--", "--check"])),
        ("clippy", || {
            cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])
        }),
        ("test", || cargo(&["test", "--workspace", "--no-fail-fast"])),
        ("layering", || deps::check().map(|()| true)),
        ("loom", || loom::run().map(|()| true)),
        ("package", || package::check().map(|()| true)),
        ("conformance", || {
            conformance::run(&conformance::Options::default()).map(|o| matches!(o, Outcome::Passed))
        }),
    ];
    let (mut passed, mut failed, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (name, step) in steps {
        eprintln!("\n==> {name}");
        let t0 = Instant::now();
        let result = step();
        let secs = t0.elapsed().as_secs_f64();
        match result {
            Ok(true) => {
                eprintln!("==> {name}: ok ({secs:.1} s)");
                passed.push(name);
            }
            Ok(false) => {
                eprintln!("==> {name}: SKIPPED ({secs:.1} s)");
                skipped.push(name);
            }
            Err(e) => {
                eprintln!("==> {name}: FAILED ({secs:.1} s): {e}");
                failed.push(name);
            }
        }
    }
    eprintln!();
    if !skipped.is_empty() {
        println!("xtask: skipped: {}", skipped.join(", "));
    }
    if !failed.is_empty() {
        println!("xtask: failed: {}", failed.join(", "));
    }
    println!("xtask: {} passed, {} failed", passed.len(), failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cargo(args: &[&str]) -> StepResult {
    cmd::run(cmd::cargo().args(args)).map(|()| true)
}
