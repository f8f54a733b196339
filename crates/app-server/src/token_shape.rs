//! What a token value may hold, and whether the CLI's stdout looks like a
//! Fly token (FLYCTL.md).
//!
//! [`check_token_text`] is the one check every link of the chain applies to
//! the value it found (SPEC.md §5): a token is one line of printable
//! characters, because it ends up in `$(fly-tokens get APP)` and in an
//! `Authorization` header, where a newline or an escape sequence breaks the
//! caller (or the terminal). [`looks_like_fly_token`] is a check of shape
//! only, so that a notice or an error message printed on stdout is never
//! cached as a token. Neither is a proof of validity.

/// The schemes a token value may start with; each is followed by exactly
/// one space, the only whitespace a token may hold.
const SCHEMES: [&str; 2] = ["FlyV1 ", "Bearer "];

/// Why a value cannot be a token. Says where, never what: the value may be a
/// secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TokenTextError {
    /// Nothing (or only whitespace) was given.
    #[error("it is empty")]
    Empty,
    /// A control character: a newline, a tab, an escape sequence, …
    #[error("it holds a control character (a newline, tab or escape) at character {at}")]
    Control {
        /// Its position, counted in characters from 0.
        at: usize,
    },
    /// A character outside printable ASCII that is neither a control
    /// character nor whitespace: a right-to-left override, a zero-width
    /// space, … (they reorder or hide what a terminal shows, and an HTTP
    /// header value is visible ASCII).
    #[error("it holds a character outside printable ASCII at character {at}")]
    NotAscii {
        /// Its position, counted in characters from 0.
        at: usize,
    },
    /// A space or other whitespace (other than the one after a leading
    /// `FlyV1 ` or `Bearer ` scheme).
    #[error("it holds whitespace at character {at}")]
    Whitespace {
        /// Its position, counted in characters from 0.
        at: usize,
    },
}

/// Whether `s` can be a token: not empty, one line of printable ASCII,
/// with no whitespace but the single space after a leading `FlyV1 ` or
/// `Bearer ` scheme. Callers trim surrounding whitespace first
/// ([`Token::new`](crate::Token::new) does).
///
/// Every link of the resolution chain (the stored record, your own token,
/// the CLI, the manual token) and [`Tokens::set_manual`](crate::Tokens::set_manual)
/// apply it; a value that fails is that link's miss, with a warning that
/// says where the bad character is, never what the value is.
///
/// ```
/// use atlas_app_server::{check_token_text, TokenTextError};
/// assert_eq!(check_token_text("FlyV1 fm2_abc,fm2_def"), Ok(()));
/// assert_eq!(check_token_text("fm2_a\nfm2_b"), Err(TokenTextError::Control { at: 5 }));
/// assert_eq!(check_token_text("FlyV1  fm2_a"), Err(TokenTextError::Whitespace { at: 6 }));
/// assert_eq!(check_token_text("\u{1b}[31mfm2_a"), Err(TokenTextError::Control { at: 0 }));
/// assert_eq!(check_token_text("fm2_\u{202e}cba"), Err(TokenTextError::NotAscii { at: 4 }));
/// ```
pub fn check_token_text(s: &str) -> Result<(), TokenTextError> {
    let skip = SCHEMES
        .iter()
        .find(|scheme| s.starts_with(*scheme))
        .map_or(0, |scheme| scheme.len());
    if s.len() == skip {
        // Nothing, or a scheme with nothing after it.
        return if skip == 0 {
            Err(TokenTextError::Empty)
        } else {
            Err(TokenTextError::Whitespace { at: skip - 1 })
        };
    }
    // The schemes are ASCII: their byte length is their character count.
    match s[skip..].chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
        None => Ok(()),
        Some((i, c)) if c.is_control() => Err(TokenTextError::Control { at: skip + i }),
        Some((i, c)) if c.is_whitespace() => Err(TokenTextError::Whitespace { at: skip + i }),
        Some((i, _)) => Err(TokenTextError::NotAscii { at: skip + i }),
    }
}

/// Whether `s` (already trimmed) looks like a Fly token: an optional
/// `FlyV1 ` or `Bearer ` scheme, then one or more comma-separated parts,
/// each `fm2_`, `fm1r_`, `fm1a_` or `fo1_` followed by base64 characters.
pub fn looks_like_fly_token(s: &str) -> bool {
    let body = SCHEMES.iter().find_map(|scheme| s.strip_prefix(scheme)).unwrap_or(s);
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
    use super::{check_token_text as check, looks_like_fly_token as ok, TokenTextError as E};

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

    #[test]
    fn one_line_of_printable_characters() {
        for good in [
            "fm2_abc",
            "FlyV1 fm2_a,fm2_b",
            "Bearer 0123abcd",
            "legacy-personal-token",
        ] {
            assert_eq!(check(good), Ok(()), "{good:?}");
        }
        for (bad, want) in [
            ("", E::Empty),
            ("FlyV1 ", E::Whitespace { at: 5 }),
            ("Bearer ", E::Whitespace { at: 6 }),
            ("fm2_a\nfm2_b", E::Control { at: 5 }),
            ("fm2_a\r", E::Control { at: 5 }),
            ("fm2\ta", E::Control { at: 3 }),
            ("\u{1b}[2Jfm2_a", E::Control { at: 0 }),
            ("fm2_a\u{7f}", E::Control { at: 5 }),
            ("fm2_a\u{9b}", E::Control { at: 5 }),
            ("fm2_a fm2_b", E::Whitespace { at: 5 }),
            ("FlyV1  fm2_a", E::Whitespace { at: 6 }),
            ("FlyV1 fm2_a fm2_b", E::Whitespace { at: 11 }),
            ("flyv1 fm2_a", E::Whitespace { at: 5 }),
            ("Token fm2_a", E::Whitespace { at: 5 }),
            ("fm2_a\u{a0}", E::Whitespace { at: 5 }),
            ("fm2_a\u{2028}b", E::Whitespace { at: 5 }),
            ("ünïcode", E::NotAscii { at: 0 }),
            ("fm2_a\u{202e}b", E::NotAscii { at: 5 }),
            ("fm2_a\u{200b}", E::NotAscii { at: 5 }),
            ("x\nü", E::Control { at: 1 }),
        ] {
            assert_eq!(check(bad), Err(want), "{bad:?}");
        }
    }

    #[test]
    fn the_error_never_holds_the_value() {
        let e = check("fm2_SECRET\nx").expect_err("two lines");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(!format!("{e:?}").contains("SECRET"), "{e:?}");
    }

    #[test]
    fn shapes_moved_from_fly_cli() {
        for good in [
            "fm2_abc",
            "FlyV1 fm2_abc==,fm2_x/y+z",
            "fm1r_abc",
            "fm1a_abc",
            "fo1_abc-DEF_1",
            "FlyV1 fo1_a,fm2_b",
            // FLYCTL.md: a leading `FlyV1 ` or `Bearer ` scheme is optional.
            "Bearer fm2_abc",
        ] {
            assert!(ok(good), "{good}");
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
            assert!(!ok(bad), "{bad:?}");
        }
    }
}
