//! Several stacks sharing one store (a `MemoryFleet`, standing for Redis):
//! one CLI call per scope for the whole fleet, an invalidation anywhere
//! drops the scope everywhere, and an outage of the store stops nothing.

mod support;

use atlas_app_server::testing::{FakeCli, FleetMember, MemoryFleet};
use atlas_app_server::{ManualClock, Storage, TokenError, TokenKind, Tokens, TokensConfig};
use support::{eventually, fly, minted, org, ORG, T0};

/// One stack standing for a machine: its CLI, its handle on the store.
struct Machine {
    tokens: Tokens,
    cli: FakeCli,
    store: FleetMember,
}

async fn machine(fleet: &MemoryFleet, cli: FakeCli, adjust: impl FnOnce(TokensConfig) -> TokensConfig) -> Machine {
    let store = fleet.member();
    let config = TokensConfig::default()
        .cmd_fn(cli.clone())
        .storage(store.clone())
        .clock(ManualClock::new(T0))
        .configure(|s| s.org(org(ORG)));
    let tokens = Tokens::start(adjust(config)).await.expect("stack starts");
    Machine { tokens, cli, store }
}

async fn machines(fleet: &MemoryFleet, n: usize, token: &str) -> Vec<Machine> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(machine(fleet, FakeCli::succeeding(token), |c| c).await);
    }
    out
}

async fn stored(fleet: &MemoryFleet) -> Option<String> {
    let rec = fleet.records().get(&minted()).await.expect("get");
    rec.map(|r| r.token.expose().to_owned())
}

async fn shutdown(all: &[Machine]) {
    for m in all {
        m.tokens.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_fleet_herd_on_one_scope_runs_the_cli_once() {
    let fleet = MemoryFleet::new();
    let mut all = Vec::new();
    for _ in 0..4 {
        let cli = FakeCli::succeeding(&fly("minted")).with_delay(std::time::Duration::from_millis(200));
        all.push(machine(&fleet, cli, |c| c).await);
    }
    let mut gets = Vec::new();
    for (i, m) in all.iter().enumerate() {
        for j in 0..8 {
            let tokens = m.tokens.clone();
            gets.push(tokio::spawn(async move { tokens.get(&format!("app-{i}-{j}")).await }));
        }
    }
    for get in gets {
        let token = get.await.expect("task").expect("token");
        assert_eq!(token.expose(), fly("minted"));
    }
    let calls: usize = all.iter().map(|m| m.cli.calls()).sum();
    assert_eq!(calls, 1, "4 stacks x 8 callers cold on one org: one CLI call");
    shutdown(&all).await;
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_on_one_stack_drops_the_scope_on_every_other() {
    let fleet = MemoryFleet::new();
    let all = machines(&fleet, 3, &fly("a1")).await;
    all[0].tokens.get("web").await.expect("minted");
    eventually(|| async { stored(&fleet).await }).await;
    for m in &all[1..] {
        assert_eq!(m.tokens.get("web").await.expect("from the store").expose(), fly("a1"));
        assert_eq!(m.tokens.get("api").await.expect("the org's").expose(), fly("a1"));
        assert_eq!(m.cli.calls(), 0);
    }
    all[0].tokens.invalidate("web").await.expect("invalidate");
    assert_eq!(all[0].store.published(), 1);
    for m in &all[1..] {
        eventually(|| async { (m.tokens.cached("web").is_none() && m.tokens.cached("api").is_none()).then_some(()) })
            .await;
    }
    assert_eq!(stored(&fleet).await, None);
    shutdown(&all).await;
}

#[tokio::test(start_paused = true)]
async fn a_refresh_elsewhere_hands_every_stack_the_new_token_minted_once() {
    let fleet = MemoryFleet::new();
    let all = machines(&fleet, 3, &fly("a1")).await;
    all[0].tokens.get("web").await.expect("minted");
    eventually(|| async { stored(&fleet).await }).await;
    for m in &all[1..] {
        m.tokens.get("web").await.expect("from the store");
    }
    all[0].cli.always_ok(&fly("a2"));
    assert_eq!(all[0].tokens.refresh("web").await.expect("new").expose(), fly("a2"));
    for m in &all[1..] {
        eventually(|| async { m.tokens.cached("web").is_none().then_some(()) }).await;
        assert_eq!(m.tokens.get("web").await.expect("new").expose(), fly("a2"));
    }
    let calls: usize = all.iter().map(|m| m.cli.calls()).sum();
    assert_eq!(calls, 2, "the first mint and the refresh, nothing else");
    shutdown(&all).await;
}

#[tokio::test(start_paused = true)]
async fn a_resync_drops_every_scope_held_in_memory() {
    let fleet = MemoryFleet::new();
    let deploy = |c: TokensConfig| c.configure(|s| s.token_kind(TokenKind::Deploy));
    let m = machine(&fleet, FakeCli::succeeding(&fly("d")), deploy).await;
    m.tokens.get("web").await.expect("web's");
    m.tokens.get("api").await.expect("api's");
    fleet.resync_all();
    eventually(|| async { (m.tokens.cached("web").is_none() && m.tokens.cached("api").is_none()).then_some(()) }).await;
    m.tokens.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_listener_is_a_child_of_the_tree_and_a_restarted_one_drops_what_it_may_have_missed() {
    let fleet = MemoryFleet::new();
    let all = machines(&fleet, 2, &fly("a1")).await;
    let root = all[1].tokens.supervisor();
    let kids = root.which_children().await.expect("root runs");
    let ids: Vec<&str> = kids.iter().map(|c| &*c.id).collect();
    assert_eq!(ids, ["registry", "table", "tasks", "apps", "invalidations"]);
    all[1].tokens.get("web").await.expect("minted");
    let listener = kids[4].child_ref().cloned().expect("running");
    listener.kill();
    eventually(|| async { all[1].tokens.cached("web").is_none().then_some(()) }).await;
    // The new listener hears what comes next.
    all[1].tokens.get("web").await.expect("again");
    all[0].tokens.invalidate("web").await.expect("invalidate");
    eventually(|| async { all[1].tokens.cached("web").is_none().then_some(()) }).await;
    shutdown(&all).await;
}

#[tokio::test(start_paused = true)]
async fn a_stack_on_a_store_without_broadcast_has_no_listener() {
    let tokens = Tokens::start(TokensConfig::default()).await.expect("starts");
    let kids = tokens.supervisor().which_children().await.expect("root runs");
    assert!(kids.iter().all(|c| &*c.id != "invalidations"));
    tokens.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn during_an_outage_gets_are_served_and_cold_ones_acquire_locally() {
    let fleet = MemoryFleet::new();
    let m = machine(&fleet, FakeCli::succeeding(&fly("local")), |c| {
        c.configure(|s| s.token_kind(TokenKind::Deploy))
    })
    .await;
    m.tokens.get("warm").await.expect("before the outage");
    m.store.set_unavailable(true);
    assert_eq!(
        m.tokens.get("warm").await.expect("from the table").expose(),
        fly("local")
    );
    assert_eq!(
        m.tokens.get("cold").await.expect("acquired locally").expose(),
        fly("local")
    );
    assert_eq!(m.cli.calls(), 2);
    let err = m
        .tokens
        .set_manual("warm", fly("manual"))
        .await
        .expect_err("not kept in memory only");
    assert!(matches!(err, TokenError::PersistFailed(_)), "{err}");
    m.tokens.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_refresh_during_an_outage_answers_and_the_rejected_token_is_deleted_once_the_store_is_back() {
    let fleet = MemoryFleet::new();
    let all = machines(&fleet, 2, &fly("a1")).await;
    all[0].tokens.get("web").await.expect("minted");
    eventually(|| async { stored(&fleet).await }).await;
    all[1].tokens.get("web").await.expect("from the store");
    all[0].store.set_unavailable(true);
    all[0].cli.always_ok(&fly("a2"));
    let token = all[0].tokens.refresh("web").await.expect("a refresh still answers");
    assert_eq!(token.expose(), fly("a2"));
    assert_eq!(
        stored(&fleet).await.as_deref(),
        Some(&*fly("a1")),
        "could not be deleted yet"
    );
    all[0].store.set_unavailable(false);
    fleet.resync_all();
    eventually(|| async { stored(&fleet).await.is_none().then_some(()) }).await;
    eventually(|| async { all[1].tokens.cached("web").is_none().then_some(()) }).await;
    shutdown(&all).await;
}

#[tokio::test(start_paused = true)]
async fn a_stack_that_shut_down_is_no_longer_subscribed() {
    let fleet = MemoryFleet::new();
    let m = machine(&fleet, FakeCli::succeeding(&fly("t")), |c| c).await;
    assert_eq!(fleet.subscribers(), 1);
    m.tokens.shutdown().await;
    eventually(|| async { (fleet.subscribers() == 0).then_some(()) }).await;
}
