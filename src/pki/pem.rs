//! PEM and DER framing: one object per file, nothing hidden after it.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Largest PEM certificate input accepted, in bytes.
pub const MAX_PEM_BYTES: usize = 1024 * 1024;

/// Decodes one PEM block with one of `labels`, or DER. Refuses several blocks, other labels,
/// trailing garbage and oversized input.
pub fn decode_one(bytes: &[u8], labels: &[&str], max: usize) -> Result<Vec<u8>, String> {
    if bytes.len() > max {
        return Err(format!(
            "input is {} bytes, more than the {max}-byte limit",
            bytes.len()
        ));
    }
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| "input is neither PEM text nor DER".to_string())?;
    if !text.contains("-----BEGIN ") {
        return Err("input is neither PEM nor DER (no -----BEGIN line)".into());
    }
    let blocks = ::pem::parse_many(text).map_err(|e| format!("malformed PEM: {e}"))?;
    match blocks.as_slice() {
        [] => Err("malformed PEM: no complete block (truncated?)".into()),
        [one] if labels.contains(&one.tag()) => {
            let after = after_end_line(text);
            if !after.trim().is_empty() {
                return Err(format!(
                    "{} bytes of data after the -----END line",
                    after.len()
                ));
            }
            Ok(one.contents().to_vec())
        }
        [one] => Err(format!(
            "PEM block is labelled {:?}, expected {:?}",
            one.tag(),
            labels[0]
        )),
        many => Err(format!(
            "input holds {} PEM blocks; give exactly one",
            many.len()
        )),
    }
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
pub fn certificate(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not a valid certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    Ok(cert)
}
