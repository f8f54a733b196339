//! A record's value in Redis: a small JSON object.

use atlas_app_server::Token;
use serde::{Deserialize, Serialize};

/// A record as the Redis store keeps it.
///
/// `Debug` never shows the token ([`Token`]'s own `Debug` is redacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisRecord {
    /// The token.
    pub token: Token,
    /// When it stops being valid, in unix seconds; `None`: never.
    pub expires_at: Option<i64>,
    /// Where it came from (`cli`, `manual`, …), for `status`.
    pub source: String,
    /// The scope it serves (for example `org:acme`), when it has one.
    pub scope: Option<String>,
}

/// The wire form. No `Debug`: it holds the token.
#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    token: String,
    expires_at: Option<i64>,
    source: String,
    #[serde(default)]
    scope: Option<String>,
}

const VERSION: u32 = 1;

/// The JSON value of `record`. The compare-and-delete script reads its
/// `token` field.
pub(crate) fn encode(record: &RedisRecord) -> String {
    let wire = Wire {
        v: VERSION,
        token: record.token.expose().to_owned(),
        expires_at: record.expires_at,
        source: record.source.clone(),
        scope: record.scope.clone(),
    };
    // A struct of strings and integers always serializes.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// The record in `value`, or why it is not one (never quoting the value).
pub(crate) fn decode(value: &[u8]) -> Result<RedisRecord, String> {
    let wire: Wire = serde_json::from_slice(value).map_err(|e| {
        // Category and position only: serde's message can quote the value.
        format!(
            "invalid JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if wire.v != VERSION {
        return Err(format!("unknown record version {}", wire.v));
    }
    let token = Token::new(&wire.token);
    if token.is_empty() {
        return Err("empty token".into());
    }
    Ok(RedisRecord {
        token,
        expires_at: wire.expires_at,
        source: wire.source,
        scope: wire.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let rec = RedisRecord {
            token: Token::new("FlyV1 fm2_abc"),
            expires_at: Some(1_900_000_000),
            source: "cli".into(),
            scope: Some("org:acme".into()),
        };
        assert_eq!(decode(encode(&rec).as_bytes()), Ok(rec));
        let err = decode(br#"{"v":1,"token":"fm2_secret","#).expect_err("torn");
        assert!(!err.contains("fm2_secret"), "{err}");
        assert!(decode(br#"{"v":1,"token":" ","expires_at":null,"source":"cli"}"#).is_err());
        assert!(decode(br#"{"v":9,"token":"t","expires_at":null,"source":"cli"}"#).is_err());
    }
}
