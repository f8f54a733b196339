//! The simulated fly CLI: a [`CmdFn`] in this process, no process spawned.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use atlas_app_server::{CmdFn, CmdOutput};
use base64::Engine as _;

/// A fake but well-formed Fly token: `FlyV1 fm2_` + base64 of a label.
/// (It is no macaroon: nothing outside the demo would accept it.)
pub fn fake_token(label: &str) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(format!("atlas-demo:{label}"));
    format!("FlyV1 fm2_{body}")
}

/// Answers `fly tokens create readonly -o ORG --expiry D --name N --json`
/// after a short delay, like a logged-in flyctl (`{"token":"…"}`); when
/// logged out, fails the way flyctl does.
pub struct SimCli {
    delay: Duration,
    org: &'static str,
    calls: AtomicUsize,
    logged_in: AtomicBool,
}

impl SimCli {
    /// Logged in, minting for `org`.
    pub fn new(delay: Duration, org: &'static str) -> Self {
        SimCli {
            delay,
            org,
            calls: AtomicUsize::new(0),
            logged_in: AtomicBool::new(true),
        }
    }

    /// How many times the CLI was run.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Logs the simulated CLI in or out.
    pub fn set_logged_in(&self, on: bool) {
        self.logged_in.store(on, Ordering::SeqCst);
    }
}

#[async_trait]
impl CmdFn for SimCli {
    async fn run(&self, _program: &str, args: &[&str]) -> io::Result<CmdOutput> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        if !self.logged_in.load(Ordering::SeqCst) {
            return Ok(CmdOutput::new(
                1,
                "",
                "Error: no access token available. Please login with 'flyctl auth login'\n",
            ));
        }
        if args.get(..3) != Some(&["tokens", "create", "readonly"][..]) {
            return Ok(CmdOutput::new(
                1,
                "",
                "Error: the simulated CLI only knows `tokens create readonly`\n",
            ));
        }
        if !args.contains(&"--json") || !args.contains(&"--expiry") || !args.contains(&self.org) {
            return Ok(CmdOutput::new(
                1,
                "",
                "Error: the simulated CLI wants -o ORG, --expiry and --json\n",
            ));
        }
        let token = fake_token(&format!("{}-{n}", self.org));
        Ok(CmdOutput::new(
            0,
            format!("{}\n", serde_json::json!({ "token": token })),
            "A new release of flyctl is available (simulated notice on stderr)\n",
        ))
    }
}
