//! A token's own expiry, which caps every `expires_at` (SPEC.md §5).
//!
//! The decoder lives here, not in `atlas-fly-cli`, because the cap applies
//! inside the chain to every source (the CLI's output, the user's own
//! token, stored records when they are read, manual tokens) and the format
//! is Fly's, like [`looks_like_fly_token`](crate::looks_like_fly_token): a
//! pure function of the token's bytes, no process, file or network. A hook
//! in the config would be a seam with only one sensible implementation.

use base64::Engine as _;

use crate::msgpack::{Head, Reader};

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
///
/// Walked in place (`msgpack.rs`) rather than decoded into an `rmpv::Value`
/// tree: every stored record read runs this, and the tree's dozen
/// allocations cost ten times the walk. The whole value is still checked
/// as `rmpv::decode::read_value_with_max_depth` would (the test oracle
/// below): anything it refuses makes the part unreadable here too.
fn macaroon_not_after(bytes: &[u8]) -> Option<i64> {
    let mut rd = Reader::new(bytes, MAX_DEPTH);
    let Head::Array(len) = rd.head(0)? else {
        return None;
    };
    if len < 3 {
        return None;
    }
    rd.skip(1)?; // nonce
    rd.skip(1)?; // location
    let found = match rd.head(1)? {
        Head::Array(n) if n % 2 == 0 => caveats_not_after(&mut rd, n),
        Head::Array(n) => rd.skip_items(2, u64::from(n)).and(Some(None)),
        other => rd.skip_rest(2, other).and(Some(None)),
    }?;
    for _ in 3..len {
        rd.skip(1)?;
    }
    found
}

/// The earliest `not_after` of the `n` caveat items that follow (`Some(None)`
/// when none is a validity window); `None` when the value does not decode.
/// A validity window we cannot read makes the whole part unreadable.
fn caveats_not_after(rd: &mut Reader<'_>, n: u32) -> Option<Option<i64>> {
    let mut earliest: Option<i64> = None;
    let mut unreadable = false;
    for _ in 0..n / 2 {
        let is_window = match rd.head(2)? {
            Head::Int(ty) => ty == Some(CAV_VALIDITY_WINDOW),
            other => rd.skip_rest(3, other).map(|()| false)?,
        };
        if !is_window {
            rd.skip(2)?;
            continue;
        }
        match validity_not_after(rd)? {
            Some(na) => earliest = Some(earliest.map_or(na, |e| e.min(na))),
            None => unreadable = true,
        }
    }
    Some(if unreadable { None } else { earliest })
}

/// The body of a validity window: `[not_before, not_after]`, or (encoders
/// that write structs as maps) `{NotBefore, NotAfter}` (the first such
/// key). `Some(None)` when it has no integer `not_after`.
fn validity_not_after(rd: &mut Reader<'_>) -> Option<Option<i64>> {
    match rd.head(2)? {
        Head::Array(n) => {
            let mut na = None;
            for i in 0..n {
                match rd.head(3)? {
                    Head::Int(v) if i == 1 => na = v,
                    other => rd.skip_rest(4, other)?,
                }
            }
            Some(na)
        }
        Head::Map(n) => {
            let mut na: Option<Option<i64>> = None;
            for _ in 0..n {
                let key = rd.head(3)?;
                let wanted = na.is_none()
                    && matches!(key, Head::Str(k) if k.eq_ignore_ascii_case(b"notafter") || k.eq_ignore_ascii_case(b"not_after"));
                rd.skip_rest(4, key)?;
                match rd.head(3)? {
                    Head::Int(v) if wanted => na = Some(v),
                    other => {
                        if wanted {
                            na = Some(None);
                        }
                        rd.skip_rest(4, other)?;
                    }
                }
            }
            Some(na.flatten())
        }
        other => rd.skip_rest(3, other).map(|()| None),
    }
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
    use proptest::prelude::*;
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

    /// The decoder the walk replaced: it must agree on every input.
    fn oracle(bytes: &[u8]) -> Option<i64> {
        let value = rmpv::decode::read_value_with_max_depth(&mut &bytes[..], MAX_DEPTH).ok()?;
        let parts = value.as_array().filter(|p| p.len() >= 3)?;
        let caveats = parts[2].as_array().filter(|c| c.len() % 2 == 0)?;
        caveats
            .chunks_exact(2)
            .filter(|pair| pair[0].as_i64() == Some(CAV_VALIDITY_WINDOW))
            .map(|pair| oracle_window(&pair[1]))
            .try_fold(None, |earliest: Option<i64>, na| {
                let na = na?;
                Some(Some(earliest.map_or(na, |e| e.min(na))))
            })?
    }

    fn oracle_window(body: &Value) -> Option<i64> {
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

    fn encode(v: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, v).expect("into a Vec");
        bytes
    }

    /// Any msgpack value, biased towards what a macaroon's caveats hold.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            any::<bool>().prop_map(Value::Boolean),
            (0i64..8).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::F64),
            any::<f32>().prop_map(Value::F32),
            prop_oneof![
                Just("NotAfter"),
                Just("not_after"),
                Just("NotBefore"),
                Just("x"),
                Just("")
            ]
            .prop_map(Value::from),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Binary),
            (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(t, d)),
        ];
        leaf.prop_recursive(12, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    /// A macaroon-shaped value: `[nonce, location, caveats, tail…]` with
    /// validity windows among other caveats.
    fn macaroon() -> impl Strategy<Value = Value> {
        let caveat = prop_oneof![
            (any_value(), any_value()).prop_map(|(a, b)| vec![a, b]),
            any_value().prop_map(|b| vec![Value::from(4), b]),
            (any::<i64>(), any::<i64>())
                .prop_map(|(nb, na)| vec![Value::from(4), Value::Array(vec![Value::from(nb), Value::from(na)])]),
        ];
        (
            any_value(),
            any_value(),
            proptest::collection::vec(caveat, 0..5),
            proptest::collection::vec(any_value(), 0..3),
        )
            .prop_map(|(nonce, loc, caveats, tail)| {
                let mut parts = vec![nonce, loc, Value::Array(caveats.concat())];
                parts.extend(tail);
                Value::Array(parts)
            })
    }

    proptest! {
        #[test]
        fn the_walk_agrees_with_rmpv_on_macaroons_and_their_truncations(v in macaroon(), cut in any::<usize>()) {
            let bytes = encode(&v);
            prop_assert_eq!(macaroon_not_after(&bytes), oracle(&bytes));
            let cut = &bytes[..cut % (bytes.len() + 1)];
            prop_assert_eq!(macaroon_not_after(cut), oracle(cut));
        }

        #[test]
        fn the_walk_agrees_with_rmpv_on_any_value(v in any_value()) {
            let bytes = encode(&v);
            prop_assert_eq!(macaroon_not_after(&bytes), oracle(&bytes));
        }

        #[test]
        fn the_walk_agrees_with_rmpv_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(macaroon_not_after(&bytes), oracle(&bytes));
        }
    }

    #[test]
    fn the_walk_agrees_with_rmpv_at_the_depth_limit() {
        // Every kind of leaf, nested 0 to 12 arrays deep inside the nonce
        // and inside a window: rmpv refuses some of them for depth.
        let leaves = [
            Value::Nil,
            Value::from(7),
            Value::from("NotAfter"),
            Value::Binary(vec![1, 2]),
            Value::Ext(3, vec![4]),
            Value::Array(vec![]),
            Value::Map(vec![]),
        ];
        for leaf in leaves {
            for depth in 0..12 {
                let mut nested = leaf.clone();
                for _ in 0..depth {
                    nested = Value::Array(vec![nested]);
                }
                let window = Value::Array(vec![nested.clone(), Value::from(1_800_000_000)]);
                let caveats = Value::Array(vec![Value::from(4), window]);
                let v = Value::Array(vec![nested, Value::from("loc"), caveats]);
                let bytes = encode(&v);
                assert_eq!(macaroon_not_after(&bytes), oracle(&bytes), "{v:?}");
            }
        }
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
