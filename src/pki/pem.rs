//! PEM and DER framing: one object per file, nothing hidden after it.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Largest PEM certificate input accepted, in bytes.
pub const MAX_PEM_BYTES: usize = 1024 * 1024;

/// Why bytes are not the one PEM block or DER object a command expects. The caller names
/// the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PemError {
    #[error("input is {len} bytes, more than the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("input is neither PEM text nor DER")]
    NotText,
    #[error("input is neither PEM nor DER (no -----BEGIN line)")]
    NoBegin,
    #[error("malformed PEM: {0}")]
    Malformed(std::sync::Arc<::pem::PemError>),
    #[error("malformed PEM: no complete block (truncated?)")]
    NoBlock,
    #[error("{0} bytes of data after the -----END line")]
    AfterEnd(usize),
    #[error("PEM block is labelled {found:?}, expected {expected:?}")]
    Label { found: String, expected: String },
    #[error("input holds {0} PEM blocks; give exactly one")]
    Several(usize),
    #[error("not a valid certificate: {0}")]
    NotCertificate(x509_parser::nom::Err<x509_parser::error::X509Error>),
    #[error("trailing bytes after the certificate")]
    TrailingDer,
}

/// Decodes one PEM block with one of `labels`, or DER. Refuses several blocks, other labels,
/// trailing garbage and oversized input.
pub fn decode_one(bytes: &[u8], labels: &[&str], max: usize) -> Result<Vec<u8>, PemError> {
    if bytes.len() > max {
        return Err(PemError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PemError::NotText)?;
    if !text.contains("-----BEGIN ") {
        return Err(PemError::NoBegin);
    }
    let blocks =
        ::pem::parse_many(text).map_err(|e| PemError::Malformed(std::sync::Arc::new(e)))?;
    match blocks.as_slice() {
        [] => Err(PemError::NoBlock),
        [one] if labels.contains(&one.tag()) => {
            let after = after_end_line(text);
            if !after.trim().is_empty() {
                return Err(PemError::AfterEnd(after.len()));
            }
            Ok(one.contents().to_vec())
        }
        [one] => Err(PemError::Label {
            found: one.tag().to_string(),
            expected: labels[0].to_string(),
        }),
        many => Err(PemError::Several(many.len())),
    }
}

/// Decodes a bundle: one or more `CERTIFICATE` PEM blocks (a certificate followed by its
/// chain, as CAs hand them out), or one DER certificate. Other labels are refused.
pub fn decode_certificates(bytes: &[u8], max: usize) -> Result<Vec<Vec<u8>>, PemError> {
    if bytes.len() > max {
        return Err(PemError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PemError::NotText)?;
    if !text.contains("-----BEGIN ") {
        return Err(PemError::NoBegin);
    }
    let blocks =
        ::pem::parse_many(text).map_err(|e| PemError::Malformed(std::sync::Arc::new(e)))?;
    if blocks.is_empty() {
        return Err(PemError::NoBlock);
    }
    blocks
        .into_iter()
        .map(|b| match b.tag() {
            "CERTIFICATE" => Ok(b.into_contents()),
            other => Err(PemError::Label {
                found: other.to_string(),
                expected: "CERTIFICATE".into(),
            }),
        })
        .collect()
}

/// What follows the `-----END …-----` line of the (one) block in `text`. Text before the
/// BEGIN line is allowed (`openssl req -text` writes a dump there); text after the END line is
/// not, so one file holds one object and nothing hides behind it.
fn after_end_line(text: &str) -> &str {
    let begin = text.find("-----BEGIN ").unwrap_or(0);
    let Some(end) = text[begin..].find("-----END ") else {
        return "";
    };
    let label = &text[begin + end + "-----END ".len()..];
    match label.find("-----") {
        Some(close) => &label[close + "-----".len()..],
        None => "",
    }
}

/// PEM-encodes DER with a label (64-column lines, `\n` line ends).
pub fn pem_of(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// Parses a DER certificate, refusing trailing bytes. The message is what commands print
/// after the file's name.
pub fn certificate(der: &[u8]) -> Result<X509Certificate<'_>, PemError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(PemError::NotCertificate)?;
    if !rest.is_empty() {
        return Err(PemError::TrailingDer);
    }
    Ok(cert)
}
