//! `fly-tokens status`: what the store holds, without ever showing a token.
//! Read-only: it creates, moves, removes and changes nothing, so damaged and
//! expired records are listed as they are.

use std::time::{SystemTime, UNIX_EPOCH};

use atlas_app_server::{Storage, StorageKey};
use atlas_fly_cli::{ConfigOptions, MovedAside, DAMAGED_RECORD_RETENTION};
use serde_json::json;

use super::duration::human_secs;
use super::fingerprint::fingerprint;
use super::output::write_stdout;
use super::EXIT_FAILURE;

/// One stored record, as shown.
struct Row {
    app: String,
    kind: StorageKey,
    expires_at: Option<i64>,
    fingerprint: Option<String>,
    error: Option<String>,
}

/// Lists the store (no stack is started); returns the exit code.
pub async fn run(options: &ConfigOptions, as_json: bool) -> u8 {
    let store = match options.open_store_read_only() {
        Ok(store) => store,
        Err(e) => {
            eprintln!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    let entries = match store.entries().await {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("fly-tokens: cannot list the store: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut rows = Vec::with_capacity(entries.len());
    for (app, kind) in entries {
        let row = match store.get(&app, kind).await {
            // Removed since it was listed.
            Ok(None) => continue,
            Ok(Some(rec)) => Row {
                app: app.to_string(),
                kind,
                expires_at: rec.expires_at,
                fingerprint: Some(fingerprint(&rec.token)),
                error: None,
            },
            Err(e) => Row {
                app: app.to_string(),
                kind,
                expires_at: None,
                fingerprint: None,
                error: Some(e.to_string()),
            },
        };
        rows.push(row);
    }
    let aside = match store.moved_aside().await {
        Ok(aside) => aside,
        Err(e) => {
            eprintln!("fly-tokens: cannot list the store: {e}");
            return EXIT_FAILURE;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let dir = store.dir().display().to_string();
    let text = if as_json {
        to_json(&dir, store.is_fallback(), &rows, &aside, now)
    } else {
        to_table(&dir, store.is_fallback(), &rows, &aside, now)
    };
    write_stdout(&text)
}

fn expires_in(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "never".to_owned(),
        Some(at) if at > now => human_secs(at.abs_diff(now)),
        Some(at) => format!("expired {} ago", human_secs(now.abs_diff(at))),
    }
}

fn to_table(dir: &str, fallback: bool, rows: &[Row], aside: &[MovedAside], now: i64) -> String {
    let mut s = format!("store: {dir}{}\n", if fallback { " (temporary fallback)" } else { "" });
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
                a.app,
                a.key.as_str(),
                human_secs(u64::try_from(now).unwrap_or(0).saturating_sub(a.moved_at)),
                a.path.display()
            ));
        }
    }
    s
}

fn token_table(rows: &[Row], now: i64) -> String {
    let mut s = String::new();
    let width = rows.iter().map(|r| r.app.len()).max().unwrap_or(0).max(3);
    s.push_str(&format!(
        "{:<width$}  {:<6}  {:<16}  FINGERPRINT\n",
        "APP", "KIND", "EXPIRES IN"
    ));
    for r in rows {
        let (expiry, fp) = match &r.error {
            Some(e) => ("-".to_owned(), format!("unreadable: {e}")),
            None => (expires_in(r.expires_at, now), r.fingerprint.clone().unwrap_or_default()),
        };
        s.push_str(&format!(
            "{:<width$}  {:<6}  {:<16}  {fp}\n",
            r.app,
            r.kind.as_str(),
            expiry
        ));
    }
    s
}

fn to_json(dir: &str, fallback: bool, rows: &[Row], aside: &[MovedAside], now: i64) -> String {
    let tokens: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "app": r.app,
                "kind": r.kind.as_str(),
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
                "app": a.app.as_str(),
                "kind": a.key.as_str(),
                "file": a.path.display().to_string(),
                "moved_at": a.moved_at,
            })
        })
        .collect();
    let doc = json!({ "store": dir, "fallback": fallback, "tokens": tokens, "moved_aside": aside });
    format!("{doc}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                app: "my-app".into(),
                kind: StorageKey::Cached,
                expires_at: Some(1_000 + 86_399),
                fingerprint: Some("1a2b3c4d".into()),
                error: None,
            },
            Row {
                app: "other".into(),
                kind: StorageKey::Manual,
                expires_at: None,
                fingerprint: Some("9f8e7d6c".into()),
                error: None,
            },
        ]
    }

    #[test]
    fn table() {
        assert_eq!(
            to_table("/s", false, &rows(), &[], 1_000),
            "store: /s\n\
             APP     KIND    EXPIRES IN        FINGERPRINT\n\
             my-app  cached  23h 59m           1a2b3c4d\n\
             other   manual  never             9f8e7d6c\n"
        );
        assert_eq!(
            to_table("/s", true, &[], &[], 0),
            "store: /s (temporary fallback)\nno tokens stored\n"
        );
    }

    #[test]
    fn moved_aside_records_are_listed() {
        let aside = [MovedAside {
            app: atlas_app_server::AppName::new("torn").expect("app"),
            key: StorageKey::Cached,
            path: "/s/cached/torn.json.corrupt-400".into(),
            moved_at: 400,
        }];
        assert_eq!(
            to_table("/s", false, &[], &aside, 4_000),
            "store: /s\nno tokens stored\n\
             damaged records moved aside (kept 7 days for inspection, then removed):\n  \
             torn  cached  1h 0m ago  /s/cached/torn.json.corrupt-400\n"
        );
        let v: serde_json::Value = serde_json::from_str(&to_json("/s", false, &[], &aside, 4_000)).expect("json");
        assert_eq!(v["moved_aside"][0]["file"], "/s/cached/torn.json.corrupt-400");
        assert_eq!(v["moved_aside"][0]["moved_at"], 400);
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&to_json("/s", false, &rows(), &[], 1_000)).expect("json");
        assert_eq!(v["tokens"][0]["expires_in_secs"], 86_399);
        assert_eq!(v["tokens"][1]["kind"], "manual");
        assert_eq!(v["tokens"][1]["expires_at"], serde_json::Value::Null);
    }
}
