//! Table-driven tests of key parsing: what JWKS and raw-secret content is
//! accepted (and which `kid` and algorithm each key gets), what is refused
//! and how the refusal reads, and that no message ever quotes key material.
//!
//! The asymmetric public keys below were generated once with Python's
//! `cryptography` package; the thumbprints next to them were computed there
//! too, independently of this crate's code.

use super::*;
use crate::keys::test_keys::{ED25519_X, P256_X, P256_Y, P384_X, P384_Y, RSA_2048_N};
use serde_json::json;

const RSA_1024_N: &str = "\
    u0SVaHTNbJWyyWZfkvNZyQGOdGfcs5_CdNXg6znl7We7EtqrxUIRrp_LEK7_hkb69kWsn8q1M0Bp\
    Z3uuUtG-oq9FF1IhsaKSe9RAqHFqaafM-VujEOvqsxQP2cjnqXLa1fIbK8EezDdk4azfYUNvLajK\
    7l3i0hv6eL-wabNVI3U";
const P256_THUMBPRINT: &str = "L-KqsAoUtSpP8OtKA6EwVPGDEQ-cpWq8OS7-UiGH14Q";
const P384_THUMBPRINT: &str = "Tvh11wc0w6yUJ7TTxNezPW0R4mns5VK7LQqbZghboCc";
const ED25519_THUMBPRINT: &str = "9DzwoSHKr39iub-HxlVdGhmAIZGJPCVfu9ZdrgGk8vo";

/// RFC 7638 section 3.1: the example RSA key and its thumbprint.
const RFC7638_N: &str = "\
    0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuh\
    DR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w\
    6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr\
    n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0L\
    s1jF44-csFCur-kEgU8awapJzKnqDKgw";
const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// Secrets whose text (raw and base64url) must never appear in a message.
const SECRET_32: &[u8] = b"SECRET-32-must-never-leak-000032";
const SECRET_64: &[u8] = b"SECRET-64-must-never-leak-0000000000000000000000000000000000064!";
const SECRET_31: &[u8] = b"SECRET-31-must-never-leak-00031";
/// RFC 7638 thumbprint of the oct key `SECRET_32`, computed with Python.
const SECRET_32_THUMBPRINT: &str = "sHyeSiF-pLTy8pe9nlk5YiRbUyYh-CE_58BMIST2y38";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `{"keys": [...]}` as bytes.
fn jwks(keys: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

fn oct(kid: &str, alg: &str, secret: &[u8]) -> Value {
    json!({"kty": "oct", "kid": kid, "alg": alg, "k": b64(secret)})
}

fn rsa(kid: &str, alg: &str, n: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "alg": alg, "n": n, "e": "AQAB"})
}

fn p256(kid: &str) -> Value {
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": P256_X, "y": P256_Y})
}

fn p384(kid: &str) -> Value {
    json!({"kty": "EC", "kid": kid, "crv": "P-384", "x": P384_X, "y": P384_Y})
}

fn ed25519(kid: &str) -> Value {
    json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": ED25519_X})
}

/// `value` with `member` set (or removed, for `Value::Null`).
fn with(mut value: Value, member: &str, to: Value) -> Value {
    let object = value.as_object_mut().unwrap();
    if to.is_null() {
        object.remove(member);
    } else {
        object.insert(member.to_owned(), to);
    }
    value
}

/// Pads a base64url string to a multiple of 4 with `=`, as some tools do.
fn padded(unpadded: &str) -> String {
    let mut out = unpadded.to_owned();
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

/// The strings that would betray a secret: its text and its base64url.
fn secret_forms() -> Vec<String> {
    [SECRET_32, SECRET_64, SECRET_31]
        .iter()
        .flat_map(|secret| {
            [
                String::from_utf8(secret.to_vec()).unwrap(),
                b64(secret),
                // The distinctive middle, in case a message truncates.
                "must-never-leak".to_owned(),
            ]
        })
        .collect()
}

fn assert_no_secret(context: &str, text: &str) {
    for form in secret_forms() {
        assert!(
            !text.contains(&form),
            "{context}: message quotes secret material {form:?}: {text}"
        );
    }
}

#[test]
fn from_jwks_accepts_every_supported_key() {
    type Expect<'a> = (&'a str, Algorithm);
    let cases: Vec<(&str, Vec<Value>, Expect<'_>, Option<Expect<'_>>)> = vec![
        (
            "oct HS256, exactly 32 bytes",
            vec![oct("h256", "HS256", SECRET_32)],
            ("h256", Algorithm::HS256),
            None,
        ),
        (
            "oct HS384",
            vec![oct("h384", "HS384", SECRET_64)],
            ("h384", Algorithm::HS384),
            None,
        ),
        (
            "oct HS512",
            vec![oct("h512", "HS512", SECRET_64)],
            ("h512", Algorithm::HS512),
            None,
        ),
        (
            "RSA RS256",
            vec![rsa("rs256", "RS256", RSA_2048_N)],
            ("rs256", Algorithm::RS256),
            None,
        ),
        (
            "RSA RS384",
            vec![rsa("rs384", "RS384", RSA_2048_N)],
            ("rs384", Algorithm::RS384),
            None,
        ),
        (
            "RSA RS512",
            vec![rsa("rs512", "RS512", RSA_2048_N)],
            ("rs512", Algorithm::RS512),
            None,
        ),
        (
            "RSA PS256",
            vec![rsa("ps256", "PS256", RSA_2048_N)],
            ("ps256", Algorithm::PS256),
            None,
        ),
        (
            "RSA PS384",
            vec![rsa("ps384", "PS384", RSA_2048_N)],
            ("ps384", Algorithm::PS384),
            None,
        ),
        (
            "RSA PS512",
            vec![rsa("ps512", "PS512", RSA_2048_N)],
            ("ps512", Algorithm::PS512),
            None,
        ),
        (
            "EC P-256, alg inferred",
            vec![p256("ec256")],
            ("ec256", Algorithm::ES256),
            None,
        ),
        (
            "EC P-256, alg ES256 explicit",
            vec![with(p256("ec256"), "alg", json!("ES256"))],
            ("ec256", Algorithm::ES256),
            None,
        ),
        (
            "EC P-384, alg inferred",
            vec![p384("ec384")],
            ("ec384", Algorithm::ES384),
            None,
        ),
        (
            "EC P-384, alg ES384 explicit",
            vec![with(p384("ec384"), "alg", json!("ES384"))],
            ("ec384", Algorithm::ES384),
            None,
        ),
        (
            "OKP Ed25519, alg inferred",
            vec![ed25519("ed")],
            ("ed", Algorithm::EdDSA),
            None,
        ),
        (
            "OKP Ed25519, alg EdDSA explicit",
            vec![with(ed25519("ed"), "alg", json!("EdDSA"))],
            ("ed", Algorithm::EdDSA),
            None,
        ),
        (
            "use sig and unused members are accepted",
            vec![with(
                with(p256("ec256"), "use", json!("sig")),
                "key_ops",
                json!(["verify"]),
            )],
            ("ec256", Algorithm::ES256),
            None,
        ),
        (
            "padded k",
            vec![json!({"kty": "oct", "kid": "pad", "alg": "HS256", "k": padded(&b64(SECRET_32))})],
            ("pad", Algorithm::HS256),
            None,
        ),
        (
            "RSA exponent 3, the smallest odd one",
            vec![with(rsa("e3", "RS256", RSA_2048_N), "e", json!("Aw"))],
            ("e3", Algorithm::RS256),
            None,
        ),
        (
            "padded n and e",
            vec![
                json!({"kty": "RSA", "kid": "pad", "alg": "RS256", "n": padded(RSA_2048_N), "e": "AQAB"}),
            ],
            ("pad", Algorithm::RS256),
            None,
        ),
        (
            "padded x and y",
            vec![
                json!({"kty": "EC", "kid": "pad", "crv": "P-384", "x": padded(P384_X), "y": padded(P384_Y)}),
            ],
            ("pad", Algorithm::ES384),
            None,
        ),
        (
            "padded OKP x",
            vec![json!({"kty": "OKP", "kid": "pad", "crv": "Ed25519", "x": padded(ED25519_X)})],
            ("pad", Algorithm::EdDSA),
            None,
        ),
        (
            "oct without kid gets its thumbprint",
            vec![with(oct("x", "HS256", SECRET_32), "kid", Value::Null)],
            (SECRET_32_THUMBPRINT, Algorithm::HS256),
            None,
        ),
        (
            "EC P-256 without kid gets its thumbprint",
            vec![with(p256("x"), "kid", Value::Null)],
            (P256_THUMBPRINT, Algorithm::ES256),
            None,
        ),
        (
            "EC P-384 without kid gets its thumbprint",
            vec![with(p384("x"), "kid", Value::Null)],
            (P384_THUMBPRINT, Algorithm::ES384),
            None,
        ),
        (
            "OKP without kid gets its thumbprint",
            vec![with(ed25519("x"), "kid", Value::Null)],
            (ED25519_THUMBPRINT, Algorithm::EdDSA),
            None,
        ),
        (
            "two keys: first current, second previous",
            vec![
                oct("2026-11", "HS256", SECRET_32),
                oct("2026-10", "HS512", SECRET_64),
            ],
            ("2026-11", Algorithm::HS256),
            Some(("2026-10", Algorithm::HS512)),
        ),
        (
            "two keys of different types",
            vec![ed25519("new"), rsa("old", "PS256", RSA_2048_N)],
            ("new", Algorithm::EdDSA),
            Some(("old", Algorithm::PS256)),
        ),
        (
            "two keys, the same material under two kids",
            vec![p256("a"), p256("b")],
            ("a", Algorithm::ES256),
            Some(("b", Algorithm::ES256)),
        ),
    ];
    for (name, keys, current, previous) in cases {
        let set =
            KeySet::from_jwks(&jwks(&keys)).unwrap_or_else(|err| panic!("{name}: refused: {err}"));
        assert_eq!(
            (set.current().kid(), set.current().algorithm()),
            current,
            "{name}: current"
        );
        assert_eq!(
            set.previous().map(|k| (k.kid(), k.algorithm())),
            previous,
            "{name}: previous"
        );
        assert_no_secret(name, &format!("{set:?}"));
    }
}

#[test]
fn jwks_with_surrounding_whitespace_and_at_the_size_bound_is_accepted() {
    let mut content = b" \n\t".to_vec();
    content.extend(jwks(&[oct("k", "HS256", SECRET_32)]));
    content.resize(MAX_KEY_FILE_BYTES, b'\n');
    assert_eq!(content.len(), MAX_KEY_FILE_BYTES);
    let set = KeySet::from_jwks(&content).unwrap();
    assert_eq!(set.current().kid(), "k");
}

/// What a refusal must look like.
#[derive(Debug)]
enum Refused {
    /// `KeyError::InvalidKey` whose message is `<label>: ...<problem>...`.
    Key {
        label: &'static str,
        problem: &'static str,
    },
    DuplicateKid(&'static str),
    TooManyKeys(usize),
    NoKeys,
    NotJwks(&'static str),
    NotSecret(&'static str),
    Empty,
    TooLarge(usize),
}

fn assert_refused(name: &str, err: &KeyError, expected: &Refused) {
    let message = err.to_string();
    match (expected, err) {
        (
            Refused::Key { label, problem },
            KeyError::InvalidKey {
                position,
                kid,
                problem: got,
            },
        ) => {
            let key = KeyLabel {
                position: *position,
                kid: kid.clone(),
            };
            assert_eq!(key.to_string(), *label, "{name}: label");
            assert!(
                message.starts_with(&format!("{label}: ")),
                "{name}: message does not name the key first: {message}"
            );
            assert!(
                got.contains(problem),
                "{name}: problem {got:?} does not contain {problem:?}"
            );
        }
        (Refused::DuplicateKid(kid), KeyError::DuplicateKid { kid: got }) => {
            assert_eq!(got, kid, "{name}");
            assert!(
                message.contains(&format!("duplicate kid {kid:?}")),
                "{name}: {message}"
            );
        }
        (Refused::TooManyKeys(count), KeyError::TooManyKeys { count: got }) => {
            assert_eq!(got, count, "{name}");
            assert!(
                message.contains(&format!("JWKS has {count} keys; at most two")),
                "{name}: {message}"
            );
        }
        (Refused::NoKeys, KeyError::NoKeys) => {
            assert!(message.contains("JWKS has no keys"), "{name}: {message}");
        }
        (Refused::NotJwks(problem), KeyError::NotJwks(got)) => {
            assert!(got.contains(problem), "{name}: {got:?} lacks {problem:?}");
            assert!(message.starts_with("not a JWKS document: "), "{name}");
        }
        (Refused::NotSecret(looks_like), KeyError::NotSecret(got)) => {
            assert!(
                got.contains(looks_like),
                "{name}: {got:?} lacks {looks_like:?}"
            );
            assert!(
                message.starts_with("not a raw secret: this looks like "),
                "{name}"
            );
        }
        (Refused::Empty, KeyError::Empty) => {
            assert_eq!(message, "key file is empty", "{name}");
        }
        (Refused::TooLarge(size), KeyError::TooLarge { size: got, max }) => {
            assert_eq!((got, *max), (size, MAX_KEY_FILE_BYTES), "{name}");
            assert_eq!(
                message,
                format!("key file is {size} bytes; at most {MAX_KEY_FILE_BYTES} are accepted"),
                "{name}"
            );
        }
        _ => panic!("{name}: expected {expected:?}, got {err:?} ({message})"),
    }
    assert_no_secret(name, &message);
    assert_no_secret(name, &format!("{err:?}"));
}

#[test]
fn from_jwks_refusals_name_the_key_and_the_problem() {
    let good = || oct("good", "HS256", SECRET_64);
    let mut too_large = jwks(&[good()]);
    too_large.resize(MAX_KEY_FILE_BYTES + 1, b' ');
    let truncated = {
        let whole = jwks(&[good()]);
        whole[..whole.len() - 3].to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, Refused)> = vec![
        (
            "HMAC secret of 31 bytes",
            jwks(&[oct("short", "HS256", SECRET_31)]),
            Refused::Key {
                label: r#"key #1 (kid "short")"#,
                problem: "HMAC secret is 31 bytes; at least 32 bytes are required",
            },
        ),
        (
            "HMAC secret of 31 bytes as the previous key",
            jwks(&[good(), oct("short", "HS512", SECRET_31)]),
            Refused::Key {
                label: r#"key #2 (kid "short")"#,
                problem: "HMAC secret is 31 bytes",
            },
        ),
        (
            "RSA modulus of 1024 bits",
            jwks(&[good(), rsa("weak", "RS256", RSA_1024_N)]),
            Refused::Key {
                label: r#"key #2 (kid "weak")"#,
                problem: "RSA modulus is 1024 bits; at least 2048 are required",
            },
        ),
        (
            "RSA exponent 1",
            jwks(&[with(rsa("e1", "RS256", RSA_2048_N), "e", json!("AQ"))]),
            Refused::Key {
                label: r#"key #1 (kid "e1")"#,
                problem: "RSA exponent",
            },
        ),
        (
            "RSA exponent 2 (even; RFC 8017 wants odd)",
            jwks(&[with(rsa("e2", "RS256", RSA_2048_N), "e", json!("Ag"))]),
            Refused::Key {
                label: r#"key #1 (kid "e2")"#,
                problem: "must be odd and at least 3",
            },
        ),
        (
            "RSA exponent 65536 (even)",
            jwks(&[with(rsa("e65536", "PS256", RSA_2048_N), "e", json!("AQAA"))]),
            Refused::Key {
                label: r#"key #1 (kid "e65536")"#,
                problem: "must be odd and at least 3",
            },
        ),
        (
            "three keys",
            jwks(&[
                good(),
                oct("b", "HS256", SECRET_32),
                oct("c", "HS256", SECRET_32),
            ]),
            Refused::TooManyKeys(3),
        ),
        ("zero keys", jwks(&[]), Refused::NoKeys),
        (
            "unknown kty",
            jwks(&[json!({"kty": "DSA", "kid": "d", "alg": "HS256", "k": b64(SECRET_32)})]),
            Refused::Key {
                label: r#"key #1 (kid "d")"#,
                problem: r#"unknown kty "DSA""#,
            },
        ),
        (
            "missing kty",
            jwks(&[
                good(),
                with(oct("nokty", "HS256", SECRET_32), "kty", Value::Null),
            ]),
            Refused::Key {
                label: r#"key #2 (kid "nokty")"#,
                problem: r#"is missing "kty""#,
            },
        ),
        (
            "unknown alg for oct",
            jwks(&[oct("o", "HS1024", SECRET_32)]),
            Refused::Key {
                label: r#"key #1 (kid "o")"#,
                problem: r#"unknown alg "HS1024" for an oct key"#,
            },
        ),
        (
            "RSA alg on an oct key",
            jwks(&[oct("o", "RS256", SECRET_32)]),
            Refused::Key {
                label: r#"key #1 (kid "o")"#,
                problem: r#"unknown alg "RS256" for an oct key"#,
            },
        ),
        (
            "unknown alg for RSA",
            jwks(&[rsa("r", "RS1024", RSA_2048_N)]),
            Refused::Key {
                label: r#"key #1 (kid "r")"#,
                problem: r#"unknown alg "RS1024" for an RSA key"#,
            },
        ),
        (
            "HMAC alg on an RSA key",
            jwks(&[good(), rsa("r", "HS256", RSA_2048_N)]),
            Refused::Key {
                label: r#"key #2 (kid "r")"#,
                problem: r#"unknown alg "HS256" for an RSA key"#,
            },
        ),
        (
            "missing alg for oct",
            jwks(&[with(oct("o", "HS256", SECRET_32), "alg", Value::Null)]),
            Refused::Key {
                label: r#"key #1 (kid "o")"#,
                problem: r#"oct key needs "alg""#,
            },
        ),
        (
            "missing alg for RSA",
            jwks(&[with(rsa("r", "RS256", RSA_2048_N), "alg", Value::Null)]),
            Refused::Key {
                label: r#"key #1 (kid "r")"#,
                problem: r#"RSA key needs "alg""#,
            },
        ),
        (
            "unknown EC curve P-521",
            jwks(&[with(p256("p521"), "crv", json!("P-521"))]),
            Refused::Key {
                label: r#"key #1 (kid "p521")"#,
                problem: r#"unknown curve "P-521" for an EC key"#,
            },
        ),
        (
            "unknown OKP curve X25519",
            jwks(&[with(ed25519("x25519"), "crv", json!("X25519"))]),
            Refused::Key {
                label: r#"key #1 (kid "x25519")"#,
                problem: r#"unknown curve "X25519" for an OKP key"#,
            },
        ),
        (
            "EC key without crv",
            jwks(&[with(p256("nocrv"), "crv", Value::Null)]),
            Refused::Key {
                label: r#"key #1 (kid "nocrv")"#,
                problem: r#"EC key is missing member "crv""#,
            },
        ),
        (
            "ES384 on P-256",
            jwks(&[with(p256("mix"), "alg", json!("ES384"))]),
            Refused::Key {
                label: r#"key #1 (kid "mix")"#,
                problem: r#"alg "ES384" does not match curve P-256 (expected ES256)"#,
            },
        ),
        (
            "ES256 on P-384",
            jwks(&[with(p384("mix"), "alg", json!("ES256"))]),
            Refused::Key {
                label: r#"key #1 (kid "mix")"#,
                problem: r#"alg "ES256" does not match curve P-384 (expected ES384)"#,
            },
        ),
        (
            "HS256 on an EC key",
            jwks(&[with(p256("mix"), "alg", json!("HS256"))]),
            Refused::Key {
                label: r#"key #1 (kid "mix")"#,
                problem: r#"alg "HS256" does not match curve P-256"#,
            },
        ),
        (
            "ES256 on Ed25519",
            jwks(&[with(ed25519("mix"), "alg", json!("ES256"))]),
            Refused::Key {
                label: r#"key #1 (kid "mix")"#,
                problem: r#"alg "ES256" does not match curve Ed25519 (expected EdDSA)"#,
            },
        ),
        (
            "P-384 coordinates on P-256",
            jwks(&[json!({"kty": "EC", "kid": "len", "crv": "P-256", "x": P384_X, "y": P384_Y})]),
            Refused::Key {
                label: r#"key #1 (kid "len")"#,
                problem: "P-256 coordinates must be 32 bytes each",
            },
        ),
        (
            "Ed25519 key of 31 bytes",
            jwks(&[with(ed25519("len"), "x", json!(b64(&[7; 31])))]),
            Refused::Key {
                label: r#"key #1 (kid "len")"#,
                problem: r#"Ed25519 public key "x" must be 32 bytes"#,
            },
        ),
        (
            "duplicate kid",
            jwks(&[
                oct("same", "HS256", SECRET_32),
                oct("same", "HS256", SECRET_64),
            ]),
            Refused::DuplicateKid("same"),
        ),
        (
            "use enc",
            jwks(&[
                good(),
                with(oct("enc", "HS256", SECRET_32), "use", json!("enc")),
            ]),
            Refused::Key {
                label: r#"key #2 (kid "enc")"#,
                problem: r#""use" is "enc"; only "sig" keys verify tokens"#,
            },
        ),
        (
            "non-string kid",
            jwks(&[with(oct("x", "HS256", SECRET_32), "kid", json!(42))]),
            Refused::Key {
                label: "key #1 (no kid)",
                problem: r#"member "kid" must be a string"#,
            },
        ),
        (
            "empty kid",
            jwks(&[oct("", "HS256", SECRET_32)]),
            Refused::Key {
                label: r#"key #1 (kid "")"#,
                problem: "kid is empty",
            },
        ),
        (
            "kid with a control character",
            jwks(&[oct("a\nb", "HS256", SECRET_32)]),
            Refused::Key {
                label: r#"key #1 (kid "a\nb")"#,
                problem: "kid contains control characters",
            },
        ),
        (
            "bad base64 in k",
            jwks(&[
                json!({"kty": "oct", "kid": "b", "alg": "HS256", "k": format!("{}!!", b64(SECRET_32))}),
            ]),
            Refused::Key {
                label: r#"key #1 (kid "b")"#,
                problem: r#"member "k" is not valid base64url"#,
            },
        ),
        (
            "standard base64 alphabet in k",
            jwks(&[
                json!({"kty": "oct", "kid": "b", "alg": "HS256", "k": "SECRET+32/must+never/leak+0000032AAAAAAA"}),
            ]),
            Refused::Key {
                label: r#"key #1 (kid "b")"#,
                problem: r#"member "k" is not valid base64url"#,
            },
        ),
        (
            "k not a string",
            jwks(&[with(oct("b", "HS256", SECRET_32), "k", json!(12345))]),
            Refused::Key {
                label: r#"key #1 (kid "b")"#,
                problem: r#"member "k" must be a string"#,
            },
        ),
        (
            "missing k",
            jwks(&[with(oct("b", "HS256", SECRET_32), "k", Value::Null)]),
            Refused::Key {
                label: r#"key #1 (kid "b")"#,
                problem: r#"oct key is missing member "k""#,
            },
        ),
        (
            "key entry not an object",
            jwks(&[json!("SECRET-32-must-never-leak-000032")]),
            Refused::Key {
                label: "key #1 (no kid)",
                problem: "is not a JSON object",
            },
        ),
        (
            "invalid JSON",
            truncated,
            Refused::NotJwks("invalid JSON at line 1, column"),
        ),
        (
            "JSON without keys",
            serde_json::to_vec(&oct("k", "HS256", SECRET_32)).unwrap(),
            Refused::NotJwks("a single JWK"),
        ),
        (
            "keys is not an array",
            serde_json::to_vec(&json!({"keys": oct("k", "HS256", SECRET_32)})).unwrap(),
            Refused::NotJwks(r#"a JSON object whose "keys" is not an array"#),
        ),
        (
            "a bare array of keys",
            serde_json::to_vec(&json!([oct("k", "HS256", SECRET_32)])).unwrap(),
            Refused::NotJwks("a JSON array"),
        ),
        ("empty file", Vec::new(), Refused::Empty),
        ("blank file", b" \r\n\t\n".to_vec(), Refused::Empty),
        (
            "file larger than MAX_KEY_FILE_BYTES",
            too_large,
            Refused::TooLarge(MAX_KEY_FILE_BYTES + 1),
        ),
    ];
    for (name, content, expected) in cases {
        match KeySet::from_jwks(&content) {
            Ok(set) => panic!("{name}: accepted as {set:?}"),
            Err(err) => assert_refused(name, &err, &expected),
        }
    }
}

#[test]
fn rfc7638_example_key_without_kid_gets_its_thumbprint() {
    let key = json!({"kty": "RSA", "alg": "RS256", "n": RFC7638_N, "e": "AQAB"});
    let set = KeySet::from_jwks(&jwks(&[key])).unwrap();
    assert_eq!(set.current().kid(), RFC7638_THUMBPRINT);
    assert_eq!(set.current().algorithm(), Algorithm::RS256);

    // The thumbprint covers only the required members, not alg, use or
    // padding: the same key described differently has the same kid.
    let dressed = json!({
        "use": "sig", "alg": "PS512", "e": "AQAB", "kty": "RSA", "n": padded(RFC7638_N),
        "key_ops": ["verify"],
    });
    let set = KeySet::from_jwks(&jwks(&[dressed])).unwrap();
    assert_eq!(set.current().kid(), RFC7638_THUMBPRINT);
    assert_eq!(set.current().algorithm(), Algorithm::PS512);
}

#[test]
fn a_kid_without_thumbprint_fallback_is_kept_verbatim() {
    let key =
        json!({"kty": "RSA", "kid": "2011-04-29", "alg": "RS256", "n": RFC7638_N, "e": "AQAB"});
    let set = KeySet::from_jwks(&jwks(&[key])).unwrap();
    assert_eq!(set.current().kid(), "2011-04-29");
}

/// The kid a raw secret file holding exactly `secret` must get.
fn raw_secret_kid(secret: &[u8]) -> String {
    let key = Key::hmac(None, Algorithm::HS256, secret).unwrap();
    key.kid()[..RAW_SECRET_KID_CHARS].to_owned()
}

#[test]
fn raw_secret_kid_is_the_first_16_characters_of_the_thumbprint() {
    let set = KeySet::from_secret(SECRET_32).unwrap();
    assert_eq!(set.current().kid(), &SECRET_32_THUMBPRINT[..16]);
    assert_eq!(set.current().kid().len(), 16);
    assert_eq!(set.current().algorithm(), Algorithm::HS256);
    assert!(set.previous().is_none());
    // Stable: the same content gives the same kid on every load.
    assert_eq!(
        KeySet::from_secret(SECRET_32).unwrap().current().kid(),
        set.current().kid()
    );
    assert_no_secret("raw secret Debug", &format!("{set:?}"));
}

#[test]
fn from_secret_trims_exactly_one_trailing_newline() {
    let with_suffix = |suffix: &[u8]| [SECRET_32, suffix].concat();
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("no newline", SECRET_32.to_vec(), SECRET_32.to_vec()),
        ("\\n trimmed", with_suffix(b"\n"), SECRET_32.to_vec()),
        ("\\r\\n trimmed", with_suffix(b"\r\n"), SECRET_32.to_vec()),
        ("\\n\\n: one kept", with_suffix(b"\n\n"), with_suffix(b"\n")),
        (
            "\\r\\n\\r\\n: one kept",
            with_suffix(b"\r\n\r\n"),
            with_suffix(b"\r\n"),
        ),
        (
            "\\n\\r\\n: one kept",
            with_suffix(b"\n\r\n"),
            with_suffix(b"\n"),
        ),
        (
            "leading whitespace is part of the secret",
            [b"  ", SECRET_32].concat(),
            [b"  ", SECRET_32].concat(),
        ),
        (
            "inner newline is part of the secret",
            [SECRET_32, b"\n", SECRET_32, b"\n"].concat(),
            [SECRET_32, b"\n", SECRET_32].concat(),
        ),
    ];
    let trimmed_kid = raw_secret_kid(SECRET_32);
    for (name, content, secret) in cases {
        let set =
            KeySet::from_secret(&content).unwrap_or_else(|err| panic!("{name}: refused: {err}"));
        let expected = raw_secret_kid(&secret);
        assert_eq!(set.current().kid(), expected, "{name}");
        assert_eq!(
            set.current().kid() == trimmed_kid,
            secret == SECRET_32,
            "{name}: kid equality with the bare secret"
        );
        // parse() in the secret format is from_secret.
        assert_eq!(
            KeySet::parse(&content, KeyFormat::Secret)
                .unwrap()
                .current()
                .kid(),
            expected,
            "{name}: parse"
        );
    }
}

/// The documented contract is "one trailing `\n` (or `\r\n`)": a secret
/// that ends in a carriage return keeps it, or the verifier would hold a
/// different secret than the signer.
#[test]
fn from_secret_keeps_a_lone_trailing_carriage_return() {
    let content = [SECRET_32, b"\r"].concat();
    let set = KeySet::from_secret(&content).unwrap();
    assert_eq!(set.current().kid(), raw_secret_kid(&content));
    assert_ne!(set.current().kid(), raw_secret_kid(SECRET_32));
}

#[test]
fn from_secret_refusals() {
    let mut too_large = SECRET_32.repeat(MAX_KEY_FILE_BYTES / SECRET_32.len());
    too_large.push(b'\n');
    let cases: Vec<(&str, Vec<u8>, Refused)> = vec![
        ("empty", Vec::new(), Refused::Empty),
        ("only \\n", b"\n".to_vec(), Refused::Empty),
        ("only \\r\\n", b"\r\n".to_vec(), Refused::Empty),
        (
            "31 bytes",
            SECRET_31.to_vec(),
            Refused::Key {
                label: "key #1 (no kid)",
                problem: "raw secret: HMAC secret is 31 bytes; at least 32 bytes are required",
            },
        ),
        (
            "31 bytes and a newline: the newline does not count",
            [SECRET_31, b"\n"].concat(),
            Refused::Key {
                label: "key #1 (no kid)",
                problem: "HMAC secret is 31 bytes",
            },
        ),
        (
            "larger than MAX_KEY_FILE_BYTES, even with the newline trimmed",
            too_large,
            Refused::TooLarge(MAX_KEY_FILE_BYTES + 1),
        ),
    ];
    for (name, content, expected) in cases {
        match KeySet::from_secret(&content) {
            Ok(set) => panic!("{name}: accepted as {set:?}"),
            Err(err) => assert_refused(name, &err, &expected),
        }
        match KeySet::parse(&content, KeyFormat::Secret) {
            Ok(set) => panic!("{name}: parse accepted it as {set:?}"),
            Err(err) => assert_refused(&format!("{name} (parse)"), &err, &expected),
        }
    }
}

#[test]
fn from_secret_accepts_a_secret_of_exactly_max_key_file_bytes() {
    let content = vec![b's'; MAX_KEY_FILE_BYTES];
    let set = KeySet::from_secret(&content).unwrap();
    assert_eq!(set.current().kid(), raw_secret_kid(&content));
}

/// A public key in PEM form, as `openssl rsa -pubout` writes it.
const PEM_PUBLIC_KEY: &[u8] = b"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
-----END PUBLIC KEY-----
";

/// The shape of `/etc/passwd`: what a wrong `--keys` path or symlink gives.
const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
";

/// Regression: the format was once guessed from the first byte, so each of
/// these loaded as an HS256 secret, and anyone who could read the (public)
/// file could forge tokens. Now each is refused whole in the JWKS format,
/// with a message that names what it looks like.
#[test]
fn jwks_format_refuses_everything_but_a_jwks_document() {
    let jwks_doc = jwks(&[oct("from-jwks", "HS512", SECRET_64)]);
    let array =
        serde_json::to_vec(&json!([{"kty": "oct", "alg": "HS256", "k": b64(SECRET_32)}])).unwrap();
    let single_jwk =
        serde_json::to_vec(&json!({"kty": "oct", "alg": "HS256", "k": b64(SECRET_32)})).unwrap();
    let cases: Vec<(&str, Vec<u8>, Refused)> = vec![
        (
            "a PEM public key",
            PEM_PUBLIC_KEY.to_vec(),
            Refused::NotJwks("a PEM public key"),
        ),
        (
            "a JWKS behind a UTF-8 BOM",
            [b"\xEF\xBB\xBF".as_slice(), &jwks_doc].concat(),
            Refused::NotJwks("UTF-8 byte order mark"),
        ),
        (
            "a JWKS in UTF-16",
            [b"\xFF\xFE".as_slice(), b"{\0}\0"].concat(),
            Refused::NotJwks("UTF-16"),
        ),
        (
            "a JSON array of JWKs",
            array,
            Refused::NotJwks("a JSON array"),
        ),
        ("a bare JWK", single_jwk, Refused::NotJwks("a single JWK")),
        (
            "/etc/passwd",
            PASSWD.to_vec(),
            Refused::NotJwks("text that is not JSON"),
        ),
        (
            "YAML",
            b"---\nkeys:\n  - kty: oct\n".to_vec(),
            Refused::NotJwks("a YAML document"),
        ),
        (
            "a raw secret",
            SECRET_32.to_vec(),
            Refused::NotJwks("text that is not JSON"),
        ),
        (
            "binary",
            vec![0x01, 0x9c, 0xff, 0x00, 0x42],
            Refused::NotJwks("binary data"),
        ),
        (
            "a brace that is not JSON",
            b"{SECRET-32-must-never-leak-00000}".to_vec(),
            Refused::NotJwks("invalid JSON"),
        ),
        (
            "an object without keys",
            br#"{"issuer": "x"}"#.to_vec(),
            Refused::NotJwks("without a \"keys\" array"),
        ),
    ];
    for (name, content, expected) in cases {
        match KeySet::parse(&content, KeyFormat::Jwks) {
            Ok(set) => panic!("{name}: accepted as {set:?}"),
            Err(err) => assert_refused(name, &err, &expected),
        }
    }
    // Blanks around a JWKS are still JSON.
    let padded = [b" \r\n\t".as_slice(), &jwks_doc, b"\n"].concat();
    let set = KeySet::parse(&padded, KeyFormat::Jwks).unwrap();
    assert_eq!(set.current().kid(), "from-jwks");
}

/// A raw secret file that is printable text shaped like a public key or a
/// document is refused even in the secret format: no generator writes
/// secrets like that, and a wrong path is the likelier story.
#[test]
fn secret_format_refuses_keys_and_documents() {
    let jwks_doc = jwks(&[oct("from-jwks", "HS512", SECRET_64)]);
    let cases: Vec<(&str, Vec<u8>, Refused)> = vec![
        (
            "a PEM public key",
            PEM_PUBLIC_KEY.to_vec(),
            Refused::NotSecret("a PEM public key"),
        ),
        (
            "a PEM private key",
            b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYr\n-----END EC PRIVATE KEY-----\n"
                .to_vec(),
            Refused::NotSecret("a PEM private key"),
        ),
        (
            "a JWKS document",
            jwks_doc,
            Refused::NotSecret("a JSON object"),
        ),
        (
            "a JSON array",
            serde_json::to_vec(&json!([b64(SECRET_32)])).unwrap(),
            Refused::NotSecret("a JSON array"),
        ),
        (
            "a secret behind a UTF-8 BOM",
            [b"\xEF\xBB\xBF".as_slice(), SECRET_32].concat(),
            Refused::NotSecret("byte order mark"),
        ),
        (
            "/etc/passwd",
            PASSWD.to_vec(),
            Refused::NotSecret("several lines of text"),
        ),
        (
            "/etc/passwd, indented",
            b"\troot:x:0:0:root:/root:/bin/bash\n\tbin:x:2:2:bin:/bin:/usr/sbin/nologin\n".to_vec(),
            Refused::NotSecret("several lines of text"),
        ),
        (
            "YAML",
            b"---\nsecret: SECRET-32-must-never-leak-000032\n".to_vec(),
            Refused::NotSecret("a YAML document"),
        ),
        (
            "HTML",
            b"<html><body>SECRET-32-must-never-leak</body></html>".to_vec(),
            Refused::NotSecret("XML or HTML"),
        ),
    ];
    for (name, content, expected) in cases {
        match KeySet::parse(&content, KeyFormat::Secret) {
            Ok(set) => panic!("{name}: accepted as {set:?}"),
            Err(err) => assert_refused(name, &err, &expected),
        }
    }
    // What secret generators write still loads.
    let accepted: Vec<(&str, Vec<u8>)> = vec![
        ("one line of base64", b"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n".to_vec()),
        (
            "openssl rand -base64 64: two lines",
            b"Xq3vN9k2mJ8pL5tR7wY1zA4cE6gH0iK2lM4nO6qS8uW0yB2dF4hJ6kL8mN0pR2tV\nXq3vN9k2mJ8pL5tR7wY1zA==\n".to_vec(),
        ),
        ("binary bytes", (0_u8..=255).rev().collect()),
        ("a brace inside", b"s{SECRET-32-must-never-leak-0000}".to_vec()),
        ("words with spaces", b"correct horse battery staple and more words".to_vec()),
    ];
    for (name, content) in accepted {
        let set = KeySet::parse(&content, KeyFormat::Secret)
            .unwrap_or_else(|err| panic!("{name}: refused: {err}"));
        assert_eq!(set.current().algorithm(), Algorithm::HS256, "{name}");
    }
}

/// A `Key::hmac` case: name, kid, algorithm, secret, then what to expect.
type HmacCase<'a, T> = (&'a str, Option<&'a str>, Algorithm, &'a [u8], T);

#[test]
fn key_hmac_builds_and_refuses() {
    let long_kid = "k".repeat(MAX_KID_BYTES);
    let too_long_kid = "k".repeat(MAX_KID_BYTES + 1);
    let accepted: Vec<HmacCase<'_, &str>> = vec![
        (
            "kid given",
            Some("2026-11"),
            Algorithm::HS256,
            SECRET_32,
            "2026-11",
        ),
        ("HS384", Some("a"), Algorithm::HS384, SECRET_64, "a"),
        ("HS512", Some("a"), Algorithm::HS512, SECRET_64, "a"),
        (
            "no kid: thumbprint",
            None,
            Algorithm::HS256,
            SECRET_32,
            SECRET_32_THUMBPRINT,
        ),
        (
            "kid of the longest length",
            Some(&long_kid),
            Algorithm::HS256,
            SECRET_32,
            &long_kid,
        ),
    ];
    for (name, kid, alg, secret, expected_kid) in accepted {
        let key = Key::hmac(kid, alg, secret).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(key.kid(), expected_kid, "{name}");
        assert_eq!(key.algorithm(), alg, "{name}");
        assert_no_secret(name, &format!("{key:?}"));
    }

    let refused: Vec<HmacCase<'_, Refused>> = vec![
        (
            "RS256 is not HMAC",
            Some("r"),
            Algorithm::RS256,
            SECRET_32,
            Refused::Key {
                label: r#"key #1 (kid "r")"#,
                problem: "RS256 is not an HMAC algorithm",
            },
        ),
        (
            "ES256 is not HMAC",
            None,
            Algorithm::ES256,
            SECRET_32,
            Refused::Key {
                label: "key #1 (no kid)",
                problem: "ES256 is not an HMAC algorithm",
            },
        ),
        (
            "EdDSA is not HMAC",
            Some("e"),
            Algorithm::EdDSA,
            SECRET_64,
            Refused::Key {
                label: r#"key #1 (kid "e")"#,
                problem: "EdDSA is not an HMAC algorithm",
            },
        ),
        (
            "empty kid",
            Some(""),
            Algorithm::HS256,
            SECRET_32,
            Refused::Key {
                label: r#"key #1 (kid "")"#,
                problem: "kid is empty",
            },
        ),
        (
            "kid too long",
            Some(&too_long_kid),
            Algorithm::HS256,
            SECRET_32,
            Refused::Key {
                label: Box::leak(format!("key #1 (kid {too_long_kid:?})").into_boxed_str()),
                problem: "kid is longer than 256 bytes",
            },
        ),
        (
            "31-byte secret",
            Some("s"),
            Algorithm::HS256,
            SECRET_31,
            Refused::Key {
                label: r#"key #1 (kid "s")"#,
                problem: "HMAC secret is 31 bytes",
            },
        ),
        (
            "empty secret",
            Some("s"),
            Algorithm::HS512,
            b"",
            Refused::Key {
                label: r#"key #1 (kid "s")"#,
                problem: "HMAC secret is 0 bytes",
            },
        ),
    ];
    for (name, kid, alg, secret, expected) in refused {
        match Key::hmac(kid, alg, secret) {
            Ok(key) => panic!("{name}: accepted as {key:?}"),
            Err(err) => assert_refused(name, &err, &expected),
        }
    }
}

#[test]
fn key_set_new_refuses_a_duplicate_kid() {
    let a = Key::hmac(Some("same"), Algorithm::HS256, SECRET_32).unwrap();
    let b = Key::hmac(Some("same"), Algorithm::HS512, SECRET_64).unwrap();
    let err = KeySet::new(a.clone(), Some(b)).unwrap_err();
    assert_refused("KeySet::new", &err, &Refused::DuplicateKid("same"));
    let set = KeySet::new(a, None).unwrap();
    assert_eq!(set.current().kid(), "same");
    assert!(set.previous().is_none());
}

#[test]
fn significant_bits_cases() {
    let mut rsa_2048 = vec![0xff; 256];
    let mut padded_2048 = vec![0x00];
    padded_2048.append(&mut rsa_2048.clone());
    rsa_2048[0] = 0x80;
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("empty", vec![], 0),
        ("zero", vec![0], 0),
        ("zeros", vec![0, 0, 0], 0),
        ("one", vec![1], 1),
        ("two", vec![2], 2),
        ("three", vec![3], 2),
        ("0x7f", vec![0x7f], 7),
        ("0x80", vec![0x80], 8),
        ("0xff", vec![0xff], 8),
        ("leading zero ignored", vec![0, 0x80], 8),
        ("0x0100", vec![0x01, 0x00], 9),
        ("65537", vec![0x01, 0x00, 0x01], 17),
        ("top bit set, 256 bytes", rsa_2048, 2048),
        ("leading zero byte, 257 bytes", padded_2048, 2048),
        ("2047 bits", [vec![0x7f], vec![0xff; 255]].concat(), 2047),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(significant_bits(&bytes), expected, "{name}");
    }
}

#[test]
fn rsa_modulus_bound_counts_bits_not_bytes() {
    // 256 bytes but only 2047 significant bits: refused.
    let n_2047 = b64(&[vec![0x7f], vec![0xff; 255]].concat());
    let err = KeySet::from_jwks(&jwks(&[rsa("r", "RS256", &n_2047)])).unwrap_err();
    assert_refused(
        "2047-bit modulus",
        &err,
        &Refused::Key {
            label: r#"key #1 (kid "r")"#,
            problem: "RSA modulus is 2047 bits",
        },
    );
    // A leading zero byte does not make a 1024-bit modulus long enough.
    let modulus = B64URL_ANY_PADDING.decode(RSA_1024_N).unwrap();
    let n_zero_padded = b64(&[vec![0; 129], modulus].concat());
    let err = KeySet::from_jwks(&jwks(&[rsa("r", "RS256", &n_zero_padded)])).unwrap_err();
    assert_refused(
        "zero-padded 1024-bit modulus",
        &err,
        &Refused::Key {
            label: r#"key #1 (kid "r")"#,
            problem: "RSA modulus is 1024 bits",
        },
    );
}
