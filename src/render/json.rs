//! JSON for terminals and scripts (SPEC.md HOSTILE-TERMINAL): serde_json's pretty layout, with
//! every character [`crate::term::is_unsafe`] names — C1 controls, DEL, bidi overrides and
//! isolates, zero-width characters — written as `\uXXXX` (serde_json escapes only those
//! below U+0020). A value planted in index.log (`U+202E` in a subject) then cannot reorder
//! or hide what a terminal shows, and a script still reads the same string.

use std::io;

use serde_json::ser::{Formatter, PrettyFormatter};

/// [`PrettyFormatter`] that escapes unsafe characters in strings.
pub struct SafeFormatter(PrettyFormatter<'static>);

impl SafeFormatter {
    pub fn new() -> SafeFormatter {
        SafeFormatter(PrettyFormatter::new())
    }
}

impl Default for SafeFormatter {
    fn default() -> Self {
        SafeFormatter::new()
    }
}

/// Pretty JSON of `value`, unsafe characters escaped.
pub fn to_string<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeFormatter::new());
    value.serialize(&mut ser)?;
    // Only UTF-8 went in, and escapes are ASCII.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Printable ASCII, nearly every fragment: nothing to escape (serde_json escapes
        // what is below 0x20 before calling this).
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if crate::term::is_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unsafe_characters_are_escaped_and_read_back_the_same_hostile_terminal() {
        let planted = "CN=evil\u{202e}moc.\u{85}x\u{7f}\u{200b}\u{1F600}é\u{1b}[2J\
                       \u{ad}\u{2028}\u{180e}\u{3164}\u{fff9}\u{e0041}";
        let text = super::to_string(&serde_json::json!({ "subject": planted })).unwrap();
        for c in text.chars() {
            assert!(!crate::term::is_unsafe(c) || c == '\n', "{c:?} in {text}");
        }
        assert!(text.contains("\\u202e") && text.contains("\\u0085") && text.contains("\\u007f"));
        // The fresh-eyes review's invisible characters, a tag character as a surrogate pair.
        for e in [
            "\\u00ad",
            "\\u2028",
            "\\u180e",
            "\\u3164",
            "\\ufff9",
            "\\udb40\\udc41",
        ] {
            assert!(text.contains(e), "{e} in {text}");
        }
        assert!(text.contains("é") && text.contains('\u{1F600}'), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["subject"], planted);
        // The layout is serde_json's pretty one.
        assert_eq!(
            super::to_string(&serde_json::json!({"a": [1, 2]})).unwrap(),
            serde_json::to_string_pretty(&serde_json::json!({"a": [1, 2]})).unwrap()
        );
    }
}
