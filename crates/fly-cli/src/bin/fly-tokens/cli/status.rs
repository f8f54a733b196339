//! `fly-tokens status`: what the store holds, without ever showing a token.
//! Read-only: it creates, moves, removes and changes nothing, so damaged and
//! expired records are listed as they are.

use std::time::{SystemTime, UNIX_EPOCH};

use atlas_app_server::Storage;
use atlas_fly_cli::{human_secs, ConfigOptions, MovedAside, DAMAGED_RECORD_RETENTION};
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

/// Lists the store (no stack is started); returns the exit code.
pub async fn run(options: &ConfigOptions, as_json: bool) -> u8 {
    let store = match options.open_store_read_only() {
        Ok(store) => store,
        Err(e) => {
            tell!("fly-tokens: {e}");
            return EXIT_FAILURE;
        }
    };
    let entries = match store.entries().await {
        Ok(entries) => entries,
        Err(e) => {
            tell!("fly-tokens: cannot list the store: {e}");
            return EXIT_FAILURE;
        }
    };
    let mut rows = Vec::with_capacity(entries.len());
    for key in entries {
        let (kind, scope) = (key.kind(), key.scope().to_string());
        let row = match store.get(&key).await {
            // Removed since it was listed.
            Ok(None) => continue,
            Ok(Some(rec)) => Row {
                kind,
                scope,
                source: Some(rec.source.as_str()),
                // What is really served: capped by the token's own expiry.
                expires_at: cap(rec.token.expose(), rec.expires_at),
                fingerprint: Some(fingerprint(&rec.token)),
                error: None,
            },
            Err(e) => Row {
                kind,
                scope,
                source: None,
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
            tell!("fly-tokens: cannot list the store: {e}");
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

fn to_json(dir: &str, fallback: bool, rows: &[Row], aside: &[MovedAside], now: i64) -> String {
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
    let doc = json!({ "store": dir, "fallback": fallback, "tokens": tokens, "moved_aside": aside });
    format!("{doc}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
            to_table("/s", false, &rows(), &[], 1_000),
            "store: /s\n\
             SCOPE      KIND    SOURCE  EXPIRES IN        FINGERPRINT\n\
             org:acme   minted  cli     23h 59m           1a2b3c4d\n\
             app:other  manual  manual  never             9f8e7d6c\n"
        );
        assert_eq!(
            to_table("/s", true, &[], &[], 0),
            "store: /s (temporary fallback)\nno tokens stored\n"
        );
    }

    #[test]
    fn a_long_expiry_keeps_the_fingerprints_in_one_column() {
        let mut rows = rows();
        rows[1].expires_at = Some(1_000 - 86_400 - 7_200);
        assert_eq!(
            to_table("/s", false, &rows, &[], 1_000),
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
            to_table("/s", false, &[], &aside, 4_000),
            "store: /s\nno tokens stored\n\
             damaged records moved aside (kept 7 days for inspection, then removed):\n  \
             org:torn  minted  1h 0m ago  /s/org/torn.json.corrupt-400\n"
        );
        let v: serde_json::Value = serde_json::from_str(&to_json("/s", false, &[], &aside, 4_000)).expect("json");
        assert_eq!(v["moved_aside"][0]["file"], "/s/org/torn.json.corrupt-400");
        assert_eq!(v["moved_aside"][0]["scope"], "org:torn");
        assert_eq!(v["moved_aside"][0]["moved_at"], 400);
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&to_json("/s", false, &rows(), &[], 1_000)).expect("json");
        assert_eq!(v["tokens"][0]["expires_in_secs"], 86_399);
        assert_eq!(v["tokens"][0]["scope"], "org:acme");
        assert_eq!(v["tokens"][0]["source"], "cli");
        assert_eq!(v["tokens"][0]["expires_at"], 1_000 + 86_399);
        assert_eq!(v["tokens"][0]["fingerprint"], "1a2b3c4d");
        assert_eq!(v["tokens"][1]["kind"], "manual");
        assert_eq!(v["tokens"][1]["expires_at"], serde_json::Value::Null);
    }
}
