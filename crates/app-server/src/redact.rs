//! Making outside text safe to print: [`sanitize`] and [`mask_secrets`].
//!
//! The one place where text that did not come from atlas (the fly CLI's
//! stderr, a command-line value in a usage error) is cleaned before it is
//! quoted in a message or a log.

/// The prefixes of Fly token parts (FLYCTL.md): macaroons (`fm2_`, legacy
/// `fm1r_`/`fm1a_`) and OAuth tokens (`fo1_`).
const TOKEN_PREFIXES: [&str; 4] = ["fm2_", "fm1r_", "fm1a_", "fo1_"];

/// Auth schemes whose next word is a credential, whatever its shape.
const SCHEMES: [&str; 2] = ["FlyV1", "Bearer"];

/// What a masked credential is replaced by, after its prefix or scheme.
const MASK: &str = "…";

/// `text` with every credential-looking word masked: a run of token
/// characters (base64, `-`, `_`, `,`) that starts with a Fly token prefix
/// (`fm2_`, `fm1r_`, `fm1a_`, `fo1_`) becomes the prefix and `…`, and the
/// word after an auth scheme (`FlyV1`, `Bearer`, then spaces) becomes `…`.
/// Everything else is kept as it is.
///
/// A shape test, not a proof: a legacy token with no prefix or scheme is
/// not recognised. Use it on any text that might hold a token before it is
/// printed (a usage error that quotes an argument, the CLI's stderr).
///
/// ```
/// use atlas_app_server::mask_secrets;
/// assert_eq!(mask_secrets("unexpected argument 'FlyV1 fm2_abc,fm2_def=' found"),
///            "unexpected argument 'FlyV1 …' found");
/// assert_eq!(mask_secrets("token=fo1_xyz, retry"), "token=fo1_…, retry");
/// assert_eq!(mask_secrets("Error: no access token"), "Error: no access token");
/// ```
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let at_word = !prev.is_some_and(|p| p.is_ascii_alphanumeric());
        if at_word {
            if let Some((kept, secret_len)) = credential_at(rest) {
                out.push_str(&rest[..kept]);
                out.push_str(MASK);
                prev = rest[..kept + secret_len].chars().next_back();
                rest = &rest[kept + secret_len..];
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `text` made safe to quote on a terminal and in logs: ANSI escape
/// sequences and other control characters removed (a tab becomes a space,
/// a carriage return a line break; line breaks are kept), invisible
/// direction and format characters removed, then [`mask_secrets`] applied.
///
/// ```
/// use atlas_app_server::sanitize;
/// assert_eq!(sanitize("\x1b[31mError:\x1b[0m bad\ttoken fm2_abc\x07"), "Error: bad token fm2_…");
/// ```
pub fn sanitize(text: &str) -> String {
    mask_secrets(&strip_controls(text))
}

/// At the start of `s`: `(kept, secret)` byte lengths when a credential
/// starts here: the first `kept` bytes (its prefix or scheme) stay, the next
/// `secret` bytes are masked.
fn credential_at(s: &str) -> Option<(usize, usize)> {
    for scheme in SCHEMES {
        if s.get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        {
            let after = &s[scheme.len()..];
            let gap = after.len() - after.trim_start_matches([' ', '\t']).len();
            let body = token_run(&after[gap..]);
            if gap > 0 && body > 0 {
                return Some((scheme.len() + gap, body));
            }
        }
    }
    TOKEN_PREFIXES.iter().find_map(|prefix| {
        let body = token_run(s.strip_prefix(prefix)?);
        (body > 0).then_some((prefix.len(), body))
    })
}

/// The length of the run of token characters at the start of `s`, less
/// trailing commas (punctuation then, not a separator of token parts).
fn token_run(s: &str) -> usize {
    let run = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b','))
        .count();
    s[..run].trim_end_matches(',').len()
}

fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => skip_escape(&mut chars),
            '\n' => out.push('\n'),
            '\r' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an escape sequence whose ESC was just read: CSI
/// (`ESC [ … final`), OSC (`ESC ] … BEL` or `ESC ] … ESC \`), or a short
/// one (`ESC c`, `ESC ( B`).
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            // Parameters and intermediates, then one final byte 0x40..=0x7E.
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\x07' {
                    break;
                }
                if c == '\x1b' {
                    chars.next_if_eq(&'\\');
                    break;
                }
            }
        }
        // `ESC ( B` and the like: intermediates, then one final character.
        Some(c) if ('\x20'..='\x2f').contains(&c) => {
            for c in chars.by_ref() {
                if !('\x20'..='\x2f').contains(&c) {
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Zero-width and bidirectional-override characters: they are not control
/// characters, but can make a quoted line read differently from what it is.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_token_shape() {
        assert_eq!(mask_secrets("FlyV1 fm2_lJPE+/=,fm2_x"), "FlyV1 …");
        assert_eq!(
            mask_secrets("a fm2_abc b fm1r_def c fm1a_ghi d fo1_jkl"),
            "a fm2_… b fm1r_… c fm1a_… d fo1_…"
        );
        assert_eq!(
            mask_secrets("Authorization: bearer abc123=="),
            "Authorization: bearer …"
        );
        assert_eq!(mask_secrets("(fm2_abc)."), "(fm2_…).");
        assert_eq!(mask_secrets("got fm2_a,fm2_b, then"), "got fm2_…, then");
        assert_eq!(mask_secrets("ffm2_abc is no token start"), "ffm2_abc is no token start");
        assert_eq!(mask_secrets("fm2_ alone, FlyV1 , Bearer"), "fm2_ alone, FlyV1 , Bearer");
        assert_eq!(mask_secrets("é fm2_ü"), "é fm2_ü");
        assert_eq!(mask_secrets(""), "");
        assert_eq!(mask_secrets("fm2_x"), "fm2_…", "shorter than a scheme");
        assert_eq!(mask_secrets("'FlyV1  legacy42'"), "'FlyV1  …'");
        assert_eq!(mask_secrets("FlyV1x abc, Bearers abc"), "FlyV1x abc, Bearers abc");
    }

    #[test]
    fn strips_controls_and_escapes() {
        assert_eq!(sanitize("a\x1b]0;title\x07b\x1b]8;;x\x1b\\c"), "abc");
        assert_eq!(sanitize("a\x1b(Bb\x1b[1;31mc\x7f\u{202e}d"), "abcd");
        assert_eq!(sanitize("one\r\ntwo\u{0085}"), "one\n\ntwo");
        assert_eq!(sanitize("cut \x1b["), "cut ");
    }
}
