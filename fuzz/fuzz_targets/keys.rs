//! Fuzz target: `KeySet::parse` on arbitrary key file content.
//!
//! The first byte picks the format (even: JWKS, odd: raw secret), the rest
//! is the file's content. Parsing must never panic, and a set it accepts
//! must obey the rules of the `keys` module docs:
//!
//! - the content is at most `MAX_KEY_FILE_BYTES`;
//! - one or two keys, with distinct, non-empty kids free of control
//!   characters, each pinned to a supported algorithm;
//! - JWKS: the content is a JSON object whose `keys` array lists exactly
//!   the accepted keys, in order; each entry's `kty`, `alg`, `crv`, `use`
//!   and `kid` agree with the key, and its material passes the documented
//!   checks (HMAC secret of at least 32 bytes, RSA modulus of at least 2048
//!   bits with an odd `e` of at least 3, EC and Ed25519 coordinate lengths);
//!   a key without `kid` has its thumbprint as kid;
//! - raw secret: one HS256 key, the content minus one trailing newline, at
//!   least 32 bytes, not printable text shaped like a document (PEM, a byte
//!   order mark, JSON, XML, YAML, several lines that are not all base64),
//!   its kid the first 16 characters of its RFC 7638 thumbprint, which
//!   jsonwebtoken computes independently here.
//!
//! Not observable through the public API, so not checked: that the parsed
//! material is the material the text holds (beyond the HMAC thumbprint),
//! whether an EC point is on its curve, and the kid length bound (a private
//! constant).
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run keys corpus/keys seeds/keys -- -max_total_time=300
//! ```

#![no_main]

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jwt_rollover::{MAX_KEY_FILE_BYTES, MIN_HMAC_SECRET_BYTES, MIN_RSA_BITS};
use jwt_rollover::{Algorithm, Key, KeyFormat, KeySet};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// Base64url with or without padding, as the module docs allow for JWK members.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Length of a SHA-256 digest in unpadded base64url.
const THUMBPRINT_CHARS: usize = 43;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, content)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        if let Ok(keys) = KeySet::parse(content, KeyFormat::Jwks) {
            check_set(content, &keys);
            check_jwks(content, &keys);
        }
    } else if let Ok(keys) = KeySet::parse(content, KeyFormat::Secret) {
        check_set(content, &keys);
        check_secret(content, &keys);
    }
});

/// The keys of the set, in file order. A `KeySet` holds a current and an
/// optional previous key, so "at most two" holds by construction.
fn listed(keys: &KeySet) -> Vec<&Key> {
    std::iter::once(keys.current())
        .chain(keys.previous())
        .collect()
}

/// The rules both formats share.
fn check_set(content: &[u8], keys: &KeySet) {
    assert!(
        content.len() <= MAX_KEY_FILE_BYTES,
        "accepted {} bytes, over MAX_KEY_FILE_BYTES",
        content.len()
    );
    for key in listed(keys) {
        let kid = key.kid();
        assert!(!kid.is_empty(), "accepted an empty kid");
        assert!(
            !kid.chars().any(char::is_control),
            "accepted kid {kid:?} with control characters"
        );
        assert!(
            matches!(
                key.algorithm(),
                Algorithm::HS256
                    | Algorithm::HS384
                    | Algorithm::HS512
                    | Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
                    | Algorithm::ES256
                    | Algorithm::ES384
                    | Algorithm::EdDSA
            ),
            "key {kid:?} pinned to unsupported {:?}",
            key.algorithm()
        );
        let thumbprint = key.thumbprint();
        assert!(
            thumbprint.len() == THUMBPRINT_CHARS && thumbprint.bytes().all(base64url_char),
            "thumbprint {thumbprint:?} of {kid:?} is not an unpadded base64url SHA-256"
        );
    }
    if let Some(previous) = keys.previous() {
        assert_ne!(
            previous.kid(),
            keys.current().kid(),
            "accepted a duplicate kid"
        );
    }
}

/// A JWKS set: the document lists exactly these keys, and each entry says
/// what the key is.
fn check_jwks(content: &[u8], keys: &KeySet) {
    for bom in [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"] {
        assert!(
            !content.starts_with(bom),
            "accepted JWKS behind a byte order mark"
        );
    }
    let document: Value = serde_json::from_slice(content).expect("accepted JWKS is JSON");
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .expect("accepted JWKS has a \"keys\" array");
    let keys = listed(keys);
    assert_eq!(
        entries.len(),
        keys.len(),
        "the \"keys\" array and the accepted set differ in length"
    );
    for (entry, key) in entries.iter().zip(keys) {
        let jwk = entry.as_object().expect("an accepted JWK is an object");
        check_jwk(jwk, key);
    }
}

fn check_jwk(jwk: &Map<String, Value>, key: &Key) {
    let alg = key.algorithm();
    let alg_name = format!("{alg:?}");
    let text = |name: &str| jwk.get(name).map(|v| v.as_str().expect("a string member"));
    let decoded = |name: &str| {
        let value = text(name).unwrap_or_else(|| panic!("accepted a JWK without {name:?}"));
        B64URL
            .decode(value)
            .unwrap_or_else(|_| panic!("accepted {name:?} that is not base64url"))
    };
    assert!(
        matches!(text("use"), None | Some("sig")),
        "accepted \"use\" {:?}",
        text("use")
    );
    match text("kid") {
        Some(kid) => assert_eq!(kid, key.kid(), "kid differs from the JWK's"),
        None => assert_eq!(
            key.kid(),
            key.thumbprint(),
            "a JWK without kid gets its thumbprint"
        ),
    }
    let kty = text("kty").expect("accepted a JWK without kty");
    match kty {
        "oct" => {
            assert!(matches!(
                alg,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ));
            assert_eq!(text("alg"), Some(alg_name.as_str()), "oct needs its alg");
            let secret = decoded("k");
            check_hmac(&secret, key);
        }
        "RSA" => {
            assert!(matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ));
            assert_eq!(text("alg"), Some(alg_name.as_str()), "RSA needs its alg");
            let bits = significant_bits(&decoded("n"));
            assert!(
                bits >= MIN_RSA_BITS,
                "accepted an RSA modulus of {bits} bits"
            );
            let e = decoded("e");
            assert!(
                significant_bits(&e) >= 2 && e.last().is_some_and(|b| b % 2 == 1),
                "accepted an RSA exponent that is even or below 3"
            );
        }
        "EC" => {
            let (want, coordinate_len) = match text("crv") {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                other => panic!("accepted an EC key with curve {other:?}"),
            };
            assert_eq!(alg, want, "EC algorithm follows the curve");
            assert!(
                text("alg").is_none_or(|a| a == alg_name),
                "alg follows the curve"
            );
            assert_eq!(decoded("x").len(), coordinate_len);
            assert_eq!(decoded("y").len(), coordinate_len);
        }
        "OKP" => {
            assert_eq!(text("crv"), Some("Ed25519"));
            assert_eq!(alg, Algorithm::EdDSA);
            assert!(matches!(text("alg"), None | Some("EdDSA")));
            assert_eq!(decoded("x").len(), 32, "Ed25519 x is 32 bytes");
        }
        other => panic!("accepted kty {other:?}"),
    }
}

/// A raw secret set: one HS256 key made of the content minus one newline.
fn check_secret(content: &[u8], keys: &KeySet) {
    assert!(keys.previous().is_none(), "a raw secret is one key");
    let key = keys.current();
    assert_eq!(key.algorithm(), Algorithm::HS256);
    let secret = content
        .strip_suffix(b"\r\n")
        .or_else(|| content.strip_suffix(b"\n"))
        .unwrap_or(content);
    check_hmac(secret, key);
    assert_eq!(
        key.kid(),
        &key.thumbprint()[..16],
        "a raw secret's kid is its thumbprint's first 16 characters"
    );
    if let Some(text) = printable(secret) {
        check_not_a_document(text);
    }
}

/// At least `MIN_HMAC_SECRET_BYTES`, and the key's thumbprint is the
/// RFC 7638 thumbprint of exactly this secret, as jsonwebtoken computes it.
fn check_hmac(secret: &[u8], key: &Key) {
    assert!(
        secret.len() >= MIN_HMAC_SECRET_BYTES,
        "accepted a {}-byte HMAC secret",
        secret.len()
    );
    let jwk = Jwk::from_encoding_key(&EncodingKey::from_secret(secret), Algorithm::HS256)
        .expect("an HMAC JWK");
    let expected = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .expect("an oct thumbprint");
    assert_eq!(key.thumbprint(), expected, "thumbprint is not the secret's");
}

/// The module docs' shapes a raw secret must not have when it is printable
/// text.
fn check_not_a_document(text: &str) {
    assert!(
        !text.starts_with('\u{FEFF}'),
        "accepted a secret behind a byte order mark"
    );
    let start = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    for prefix in ["{", "[", "<", "---"] {
        assert!(
            !start.starts_with(prefix),
            "accepted a secret that starts like a document ({prefix:?})"
        );
    }
    // Each line is judged without its indentation, the first as the others.
    let lines: Vec<&str> = start
        .split('\n')
        .map(|line| line.trim_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|line| !line.is_empty())
        .collect();
    if lines.len() > 1 {
        assert!(
            lines.iter().all(|line| line
                .bytes()
                .all(|b| base64url_char(b) || b"+/=".contains(&b))),
            "accepted several lines of text that are not all base64"
        );
    }
}

/// "Printable text" as the crate uses it: UTF-8 without control characters
/// other than ASCII whitespace (tab, CR, LF, vertical tab, form feed).
fn printable(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().filter(|text| {
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n' | '\x0b' | '\x0c'))
    })
}

fn base64url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Bit length of a big-endian unsigned integer.
fn significant_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}
