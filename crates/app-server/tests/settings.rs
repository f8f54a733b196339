//! Settings are snapshotted when an AppServer starts.

mod support;

use atlas_app_server::testing::FakeCli;
use atlas_app_server::{Source, Token};
use support::{fly, Fixture};

#[tokio::test(start_paused = true)]
async fn settings_are_snapshotted_at_server_start() {
    let f = Fixture::with(FakeCli::succeeding(&fly("cli")), |c| {
        c.config_file_fn(|| Some(Token::new(fly("user"))))
    })
    .await;
    // app-a's server starts with the user token enabled.
    let (_, source, _) = f.tokens.get_traced("app-a").await;
    assert_eq!(source, Source::Config);

    // Reconfigure: the user token is now disabled.
    f.tokens.reconfigure(f.tokens.settings().config_file_enabled(false));

    // app-a's running server keeps its snapshot...
    f.tokens.invalidate("app-a").await.expect("invalidate");
    let (token, source, _) = f.tokens.get_traced("app-a").await;
    assert_eq!(
        (token.expect("user").expose(), source),
        (fly("user").as_str(), Source::Config)
    );
    // ...while app-b's server, started after, uses the new settings.
    let (token, source, _) = f.tokens.get_traced("app-b").await;
    assert_eq!(
        (token.expect("cli").expose(), source),
        (fly("cli").as_str(), Source::Cli)
    );

    // A restarted app-a server snapshots again.
    let old = f.tokens.whereis("app-a").expect("running");
    old.kill();
    support::eventually(|| async { f.tokens.whereis("app-a").filter(|s| s.is_alive() && *s != old) }).await;
    f.tokens.invalidate("app-a").await.expect("invalidate");
    let (token, source, _) = f.tokens.get_traced("app-a").await;
    // Not the user's token any more: the org's minted one, which app-b's
    // server already holds for the scope.
    assert_eq!(
        (token.expect("org token").expose(), source),
        (fly("cli").as_str(), Source::Cache)
    );
}
