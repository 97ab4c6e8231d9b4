//! Signing keys against the crate's own verification: every algorithm signs
//! a token that the public JWK, loaded by `KeySet`, verifies, under
//! whichever crypto backend this build selected (run the suite with
//! `--no-default-features --features rust-crypto,signer` for the other);
//! private JWKs survive a round trip; and every refusal reads as a sentence
//! that never quotes key material.

use std::sync::OnceLock;

use serde_json::json;

use super::*;

const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One RSA key for every RSA case (and one more for "another key"):
/// generating one takes seconds.
fn rsa_private_jwk() -> &'static Value {
    static JWK: OnceLock<Value> = OnceLock::new();
    JWK.get_or_init(generate_rsa)
}

fn other_rsa_private_jwk() -> &'static Value {
    static JWK: OnceLock<Value> = OnceLock::new();
    JWK.get_or_init(generate_rsa)
}

fn generate_rsa() -> Value {
    SigningKey::generate(Algorithm::RS256, Some("rsa".into()))
        .expect("an RSA key")
        .to_private_jwk()
}

fn is_rsa(alg: Algorithm) -> bool {
    let name = private_jwk::alg_name(alg);
    name.starts_with("RS") || name.starts_with("PS")
}

/// A key for `alg` (RSA keys share their material; only `alg` differs).
fn key_for(alg: Algorithm) -> SigningKey {
    key_from(alg, rsa_private_jwk())
}

fn key_from(alg: Algorithm, rsa_jwk: &Value) -> SigningKey {
    let kid = format!("kid-{alg:?}");
    if is_rsa(alg) {
        let mut jwk = rsa_jwk.clone();
        jwk["alg"] = json!(private_jwk::alg_name(alg));
        jwk["kid"] = json!(kid);
        return SigningKey::from_jwk(&jwk).expect("the RSA JWK with another alg");
    }
    SigningKey::generate(alg, Some(kid)).expect("a generated key")
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    jsonwebtoken::encode(&key.header(), claims, key.encoding_key()).expect("jsonwebtoken signs")
}

/// The signature check the verifier runs, with a key loaded from `jwks`.
fn verifies(jwks: &Value, token: &str) -> bool {
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).expect("the public JWKS loads");
    let header = jsonwebtoken::decode_header(token).expect("a header");
    let key = [Some(keys.current()), keys.previous()]
        .into_iter()
        .flatten()
        .find(|key| Some(key.kid()) == header.kid.as_deref())
        .expect("a key for the token's kid");
    if key.algorithm() != header.alg {
        return false;
    }
    let (message, signature_b64) = token.rsplit_once('.').expect("a JWS");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).expect("base64url");
    key.prepared().verify(
        key.algorithm(),
        message.as_bytes(),
        &signature,
        signature_b64,
    )
}

fn claims() -> Value {
    json!({"sub": "alice", "exp": 4_000_000_000_u64})
}

#[test]
fn every_algorithm_signs_what_its_public_jwk_verifies() {
    for alg in ALL {
        let key = key_for(alg);
        let token = sign(&key, &claims());
        let jwks = json!({"keys": [key.public_jwk()]});
        assert!(verifies(&jwks, &token), "{alg:?}");

        // A byte changed in the payload breaks the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":4000000000}"#);
        assert!(!verifies(&jwks, &parts.join(".")), "{alg:?}: tampered");

        // Another key of the same algorithm and kid does not verify it.
        let other = key_from(alg, other_rsa_private_jwk());
        let other_jwks = json!({"keys": [other.public_jwk()]});
        assert!(!verifies(&other_jwks, &token), "{alg:?}: another key");
    }
}

#[test]
fn private_jwks_round_trip_and_keep_signing() {
    for alg in ALL {
        let key = key_for(alg);
        let private = key.to_private_jwk();
        let again = SigningKey::from_jwk_bytes(private.to_string().as_bytes())
            .unwrap_or_else(|err| panic!("{alg:?}: {err}"));
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.algorithm(), alg);
        assert_eq!(again.public_jwk(), key.public_jwk(), "{alg:?}");
        assert_eq!(again.to_private_jwk(), private, "{alg:?}");
        let jwks = json!({"keys": [key.public_jwk()]});
        assert!(verifies(&jwks, &sign(&again, &claims())), "{alg:?}");
        assert_eq!(
            again.verification_key().thumbprint(),
            key.verification_key().thumbprint()
        );
    }
}

#[test]
fn public_jwks_hold_no_private_member() {
    for alg in ALL {
        let key = key_for(alg);
        let public = key.public_jwk();
        assert!(!SigningKeySet::has_private_members(&public), "{alg:?}");
        assert_eq!(public["use"], "sig");
        assert_eq!(public["kid"], key.kid());
        assert_eq!(public["alg"], private_jwk::alg_name(alg));
        assert_eq!(key.is_symmetric(), public["kty"] == "oct", "{alg:?}");
        let private = key.to_private_jwk();
        assert_eq!(
            SigningKeySet::has_private_members(&private),
            !key.is_symmetric(),
            "{alg:?}"
        );
    }
}

#[test]
fn an_rsa_key_without_its_crt_members_recovers_them() {
    let mut jwk = rsa_private_jwk().clone();
    let full = SigningKey::from_jwk(&jwk).unwrap();
    for name in ["p", "q", "dp", "dq", "qi"] {
        jwk.as_object_mut().unwrap().remove(name);
    }
    let bare = SigningKey::from_jwk(&jwk).unwrap();
    // The recovered primes may come in the other order; the key is the same.
    assert_eq!(bare.public_jwk(), full.public_jwk());
    assert_eq!(bare.to_private_jwk()["d"], full.to_private_jwk()["d"]);
    let jwks = json!({"keys": [full.public_jwk()]});
    assert!(verifies(&jwks, &sign(&bare, &claims())));
}

#[test]
fn generated_keys_have_the_documented_sizes_and_kids() {
    for (alg, len) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let key = SigningKey::generate(alg, None).unwrap();
        let k = key.to_private_jwk()["k"].as_str().unwrap().to_owned();
        assert_eq!(URL_SAFE_NO_PAD.decode(k).unwrap().len(), len);
    }
    let modulus = rsa_private_jwk()["n"].as_str().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(modulus).unwrap().len() * 8, 2048);
    assert_eq!(rsa_private_jwk()["e"], "AQAB");

    let key = SigningKey::generate(Algorithm::ES256, None).unwrap();
    let kid = key.kid();
    let (date, hex) = kid.rsplit_once('-').unwrap();
    assert_eq!(date.len(), "YYYY-MM-DD".len(), "{kid}");
    assert!(
        date.chars().all(|c| c.is_ascii_digit() || c == '-'),
        "{kid}"
    );
    assert_eq!(hex.len(), KID_THUMBPRINT_HEX, "{kid}");
    let digest = URL_SAFE_NO_PAD
        .decode(key.verification_key().thumbprint())
        .unwrap();
    assert_eq!(
        hex,
        format!("{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2])
    );
}

#[test]
fn dated_kids_use_the_utc_calendar() {
    for (now, date) in [
        (0, (1970, 1, 1)),
        (951_782_400, (2000, 2, 29)),
        (1_709_164_800, (2024, 2, 29)),
        (1_800_000_000, (2027, 1, 15)),
        (4_102_444_799, (2099, 12, 31)),
    ] {
        assert_eq!(civil_date(now), date, "{now}");
    }
    // RFC 7638's example thumbprint, NzbLsXh8..., is 0x37 0x36 0xcb... in hex.
    let kid = dated_kid(1_800_000_000, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
    assert_eq!(kid, "2027-01-15-3736cb");
}

#[test]
fn a_jwk_without_kid_gets_its_thumbprint_as_the_verifiers_do() {
    let key = SigningKey::generate(Algorithm::EdDSA, Some("x".into())).unwrap();
    let mut jwk = key.to_private_jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    let loaded = SigningKey::from_jwk(&jwk).unwrap();
    let mut public = key.public_jwk();
    public.as_object_mut().unwrap().remove("kid");
    let verifiers = KeySet::from_jwks(json!({"keys": [public]}).to_string().as_bytes()).unwrap();
    assert_eq!(loaded.kid(), verifiers.current().kid());
}

/// Private members of the keys below, whose text must never appear in a
/// message.
fn secret_texts(jwk: &Value) -> Vec<String> {
    ["k", "d", "p", "q", "dp", "dq", "qi"]
        .iter()
        .filter_map(|name| jwk[name].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn refusals_say_what_is_wrong_and_never_quote_material() {
    let oct = SigningKey::generate(Algorithm::HS256, Some("o".into()))
        .unwrap()
        .to_private_jwk();
    let ec = SigningKey::generate(Algorithm::ES256, Some("e".into()))
        .unwrap()
        .to_private_jwk();
    let ed = SigningKey::generate(Algorithm::EdDSA, Some("d".into()))
        .unwrap()
        .to_private_jwk();
    let other_ec = SigningKey::generate(Algorithm::ES256, None)
        .unwrap()
        .to_private_jwk();
    let rsa = rsa_private_jwk().clone();
    let with = |base: &Value, changes: Value| {
        let mut jwk = base.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                jwk.as_object_mut().unwrap().remove(name);
            } else {
                jwk[name] = value.clone();
            }
        }
        jwk
    };
    let short = URL_SAFE_NO_PAD.encode(b"SECRET-31-must-never-leak-00031");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no alg", with(&oct, json!({"alg": null})), "has no \"alg\""),
        (
            "alg none",
            with(&oct, json!({"alg": "none"})),
            "alg \"none\" signs nothing",
        ),
        (
            "alg NoNe",
            with(&ec, json!({"alg": "NoNe"})),
            "alg \"none\" signs nothing",
        ),
        (
            "unknown alg",
            with(&oct, json!({"alg": "HS1"})),
            "unknown alg \"HS1\"",
        ),
        (
            "oct as RS256",
            with(&oct, json!({"alg": "RS256"})),
            "alg RS256 does not fit a oct key",
        ),
        (
            "P-256 as ES384",
            with(&ec, json!({"alg": "ES384"})),
            "alg ES384 needs curve P-384",
        ),
        (
            "Ed25519 as ES256",
            with(&ed, json!({"alg": "ES256"})),
            "does not fit a OKP key",
        ),
        (
            "RSA as HS256",
            with(&rsa, json!({"alg": "HS256"})),
            "does not fit a RSA key",
        ),
        (
            "short secret",
            with(&oct, json!({"k": short})),
            "HMAC secret is 31 bytes",
        ),
        (
            "no k",
            with(&oct, json!({"k": null})),
            "missing member \"k\"",
        ),
        (
            "use enc",
            with(&ec, json!({"use": "enc"})),
            "\"use\" is \"enc\"",
        ),
        (
            "kty",
            with(&ec, json!({"kty": "DSA"})),
            "unknown kty \"DSA\"",
        ),
        (
            "kid type",
            with(&ec, json!({"kid": 7})),
            "\"kid\" must be a string",
        ),
        ("empty kid", with(&ec, json!({"kid": ""})), "kid is empty"),
        (
            "bad base64",
            with(&ec, json!({"d": "***"})),
            "\"d\" is not valid base64url",
        ),
        (
            "short d",
            with(&ec, json!({"d": "AAAA"})),
            "must be 32 bytes, not 3",
        ),
        (
            "x of another key",
            with(&ec, json!({"x": other_ec["x"].clone()})),
            "\"x\" does not belong",
        ),
        (
            "ed x of another key",
            with(&ed, json!({"x": ec["x"].clone()})),
            "\"x\" does not belong",
        ),
        (
            "rsa dp",
            with(&rsa, json!({"dp": rsa["dq"].clone()})),
            "\"dp\" does not belong",
        ),
        (
            "rsa one prime",
            with(&rsa, json!({"q": null})),
            "only one of \"p\" and \"q\"",
        ),
        (
            "rsa d",
            with(&rsa, json!({"d": rsa["p"].clone()})),
            "do not form a valid key",
        ),
    ];
    for (name, jwk, expected) in cases {
        let err = SigningKey::from_jwk_bytes(jwk.to_string().as_bytes()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(expected), "{name}: {message}");
        for source in [&oct, &ec, &ed, &rsa, &other_ec] {
            for secret in secret_texts(source) {
                assert!(
                    !message.contains(&secret),
                    "{name} quotes material: {message}"
                );
            }
        }
    }
}

#[test]
fn public_keys_and_documents_are_refused_with_what_to_use_instead() {
    let ec = SigningKey::generate(Algorithm::ES256, Some("e".into())).unwrap();
    let err = SigningKey::from_jwk_bytes(ec.public_jwk().to_string().as_bytes()).unwrap_err();
    assert!(matches!(err, SigningKeyError::PublicOnly { .. }), "{err}");
    assert!(err.to_string().contains("keygen --out"), "{err}");

    let jwks = json!({"keys": [ec.to_private_jwk()]}).to_string();
    let err = SigningKey::from_jwk_bytes(jwks.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("this is a JWKS"), "{err}");

    for (input, expected) in [
        (b"".as_slice(), "the input is empty"),
        (b"{\"kty\": ".as_slice(), "invalid JSON at line 1"),
        (b"[1, 2]".as_slice(), "is a JSON array"),
    ] {
        let err = SigningKey::from_jwk_bytes(input).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let huge = vec![b' '; MAX_KEY_FILE_BYTES + 1];
    let err = SigningKey::from_jwk_bytes(&huge).unwrap_err();
    assert!(matches!(err, SigningKeyError::TooLarge { .. }), "{err}");
}

#[test]
fn a_weak_rsa_key_is_refused() {
    let weak = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
    let private = Private::Rsa(Box::new(weak));
    let mut jwk = Value::Object(with_names(
        private.private_members(),
        Some("weak"),
        Algorithm::RS256,
    ));
    let err = SigningKey::from_jwk(&jwk).unwrap_err();
    assert!(
        err.to_string().contains("RSA modulus is 1024 bits"),
        "{err}"
    );
    jwk["alg"] = json!("PS256");
    assert!(SigningKey::from_jwk(&jwk).is_err());
}

#[test]
fn generate_refuses_what_it_cannot_make() {
    let err = SigningKey::generate(Algorithm::HS256, Some(String::new())).unwrap_err();
    assert!(err.to_string().contains("kid is empty"), "{err}");
}

#[test]
fn debug_shows_only_the_kid_and_algorithm() {
    for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        let key = SigningKey::generate(alg, Some("dbg".into())).unwrap();
        let debug = format!(
            "{key:?} {:?}",
            SigningKeySet::new(key.clone_for_test(), None)
        );
        for secret in secret_texts(&key.to_private_jwk()) {
            assert!(!debug.contains(&secret), "{debug}");
        }
        assert!(debug.contains("dbg"), "{debug}");
    }
}

impl SigningKey {
    fn clone_for_test(&self) -> Self {
        Self::from_jwk(&self.to_private_jwk()).unwrap()
    }
}

#[test]
fn private_jwks_hold_one_or_two_distinct_keys() {
    let a = SigningKey::generate(Algorithm::HS256, Some("a".into())).unwrap();
    let b = SigningKey::generate(Algorithm::ES256, Some("b".into())).unwrap();
    let set = |keys: Vec<Value>| {
        SigningKeySet::from_jwks_bytes(json!({ "keys": keys }).to_string().as_bytes())
    };
    let two = set(vec![a.to_private_jwk(), b.to_private_jwk()]).unwrap();
    assert_eq!(two.current().kid(), "a");
    assert_eq!(two.previous().map(SigningKey::kid), Some("b"));
    assert!(set(vec![a.to_private_jwk()]).unwrap().previous().is_none());

    let err = set(vec![]).unwrap_err();
    assert!(matches!(err, SigningKeyError::NoKeys), "{err}");
    let three = vec![a.to_private_jwk(), b.to_private_jwk(), a.to_private_jwk()];
    let err = set(three).unwrap_err();
    assert!(err.to_string().contains("has 3 keys"), "{err}");
    let err = set(vec![a.to_private_jwk(), a.to_private_jwk()]).unwrap_err();
    assert!(err.to_string().contains("duplicate kid \"a\""), "{err}");
    let err = set(vec![a.to_private_jwk(), b.public_jwk()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("key #2 of the private JWKS (kid \"b\") is a public key"),
        "{err}"
    );
    let err = SigningKeySet::from_jwks_bytes(b"{\"kty\": \"oct\"}").unwrap_err();
    assert!(
        err.to_string()
            .contains("is a JSON object; a private JWKS is"),
        "{err}"
    );
}
