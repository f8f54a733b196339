//! The expiry hint inside a Fly token.
//!
//! It reads only the token's public caveats and never proves a token valid
//! (only Fly's API can). What a token looks like is
//! [`looks_like_fly_token`](crate::looks_like_fly_token), which lives in
//! `atlas-app-server` (the CLI link checks the shape there) and is
//! re-exported here; the tests below keep covering it.

use base64::Engine as _;

use crate::msgpack::{Head, Reader};

/// The optional scheme flyctl prints before macaroon tokens.
const FLYV1: &str = "FlyV1 ";

/// The other scheme a token value may carry (FLYCTL.md).
const BEARER: &str = "Bearer ";

/// Macaroon caveat type of a validity window (`[not_before, not_after]`).
const CAV_VALIDITY_WINDOW: i128 = 4;

/// The expiry hint of a Fly macaroon token: the smallest `not_after` (unix
/// seconds) of the validity-window caveats of its `fm2_` parts, or `None`
/// when no part carries one (OAuth and legacy parts, or anything undecodable).
///
/// A hint that can cap a locally chosen TTL, never a proof of validity: the
/// signature is not (and cannot be) checked here.
pub fn token_expiry_hint(token: &str) -> Option<i64> {
    let body = token.trim();
    let body = body
        .strip_prefix(FLYV1)
        .or_else(|| body.strip_prefix(BEARER))
        .unwrap_or(body);
    body.split(',')
        .filter_map(|part| part.trim().strip_prefix("fm2_"))
        .filter_map(|b64| {
            let bytes = decode_base64(b64)?;
            macaroon_not_after(&bytes)
        })
        .min()
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
    let mut r = Reader::new(bytes);
    match r.head()? {
        Head::Array(n) if n >= 3 => {}
        _ => return None,
    }
    r.skip()?; // nonce
    r.skip()?; // location
    let n = match r.head()? {
        Head::Array(n) if n % 2 == 0 => n / 2,
        _ => return None,
    };
    let mut earliest: Option<i64> = None;
    for _ in 0..n {
        let typ = match r.head()? {
            Head::Int(t) => t,
            _ => return None,
        };
        if typ == CAV_VALIDITY_WINDOW {
            let not_after = validity_not_after(&mut r)?;
            earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
        } else {
            r.skip()?;
        }
    }
    earliest
}

/// The body of a validity window: `[not_before, not_after]`, or (encoders
/// that write structs as maps) `{NotBefore, NotAfter}`.
fn validity_not_after(r: &mut Reader<'_>) -> Option<i64> {
    match r.head()? {
        Head::Array(n) if n >= 2 => {
            r.skip()?;
            let not_after = r.int()?;
            (2..n).try_for_each(|_| r.skip())?;
            Some(not_after)
        }
        Head::Map(n) => {
            let mut not_after = None;
            for _ in 0..n {
                let key = match r.head()? {
                    Head::Str(k) => k,
                    _ => return None,
                };
                if key.eq_ignore_ascii_case(b"notafter") || key.eq_ignore_ascii_case(b"not_after") {
                    not_after = Some(r.int()?);
                } else {
                    r.skip()?;
                }
            }
            not_after
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::looks_like_fly_token;
    use crate::msgpack::write;

    /// A macaroon with the given caveats (already encoded type/body pairs).
    fn macaroon(caveats: &[Vec<u8>]) -> String {
        let mut out = Vec::new();
        write::array(&mut out, 4);
        // nonce: [kid, rnd, proof]
        write::array(&mut out, 3);
        write::bin(&mut out, b"kid");
        write::bin(&mut out, &[7; 16]);
        out.push(0xc2);
        write::str(&mut out, "https://api.fly.io/v1");
        write::array(&mut out, caveats.len() * 2);
        for c in caveats {
            out.extend_from_slice(c);
        }
        write::bin(&mut out, &[1; 32]);
        format!("fm2_{}", STANDARD.encode(out))
    }

    fn window(nb: i64, na: i64) -> Vec<u8> {
        let mut c = Vec::new();
        write::uint(&mut c, 4);
        write::array(&mut c, 2);
        write::int(&mut c, nb);
        write::int(&mut c, na);
        c
    }

    fn other_caveat() -> Vec<u8> {
        let mut c = Vec::new();
        write::uint(&mut c, 1 << 48);
        write::map(&mut c, 1);
        write::str(&mut c, "apps");
        write::array(&mut c, 1);
        write::uint(&mut c, 12345);
        c
    }

    #[test]
    fn shapes() {
        for ok in [
            "fm2_abc",
            "FlyV1 fm2_abc==,fm2_x/y+z",
            "fm1r_abc",
            "fm1a_abc",
            "fo1_abc-DEF_1",
            "FlyV1 fo1_a,fm2_b",
            // FLYCTL.md: a leading `FlyV1 ` or `Bearer ` scheme is optional.
            "Bearer fm2_abc",
        ] {
            assert!(looks_like_fly_token(ok), "{ok}");
        }
        for bad in [
            "",
            "FlyV1",
            "FlyV1 ",
            "fm2_",
            "fm3_abc",
            "fm2_abc,",
            ",fm2_abc",
            "fm2_abc def",
            "fm2_abc\nfm2_def",
            "Bearer ",
            "flyv1 fm2_abc",
            "Update available 0.3.1 -> 0.3.2",
            "fm2_abc, fm2_def",
        ] {
            assert!(!looks_like_fly_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn expiry_is_the_smallest_not_after() {
        let a = macaroon(&[other_caveat(), window(100, 2_000_000_000)]);
        let b = macaroon(&[window(100, 1_900_000_000), window(0, 1_950_000_000)]);
        assert!(looks_like_fly_token(&format!("FlyV1 {a},{b}")));
        assert_eq!(token_expiry_hint(&a), Some(2_000_000_000));
        assert_eq!(token_expiry_hint(&format!("FlyV1 {a},{b}")), Some(1_900_000_000));
        assert_eq!(token_expiry_hint(&format!("FlyV1 {a},fo1_zzz")), Some(2_000_000_000));
    }

    #[test]
    fn map_encoded_window() {
        let mut c = Vec::new();
        write::uint(&mut c, 4);
        write::map(&mut c, 2);
        write::str(&mut c, "NotBefore");
        write::int(&mut c, 1);
        write::str(&mut c, "NotAfter");
        write::int(&mut c, 1_800_000_000);
        assert_eq!(token_expiry_hint(&macaroon(&[c])), Some(1_800_000_000));
    }

    #[test]
    fn no_hint() {
        assert_eq!(token_expiry_hint(&macaroon(&[other_caveat()])), None);
        assert_eq!(token_expiry_hint("fo1_abc"), None);
        assert_eq!(token_expiry_hint("fm2_!!!not-base64"), None);
        assert_eq!(token_expiry_hint("fm2_AAAA"), None);
        assert_eq!(token_expiry_hint(""), None);
        // Truncated macaroon.
        let m = macaroon(&[window(0, 5)]);
        let bytes = STANDARD.decode(&m[4..]).expect("b64");
        let cut = format!("fm2_{}", STANDARD.encode(&bytes[..bytes.len() - 40]));
        assert_eq!(token_expiry_hint(&cut), None);
    }
}
