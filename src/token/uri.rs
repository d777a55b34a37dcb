//! RFC 7512 PKCS#11 URIs, as far as fileca names a CA key with one: the token (label, serial,
//! manufacturer, model) and the key object (label, CKA_ID). Pure. A PIN in the URI
//! (`pin-value`, `pin-source`) is refused: the PIN comes from `--pin-file` or a prompt, never
//! from a string that lands in ca.key, shell history or `ps` (SPEC.md TOKEN-PIN).

use std::fmt;

/// A PKCS#11 URI naming one private key on one token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token's label (CK_TOKEN_INFO.label, trailing blanks removed).
    pub token: Option<String>,
    /// `manufacturer=`.
    pub manufacturer: Option<String>,
    /// `model=`.
    pub model: Option<String>,
    /// `serial=`: the token's serial number.
    pub serial: Option<String>,
    /// `object=`: the key's CKA_LABEL.
    pub object: Option<String>,
    /// `id=`: the key's CKA_ID (bytes).
    pub id: Option<Vec<u8>>,
}

/// Why a string is not a PKCS#11 URI fileca can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("does not start with \"pkcs11:\"")]
    Scheme,
    #[error(
        "holds a PIN ({0}); never put the PIN in the URI: give --pin-file FILE, set \
         $CA_PIN_FILE, or type it at the prompt"
    )]
    Pin(&'static str),
    #[error("has an attribute fileca does not know or use: {0:?}")]
    Unknown(String),
    #[error("names the attribute {0:?} twice")]
    Twice(String),
    #[error("has a bad percent-encoding in {0:?}")]
    Encoding(String),
    #[error("names no key: give object=LABEL or id=%XX…")]
    NoObject,
    #[error("type={0} is not a private key (type=private, or leave it out)")]
    Type(String),
    #[error("has a value that is not UTF-8 in {0:?}")]
    NotUtf8(String),
}

impl Pkcs11Uri {
    /// Parses `pkcs11:attr=value;…[?query]`. Query attributes other than PINs
    /// (`module-path`, `module-name`) are refused too: the module is `--module`.
    pub fn parse(s: &str) -> Result<Pkcs11Uri, UriError> {
        let rest = s.strip_prefix("pkcs11:").ok_or(UriError::Scheme)?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        // Any query attribute is refused: a PIN names the PIN rule, the rest are unknown.
        if let Some(attr) = query.and_then(|q| q.split('&').find(|a| !a.is_empty())) {
            let name = attr.split_once('=').map_or(attr, |(n, _)| n);
            return Err(match name {
                "pin-value" => UriError::Pin("pin-value"),
                "pin-source" => UriError::Pin("pin-source"),
                other => UriError::Unknown(other.to_string()),
            });
        }
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| UriError::Unknown(attr.to_string()))?;
            let bytes = decode(value).ok_or_else(|| UriError::Encoding(name.to_string()))?;
            let text = || {
                String::from_utf8(bytes.clone()).map_err(|_| UriError::NotUtf8(name.to_string()))
            };
            let slot_is_free = |slot: bool| match slot {
                true => Err(UriError::Twice(name.to_string())),
                false => Ok(()),
            };
            match name {
                "token" => {
                    slot_is_free(uri.token.is_some())?;
                    uri.token = Some(text()?);
                }
                "manufacturer" => {
                    slot_is_free(uri.manufacturer.is_some())?;
                    uri.manufacturer = Some(text()?);
                }
                "model" => {
                    slot_is_free(uri.model.is_some())?;
                    uri.model = Some(text()?);
                }
                "serial" => {
                    slot_is_free(uri.serial.is_some())?;
                    uri.serial = Some(text()?);
                }
                "object" => {
                    slot_is_free(uri.object.is_some())?;
                    uri.object = Some(text()?);
                }
                "id" => {
                    slot_is_free(uri.id.is_some())?;
                    uri.id = Some(bytes);
                }
                "type" => {
                    let t = text()?;
                    if t != "private" {
                        return Err(UriError::Type(t));
                    }
                }
                "pin-value" => return Err(UriError::Pin("pin-value")),
                "pin-source" => return Err(UriError::Pin("pin-source")),
                other => return Err(UriError::Unknown(other.to_string())),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(UriError::NoObject);
        }
        Ok(uri)
    }
}

/// The canonical form: attributes in a fixed order, values percent-encoded where RFC 7512
/// requires it, `id` always percent-encoded byte by byte; never a PIN.
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, value) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("object", &self.object),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name}={}", encode(v.as_bytes())));
            }
        }
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02x}")).collect();
            parts.push(format!("id={hex}"));
        }
        parts.push("type=private".into());
        write!(f, "pkcs11:{}", parts.join(";"))
    }
}

/// Percent-decodes a value.
fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters and the few RFC 7512 keeps
/// literal in a path value.
fn encode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_is_parsed_canonically_and_a_pin_in_it_is_refused() {
        let uri = Pkcs11Uri::parse("pkcs11:token=lab%20root;object=root-key;id=%01%a0").unwrap();
        assert_eq!(uri.token.as_deref(), Some("lab root"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 0xa0][..]));
        let shown = uri.to_string();
        assert_eq!(
            shown,
            "pkcs11:token=lab%20root;object=root-key;id=%01%a0;type=private"
        );
        assert_eq!(Pkcs11Uri::parse(&shown).unwrap(), uri);
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:token=t;object=k?pin-value=1234"),
            Err(UriError::Pin("pin-value"))
        );
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:token=t;object=k;pin-value=1234"),
            Err(UriError::Pin("pin-value"))
        );
        assert_eq!(Pkcs11Uri::parse("pkcs11:token=t"), Err(UriError::NoObject));
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:object=k;type=public"),
            Err(UriError::Type("public".into()))
        );
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object=%zz"),
            Err(UriError::Encoding(_))
        ));
        assert_eq!(Pkcs11Uri::parse("file:x"), Err(UriError::Scheme));
    }
}
