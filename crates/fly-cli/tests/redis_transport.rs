//! The three URL forms against a real `redis-server`: `rediss://` (TLS, with
//! a private CA), `redis+unix://` and `redis://…/DB`.
#![cfg(feature = "redis")]

mod redis_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use atlas_app_server::{StorageError, Token};
use atlas_fly_cli::{BroadcastEvent, RecordKey, RedisRecord, RedisSettings, RedisStore, RedisTransport};
use redis_support::{Options, RedisServer};

fn rec(token: &str) -> RedisRecord {
    RedisRecord {
        token: Token::new(token),
        expires_at: None,
        source: "cli".into(),
        scope: Some("org:acme".into()),
    }
}

fn key() -> RecordKey {
    RecordKey::Scope("org:acme".into())
}

fn settings(url: &str) -> RedisSettings {
    RedisSettings::new(url.parse().expect("url"))
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Duration::from_secs(2))
}

/// A CA and a server certificate for 127.0.0.1, made with `openssl`; `None`
/// (reported as skipped, a failure under CI=true) without it.
fn certificates(dir: &Path) -> Option<()> {
    let openssl = |args: &[&str]| {
        Command::new("openssl").args(args).current_dir(dir).output().map(|o| {
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            )
        })
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
    ];
    if openssl(&[&ca.concat()[..], &["-subj", "/CN=atlas test CA"]].concat()).is_err() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("openssl is not installed (CI=true: the TLS test may not be skipped)");
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {}: openssl not found",
            redis_support::test_name()
        );
        return None;
    }
    let csr = [
        &["req"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
    ];
    openssl(&csr.concat()).expect("csr");
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ])
    .expect("sign");
    Some(())
}

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let certs = tempfile::tempdir().expect("tempdir");
    let Some(()) = certificates(certs.path()) else { return };
    let file = |name: &str| certs.path().join(name).display().to_string();
    let server = match RedisServer::start_with(Options {
        tcp: false,
        args: [
            "--tls-port",
            "{port}",
            "--tls-cert-file",
            &file("server.pem"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.pem"),
            "--tls-auth-clients",
            "no",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    }) {
        Some(s) => s,
        None => return,
    };
    let url = format!("rediss://127.0.0.1:{}/0", server.port());
    let ca = std::fs::read(certs.path().join("ca.pem")).expect("ca");
    let tls = settings(&url).tls_root_certificates(ca);
    assert_eq!(tls.url().transport(), RedisTransport::Tls);
    let store = RedisStore::new(tls.clone()).expect("store");
    store.put(&key(), &rec("fm2_over_tls")).await.expect("put over TLS");
    assert_eq!(store.get(&key()).await.expect("get"), Some(rec("fm2_over_tls")));
    // The subscription uses TLS too.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sub = store.subscribe(move |e| {
        let _ = tx.send(e);
    });
    assert!(sub.wait_subscribed(Duration::from_secs(10)).await);
    RedisStore::new(tls)
        .expect("store")
        .publish_invalidation("org:acme")
        .await
        .expect("publish");
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("in time");
    assert!(matches!(event, Some(BroadcastEvent::Invalidated { scope, .. }) if scope == "org:acme"));
    // Without the CA the server is not trusted: no token goes to it.
    let untrusted = RedisStore::new(settings(&url)).expect("store");
    assert!(matches!(
        untrusted.put(&key(), &rec("fm2_never")).await,
        Err(StorageError::Unavailable(_))
    ));
}

#[tokio::test]
async fn redis_unix_socket() {
    let server = match RedisServer::start_with(Options {
        tcp: false,
        args: ["--unixsocket", "{dir}/redis.sock", "--unixsocketperm", "700"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    }) {
        Some(s) => s,
        None => return,
    };
    let socket = server.dir().join("redis.sock");
    let at = |db: u32| format!("redis+unix://{}?db={db}", socket.display());
    let (db0, db4) = (
        RedisStore::new(settings(&at(0))).expect("store"),
        RedisStore::new(settings(&at(4))).expect("store"),
    );
    assert_eq!(db4.settings().url().transport(), RedisTransport::Unix);
    db4.put(&key(), &rec("fm2_socket")).await.expect("put over the socket");
    assert_eq!(db4.get(&key()).await.expect("get"), Some(rec("fm2_socket")));
    assert_eq!(db0.get(&key()).await.expect("get"), None, "db=4 is its own database");
}

#[tokio::test]
async fn the_database_in_the_path_is_selected() {
    let server = server!();
    let at = |db: u32| RedisStore::new(settings(&format!("redis://127.0.0.1:{}/{db}", server.port()))).expect("store");
    at(3).put(&key(), &rec("fm2_db3")).await.expect("put");
    assert_eq!(at(0).get(&key()).await.expect("get"), None);
    assert_eq!(at(3).get(&key()).await.expect("get"), Some(rec("fm2_db3")));
    assert_eq!(
        server.raw(&["EXISTS", "atlas:fly-tokens:scope:org:acme"]),
        "0",
        "not in db 0"
    );
}
