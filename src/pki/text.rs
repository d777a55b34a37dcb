//! Which characters can never be shown as they are: a subject attribute holding one is refused
//! (names), and the terminal writer escapes them ([`escape`], which `crate::term` re-exports) in text fileca did not write. One definition, so that what the gate lets through is
//! exactly what shows unescaped.

/// Characters that must never reach a terminal raw.
pub fn is_unsafe(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || matches!(c,
            '\u{00AD}' // soft hyphen: invisible
            | '\u{034F}' // combining grapheme joiner
            | '\u{061C}' // Arabic letter mark
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers: blank
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels: invisible
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation controls
            | '\u{E0000}'..='\u{E007F}' // tag characters
        )
}

/// Escapes a string for a terminal or a log line: control characters (C0, DEL, C1), Unicode
/// bidirectional controls and zero-width characters become `\u{XXXX}`, and a backslash becomes
/// `\\`, so no input can move the cursor, clear a line or forge one.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape("a\nb"), "a\\u{000a}b");
        assert_eq!(escape("\u{1b}[2K"), "\\u{001b}[2K");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("Grüße, ü"), "Grüße, ü");
    }
}
