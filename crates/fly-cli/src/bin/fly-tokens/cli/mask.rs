//! Masking secrets in messages that quote the user's input (usage errors),
//! so that a token typed in the wrong place is never printed back.

/// `text` made safe to print: credentials masked by
/// [`atlas_fly_cli::mask_secrets`] (the one masker, also used on the fly
/// CLI's stderr), and control characters other than newlines shown escaped
/// (an escape sequence in an argument must not drive the terminal, and the
/// user sees what was typed).
pub fn mask_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, &atlas_fly_cli::mask_secrets(text));
    out
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
            "error: unexpected argument 'FlyV1 …' found"
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
