//! OpenSSL configuration files, read only as far as `ca import-openssl` needs them: which
//! files an `openssl ca` section names (SPEC.md IMPORT-OPENSSL-CNF). Pure: text in, values
//! out; the caller reads the file and resolves the paths.
//!
//! The subset of OpenSSL's format understood: `[ section ]` headers, `name = value` lines
//! (keys before any header are in the default section), `#` comments, a trailing `\` that
//! continues a line, quotes and backslash escapes in values, and the substitutions `$name`,
//! `${name}`, `$(name)` (from the same section, then the default one), `$section::name`,
//! and `$ENV::NAME` (from the environment given). `.include` and `.pragma` lines are
//! reported, not followed: a value they would have defined is simply absent.

use std::collections::HashMap;

/// A parsed configuration: section → name → value (substitutions done).
#[derive(Debug, Default)]
pub struct Config {
    sections: HashMap<String, HashMap<String, String>>,
    /// Directives that were not followed (`.include …`), for a note.
    pub skipped: Vec<String>,
}

/// The name of the default section (keys before any `[ section ]`).
const DEFAULT: &str = "default";

/// Why a configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CnfError {
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
}

/// Why a value could not be unquoted and substituted; [`CnfError::Line`] names its line and
/// name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A substitution of a name defined nowhere.
    #[error("${0} is not defined")]
    Undefined(String),
    /// More than [`MAX_VALUE`] bytes.
    #[error("expands to more than {} KiB (OpenSSL's limit for a value)", MAX_VALUE >> 10)]
    TooLong,
    /// `${name` or `$(name` without its closing bracket.
    #[error("unclosed ${0}")]
    Unclosed(String),
    /// A `$` followed by no name.
    #[error("a lone $")]
    LoneDollar,
}

/// The longest value a substitution may produce (OpenSSL's CONF_MAX_SIZE).
const MAX_VALUE: usize = 64 << 10;
/// All values together.
const MAX_TOTAL: usize = 16 << 20;

impl Config {
    /// Parses `text`; `env` answers `$ENV::NAME`. Each value expands to at most 64 KiB and
    /// all of them together to at most 16 MiB.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, CnfError> {
        let mut cfg = Config::default();
        let mut section = DEFAULT.to_string();
        let mut pending = String::new();
        let mut start = 0;
        let mut total = 0usize;
        for (i, raw) in text.lines().enumerate() {
            if pending.is_empty() {
                start = i + 1;
            }
            let line = strip_comment(raw);
            if let Some(body) = line.strip_suffix('\\') {
                pending.push_str(body);
                continue;
            }
            pending.push_str(&line);
            let line = std::mem::take(&mut pending);
            let line = line.trim();
            let err = |problem: String| CnfError::Line {
                line: start,
                problem,
            };
            if line.is_empty() {
                continue;
            }
            if line.starts_with('.') && !line.contains('=') || line.starts_with(".include") {
                cfg.skipped.push(line.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| err(format!("{line:?} is not a [ section ] header")))?;
                section = name.trim().to_string();
                continue;
            }
            let (name, value) = line
                .split_once('=')
                .ok_or_else(|| err(format!("{line:?} is not of the form name = value")))?;
            let value = cfg
                .expand(&section, value.trim(), env)
                .map_err(|m| err(format!("{}: {m}", name.trim())))?;
            total += value.len();
            if total > MAX_TOTAL {
                return Err(err(format!(
                    "{}: the values expand to more than {} MiB in all",
                    name.trim(),
                    MAX_TOTAL >> 20
                )));
            }
            cfg.sections
                .entry(section.clone())
                .or_default()
                .insert(name.trim().to_string(), value);
        }
        Ok(cfg)
    }

    /// The value of `name` in `section`, falling back to the default section.
    pub fn get(&self, section: &str, name: &str) -> Option<&str> {
        [section, DEFAULT]
            .iter()
            .find_map(|s| self.sections.get(*s)?.get(name))
            .map(String::as_str)
    }

    /// Unquotes and substitutes a raw value.
    fn expand(
        &self,
        section: &str,
        raw: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ExpandError> {
        let mut out = String::new();
        let mut chars = raw.chars().peekable();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(n) => out.push(n),
                    None => {}
                },
                ('"' | '\'', None) => quote = Some(c),
                (q, Some(open)) if q == open => quote = None,
                ('$', q) if q != Some('\'') => {
                    let name = variable(&mut chars)?;
                    let value = match name.split_once("::") {
                        Some(("ENV", var)) => env(var),
                        Some((sec, var)) => self.get(sec, var).map(str::to_string),
                        None => self.get(section, &name).map(str::to_string),
                    };
                    out.push_str(&value.ok_or(ExpandError::Undefined(name))?);
                }
                (c, _) => out.push(c),
            }
            // OpenSSL's own bound (CONF_MAX_SIZE): `a1 = $a0$a0` … doubled 39 times ran 29 s
            // and aborted on allocation (#24).
            if out.len() > MAX_VALUE {
                return Err(ExpandError::TooLong);
            }
        }
        Ok(out)
    }
}

/// The name after a `$`: `name`, `section::name`, `{…}` or `(…)`.
fn variable(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, ExpandError> {
    let close = match chars.peek() {
        Some('{') => Some('}'),
        Some('(') => Some(')'),
        _ => None,
    };
    let mut name = String::new();
    if let Some(close) = close {
        chars.next();
        for c in chars.by_ref() {
            if c == close {
                return Ok(name);
            }
            name.push(c);
        }
        return Err(ExpandError::Unclosed(name));
    }
    while let Some(&c) = chars.peek() {
        let part_of_name = c.is_ascii_alphanumeric() || c == '_' || c == '.';
        if part_of_name {
            name.push(c);
            chars.next();
        } else if c == ':' && name.chars().all(|c| c != ':') {
            // `$section::name`: both colons, then the name.
            let mut ahead = chars.clone();
            ahead.next();
            if ahead.next() != Some(':') {
                break;
            }
            name.push_str("::");
            chars.next();
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() {
        return Err(ExpandError::LoneDollar);
    }
    Ok(name)
}

/// The line without its comment: `#` outside quotes and not escaped.
fn strip_comment(line: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ('#', None) => break,
            ('"' | '\'', None) => {
                quote = Some(c);
                out.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                out.push(c);
            }
            (c, _) => out.push(c),
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/op".to_string())
    }

    #[test]
    fn reads_the_ca_section_with_substitutions_import_openssl_cnf() {
        let text = r#"
# the top
HOME = .
top = /srv
.include /etc/ssl/more.cnf
[ ca ]
default_ca = CA_default   # the section
[ CA_default ]
dir = $top/pki
database = $dir/db/index.txt
new_certs_dir = ${dir}/issued
certificate = $(dir)/root.crt
private_key = $ENV::HOME/keys/"root key.pem"
serial = $dir/db/\
serial
crlnumber = $CA_default::dir/db/crlnum
quoted = 'a $dir # not a comment'
"#;
        let cfg = Config::parse(text, &env).unwrap();
        let ca = cfg.get("ca", "default_ca").unwrap();
        assert_eq!(ca, "CA_default");
        let v = |k: &str| cfg.get(ca, k).unwrap().to_string();
        assert_eq!(v("database"), "/srv/pki/db/index.txt");
        assert_eq!(v("new_certs_dir"), "/srv/pki/issued");
        assert_eq!(v("certificate"), "/srv/pki/root.crt");
        assert_eq!(v("private_key"), "/home/op/keys/root key.pem");
        assert_eq!(v("serial"), "/srv/pki/db/serial");
        assert_eq!(v("crlnumber"), "/srv/pki/db/crlnum");
        assert_eq!(v("quoted"), "a $dir # not a comment");
        assert_eq!(v("HOME"), ".", "the default section answers too");
        assert_eq!(cfg.skipped, [".include /etc/ssl/more.cnf"]);
    }

    #[test]
    fn substitutions_are_bounded_import_openssl_cnf_bound() {
        // The review's 823-byte file: each value doubles the one before, 2^39 bytes at the end.
        let mut text = String::from("a0 = xxxxxxxxxxxxxxxx\n");
        for i in 1..40 {
            text.push_str(&format!("a{i} = $a{}$a{}\n", i - 1, i - 1));
        }
        let e = Config::parse(&text, &env).unwrap_err().to_string();
        assert!(e.contains("line 14") && e.contains("64 KiB"), "{e}");
        // Many values of up to 64 KiB each: bounded in all.
        let mut text = format!("a = {}\n", "y".repeat(60 << 10));
        for i in 0..400 {
            text.push_str(&format!("b{i} = $a\n"));
        }
        let e = Config::parse(&text, &env).unwrap_err().to_string();
        assert!(e.contains("16 MiB"), "{e}");
    }

    #[test]
    fn refuses_what_it_cannot_read_with_the_line() {
        let bad = |t: &str| Config::parse(t, &env).unwrap_err();
        assert!(matches!(bad("[ ca\n"), CnfError::Line { line: 1, .. }));
        assert!(matches!(
            bad("\n\njust words\n"),
            CnfError::Line { line: 3, .. }
        ));
        let e = bad("[ x ]\na = $nope/y\n").to_string();
        assert!(
            e.contains("line 2") && e.contains("$nope is not defined"),
            "{e}"
        );
        assert!(bad("a = ${open\n").to_string().contains("unclosed"));
    }
}
