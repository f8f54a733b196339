//! A token's own expiry, which caps every `expires_at` (SPEC.md §5).
//!
//! The decoder lives here, not in `atlas-fly-cli`, because the cap applies
//! inside the chain to every source (the CLI's output, the user's own
//! token, stored records when they are read, manual tokens) and the format
//! is Fly's, like [`looks_like_fly_token`](crate::looks_like_fly_token): a
//! pure function of the token's bytes, no process, file or network. A hook
//! in the config would be a seam with only one sensible implementation.

use base64::Engine as _;
use rmpv::Value;

/// How much earlier than its own `not_after` a token stops being served:
/// our clock and Fly's may disagree by this much, and a token that expires
/// while a request is in flight is as bad as an expired one.
pub const EXPIRY_SKEW_SECS: i64 = 60;

/// Macaroon caveat type of a validity window (`[not_before, not_after]`).
const CAV_VALIDITY_WINDOW: i64 = 4;

/// Deeper nesting than this is not a macaroon (and is not decoded).
const MAX_DEPTH: usize = 16;

/// The expiry a Fly macaroon token carries: the smallest `not_after` (unix
/// seconds) of the validity-window caveats of its `fm2_` parts, or `None`
/// when no part carries one (OAuth `fo1_` and legacy parts, or anything
/// that does not decode).
///
/// It reads the token's public caveats only and proves nothing: the
/// signature is not (and cannot be) checked here. It can only shorten a
/// token's life, never lengthen it.
///
/// ```
/// use atlas_app_server::token_expiry;
/// assert_eq!(token_expiry("fo1_opaque"), None);
/// ```
pub fn token_expiry(token: &str) -> Option<i64> {
    let body = token.trim();
    let body = body
        .strip_prefix("FlyV1 ")
        .or_else(|| body.strip_prefix("Bearer "))
        .unwrap_or(body);
    body.split(',')
        .filter_map(|part| part.trim().strip_prefix("fm2_"))
        .filter_map(|b64| macaroon_not_after(&decode_base64(b64)?))
        .min()
}

/// `expires_at` capped by the token's own expiry less [`EXPIRY_SKEW_SECS`];
/// `None` (no local expiry, as for a manual token) becomes the token's own
/// when it has one.
pub(crate) fn cap(token: &str, expires_at: Option<i64>) -> Option<i64> {
    let own = token_expiry(token).map(|at| at.saturating_sub(EXPIRY_SKEW_SECS));
    match (expires_at, own) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
}

/// A macaroon is `[nonce, location, caveats, tail]`; caveats are a flat
/// `[type, body, type, body, …]`.
fn macaroon_not_after(bytes: &[u8]) -> Option<i64> {
    let value = rmpv::decode::read_value_with_max_depth(&mut &bytes[..], MAX_DEPTH).ok()?;
    let parts = value.as_array().filter(|p| p.len() >= 3)?;
    let caveats = parts[2].as_array().filter(|c| c.len() % 2 == 0)?;
    caveats
        .chunks_exact(2)
        .filter(|pair| pair[0].as_i64() == Some(CAV_VALIDITY_WINDOW))
        .map(|pair| validity_not_after(&pair[1]))
        // A validity window we cannot read makes the whole part unreadable.
        .try_fold(None, |earliest: Option<i64>, na| {
            let na = na?;
            Some(Some(earliest.map_or(na, |e| e.min(na))))
        })?
}

/// The body of a validity window: `[not_before, not_after]`, or (encoders
/// that write structs as maps) `{NotBefore, NotAfter}`.
fn validity_not_after(body: &Value) -> Option<i64> {
    if let Some(window) = body.as_array() {
        return window.get(1)?.as_i64();
    }
    body.as_map()?
        .iter()
        .find(|(k, _)| {
            k.as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("notafter") || k.eq_ignore_ascii_case("not_after"))
        })?
        .1
        .as_i64()
}

/// Builds `fm2_` macaroon parts for tests and demos (no signature: the
/// shape Fly's tokens have, with chosen caveats).
#[cfg(any(test, feature = "testing"))]
pub(crate) mod build {
    use base64::Engine as _;
    use rmpv::Value;

    /// A `FlyV1 fm2_…` token whose one part carries a validity window
    /// `[not_before, not_after]`, and `tag` (to tell tokens apart) in its nonce.
    pub(crate) fn token_with_window(tag: &str, not_before: i64, not_after: i64) -> String {
        let caveats = vec![
            Value::from(1u64 << 48),
            Value::Map(vec![(Value::from("apps"), Value::Array(vec![Value::from(12_345)]))]),
            Value::from(4),
            Value::Array(vec![Value::from(not_before), Value::from(not_after)]),
        ];
        format!("FlyV1 {}", part(tag, caveats))
    }

    /// One `fm2_` part with `caveats` (a flat `[type, body, …]`).
    pub(crate) fn part(tag: &str, caveats: Vec<Value>) -> String {
        let nonce = Value::Array(vec![
            Value::Binary(b"kid".to_vec()),
            Value::Binary(tag.as_bytes().to_vec()),
            Value::Boolean(false),
        ]);
        let macaroon = Value::Array(vec![
            nonce,
            Value::from("https://api.fly.io/v1"),
            Value::Array(caveats),
            Value::Binary(vec![1; 32]),
        ]);
        let mut bytes = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = rmpv::encode::write_value(&mut bytes, &macaroon);
        format!("fm2_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use rmpv::Value;

    use super::build::{part, token_with_window};
    use super::*;

    fn window(nb: i64, na: i64) -> [Value; 2] {
        [Value::from(4), Value::Array(vec![Value::from(nb), Value::from(na)])]
    }

    #[test]
    fn the_expiry_is_the_smallest_not_after_over_every_part() {
        let a = part("a", window(100, 2_000_000_000).into());
        let mut two = window(100, 1_900_000_000).to_vec();
        two.extend(window(0, 1_950_000_000));
        let b = part("b", two);
        assert_eq!(token_expiry(&a), Some(2_000_000_000));
        assert_eq!(token_expiry(&format!("FlyV1 {a},{b}")), Some(1_900_000_000));
        assert_eq!(token_expiry(&format!("FlyV1 {a},fo1_zzz")), Some(2_000_000_000));
        assert_eq!(
            token_expiry(&token_with_window("t", 0, 1_800_000_000)),
            Some(1_800_000_000)
        );
    }

    #[test]
    fn a_map_encoded_window_is_read() {
        let body = Value::Map(vec![
            (Value::from("NotBefore"), Value::from(1)),
            (Value::from("NotAfter"), Value::from(1_800_000_000)),
        ]);
        assert_eq!(
            token_expiry(&part("m", vec![Value::from(4), body])),
            Some(1_800_000_000)
        );
    }

    #[test]
    fn no_window_no_expiry() {
        let other = vec![Value::from(1u64 << 48), Value::from("x")];
        assert_eq!(token_expiry(&part("o", other)), None);
        assert_eq!(token_expiry("fo1_abc"), None);
        assert_eq!(token_expiry("fm2_!!!not-base64"), None);
        assert_eq!(token_expiry("fm2_AAAA"), None);
        assert_eq!(token_expiry(""), None);
        let t = token_with_window("t", 0, 5);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(t.trim_start_matches("FlyV1 fm2_"))
            .expect("b64");
        let cut = format!(
            "fm2_{}",
            base64::engine::general_purpose::STANDARD.encode(&bytes[..bytes.len() - 40])
        );
        assert_eq!(token_expiry(&cut), None, "a truncated macaroon");
    }

    #[test]
    fn the_cap_only_shortens() {
        let t = token_with_window("t", 0, 10_000);
        assert_eq!(cap(&t, Some(5_000)), Some(5_000));
        assert_eq!(cap(&t, Some(50_000)), Some(10_000 - EXPIRY_SKEW_SECS));
        assert_eq!(cap(&t, None), Some(10_000 - EXPIRY_SKEW_SECS));
        assert_eq!(cap("fo1_x", None), None);
        assert_eq!(cap("fo1_x", Some(7)), Some(7));
    }
}
