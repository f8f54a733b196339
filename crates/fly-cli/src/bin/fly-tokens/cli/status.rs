//! `fly-tokens status`: what the store holds, without ever showing a token.
//! Read-only: it creates, moves, removes and changes nothing, so damaged and
//! expired records are listed as they are.

use std::time::{SystemTime, UNIX_EPOCH};

use atlas_app_server::{RecordSource, Storage, StorageError, Token};
use atlas_fly_cli::{human_secs, ConfigOptions, FileStorage, MovedAside, TokenStore, DAMAGED_RECORD_RETENTION};
use serde_json::json;

use super::fingerprint::fingerprint;
use super::output::{tell, write_stdout};
use super::EXIT_FAILURE;

/// One stored record, as shown.
struct Row {
    /// `minted` or `manual`.
    kind: &'static str,
    /// `org:acme`, `app:my-app`.
    scope: String,
    /// `cli`, `manual`; `None` when unreadable.
    source: Option<&'static str>,
    expires_at: Option<i64>,
    fingerprint: Option<String>,
    error: Option<String>,
}

/// What the listing is of.
struct Header {
    /// The directory, or the Redis URL (masked).
    store: String,
    /// `file` or `redis`.
    backend: &'static str,
    /// The Redis key prefix.
    prefix: Option<String>,
    /// The file store's temporary fallback.
    fallback: bool,
}

/// Lists the store (no stack is started); returns the exit code.
pub async fn run(options: &ConfigOptions, as_json: bool) -> u8 {
    let store = match options.open_store_read_only() {
        Ok(store) => store,
        Err(e) => {
            tell!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    let listed = match &store {
        TokenStore::File(store) => list_files(store).await,
        #[cfg(feature = "redis")]
        TokenStore::Redis(store) => list_redis(store).await,
    };
    let (header, rows, aside) = match listed {
        Ok(listed) => listed,
        Err(e) => {
            tell!("fly-tokens: cannot list the store: {e}");
            return EXIT_FAILURE;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let text = if as_json {
        to_json(&header, &rows, &aside, now)
    } else {
        to_table(&header, &rows, &aside, now)
    };
    write_stdout(&text)
}

type Listing = (Header, Vec<Row>, Vec<MovedAside>);

async fn list_files(store: &FileStorage) -> Result<Listing, StorageError> {
    let entries = store.entries().await?;
    let mut rows = Vec::with_capacity(entries.len());
    for key in entries {
        let (kind, scope) = (key.kind(), key.scope().to_string());
        let row = match store.get(&key).await {
            // Removed since it was listed.
            Ok(None) => continue,
            Ok(Some(rec)) => Row::of(kind, scope, rec.source.as_str(), &rec.token, rec.expires_at),
            Err(e) => Row::unreadable(kind, scope, e.to_string()),
        };
        rows.push(row);
    }
    let aside = store.moved_aside().await?;
    let header = Header {
        store: store.dir().display().to_string(),
        backend: "file",
        prefix: None,
        fallback: store.is_fallback(),
    };
    Ok((header, rows, aside))
}

/// Every record under the prefix (one `SCAN`, batched `MGET`s): Redis
/// keeps no moved-aside records (a damaged minted record is deleted when
/// read, a damaged manual one stays and is listed as unreadable).
#[cfg(feature = "redis")]
async fn list_redis(store: &atlas_fly_cli::RedisStore) -> Result<Listing, StorageError> {
    use atlas_fly_cli::RecordKey;
    let mut rows = Vec::new();
    for listed in store.list().await? {
        let (kind, scope) = match &listed.key {
            RecordKey::Scope(scope) => ("minted", scope.clone()),
            RecordKey::Manual(app) => ("manual", format!("app:{app}")),
        };
        let row = match listed.record {
            Ok(rec) => match RecordSource::parse(&rec.source) {
                Some(source) => Row::of(kind, scope, source.as_str(), &rec.token, rec.expires_at),
                None => Row::unreadable(kind, scope, format!("unknown source {:?}", rec.source)),
            },
            Err(e) => Row::unreadable(kind, scope, e),
        };
        rows.push(row);
    }
    let header = Header {
        store: store.settings().url().to_string(),
        backend: "redis",
        prefix: Some(store.settings().key_prefix().to_owned()),
        fallback: false,
    };
    Ok((header, rows, Vec::new()))
}

impl Row {
    fn of(kind: &'static str, scope: String, source: &'static str, token: &Token, expires_at: Option<i64>) -> Self {
        Row {
            kind,
            scope,
            source: Some(source),
            // What is really served: capped by the token's own expiry.
            expires_at: cap(token.expose(), expires_at),
            fingerprint: Some(fingerprint(token)),
            error: None,
        }
    }

    fn unreadable(kind: &'static str, scope: String, error: String) -> Self {
        Row {
            kind,
            scope,
            source: None,
            expires_at: None,
            fingerprint: None,
            error: Some(error),
        }
    }
}

/// `expires_at` capped by the token's own expiry, as the chain serves it.
fn cap(token: &str, expires_at: Option<i64>) -> Option<i64> {
    let own = atlas_fly_cli::token_expiry(token).map(|at| at - atlas_app_server::EXPIRY_SKEW_SECS);
    match (expires_at, own) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn expires_in(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "never".to_owned(),
        Some(at) if at > now => human_secs(at.abs_diff(now)),
        Some(at) => format!("expired {} ago", human_secs(now.abs_diff(at))),
    }
}

fn to_table(header: &Header, rows: &[Row], aside: &[MovedAside], now: i64) -> String {
    let mut s = format!("store: {}", header.store);
    if let Some(prefix) = &header.prefix {
        s.push_str(&format!(" (keys under {prefix})"));
    }
    if header.fallback {
        s.push_str(" (temporary fallback)");
    }
    s.push('\n');
    if rows.is_empty() {
        s.push_str("no tokens stored\n");
    } else {
        s.push_str(&token_table(rows, now));
    }
    if !aside.is_empty() {
        s.push_str(&format!(
            "damaged records moved aside (kept {} days for inspection, then removed):\n",
            DAMAGED_RECORD_RETENTION.as_secs() / 86_400
        ));
        for a in aside {
            s.push_str(&format!(
                "  {}  {}  {} ago  {}\n",
                a.key.scope(),
                a.key.kind(),
                human_secs(u64::try_from(now).unwrap_or(0).saturating_sub(a.moved_at)),
                a.path.display()
            ));
        }
    }
    s
}

fn token_table(rows: &[Row], now: i64) -> String {
    let cells: Vec<(String, String)> = rows
        .iter()
        .map(|r| match &r.error {
            Some(e) => ("-".to_owned(), format!("unreadable: {e}")),
            None => (expires_in(r.expires_at, now), r.fingerprint.clone().unwrap_or_default()),
        })
        .collect();
    let width = rows.iter().map(|r| r.scope.len()).max().unwrap_or(0).max(5);
    // As wide as the longest expiry ("expired 1d 2h ago" is), so that the
    // fingerprints stay in one column.
    let expiry_width = cells.iter().map(|(e, _)| e.chars().count()).max().unwrap_or(0).max(16);
    let mut s = format!(
        "{:<width$}  {:<6}  {:<6}  {:<expiry_width$}  FINGERPRINT\n",
        "SCOPE", "KIND", "SOURCE", "EXPIRES IN"
    );
    for (r, (expiry, fp)) in rows.iter().zip(cells) {
        s.push_str(&format!(
            "{:<width$}  {:<6}  {:<6}  {:<expiry_width$}  {fp}\n",
            r.scope,
            r.kind,
            r.source.unwrap_or("-"),
            expiry
        ));
    }
    s
}

fn to_json(header: &Header, rows: &[Row], aside: &[MovedAside], now: i64) -> String {
    let tokens: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "kind": r.kind,
                "scope": r.scope,
                "source": r.source,
                "expires_at": r.expires_at,
                "expires_in_secs": r.expires_at.map(|at| at.saturating_sub(now)),
                "expired": r.expires_at.is_some_and(|at| at <= now),
                "fingerprint": r.fingerprint,
                "error": r.error,
            })
        })
        .collect();
    let aside: Vec<_> = aside
        .iter()
        .map(|a| {
            json!({
                "kind": a.key.kind(),
                "scope": a.key.scope().to_string(),
                "file": a.path.display().to_string(),
                "moved_at": a.moved_at,
            })
        })
        .collect();
    let doc = json!({
        "store": header.store,
        "backend": header.backend,
        "prefix": header.prefix,
        "fallback": header.fallback,
        "tokens": tokens,
        "moved_aside": aside,
    });
    format!("{doc}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(fallback: bool) -> Header {
        Header {
            store: "/s".into(),
            backend: "file",
            prefix: None,
            fallback,
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                kind: "minted",
                scope: "org:acme".into(),
                source: Some("cli"),
                expires_at: Some(1_000 + 86_399),
                fingerprint: Some("1a2b3c4d".into()),
                error: None,
            },
            Row {
                kind: "manual",
                scope: "app:other".into(),
                source: Some("manual"),
                expires_at: None,
                fingerprint: Some("9f8e7d6c".into()),
                error: None,
            },
        ]
    }

    #[test]
    fn table() {
        assert_eq!(
            to_table(&dir(false), &rows(), &[], 1_000),
            "store: /s\n\
             SCOPE      KIND    SOURCE  EXPIRES IN        FINGERPRINT\n\
             org:acme   minted  cli     23h 59m           1a2b3c4d\n\
             app:other  manual  manual  never             9f8e7d6c\n"
        );
        assert_eq!(
            to_table(&dir(true), &[], &[], 0),
            "store: /s (temporary fallback)\nno tokens stored\n"
        );
    }

    #[test]
    fn a_long_expiry_keeps_the_fingerprints_in_one_column() {
        let mut rows = rows();
        rows[1].expires_at = Some(1_000 - 86_400 - 7_200);
        assert_eq!(
            to_table(&dir(false), &rows, &[], 1_000),
            "store: /s\n\
             SCOPE      KIND    SOURCE  EXPIRES IN         FINGERPRINT\n\
             org:acme   minted  cli     23h 59m            1a2b3c4d\n\
             app:other  manual  manual  expired 1d 2h ago  9f8e7d6c\n"
        );
    }

    #[test]
    fn moved_aside_records_are_listed() {
        let org = atlas_app_server::OrgName::new("torn").expect("org");
        let aside = [MovedAside {
            key: atlas_app_server::StorageKey::Minted(atlas_app_server::Scope::Org(org)),
            path: "/s/org/torn.json.corrupt-400".into(),
            moved_at: 400,
        }];
        assert_eq!(
            to_table(&dir(false), &[], &aside, 4_000),
            "store: /s\nno tokens stored\n\
             damaged records moved aside (kept 7 days for inspection, then removed):\n  \
             org:torn  minted  1h 0m ago  /s/org/torn.json.corrupt-400\n"
        );
        let v: serde_json::Value = serde_json::from_str(&to_json(&dir(false), &[], &aside, 4_000)).expect("json");
        assert_eq!(v["moved_aside"][0]["file"], "/s/org/torn.json.corrupt-400");
        assert_eq!(v["moved_aside"][0]["scope"], "org:torn");
        assert_eq!(v["moved_aside"][0]["moved_at"], 400);
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&to_json(&dir(false), &rows(), &[], 1_000)).expect("json");
        assert_eq!(v["tokens"][0]["expires_in_secs"], 86_399);
        assert_eq!(v["tokens"][0]["scope"], "org:acme");
        assert_eq!(v["tokens"][0]["source"], "cli");
        assert_eq!(v["tokens"][0]["expires_at"], 1_000 + 86_399);
        assert_eq!(v["tokens"][0]["fingerprint"], "1a2b3c4d");
        assert_eq!(v["tokens"][1]["kind"], "manual");
        assert_eq!(v["tokens"][1]["expires_at"], serde_json::Value::Null);
        assert_eq!((v["backend"].as_str(), v["prefix"].is_null()), (Some("file"), true));
    }

    #[test]
    fn a_redis_store_shows_its_url_masked_and_its_prefix() {
        let header = Header {
            store: "redis://:***@h:6379/0".into(),
            backend: "redis",
            prefix: Some("atlas:fly-tokens:".into()),
            fallback: false,
        };
        assert_eq!(
            to_table(&header, &[], &[], 0),
            "store: redis://:***@h:6379/0 (keys under atlas:fly-tokens:)\nno tokens stored\n"
        );
        let v: serde_json::Value = serde_json::from_str(&to_json(&header, &[], &[], 0)).expect("json");
        assert_eq!(v["prefix"], "atlas:fly-tokens:");
        assert_eq!(v["backend"], "redis");
    }
}
