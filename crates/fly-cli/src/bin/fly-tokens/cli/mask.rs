//! Masking secrets in messages that quote the user's input (usage errors),
//! so that a token typed in the wrong place is never printed back.
//!
//! Another helper is adding a `mask_secrets` for the CLI's stderr to
//! `atlas-app-server`; when it lands, this should become a call to it.

/// The prefixes of Fly token parts (FLYCTL.md).
const MARKERS: [&str; 4] = ["fm2_", "fm1r_", "fm1a_", "fo1_"];

/// The schemes a token may follow.
const SCHEMES: [&str; 2] = ["FlyV1", "Bearer"];

/// `text` made safe to print: every token part (`fm2_…`, `fm1r_…`,
/// `fm1a_…`, `fo1_…`) keeps its prefix and loses the rest, the word after a
/// `FlyV1`/`Bearer` scheme is masked whole, and control characters other
/// than newlines are shown escaped (an escape sequence in an argument must
/// not drive the terminal).
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_scheme = false;
    let mut rest = text;
    while !rest.is_empty() {
        let space = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(space);
        if !word.is_empty() {
            let masked = mask_word(word, after_scheme);
            after_scheme = SCHEMES.iter().any(|s| word.trim_start_matches(['\'', '"', '`']) == *s);
            push_escaped(&mut out, &masked);
        }
        let ws_len = tail.find(|c: char| !c.is_whitespace()).unwrap_or(tail.len());
        let (ws, next) = tail.split_at(ws_len);
        push_escaped(&mut out, ws);
        rest = next;
    }
    out
}

/// One whitespace-free word, with its token characters masked.
fn mask_word(word: &str, after_scheme: bool) -> String {
    let marker = MARKERS
        .iter()
        .filter_map(|m| word.find(m).map(|at| (at, m.len())))
        .min();
    let (keep, from) = match marker {
        Some((at, len)) => (at + len, at + len),
        None if after_scheme => {
            // The whole word but its surrounding quotes/punctuation.
            let start = word.find(is_token_char).unwrap_or(word.len());
            (start, start)
        }
        None => return word.to_owned(),
    };
    let end = from
        + word[from..]
            .find(|c: char| !is_token_char(c))
            .unwrap_or(word.len() - from);
    if end == from {
        return word.to_owned();
    }
    // Another token may follow in the same word (`a=fm2_X;fo1_Y`).
    format!("{}…{}", &word[..keep], mask_word(&word[end..], false))
}

/// Characters a token body (base64, several parts) is made of.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | ',')
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mask_secrets as mask;

    #[test]
    fn tokens_keep_their_prefix_only() {
        assert_eq!(
            mask("error: unexpected argument 'FlyV1 fm2_SECRET,fm2_MORE==' found"),
            "error: unexpected argument 'FlyV1 fm2_…' found"
        );
        assert_eq!(mask("token fo1_SECRET."), "token fo1_….");
        assert_eq!(mask("x=fm1r_SECRET/+"), "x=fm1r_…");
        assert_eq!(mask("Bearer SECRET42"), "Bearer …");
        assert_eq!(mask("a=fm2_SECRET;fo1_SECRET"), "a=fm2_…;fo1_…");
        assert_eq!(mask("'Bearer SECRET42'"), "'Bearer …'");
    }

    #[test]
    fn other_text_is_kept() {
        let usage = "error: unexpected argument '--orgg' found\n\n  tip: a similar argument exists: '--org'\n";
        assert_eq!(mask(usage), usage);
        assert_eq!(
            mask("app name \"my app\" has ' ' at position 2"),
            "app name \"my app\" has ' ' at position 2"
        );
        assert_eq!(mask("fm2_"), "fm2_");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(mask("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\n");
        assert_eq!(mask("tab\there"), "tab\\there");
    }
}
