//! Does the CLI's stdout look like a Fly token (FLYCTL.md)?
//!
//! A check of shape only, so that a notice or an error message printed on
//! stdout is never cached as a token. It is not a proof of validity.

/// Whether `s` (already trimmed) looks like a Fly token: an optional
/// `FlyV1 ` or `Bearer ` scheme, then one or more comma-separated parts,
/// each `fm2_`, `fm1r_`, `fm1a_` or `fo1_` followed by base64 characters.
pub fn looks_like_fly_token(s: &str) -> bool {
    let body = s
        .strip_prefix("FlyV1 ")
        .or_else(|| s.strip_prefix("Bearer "))
        .unwrap_or(s);
    !body.is_empty() && body.split(',').all(part_ok)
}

fn part_ok(part: &str) -> bool {
    const PREFIXES: [&str; 4] = ["fm2_", "fm1r_", "fm1a_", "fo1_"];
    PREFIXES.iter().any(|p| {
        part.strip_prefix(p).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::looks_like_fly_token as ok;

    #[test]
    fn accepts_fly_tokens() {
        assert!(ok("FlyV1 fm2_lJPECAAAAAAAAMa/xCA=,fm2_lJPEToAAA+/=="));
        assert!(ok("fm2_abc"));
        assert!(ok("fo1_abc,fm2_def"));
        assert!(ok("Bearer fm1r_xyz"));
        assert!(ok("fm1a_xyz"));
    }

    #[test]
    fn rejects_other_output() {
        assert!(!ok(""));
        assert!(!ok("FlyV1 "));
        assert!(!ok("Update available 0.3.1 -> 0.3.2"));
        assert!(!ok("fm2_"));
        assert!(!ok("fm2_abc,"));
        assert!(!ok("fm2_abc def"));
        assert!(!ok("{\"token\":\"fm2_abc\"}"));
        assert!(!ok("Error: no access token available"));
    }
}
