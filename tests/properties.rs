//! Property tests (proptest) of the three places untrusted bytes come in:
//! key file content, the key file as it changes between reloads, and the
//! `Authorization` header.
//!
//! Each property states its invariant in its doc comment. Budgets are small
//! (24 to 256 cases) so that the whole file runs in seconds in debug builds.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::BTreeSet;

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Method, StatusCode};
use jwt_rollover::MAX_KEY_FILE_BYTES;
use jwt_rollover::{
    Algorithm, JwtLayer, KeyError, KeyFile, KeyFormat, KeyRing, KeySet, ManualClock, Metrics,
    RejectionReason, RetireRequest,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

use common::process::TempDir;
use common::{
    NEW_KID, NEW_SECRET, NOW, OLD_KID, OLD_SECRET, TestRing, b64, mint, new_and_old_keys, policy,
    request, send, whoami_router,
};

// ---------------------------------------------------------------------------
// 1. Key parsing
// ---------------------------------------------------------------------------

// Public halves of test key pairs (they protect nothing): a real RSA-2048
// modulus, P-256 and P-384 points and an Ed25519 key, so that the
// generated JWKS documents can hold every kind of valid key.
const RSA_2048_N: &str = "\
    xwL9MCZ8T1LU2TQ_gbIXHfdbGQYDpCYgGwjDeLw_2rctq01yvAu5PBtb6mV0NPJn6cUBpifIJld3\
    0GsHVTBvpHevKr_kilDvmYW1UEtKykN8bk8QILwoeDViOGv_qL0dhc40rUQXKBprZbEFVnjBOlNi\
    1GTAJB3Q7hnFB01G2bJE_l1ITcs3kJ6BEicqIoYcFdjrQ_GzYIjEuImHXH1PL1vb6SzqP4QrzsT9\
    Y51ExBYo_xLqcfAE-oNTUE8k-Bi-e0hXYlp1hMI-Hze7TrZs4fIKRReOvOrdO2X828Fx7k8Ini0o\
    MvAMFf9YQ3X8-yecqTmbyQfNT0CSahPbgV1p3Q";
const P256_X: &str = "4cpJwnA_sHkS2HtBNapjvzNbxN2ZbjfEeOeMl8-NiAI";
const P256_Y: &str = "BDaX-bu9Z0LYZfFcmDeSEfeZJWRL0VNqipENlQ3yZP4";
const P384_X: &str = "esU4Ez09zjzTmtmd7cjpD5kTeJ5UWGtGjfSiNCl--ocx4-4C5AIAfX7ZtxfOrrgJ";
const P384_Y: &str = "SndJ-IyJdTlgRF57hBS4fwJdiyb_W5-aqZZoXkyB7DTxeYUv6XaKbFz3BgWl3llV";
const ED25519_X: &str = "c8SsbO5pnwDnWeUn63EwN_dFsZm0JtaHU98927_U6g8";

/// Secrets for `oct` keys: 32 bytes (the minimum), 64 bytes, and 31 (one
/// short).
const SECRET_32: &[u8] = b"prop-secret-32-bytes-exactly-!!!";
const SECRET_64: &[u8] = b"prop-secret-64-bytes-prop-secret-64-bytes-prop-secret-64-bytes!!";
const SECRET_31: &[u8] = b"prop-secret-31-bytes-one-short!";

/// The base64url value `b64url` with a zero byte put in front.
fn b64_with_leading_zero(b64url: &str) -> String {
    let mut bytes = vec![0];
    bytes.extend(URL_SAFE_NO_PAD.decode(b64url).unwrap());
    b64(&bytes)
}

/// Every member value the generators put in a JWK that is key material,
/// so that errors can be checked not to quote any of it.
fn material_pool() -> Vec<String> {
    vec![
        b64(SECRET_32),
        b64(SECRET_64),
        b64(SECRET_31),
        RSA_2048_N.to_owned(),
        P256_X.to_owned(),
        P256_Y.to_owned(),
        P384_X.to_owned(),
        P384_Y.to_owned(),
        ED25519_X.to_owned(),
    ]
}

fn strs(values: &[&str]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

/// One member, present with probability `p`, from `pool`.
fn member(p: f64, pool: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(p, prop::sample::select(pool))
}

/// A member: mostly one of `good`, sometimes one of `bad`, sometimes absent.
fn mostly(good: Vec<Value>, bad: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        12 => prop::sample::select(good).prop_map(Some),
        1 => prop::sample::select(bad).prop_map(Some),
        1 => Just(None),
    ]
    .boxed()
}

/// An optional member: absent half the time, else [`mostly`].
fn optional(good: Vec<Value>, bad: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![Just(None), mostly(good, bad)].boxed()
}

/// Members that are not key material: `kid` (absent, or one of a few,
/// so that two keys may share one, or empty, with a control character,
/// too long, not a string) and `use`.
fn kid_and_use() -> impl Strategy<Value = (Option<Value>, Option<Value>)> {
    let kid = prop_oneof![
        3 => Just(None),
        6 => prop::sample::select(strs(&["a", "b", "c", "2026-10", "2026-11"])).prop_map(Some),
        1 => prop::sample::select(vec![
            json!(""),
            json!("x\u{1}y"),
            json!("k".repeat(300)),
            json!(7),
        ])
        .prop_map(Some),
    ];
    let usage = prop_oneof![
        16 => Just(None),
        2 => Just(Some(json!("sig"))),
        1 => prop::sample::select(vec![json!("enc"), json!(1)]).prop_map(Some),
    ];
    (kid, usage)
}

/// A JWK whose members mostly fit its `kty`, so that a fair share of the
/// documents is valid.
fn coherent_jwk() -> impl Strategy<Value = Map<String, Value>> {
    let n_zero = b64_with_leading_zero(RSA_2048_N);
    let n_small = b64(&[0xC5; 255]);
    let oct = (
        Just("oct"),
        vec![
            (
                "alg",
                mostly(strs(&["HS256", "HS384", "HS512"]), strs(&["RS256", "none"])),
            ),
            (
                "k",
                mostly(
                    vec![
                        json!(b64(SECRET_32)),
                        json!(b64(SECRET_64)),
                        json!(format!("{}=", b64(SECRET_32))),
                    ],
                    vec![json!(b64(SECRET_31)), json!("not base64!"), json!(32)],
                ),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (Just(name), value))
        .collect::<Vec<_>>(),
    );
    let rsa = (
        Just("RSA"),
        vec![
            (
                "alg",
                mostly(
                    strs(&["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]),
                    strs(&["HS256", "ES256"]),
                ),
            ),
            (
                "n",
                mostly(vec![json!(RSA_2048_N), json!(n_zero)], vec![json!(n_small)]),
            ),
            (
                "e",
                mostly(
                    strs(&["AQAB", "AAEAAQ", "Aw"]),
                    strs(&["Ag", "AQ", "AQABAQABAQAB"]),
                ),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (Just(name), value))
        .collect::<Vec<_>>(),
    );
    let ec = prop::sample::select(vec![
        ("P-256", "ES256", P256_X, P256_Y, "P-384", P384_Y),
        ("P-384", "ES384", P384_X, P384_Y, "P-256", P256_Y),
    ])
    .prop_flat_map(|(crv, alg, x, y, other_crv, other_y)| {
        (
            Just("EC"),
            vec![
                (
                    "crv",
                    mostly(strs(&[crv]), strs(&[other_crv, "P-521", "Ed25519"])),
                ),
                (
                    "alg",
                    optional(strs(&[alg]), strs(&["ES512", "EdDSA", "HS256"])),
                ),
                ("x", mostly(strs(&[x]), strs(&[ED25519_X, "AA"]))),
                ("y", mostly(strs(&[y]), strs(&[other_y, "AA"]))),
            ]
            .into_iter()
            .map(|(name, value)| (Just(name), value))
            .collect::<Vec<_>>(),
        )
    });
    let okp = (
        Just("OKP"),
        vec![
            (
                "crv",
                mostly(strs(&["Ed25519"]), strs(&["X25519", "P-256"])),
            ),
            (
                "alg",
                optional(strs(&["EdDSA"]), strs(&["ES256", "Ed25519"])),
            ),
            ("x", mostly(strs(&[ED25519_X]), strs(&[P384_X, "AA"]))),
        ]
        .into_iter()
        .map(|(name, value)| (Just(name), value))
        .collect::<Vec<_>>(),
    );
    (
        prop_oneof![oct.boxed(), rsa.boxed(), ec.boxed(), okp.boxed()],
        kid_and_use(),
    )
        .prop_map(|((kty, members), (kid, usage))| {
            let mut jwk = Map::new();
            jwk.insert("kty".to_owned(), json!(kty));
            let members = members.into_iter().chain([("kid", kid), ("use", usage)]);
            for (name, value) in members {
                if let Some(value) = value {
                    jwk.insert(name.to_owned(), value);
                }
            }
            jwk
        })
}

/// A JWK with every member drawn from small pools, whatever its `kty`.
fn random_jwk() -> impl Strategy<Value = Map<String, Value>> {
    let material = || {
        let mut pool: Vec<Value> = material_pool().into_iter().map(Value::String).collect();
        pool.extend([json!("AQAB"), json!(""), json!(null)]);
        member(0.4, pool)
    };
    (
        member(
            0.9,
            vec![
                json!("oct"),
                json!("RSA"),
                json!("EC"),
                json!("OKP"),
                json!("OCT"),
                json!("oct "),
                json!(1),
                json!(null),
            ],
        ),
        member(
            0.7,
            strs(&[
                "HS256", "HS384", "HS512", "RS256", "PS512", "ES256", "ES384", "EdDSA", "none",
                "HS1",
            ]),
        ),
        material(),
        material(),
        material(),
        member(0.4, strs(&["P-256", "P-384", "Ed25519", "X25519", "P-521"])),
        material(),
        material(),
        kid_and_use(),
    )
        .prop_map(|(kty, alg, k, n, e, crv, x, y, (kid, usage))| {
            let mut jwk = Map::new();
            let members = [
                ("kty", kty),
                ("alg", alg),
                ("k", k),
                ("n", n),
                ("e", e),
                ("crv", crv),
                ("x", x),
                ("y", y),
                ("kid", kid),
                ("use", usage),
            ];
            for (name, value) in members {
                if let Some(value) = value {
                    jwk.insert(name.to_owned(), value);
                }
            }
            jwk
        })
}

/// One entry of the `keys` array: mostly objects, sometimes not.
fn jwk_entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => coherent_jwk().prop_map(Value::Object),
        2 => random_jwk().prop_map(Value::Object),
        1 => prop::sample::select(vec![json!("jwk"), json!(1), json!(null), json!([])]),
    ]
}

/// How the document's bytes are framed.
#[derive(Debug, Clone)]
enum Framing {
    Plain,
    /// ASCII whitespace before and after (still valid JSON).
    Whitespace(&'static str),
    /// A UTF-8 byte order mark first.
    Bom,
    /// Cut after this many bytes.
    Truncated(Index),
    /// One byte overwritten.
    Overwritten(Index, u8),
}

/// Bytes that are JSON documents shaped more or less like a JWKS.
fn jwks_like() -> impl Strategy<Value = Vec<u8>> {
    let document = prop_oneof![
        8 => prop_oneof![1 => Just(0usize), 4 => Just(1), 4 => Just(2), 1 => Just(3)]
            .prop_flat_map(|count| prop::collection::vec(jwk_entry(), count))
            .prop_map(|keys| json!({"keys": keys})),
        1 => jwk_entry(),
        1 => prop::sample::select(vec![
            json!({"keys": {}}),
            json!({"keys": "x"}),
            json!({}),
            json!([]),
            json!(null),
        ]),
    ];
    let framing = prop_oneof![
        12 => Just(Framing::Plain),
        1 => prop::sample::select(vec![" ", "\n", "\t\r\n ", "\u{c}"]).prop_map(Framing::Whitespace),
        1 => Just(Framing::Bom),
        1 => any::<Index>().prop_map(Framing::Truncated),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Framing::Overwritten(at, b)),
    ];
    (document, framing).prop_map(|(document, framing)| {
        let mut bytes = serde_json::to_vec(&document).unwrap();
        match framing {
            Framing::Plain => {}
            Framing::Whitespace(ws) => {
                bytes.splice(0..0, ws.bytes());
                bytes.extend(ws.bytes());
            }
            Framing::Bom => {
                bytes.splice(0..0, *b"\xEF\xBB\xBF");
            }
            Framing::Truncated(at) => bytes.truncate(at.index(bytes.len())),
            Framing::Overwritten(at, b) => {
                let at = at.index(bytes.len());
                bytes[at] = b;
            }
        }
        bytes
    })
}

/// Bytes, mostly text, sometimes binary.
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..160),
        "\\PC{0,80}".prop_map(String::into_bytes),
        prop::collection::vec(
            prop::sample::select(b" \t\r\n{}[]\":,-=abkBEGIN\xEF\xBB\xBF\xFF\xFE\x00".to_vec()),
            0..80,
        ),
    ]
}

/// The algorithm a JWK's members call for: `alg` for `oct` and `RSA`,
/// the curve for `EC` and `OKP`.
fn expected_algorithm(jwk: &Map<String, Value>) -> Option<Algorithm> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    Some(match (text("kty")?, text("alg"), text("crv")) {
        ("oct", Some("HS256"), _) => Algorithm::HS256,
        ("oct", Some("HS384"), _) => Algorithm::HS384,
        ("oct", Some("HS512"), _) => Algorithm::HS512,
        ("RSA", Some("RS256"), _) => Algorithm::RS256,
        ("RSA", Some("RS384"), _) => Algorithm::RS384,
        ("RSA", Some("RS512"), _) => Algorithm::RS512,
        ("RSA", Some("PS256"), _) => Algorithm::PS256,
        ("RSA", Some("PS384"), _) => Algorithm::PS384,
        ("RSA", Some("PS512"), _) => Algorithm::PS512,
        ("EC", _, Some("P-256")) => Algorithm::ES256,
        ("EC", _, Some("P-384")) => Algorithm::ES384,
        ("OKP", _, Some("Ed25519")) => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Checks an accepted JWKS against the document it came from.
fn check_accepted_jwks(bytes: &[u8], keys: &KeySet) -> Result<(), TestCaseError> {
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| TestCaseError::fail(format!("accepted content is not JSON: {e}")))?;
    let entries = document["keys"]
        .as_array()
        .ok_or_else(|| TestCaseError::fail("accepted document has no keys array"))?;
    let parsed: Vec<_> = std::iter::once(keys.current())
        .chain(keys.previous())
        .collect();
    prop_assert_eq!(parsed.len(), entries.len(), "one key per entry, in order");
    prop_assert!((1..=2).contains(&parsed.len()));
    for (key, entry) in parsed.iter().zip(entries) {
        let jwk = entry
            .as_object()
            .ok_or_else(|| TestCaseError::fail("accepted a key that is not an object"))?;
        prop_assert!(!key.kid().is_empty(), "empty kid");
        match jwk.get("kid") {
            Some(kid) => prop_assert_eq!(Some(key.kid()), kid.as_str()),
            None => prop_assert_eq!(key.kid(), key.thumbprint(), "no kid: the thumbprint"),
        }
        prop_assert_eq!(
            Some(key.algorithm()),
            expected_algorithm(jwk),
            "algorithm of {:?}",
            jwk
        );
        if let Some(usage) = jwk.get("use") {
            prop_assert_eq!(usage, "sig");
        }
    }
    if let Some(previous) = keys.previous() {
        prop_assert_ne!(previous.kid(), keys.current().kid(), "duplicate kids");
    }
    Ok(())
}

/// Checks an accepted raw secret.
fn check_accepted_secret(bytes: &[u8], keys: &KeySet) -> Result<(), TestCaseError> {
    prop_assert!(keys.previous().is_none(), "a raw secret is one key");
    let key = keys.current();
    prop_assert_eq!(key.algorithm(), Algorithm::HS256);
    prop_assert_eq!(key.kid().len(), 16);
    prop_assert!(key.thumbprint().starts_with(key.kid()));
    let secret = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    prop_assert!(
        secret.len() >= 32,
        "accepted a {}-byte secret",
        secret.len()
    );
    Ok(())
}

/// Parses `bytes` in both formats and checks what is accepted.
fn check_parse(bytes: &[u8]) -> Result<(), TestCaseError> {
    match KeySet::parse(bytes, KeyFormat::Jwks) {
        Ok(keys) => check_accepted_jwks(bytes, &keys)?,
        Err(err) => {
            let message = err.to_string();
            for material in material_pool() {
                prop_assert!(
                    !message.contains(&material),
                    "error quotes key material: {}",
                    message
                );
            }
        }
    }
    match KeySet::parse(bytes, KeyFormat::Secret) {
        Ok(keys) => check_accepted_secret(bytes, &keys)?,
        Err(err) => {
            // The whole content is the secret: a refusal names no part of it.
            let message = err.to_string();
            let content = String::from_utf8_lossy(bytes);
            let content = content.trim();
            prop_assert!(
                content.len() < 8 || !message.contains(content),
                "error quotes the secret: {}",
                message
            );
        }
    }
    Ok(())
}

/// A valid two-key JWKS, for the size bound.
fn valid_jwks() -> Vec<u8> {
    serde_json::to_vec(&json!({"keys": [
        {"kty": "oct", "alg": "HS256", "kid": "a", "k": b64(SECRET_32)},
        {"kty": "RSA", "alg": "RS256", "kid": "b", "n": RSA_2048_N, "e": "AQAB"},
    ]}))
    .unwrap()
}

/// ASCII whitespace a secret file may start with, before what it holds
/// (not form feed: see [`secret_format_refuses_documents_after_a_form_feed`]).
fn leading_whitespace() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec![" ", "\t", "\n", "\r\n"]), 0..3)
        .prop_map(|parts| parts.concat())
}

/// Printable text: UTF-8 without control characters but tab, CR and LF.
fn printable_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("printable", |c| {
            !c.is_control() || matches!(c, '\t' | '\r' | '\n')
        }),
        len,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any bytes, in both formats: parsing never panics; an accepted JWKS
    /// is a JSON `{"keys": [..]}` of one or two entries whose keys have
    /// distinct, non-empty kids (the member, or the thumbprint without one)
    /// and the algorithm their members call for; an accepted raw secret is
    /// exactly one HS256 key of at least 32 bytes; a refusal never quotes
    /// key material.
    #[test]
    fn parsing_any_bytes_accepts_only_well_formed_key_sets(bytes in any_bytes()) {
        check_parse(&bytes)?;
    }

    /// The same invariants on documents shaped like a JWKS: members drawn
    /// from small pools of valid and invalid `kty`, `alg`, `k`, `n`, `e`,
    /// `crv`, `x`, `y`, `kid` and `use` values, framed with whitespace, a
    /// byte order mark, a cut or an overwritten byte.
    #[test]
    fn parsing_jwks_like_documents_accepts_only_well_formed_key_sets(bytes in jwks_like()) {
        check_parse(&bytes)?;
    }

    /// Raw-secret content that starts, after optional ASCII whitespace,
    /// with PEM armour, `{` or `[`, or that is a UTF-8 byte order mark
    /// followed by printable text, is refused as not a secret, whatever
    /// follows and however long it is.
    #[test]
    fn secret_format_refuses_documents_and_pem(
        whitespace in leading_whitespace(),
        marker in prop::sample::select(vec!["-----BEGIN ", "{", "[", "\u{FEFF}"]),
        text in printable_text(0..120),
        newline in prop::sample::select(vec!["", "\n", "\r\n"]),
    ) {
        // The byte order mark is only ever at the very start of a file.
        let whitespace = if marker == "\u{FEFF}" { String::new() } else { whitespace };
        let content = format!("{whitespace}{marker}{text}{newline}");
        let refused = KeySet::parse(content.as_bytes(), KeyFormat::Secret);
        prop_assert!(
            matches!(refused, Err(KeyError::NotSecret(_))),
            "{:?} -> {:?}",
            content,
            refused.map(|keys| keys.current().kid().to_owned())
        );
    }
}

/// Regression, found next to [`secret_format_refuses_documents_and_pem`]:
/// the sniffer trimmed leading ASCII whitespace (form feed included) before
/// it looked for PEM armour or JSON, but looked at all only when the content
/// was printable, which form feed was not. So a JWKS or a PEM public key
/// behind a form feed, or PEM armour followed by a NUL, was an HMAC secret.
#[test]
fn secret_format_refuses_documents_after_a_form_feed() {
    let jwks = format!("\x0c{}", String::from_utf8(valid_jwks()).unwrap());
    let pem = "\x0c-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxwL9MCZ8\n-----END PUBLIC KEY-----\n";
    let pem_nul = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxwL9MCZ8\n-----END PUBLIC KEY-----\n\0";
    let bom_after_space = format!(" \u{feff}{}", String::from_utf8(valid_jwks()).unwrap());
    for content in [jwks.as_str(), pem, pem_nul, bom_after_space.as_str()] {
        let parsed = KeySet::parse(content.as_bytes(), KeyFormat::Secret);
        assert!(
            matches!(parsed, Err(KeyError::NotSecret(_))),
            "{content:?} -> {:?}",
            parsed.map(|keys| keys.current().kid().to_owned())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Content longer than `MAX_KEY_FILE_BYTES` is refused as too large in
    /// both formats, even when it would otherwise be valid (a valid JWKS
    /// padded with whitespace, a long base64 secret), while the same
    /// content at exactly the bound is accepted.
    #[test]
    fn content_over_the_size_bound_is_refused(over in 1usize..=64, secret_byte in prop::sample::select(b"abcXYZ019_".to_vec())) {
        let mut jwks = valid_jwks();
        jwks.resize(MAX_KEY_FILE_BYTES, b' ');
        prop_assert!(KeySet::parse(&jwks, KeyFormat::Jwks).is_ok(), "a JWKS at the bound");
        jwks.resize(MAX_KEY_FILE_BYTES + over, b'\n');
        let secret = vec![secret_byte; MAX_KEY_FILE_BYTES + over];
        prop_assert!(KeySet::parse(&secret[..MAX_KEY_FILE_BYTES], KeyFormat::Secret).is_ok());
        for (content, format) in [(&jwks, KeyFormat::Jwks), (&secret, KeyFormat::Secret)] {
            match KeySet::parse(content, format) {
                Err(KeyError::TooLarge { size, max }) => {
                    prop_assert_eq!(size, content.len());
                    prop_assert_eq!(max, MAX_KEY_FILE_BYTES);
                }
                other => prop_assert!(false, "{} bytes as {}: {:?}", content.len(), format, other.map(|_| ())),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Reload transitions
// ---------------------------------------------------------------------------

/// The HMAC keys files are built from. The last one reuses the kid `k1`
/// with other material.
const POOL: [(&str, &[u8]); 5] = [
    ("k0", b"pool-secret-zero-pool-secret-zero-!!"),
    ("k1", b"pool-secret-one-pool-secret-one-!!!!"),
    ("k2", b"pool-secret-two-pool-secret-two-!!!!"),
    ("k3", b"pool-secret-three-pool-secret-three!"),
    ("k1", b"pool-secret-one-replaced-material-!!"),
];

/// What a step writes to the key file.
#[derive(Debug, Clone)]
enum Content {
    /// A JWKS of these pool keys (0 to 3; duplicates allowed). In the
    /// secret format, one key is its raw secret and any other count is the
    /// JWKS text, which that format refuses.
    Keys(Vec<usize>),
    /// A JWKS holding a 16-byte HMAC key; in the secret format, a 16-byte
    /// secret.
    WeakSecret,
    /// A PEM public key.
    Pem,
    Empty,
    /// A UTF-8 byte order mark, then a valid JWKS.
    BomJwks(Vec<usize>),
}

#[derive(Debug, Clone)]
enum Step {
    /// Rename new content over the file, then reload.
    Write(Content),
    /// Reload without touching the file.
    Reload,
    /// a forced `retire(RetireRequest::previous())`.
    Retire,
}

const WEAK: &[u8] = b"weak-secret-16b!";
const PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
    MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxwL9MCZ8T1LU2TQgbIXHfdbG\n\
    -----END PUBLIC KEY-----\n";

fn jwks_of(indices: &[usize]) -> Vec<u8> {
    let keys: Vec<Value> = indices
        .iter()
        .map(|&i| json!({"kty": "oct", "alg": "HS256", "kid": POOL[i].0, "k": b64(POOL[i].1)}))
        .collect();
    serde_json::to_vec_pretty(&json!({ "keys": keys })).unwrap()
}

fn render(content: &Content, format: KeyFormat) -> Vec<u8> {
    let secret = format == KeyFormat::Secret;
    match content {
        Content::Keys(indices) if secret && indices.len() == 1 => {
            let mut bytes = POOL[indices[0]].1.to_vec();
            bytes.push(b'\n');
            bytes
        }
        Content::Keys(indices) => jwks_of(indices),
        Content::WeakSecret if secret => WEAK.to_vec(),
        Content::WeakSecret => serde_json::to_vec(&json!({"keys": [
            {"kty": "oct", "alg": "HS256", "kid": "weak", "k": b64(WEAK)}
        ]}))
        .unwrap(),
        Content::Pem => PEM.as_bytes().to_vec(),
        Content::Empty => Vec::new(),
        Content::BomJwks(indices) => [b"\xEF\xBB\xBF".as_slice(), &jwks_of(indices)].concat(),
    }
}

fn content() -> impl Strategy<Value = Content> {
    let indices = |len| prop::collection::vec(0..POOL.len(), len);
    prop_oneof![
        6 => indices(1..=2).prop_map(Content::Keys),
        2 => indices(0..=3).prop_map(Content::Keys),
        1 => Just(Content::WeakSecret),
        1 => Just(Content::Pem),
        1 => Just(Content::Empty),
        1 => indices(1..=2).prop_map(Content::BomJwks),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => content().prop_map(Step::Write),
        1 => Just(Step::Reload),
        2 => Just(Step::Retire),
    ]
}

/// Two distinct pool kids, or one.
fn initial_keys() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        (0..4usize).prop_map(|i| vec![i]),
        (0..4usize, 0..4usize)
            .prop_filter("distinct kids", |(a, b)| a != b)
            .prop_map(|(a, b)| vec![a, b]),
    ]
}

/// `(current, previous, retired)` kids.
type RingState = (String, Option<String>, Vec<String>);

fn ring_state(ring: &KeyRing) -> RingState {
    let status = ring.status();
    (
        status.current.kid,
        status.previous.map(|p| p.key.kid),
        status.retired,
    )
}

/// The invariants that hold between any two changes.
fn check_ring_invariants(state: &RingState, known: &BTreeSet<String>) -> Result<(), TestCaseError> {
    let (current, previous, retired) = state;
    prop_assert!(
        known.contains(current),
        "current {current:?} is no pool key"
    );
    if let Some(previous) = previous {
        prop_assert!(
            known.contains(previous),
            "previous {previous:?} is no pool key"
        );
        prop_assert_ne!(previous, current, "previous is the current key");
        prop_assert!(
            !retired.contains(previous),
            "retired kid {previous:?} is previous"
        );
    }
    prop_assert!(
        !retired.contains(current),
        "retired kid {current:?} is current"
    );
    let distinct: BTreeSet<_> = retired.iter().collect();
    prop_assert_eq!(
        distinct.len(),
        retired.len(),
        "a kid retired twice: {:?}",
        retired
    );
    Ok(())
}

fn run_reload_sequence(
    format: KeyFormat,
    initial: &[usize],
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let initial = match format {
        KeyFormat::Secret => &initial[..1],
        _ => initial,
    };
    let dir = TempDir::new("reload");
    let path = dir.join("keys");
    let first = render(&Content::Keys(initial.to_vec()), format);
    std::fs::write(&path, &first).unwrap();
    let keys = KeySet::parse(&first, format).unwrap();
    let registry = prometheus::Registry::new();
    let ring = KeyRing::builder(keys, Metrics::new(&registry).unwrap())
        .with_clock(ManualClock::new(NOW))
        .with_policy(policy())
        .with_source(KeyFile::new(&path, format))
        .build();
    // Every kid a file can name: pool kids, and the raw secrets' kids.
    let known: BTreeSet<String> = (0..POOL.len())
        .flat_map(|i| {
            let raw = render(&Content::Keys(vec![i]), KeyFormat::Secret);
            let raw_kid = KeySet::parse(&raw, KeyFormat::Secret).unwrap();
            [POOL[i].0.to_owned(), raw_kid.current().kid().to_owned()]
        })
        .collect();
    let mut on_disk = first;
    // The pool keys the file lists, when it lists valid ones.
    let mut listed_keys = initial.to_vec();
    let verifier = JwtLayer::<Value>::new(ring.clone()).verifier();
    let claims = json!({"sub": "alice", "exp": NOW + 3600});
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    check_ring_invariants(&ring_state(&ring), &known)?;

    for (n, step) in steps.iter().enumerate() {
        let before = ring_state(&ring);
        match step {
            Step::Retire => {
                // No fleet gate: the retirement completes at its first poll.
                let retired = runtime
                    .block_on(ring.retire(RetireRequest::previous().force()))
                    .ok();
                let after = ring_state(&ring);
                prop_assert_eq!(
                    &retired,
                    &before.1,
                    "step {}: retire returns the previous",
                    n
                );
                prop_assert_eq!(&after.0, &before.0, "step {}: current stays", n);
                prop_assert_eq!(&after.1, &None, "step {}: no previous after retiring", n);
                if let Some(kid) = retired {
                    prop_assert!(after.2.contains(&kid), "step {}: {} not retired", n, kid);
                }
            }
            Step::Write(_) | Step::Reload => {
                if let Step::Write(content) = step {
                    on_disk = render(content, format);
                    listed_keys = match content {
                        Content::Keys(indices) => indices.clone(),
                        _ => Vec::new(),
                    };
                    common::rename_over(&path, &on_disk);
                }
                let expected = KeySet::parse(&on_disk, format);
                let result = ring.reload();
                let after = ring_state(&ring);
                match (&expected, &result) {
                    (Err(_), Err(_)) => {
                        prop_assert_eq!(
                            &after,
                            &before,
                            "step {}: a refused reload changed the ring",
                            n
                        );
                    }
                    (Ok(file), Ok(outcome)) => {
                        prop_assert_eq!(
                            after.0.as_str(),
                            file.current().kid(),
                            "step {}: current is the file's first key ({:?})",
                            n,
                            outcome
                        );
                        if let Some(listed) = file.previous() {
                            let listed = listed.kid().to_owned();
                            let want = (!before.2.contains(&listed)).then_some(listed);
                            prop_assert_eq!(&after.1, &want, "step {}: previous", n);
                        }
                        // The ring verifies with the file's material, also
                        // for a kid the file lists with new material.
                        let file_keys = std::iter::once(file.current()).chain(file.previous());
                        for (key, &index) in file_keys.zip(&listed_keys) {
                            if [Some(&after.0), after.1.as_ref()]
                                .contains(&Some(&key.kid().to_owned()))
                            {
                                let token = mint(POOL[index].1, Some(key.kid()), &claims);
                                let verified = verifier.verify(&token);
                                prop_assert!(
                                    verified.as_ref().is_ok_and(|v| *v.key.kid == *key.kid()),
                                    "step {}: {}'s token: {:?}",
                                    n,
                                    key.kid(),
                                    verified.map(|v| v.key.kid.to_string())
                                );
                            }
                        }
                        if *outcome == jwt_rollover::ReloadOutcome::Unchanged {
                            prop_assert_eq!(&after, &before, "step {}: unchanged", n);
                        }
                    }
                    _ => prop_assert!(
                        false,
                        "step {}: parse says {:?} but reload says {:?}",
                        n,
                        expected.as_ref().map(|k| k.current().kid().to_owned()),
                        result
                    ),
                }
            }
        }
        check_ring_invariants(&ring_state(&ring), &known)
            .map_err(|e| TestCaseError::fail(format!("after step {n} ({step:?}): {e}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Over any sequence of key file contents (0 to 3 pool keys, a kid
    /// reused with new material, a weak secret, PEM text, an empty file,
    /// a BOM before a JWKS) and admin retirements, in both formats: a
    /// reload succeeds exactly when the content parses; after a successful
    /// one the current key is the file's first key and a two-key file's
    /// second key is previous unless it was retired; a refused or
    /// unchanged reload leaves current, previous and retired as they were;
    /// and at every point there is one current key from the file, the
    /// previous key differs from it, and no retired kid is current or
    /// previous. The ring verifies tokens signed with the material the file
    /// gives its current and previous kids.
    #[test]
    fn reloads_keep_the_ring_consistent(
        secret_format in any::<bool>(),
        initial in initial_keys(),
        steps in prop::collection::vec(step(), 1..12),
    ) {
        let format = if secret_format { KeyFormat::Secret } else { KeyFormat::Jwks };
        run_reload_sequence(format, &initial, &steps)?;
    }
}

// ---------------------------------------------------------------------------
// 3. The Authorization header through the layer
// ---------------------------------------------------------------------------

/// The fixed ring (current `kid-new`, previous `kid-old`) behind the layer,
/// a runtime to drive it, and a valid token for each key.
struct Layer {
    runtime: tokio::runtime::Runtime,
    app: Router,
    tokens: [String; 2],
    _ring: TestRing,
}

impl Layer {
    fn new() -> Self {
        let ring = TestRing::new(new_and_old_keys(), policy());
        let app = whoami_router(JwtLayer::<Value>::new(ring.ring.clone()));
        let claims = json!({"sub": "alice", "exp": NOW + 3600});
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            app,
            tokens: [
                mint(NEW_SECRET, Some(NEW_KID), &claims),
                mint(OLD_SECRET, Some(OLD_KID), &claims),
            ],
            _ring: ring,
        }
    }

    /// Sends `Authorization: <value>`; `None` when `value` is no valid
    /// header value. Checks the invariants every response has and returns
    /// the status and, for a 401, the reason its challenge names (`None`
    /// for the bare `Bearer` challenge).
    fn send(
        &self,
        value: &[u8],
    ) -> Result<Option<(StatusCode, Option<RejectionReason>)>, TestCaseError> {
        if HeaderValue::from_bytes(value).is_err() {
            return Ok(None);
        }
        let reply = self
            .runtime
            .block_on(send(&self.app, request(Method::GET, "/whoami", &[value])));
        let challenges: Vec<_> = reply.headers.get_all(WWW_AUTHENTICATE).iter().collect();
        match reply.status {
            StatusCode::OK => {
                prop_assert!(challenges.is_empty(), "a 200 with a challenge");
                Ok(Some((StatusCode::OK, None)))
            }
            StatusCode::UNAUTHORIZED => {
                prop_assert_eq!(challenges.len(), 1, "one challenge");
                prop_assert!(reply.body.is_empty(), "a 401 has an empty body");
                let reason = parse_challenge(challenges[0].as_bytes())?;
                Ok(Some((StatusCode::UNAUTHORIZED, reason)))
            }
            other => Err(TestCaseError::fail(format!(
                "status {other} for {:?}",
                String::from_utf8_lossy(value)
            ))),
        }
    }
}

/// `Bearer` (no reason) or `Bearer error="invalid_token",
/// error_description="<reason>: <detail>"` with a known reason other than
/// `missing` and a detail without quotes or backslashes.
fn parse_challenge(value: &[u8]) -> Result<Option<RejectionReason>, TestCaseError> {
    let value =
        std::str::from_utf8(value).map_err(|_| TestCaseError::fail("challenge is not UTF-8"))?;
    if value == "Bearer" {
        return Ok(None);
    }
    let description = value
        .strip_prefix(r#"Bearer error="invalid_token", error_description=""#)
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(|| TestCaseError::fail(format!("challenge {value:?}")))?;
    let (label, detail) = description
        .split_once(": ")
        .ok_or_else(|| TestCaseError::fail(format!("no reason in {value:?}")))?;
    let reason = RejectionReason::ALL
        .into_iter()
        .find(|reason| reason.as_str() == label)
        .ok_or_else(|| TestCaseError::fail(format!("unknown reason in {value:?}")))?;
    prop_assert_ne!(
        reason,
        RejectionReason::Missing,
        "missing has the bare challenge"
    );
    prop_assert!(
        !detail.is_empty() && !detail.contains(['"', '\\']),
        "detail of {:?}",
        value
    );
    Ok(Some(reason))
}

/// Header bytes: mostly visible ASCII, some obs-text, tabs and other bytes
/// (values `HeaderValue` refuses are skipped), behind a scheme-like prefix.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        40 => 0x20u8..0x7f,
        4 => 0x80u8..=0xff,
        2 => Just(b'\t'),
        1 => any::<u8>(),
    ];
    (
        prop::sample::select(vec![
            "", "Bearer ", "bearer", "BEARER  ", "Basic ", "Bearer\t",
        ]),
        prop::collection::vec(byte, 0..96),
    )
        .prop_map(|(prefix, rest)| [prefix.as_bytes(), &rest].concat())
}

/// One edit of a token's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    /// The signature part of the other key's token.
    SwapSignature,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop::sample::select(
        b"AQgw_-Zz09.=+/ \t%\x80\xff"
            .iter()
            .copied()
            .chain(b'a'..=b'z')
            .collect::<Vec<u8>>(),
    );
    prop_oneof![
        4 => (any::<Index>(), byte.clone()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        2 => (any::<Index>(), byte).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => Just(Mutation::SwapSignature),
    ]
}

fn mutate(token: &str, other: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    for mutation in mutations {
        match mutation {
            Mutation::Replace(at, b) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] = *b;
            }
            Mutation::Insert(at, b) => {
                let at = at.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Mutation::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at.index(bytes.len()));
            }
            Mutation::Truncate(at) if !bytes.is_empty() => bytes.truncate(at.index(bytes.len())),
            Mutation::SwapSignature => {
                let signed = bytes
                    .iter()
                    .rposition(|&b| b == b'.')
                    .unwrap_or(bytes.len());
                let signature = &other[other.rfind('.').unwrap_or(0)..];
                bytes.truncate(signed);
                bytes.extend_from_slice(signature.as_bytes());
            }
            _ => {}
        }
    }
    bytes
}

/// `scheme` with each letter's case flipped where `flips` says so.
fn with_case(scheme: &str, flips: &[bool]) -> String {
    scheme
        .chars()
        .zip(flips.iter().chain(std::iter::repeat(&false)))
        .map(|(c, &flip)| {
            if flip {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Any header value: the answer is 200 or a 401 with exactly one
/// well-formed challenge (`Bearer`, or `invalid_token` with a known
/// reason); a value whose scheme is not Bearer gets the bare `Bearer`
/// challenge (RFC 6750 section 3.1), whatever bytes follow the scheme.
#[test]
fn any_authorization_header_is_a_200_or_a_well_formed_401() {
    let layer = Layer::new();
    proptest!(ProptestConfig::with_cases(256), |(value in header_bytes())| {
        if let Some((status, reason)) = layer.send(&value)? {
            // "Bearer" then a space or nothing; "Bearerx" or "Bearer\t" is
            // another scheme.
            let is_bearer = value.len() >= 6
                && value[..6].eq_ignore_ascii_case(b"bearer")
                && value.get(6).is_none_or(|&b| b == b' ');
            if !is_bearer {
                prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
                prop_assert_eq!(
                    reason,
                    None,
                    "non-Bearer scheme {:?}",
                    String::from_utf8_lossy(&value)
                );
            }
        }
    });
}

/// `Bearer`, in any letter case, then one or more spaces, then a valid
/// token of either key is accepted.
#[test]
fn bearer_then_spaces_then_a_valid_token_is_accepted() {
    let layer = Layer::new();
    proptest!(ProptestConfig::with_cases(64), |(
        spaces in 1usize..=5,
        flips in prop::collection::vec(any::<bool>(), 6),
        which in 0usize..2,
    )| {
        let value = format!(
            "{}{}{}",
            with_case("Bearer", &flips),
            " ".repeat(spaces),
            layer.tokens[which]
        );
        let answer = layer.send(value.as_bytes())?;
        prop_assert_eq!(answer, Some((StatusCode::OK, None)), "{:?}", value);
    });
}

/// A valid token edited in any way (bytes replaced, inserted, deleted,
/// cut, the other key's signature put in) is refused with a well-formed
/// `invalid_token` 401, unless the edits gave back the very same token
/// (perhaps behind more spaces), which is accepted.
#[test]
fn a_mutated_token_is_refused() {
    let layer = Layer::new();
    proptest!(ProptestConfig::with_cases(256), |(
        which in 0usize..2,
        mutations in prop::collection::vec(mutation(), 1..4),
        spaces in 1usize..=3,
    )| {
        let token = &layer.tokens[which];
        let mutated = mutate(token, &layer.tokens[1 - which], &mutations);
        let value = [b"Bearer".as_slice(), " ".repeat(spaces).as_bytes(), &mutated].concat();
        if let Some((status, reason)) = layer.send(&value)? {
            // Spaces put in front are more separator, not part of the token.
            let credential = &mutated[mutated.iter().take_while(|&&b| b == b' ').count()..];
            if credential == token.as_bytes() {
                prop_assert_eq!(status, StatusCode::OK);
            } else {
                prop_assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{:?} accepted",
                    String::from_utf8_lossy(&mutated)
                );
                prop_assert!(reason.is_some(), "a Bearer value gets an invalid_token challenge");
            }
        }
    });
}

/// Regression, found by [`any_authorization_header_is_a_200_or_a_well_formed_401`]:
/// a value with another scheme (or none) is "no token at all", answered
/// with the bare `Bearer` challenge and counted as `missing` (RFC 6750
/// section 3.1). When the value had a byte that is not UTF-8, the layer
/// checked UTF-8 before the scheme and answered `invalid_token` /
/// `malformed` instead: for example Basic credentials with a Latin-1
/// password.
#[test]
fn a_non_bearer_value_with_non_ascii_bytes_gets_the_bare_challenge() {
    let layer = Layer::new();
    for value in [b"\x80".as_slice(), b"Basic dXNlcjpw\xE4ss"] {
        let answer = layer.send(value).unwrap();
        assert_eq!(
            answer,
            Some((StatusCode::UNAUTHORIZED, None)),
            "Authorization: {:?}",
            String::from_utf8_lossy(value)
        );
    }
}
