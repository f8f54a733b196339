//! Shared helpers for the integration tests: a stack on fakes, a clock moved
//! together with tokio's paused time, and a tracing capture.

#![allow(dead_code)]

pub mod capture;

use std::sync::Arc;
use std::time::Duration;

use atlas_app_server::testing::{FakeCli, FlakyStorage};
use atlas_app_server::{
    AppName, ManualClock, MemoryStorage, OrgName, Scope, Storage, StorageKey, Token, TokenRecord, Tokens, TokensConfig,
};

/// A token that looks like a Fly token.
pub fn fly(tag: &str) -> String {
    format!("FlyV1 fm2_{tag}")
}

pub fn app(name: &str) -> AppName {
    AppName::new(name).expect("valid app name")
}

pub fn org(name: &str) -> OrgName {
    OrgName::new(name).expect("valid org name")
}

/// The org every fixture's readonly tokens are for.
pub const ORG: &str = "acme";

/// The scope of the fixture's readonly tokens.
pub fn acme() -> Scope {
    Scope::Org(org(ORG))
}

/// The key of the fixture org's minted token.
pub fn minted() -> StorageKey {
    StorageKey::Minted(acme())
}

/// The key of `name`'s manual token.
pub fn manual(name: &str) -> StorageKey {
    StorageKey::Manual(app(name))
}

/// The start of every test's manual clock.
pub const T0: i64 = 1_700_000_000;

/// A stack on fakes, with handles to each.
pub struct Fixture {
    pub tokens: Tokens,
    pub cli: FakeCli,
    pub store: Arc<FlakyStorage<MemoryStorage>>,
    pub clock: ManualClock,
}

/// The config every fixture starts from: fake CLI, flaky-able memory
/// storage, manual clock, no user token, org `acme`.
pub fn config(cli: &FakeCli, store: &Arc<FlakyStorage<MemoryStorage>>, clock: &ManualClock) -> TokensConfig {
    TokensConfig::default()
        .cmd_fn(cli.clone())
        .storage(store.clone())
        .clock(clock.clone())
        .configure(|s| s.org(org(ORG)))
}

impl Fixture {
    /// A stack whose CLI mints `token`.
    pub async fn new(token: &str) -> Self {
        Self::with(FakeCli::succeeding(token), |c| c).await
    }

    /// A stack on `cli`, its config adjusted by `adjust`.
    pub async fn with(cli: FakeCli, adjust: impl FnOnce(TokensConfig) -> TokensConfig) -> Self {
        let store = Arc::new(FlakyStorage::new(MemoryStorage::new()));
        let clock = ManualClock::new(T0);
        let tokens = Tokens::start(adjust(config(&cli, &store, &clock)))
            .await
            .expect("stack starts");
        Self {
            tokens,
            cli,
            store,
            clock,
        }
    }

    /// Moves the manual clock and tokio's paused clock together.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        tokio::time::advance(by).await;
    }

    pub async fn stored(&self, key: &StorageKey) -> Option<TokenRecord> {
        self.store.get(key).await.expect("storage get")
    }

    /// The fixture org's stored minted token.
    pub async fn stored_minted(&self) -> Option<TokenRecord> {
        self.stored(&minted()).await
    }

    pub async fn store_minted(&self, token: &str, expires_at: i64) {
        let rec = TokenRecord::minted(acme(), Token::new(token), expires_at);
        self.store.put(&minted(), rec).await.expect("storage put");
    }

    pub async fn store_manual(&self, name: &str, token: &str) {
        let rec = TokenRecord::manual(app(name), Token::new(token));
        self.store.put(&manual(name), rec).await.expect("storage put");
    }

    /// Kills the root's child `id` (fault injection) and returns once the
    /// tree has started a new incarnation of it.
    pub async fn kill_child(&self, id: &str) {
        let root = self.tokens.supervisor();
        let before = root.child(id).await.expect("root runs and has the child");
        let before = before.child_ref().cloned().expect("child runs");
        before.kill();
        eventually(|| async {
            let now = root.child(id).await.expect("root runs and has the child");
            (now.child_ref()? != &before).then_some(())
        })
        .await;
        // And every child after it is running again.
        eventually(|| async {
            let now = root.which_children().await.expect("root runs");
            now.iter().all(|c| c.child_ref().is_some()).then_some(())
        })
        .await;
    }
}

/// Yields to the runtime until `check` gives `Some` (the other tasks run
/// meanwhile); panics after 10 s of real time, a bound only a hang reaches.
/// Waits for an event that has no other handle to await; never sleeps, so
/// a paused clock does not move. (The bound is real time, not a number of
/// rounds: work on tokio's blocking pool, such as the read of the user's
/// token, finishes in real time, which a loaded machine stretches.)
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(std::time::Instant::now() < deadline, "condition never became true");
        tokio::task::yield_now().await;
    }
}
