//! What refused key content looks like, so that an error can say "this
//! looks like a PEM public key" instead of "invalid JSON at line 1".
//!
//! Nothing here chooses a format: the format is configured. These checks
//! only name what was found, and refuse raw-secret content that no secret
//! generator would write (see [`KeySet`](crate::keys::KeySet)).

use serde_json::Value;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF8_BOM_FOUND: &str =
    "text behind a UTF-8 byte order mark (RFC 8259 forbids one in JSON; save the file without it)";
const UTF16_BOM_FOUND: &str = "UTF-16 text (save the file as UTF-8, without a byte order mark)";

/// For content given as JWKS: what it looks like when it cannot be a JSON
/// object, or `None` when it starts like one (serde_json then judges it).
pub(super) fn not_json_text(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(UTF8_BOM) {
        return Some(UTF8_BOM_FOUND);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Some(UTF16_BOM_FOUND);
    }
    let text = bytes.trim_ascii_start();
    match text.first() {
        Some(b'{') | None => None,
        Some(b'[') => Some("a JSON array (the keys belong in an object's \"keys\" member)"),
        Some(_) => Some(document_kind(text).unwrap_or(if printable(text) {
            "text that is not JSON"
        } else {
            "binary data"
        })),
    }
}

/// For a parsed JSON value without a `keys` array: what it is instead.
pub(super) fn json_shape(document: &Value) -> &'static str {
    match document {
        Value::Object(object) if object.contains_key("keys") => {
            "a JSON object whose \"keys\" is not an array"
        }
        Value::Object(object) if object.contains_key("kty") => {
            "a single JWK (put it in a \"keys\" array)"
        }
        Value::Object(_) => "a JSON object without a \"keys\" array",
        Value::Array(_) => "a JSON array (the keys belong in an object's \"keys\" member)",
        _ => "a JSON value that is not an object",
    }
}

/// For content given as a raw secret (one trailing newline already
/// trimmed): what it looks like when it is printable text shaped like a
/// key or a document. Binary secrets are never refused here.
pub(super) fn not_a_secret(secret: &[u8]) -> Option<&'static str> {
    if utf16_text(secret) {
        return Some(UTF16_BOM_FOUND);
    }
    let text = secret.trim_ascii_start();
    // PEM armour is never random bytes: refused whatever follows it.
    if text.starts_with(b"-----BEGIN ") {
        return document_kind(text);
    }
    if let Some(rest) = text.strip_prefix(UTF8_BOM)
        && printable(rest)
    {
        return Some("text behind a UTF-8 byte order mark");
    }
    if !printable(text) {
        return None;
    }
    if let Some(kind) = document_kind(text) {
        return Some(kind);
    }
    match text.first() {
        Some(b'{') => return Some("a JSON object (a JWKS file needs the jwks format)"),
        Some(b'[') => return Some("a JSON array"),
        _ => {}
    }
    // Indentation and blank lines do not count, on the first line as on
    // the others.
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty());
    let several = lines.clone().nth(1).is_some();
    if several && !lines.all(|line| line.iter().copied().all(base64_char)) {
        return Some("several lines of text (a document, not a secret)");
    }
    None
}

/// PEM, XML/HTML or YAML, by how the text starts.
fn document_kind(text: &[u8]) -> Option<&'static str> {
    if let Some(label) = text.strip_prefix(b"-----BEGIN ") {
        let label = &label[..label.iter().position(|&b| b == b'-').unwrap_or(label.len())];
        return Some(if label.ends_with(b"PUBLIC KEY") {
            "a PEM public key"
        } else if label.ends_with(b"PRIVATE KEY") {
            "a PEM private key"
        } else if label.starts_with(b"CERTIFICATE") {
            "a PEM certificate"
        } else {
            "PEM data"
        });
    }
    if text.starts_with(b"<") {
        return Some("XML or HTML");
    }
    if text.starts_with(b"---") {
        return Some("a YAML document");
    }
    None
}

/// UTF-8 without control characters other than ASCII whitespace (tab,
/// CR, LF, vertical tab, form feed): what the sniffer may trim.
fn printable(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\x0b' | '\x0c'))
    })
}

/// A UTF-16 byte order mark followed by ASCII text in UTF-16: random
/// secret bytes almost never have a zero in every other byte.
fn utf16_text(bytes: &[u8]) -> bool {
    let (zero_at, rest) = match bytes {
        [0xFF, 0xFE, rest @ ..] => (1, rest),
        [0xFE, 0xFF, rest @ ..] => (0, rest),
        _ => return false,
    };
    rest.len() >= 2
        && rest.len() % 2 == 0
        && rest
            .chunks_exact(2)
            .all(|unit| unit[zero_at] == 0 && unit[1 - zero_at] != 0)
}

/// The standard and URL-safe base64 alphabets, with padding.
fn base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_labels() {
        let cases: &[(&[u8], &str)] = &[
            (b"-----BEGIN PUBLIC KEY-----\nMIIB\n", "a PEM public key"),
            (b"-----BEGIN RSA PUBLIC KEY-----\n", "a PEM public key"),
            (b"-----BEGIN EC PRIVATE KEY-----\n", "a PEM private key"),
            (b"-----BEGIN CERTIFICATE-----\n", "a PEM certificate"),
            (b"-----BEGIN OPENSSH THING-----\n", "PEM data"),
        ];
        for (content, expected) in cases {
            assert_eq!(document_kind(content), Some(*expected));
        }
    }

    #[test]
    fn random_binary_with_a_utf16_bom_is_still_a_secret() {
        let mut secret = vec![0xFF, 0xFE];
        secret.extend((0..40).map(|i| (i * 37 + 11) as u8));
        assert_eq!(not_a_secret(&secret), None);
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("a-secret".bytes().flat_map(|b| [b, 0]))
            .collect();
        assert_eq!(not_a_secret(&utf16), Some(UTF16_BOM_FOUND));
    }
}
