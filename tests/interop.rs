//! Interop: tokens minted by an independent JWT implementation (`jwt-simple`)
//! verify through `JwtLayer` for every algorithm the crate supports, from a
//! JWKS document built here by hand from `jwt-simple`'s public key material.
//!
//! The tests are tables (every algorithm, or a list of cases); a failure
//! names the case and what was expected. The RSA keys are generated once per
//! test binary and shared, since RSA key generation dominates the run time
//! in debug builds.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{StatusCode, header};
use jwt_rollover::{JwtLayer, KeyRing, KeySet, Metrics};
use jwt_simple::prelude::{
    Claims, Duration, ECDSAP256KeyPairLike as _, ECDSAP256PublicKeyLike as _,
    ECDSAP384KeyPairLike as _, ECDSAP384PublicKeyLike as _, ES256KeyPair, ES384KeyPair,
    Ed25519KeyPair, EdDSAKeyPairLike as _, HS256Key, HS384Key, HS512Key, JWTClaims, MACLike as _,
    PS256KeyPair, PS384KeyPair, PS512KeyPair, RS256KeyPair, RS384KeyPair, RS512KeyPair,
    RSAKeyPairLike as _,
};
use prometheus::Registry;
use rand::Rng as _;
use serde_json::{Value, json};

use common::{b64, bearer, metric, metric_value, send, unix_now, whoami_with_claims};

/// Every algorithm the crate supports, in the order the tests walk them.
const ALGORITHMS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// RSA modulus size for every RSA key here: the crate's minimum.
const RSA_BITS: usize = 2048;

// ---------------------------------------------------------------------------
// Keys minted by jwt-simple
// ---------------------------------------------------------------------------

/// Mints a token with the given `kid` (or none) and claims.
type SignFn = Box<dyn Fn(Option<&str>, JWTClaims<Value>) -> String + Send + Sync>;

/// One jwt-simple key: its public half as a JWK (without `kid`) and a way
/// to sign with its private half.
struct TestKey {
    alg: &'static str,
    public_jwk: serde_json::Map<String, Value>,
    sign: SignFn,
}

impl TestKey {
    /// The public JWK with `alg` and, when given, `kid`.
    fn jwk(&self, kid: Option<&str>) -> Value {
        let mut jwk = self.public_jwk.clone();
        jwk.insert("alg".into(), self.alg.into());
        if let Some(kid) = kid {
            jwk.insert("kid".into(), kid.into());
        }
        Value::Object(jwk)
    }

    /// A token valid for ten minutes, with `sub` and the custom claims of
    /// [`custom_claims`].
    fn mint(&self, kid: Option<&str>) -> String {
        let claims = Claims::with_custom_claims(custom_claims(self.alg), Duration::from_mins(10))
            .with_subject("user-42");
        (self.sign)(kid, claims)
    }
}

/// Application claims every token carries, so a test can see that they
/// came through to the handler.
fn custom_claims(alg: &str) -> Value {
    json!({
        "role": "admin",
        "minted_with": alg,
        "scopes": ["read", "write"],
        "n": 42,
    })
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Two independent RSA private keys (DER), generated once per test binary
/// and shared by RS256..PS512: RSA key generation is the slow part in debug
/// builds, and jwt-simple builds every RSA algorithm's key pair from the
/// same DER.
fn rsa_ders() -> &'static [Vec<u8>; 2] {
    static DERS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    DERS.get_or_init(|| {
        let generate = || {
            RS256KeyPair::generate(RSA_BITS)
                .expect("jwt-simple generates an RSA key")
                .to_der()
                .expect("jwt-simple exports the RSA key as DER")
        };
        let started = Instant::now();
        let ders = std::thread::scope(|scope| {
            let first = scope.spawn(generate);
            let second = scope.spawn(generate);
            [first.join().unwrap(), second.join().unwrap()]
        });
        eprintln!(
            "generated two RSA-{RSA_BITS} keys in {:?}",
            started.elapsed()
        );
        ders
    })
}

/// Boxes a signer: `$make` builds a fresh jwt-simple key (captured values
/// are moved in), the `kid` is attached with `with_key_id`, and `$method`
/// (`sign` or `authenticate`) mints the token.
macro_rules! signer {
    ($make:expr, $method:ident) => {
        Box::new(move |kid: Option<&str>, claims: JWTClaims<Value>| {
            let key = $make;
            let key = match kid {
                Some(kid) => key.with_key_id(kid),
                None => key,
            };
            key.$method(claims).expect("jwt-simple mints the token")
        }) as SignFn
    };
}

/// A fresh key for `alg`. `index` 0 and 1 give two different keys of the
/// same algorithm (for RSA, the two shared RSA keys).
fn test_key(alg: &'static str, index: usize) -> TestKey {
    fn hmac(alg: &'static str, len: usize, sign: impl FnOnce(Vec<u8>) -> SignFn) -> TestKey {
        let secret = random_bytes(len);
        let mut public_jwk = serde_json::Map::new();
        public_jwk.insert("kty".into(), "oct".into());
        public_jwk.insert("k".into(), b64(&secret).into());
        TestKey {
            alg,
            public_jwk,
            sign: sign(secret),
        }
    }
    fn rsa(alg: &'static str, n: Vec<u8>, e: Vec<u8>, sign: SignFn) -> TestKey {
        let mut public_jwk = serde_json::Map::new();
        public_jwk.insert("kty".into(), "RSA".into());
        public_jwk.insert("n".into(), b64(&n).into());
        public_jwk.insert("e".into(), b64(&e).into());
        TestKey {
            alg,
            public_jwk,
            sign,
        }
    }
    fn ec(alg: &'static str, crv: &str, uncompressed: &[u8], sign: SignFn) -> TestKey {
        assert_eq!(uncompressed[0], 0x04, "{alg}: an uncompressed SEC1 point");
        let (x, y) = uncompressed[1..].split_at((uncompressed.len() - 1) / 2);
        let mut public_jwk = serde_json::Map::new();
        public_jwk.insert("kty".into(), "EC".into());
        public_jwk.insert("crv".into(), crv.into());
        public_jwk.insert("x".into(), b64(x).into());
        public_jwk.insert("y".into(), b64(y).into());
        TestKey {
            alg,
            public_jwk,
            sign,
        }
    }
    macro_rules! rsa_key {
        ($pair:ty) => {{
            let pair = <$pair>::from_der(&rsa_ders()[index]).expect("jwt-simple reads its DER");
            let components = pair.public_key().to_components();
            rsa(alg, components.n, components.e, signer!(pair.clone(), sign))
        }};
    }
    macro_rules! ec_key {
        ($pair:ty, $crv:literal) => {{
            let pair = <$pair>::generate();
            let point = pair.public_key().public_key().to_bytes_uncompressed();
            let private = pair.to_bytes();
            ec(
                alg,
                $crv,
                &point,
                signer!(<$pair>::from_bytes(&private).unwrap(), sign),
            )
        }};
    }

    match alg {
        // RFC 7518 section 3.2: a secret at least as long as the hash output.
        "HS256" => hmac(alg, 32, |s| signer!(HS256Key::from_bytes(&s), authenticate)),
        "HS384" => hmac(alg, 48, |s| signer!(HS384Key::from_bytes(&s), authenticate)),
        "HS512" => hmac(alg, 64, |s| signer!(HS512Key::from_bytes(&s), authenticate)),
        "RS256" => rsa_key!(RS256KeyPair),
        "RS384" => rsa_key!(RS384KeyPair),
        "RS512" => rsa_key!(RS512KeyPair),
        "PS256" => rsa_key!(PS256KeyPair),
        "PS384" => rsa_key!(PS384KeyPair),
        "PS512" => rsa_key!(PS512KeyPair),
        "ES256" => ec_key!(ES256KeyPair, "P-256"),
        "ES384" => ec_key!(ES384KeyPair, "P-384"),
        "EdDSA" => {
            let pair = Ed25519KeyPair::generate();
            let x = pair.public_key().to_bytes();
            assert_eq!(x.len(), 32, "an Ed25519 public key is 32 bytes");
            let mut public_jwk = serde_json::Map::new();
            public_jwk.insert("kty".into(), "OKP".into());
            public_jwk.insert("crv".into(), "Ed25519".into());
            public_jwk.insert("x".into(), b64(&x).into());
            TestKey {
                alg,
                public_jwk,
                sign: signer!(pair.clone(), sign),
            }
        }
        other => panic!("no test key for {other}"),
    }
}

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

/// A `/whoami` router behind `JwtLayer`, over a ring loaded from a JWKS.
struct Server {
    app: Router,
    registry: Registry,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    www_authenticate: Option<String>,
    body: Value,
}

impl Server {
    fn new(keys: &[Value]) -> Self {
        Self::with_layer(keys, |layer| layer)
    }

    /// Like [`Server::new`], with `configure` applied to the layer.
    fn with_layer(
        keys: &[Value],
        configure: impl FnOnce(JwtLayer<Value>) -> JwtLayer<Value>,
    ) -> Self {
        let jwks = json!({ "keys": keys }).to_string();
        let keys = KeySet::from_jwks(jwks.as_bytes())
            .unwrap_or_else(|err| panic!("JWKS refused: {err}\n{jwks}"));
        let registry = Registry::new();
        let ring = KeyRing::new(keys, Metrics::new(&registry).expect("metrics register"));
        let app = Router::new()
            .route("/whoami", get(whoami_with_claims))
            .layer(configure(JwtLayer::<Value>::new(ring)));
        Self { app, registry }
    }

    async fn whoami(&self, token: &str) -> Reply {
        let reply = send(&self.app, bearer(token)).await;
        let www_authenticate = reply
            .headers
            .get(header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().unwrap().to_owned());
        let body = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body).unwrap_or_else(|_| Value::String(reply.text()))
        };
        Reply {
            status: reply.status,
            www_authenticate,
            body,
        }
    }

    /// The value of the counter `name` with these labels; 0 when there is
    /// no such series.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.registry, name, labels).unwrap_or(0.0)
    }

    /// The value of the unlabelled gauge `name`.
    fn gauge(&self, name: &str) -> f64 {
        metric_value(&self.registry, name, &[])
    }

    fn verifications(&self, slot: &str, kid: &str) -> f64 {
        self.counter("jwt_verifications_total", &[("slot", slot), ("kid", kid)])
    }

    fn rejections(&self, reason: &str) -> f64 {
        self.counter("jwt_rejections_total", &[("reason", reason)])
    }
}

/// Asserts a `200` from `kid` in `slot`, with the claims jwt-simple minted.
fn assert_accepted(what: &str, alg: &str, reply: &Reply, kid: &str, slot: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
    assert_eq!(reply.body["kid"], kid, "{what}: kid in {reply:?}");
    assert_eq!(reply.body["slot"], slot, "{what}: slot in {reply:?}");
    let claims = &reply.body["claims"];
    for (name, value) in custom_claims(alg).as_object().unwrap() {
        assert_eq!(&claims[name], value, "{what}: claim {name} in {reply:?}");
    }
    assert_eq!(claims["sub"], "user-42", "{what}: sub in {reply:?}");
    assert!(claims["exp"].is_u64(), "{what}: exp in {reply:?}");
}

/// Asserts a `401` with an RFC 6750 `invalid_token` challenge naming `reason`.
fn assert_rejected(what: &str, reply: &Reply, reason: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {reply:?}");
    let challenge = reply
        .www_authenticate
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate in {reply:?}"));
    assert!(
        challenge.starts_with("Bearer "),
        "{what}: challenge {challenge:?}"
    );
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{what}: challenge {challenge:?}"
    );
    assert!(
        challenge.contains(&format!(r#"error_description="{reason}:"#)),
        "{what}: expected reason {reason} in {challenge:?}"
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// For every algorithm: one key in the JWKS, with a kid; a token of it,
/// naming that kid when `with_kid`, is accepted by the current key.
async fn assert_every_algorithm_verifies(with_kid: bool) {
    for alg in ALGORITHMS {
        let key = test_key(alg, 0);
        let kid = format!("{alg}-2026-11");
        let server = Server::new(&[key.jwk(Some(&kid))]);

        let reply = server.whoami(&key.mint(with_kid.then_some(&kid))).await;

        let what = if with_kid { "with kid" } else { "without kid" };
        assert_accepted(&format!("{alg} {what}"), alg, &reply, &kid, "current");
        assert_eq!(server.verifications("current", &kid), 1.0, "{alg}");
    }
}

#[tokio::test]
async fn jwt_simple_tokens_with_kid_verify_for_every_algorithm() {
    assert_every_algorithm_verifies(true).await;
}

#[tokio::test]
async fn jwt_simple_tokens_without_kid_verify_for_every_algorithm() {
    assert_every_algorithm_verifies(false).await;
}

#[tokio::test]
async fn jwt_simple_tokens_of_the_previous_key_verify_for_every_algorithm() {
    for alg in ALGORITHMS {
        let current = test_key(alg, 0);
        let previous = test_key(alg, 1);
        let (current_kid, previous_kid) = (format!("{alg}-new"), format!("{alg}-old"));
        let server = Server::new(&[
            current.jwk(Some(&current_kid)),
            previous.jwk(Some(&previous_kid)),
        ]);

        // kid names the previous key: one signature check, against it.
        let reply = server.whoami(&previous.mint(Some(&previous_kid))).await;
        assert_accepted(
            &format!("{alg} previous key, with kid"),
            alg,
            &reply,
            &previous_kid,
            "previous",
        );
        assert_eq!(
            server.verifications("previous", &previous_kid),
            1.0,
            "{alg}"
        );
        assert_eq!(server.verifications("current", &current_kid), 0.0, "{alg}");

        // No kid: the current key fails, the previous one matches.
        let reply = server.whoami(&previous.mint(None)).await;
        assert_accepted(
            &format!("{alg} previous key, without kid"),
            alg,
            &reply,
            &previous_kid,
            "previous",
        );
        assert_eq!(
            server.verifications("previous", &previous_kid),
            2.0,
            "{alg}"
        );
        // jwt-simple's exp reached the previous-key usage gauges.
        let exp = reply.body["claims"]["exp"].as_u64().unwrap();
        assert!(
            server.gauge("jwt_previous_key_tokens_expire_timestamp_seconds") >= exp as f64,
            "{alg}: previous-key tokens expire gauge below the token's exp {exp}"
        );
        assert!(
            server.gauge("jwt_previous_key_last_used_timestamp_seconds") > 0.0,
            "{alg}: previous-key last-used gauge not set"
        );

        // The current key still verifies alongside it.
        let reply = server.whoami(&current.mint(Some(&current_kid))).await;
        assert_accepted(
            &format!("{alg} current key of a two-key JWKS"),
            alg,
            &reply,
            &current_kid,
            "current",
        );
        assert_eq!(server.verifications("current", &current_kid), 1.0, "{alg}");
        assert_eq!(server.rejections("bad_signature"), 0.0, "{alg}");
    }
}

#[tokio::test]
async fn jwt_simple_token_from_a_foreign_key_with_a_known_kid_is_bad_signature() {
    for alg in ALGORITHMS {
        let loaded = test_key(alg, 0);
        let foreign = test_key(alg, 1);
        let kid = format!("{alg}-2026-11");
        let server = Server::new(&[loaded.jwk(Some(&kid))]);

        let reply = server.whoami(&foreign.mint(Some(&kid))).await;
        assert_rejected(
            &format!("{alg} foreign key, loaded kid"),
            &reply,
            "bad_signature",
        );

        let reply = server.whoami(&foreign.mint(None)).await;
        assert_rejected(
            &format!("{alg} foreign key, no kid"),
            &reply,
            "bad_signature",
        );

        assert_eq!(server.rejections("bad_signature"), 2.0, "{alg}");
        assert_eq!(server.verifications("current", &kid), 0.0, "{alg}");
    }
}

#[tokio::test]
async fn hs256_token_naming_an_rs256_kid_is_wrong_alg() {
    let rsa = test_key("RS256", 0);
    let server = Server::new(&[rsa.jwk(Some("rsa-2026-11"))]);

    // The classic confusion attack: the RSA public key, as published in
    // the JWKS, used as the HMAC secret. The header alone refuses it:
    // `wrong_alg`, never `bad_signature`.
    let public_der = RS256KeyPair::from_der(&rsa_ders()[0])
        .unwrap()
        .public_key()
        .to_der()
        .unwrap();
    let n = URL_SAFE_NO_PAD
        .decode(rsa.public_jwk["n"].as_str().unwrap())
        .unwrap();
    for (what, secret) in [
        ("public key DER", public_der),
        ("modulus bytes", n),
        ("random secret", random_bytes(32)),
    ] {
        let sign = signer!(HS256Key::from_bytes(&secret), authenticate);
        let claims = || Claims::with_custom_claims(custom_claims("HS256"), Duration::from_mins(10));

        let reply = server.whoami(&sign(Some("rsa-2026-11"), claims())).await;
        assert_rejected(
            &format!("HS256 over {what}, RS256 kid"),
            &reply,
            "wrong_alg",
        );

        // Without kid, no loaded key is pinned to HS256.
        let reply = server.whoami(&sign(None, claims())).await;
        assert_rejected(&format!("HS256 over {what}, no kid"), &reply, "wrong_alg");
    }
    assert_eq!(server.rejections("wrong_alg"), 6.0);
    assert_eq!(server.rejections("bad_signature"), 0.0);
}

#[tokio::test]
async fn jwt_simple_token_of_another_algorithm_for_a_pinned_kid_is_wrong_alg() {
    // (algorithm the JWKS pins the kid to, algorithm the token is signed
    // with). The RSA pairs use the very same RSA key, so only the pin
    // tells them apart.
    let cases = [
        ("RS256", "PS256"),
        ("PS256", "RS256"),
        ("RS256", "RS512"),
        ("PS384", "PS512"),
        ("HS256", "HS512"),
        ("HS512", "HS256"),
        ("ES256", "ES384"),
        ("ES384", "ES256"),
        ("EdDSA", "ES256"),
        ("ES256", "EdDSA"),
        ("RS256", "HS256"),
        ("EdDSA", "HS256"),
    ];
    for (pinned, signed_with) in cases {
        let loaded = test_key(pinned, 0);
        let signer = test_key(signed_with, 0);
        let kid = format!("{pinned}-2026-11");
        let server = Server::new(&[loaded.jwk(Some(&kid))]);

        let reply = server.whoami(&signer.mint(Some(&kid))).await;

        let what = format!("{signed_with} token for a kid pinned to {pinned}");
        assert_rejected(&what, &reply, "wrong_alg");
        assert_eq!(server.rejections("wrong_alg"), 1.0, "{what}");
        assert_eq!(server.verifications("current", &kid), 0.0, "{what}");
    }
}

#[tokio::test]
async fn a_jwk_without_kid_gets_its_rfc7638_thumbprint_and_jwt_simple_can_name_it() {
    // Published vectors (RFC 7638 section 3.1, RFC 8037 appendix A.3) and
    // two computed independently with Python's hashlib over the canonical
    // JSON. Where the private key is published, jwt-simple signs a token
    // whose kid is the thumbprint, and the layer must pick the key by it.
    let hmac_secret: &[u8] = b"interop-secret-interop-secret-!!";
    let b64url = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    let ed25519 = [
        b64url("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"),
        b64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
    ]
    .concat();
    let p256_d = b64url("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let cases: Vec<(&str, Value, &str, Option<SignFn>)> = vec![
        (
            "RFC 7638 RSA",
            json!({
                "kty": "RSA",
                "alg": "RS256",
                "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
                "e": "AQAB",
            }),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
            None,
        ),
        (
            "RFC 8037 Ed25519, alg inferred",
            json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            }),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
            Some(signer!(Ed25519KeyPair::from_bytes(&ed25519).unwrap(), sign)),
        ),
        (
            "RFC 7515 A.3 P-256 key, alg inferred",
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }),
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U",
            Some(signer!(ES256KeyPair::from_bytes(&p256_d).unwrap(), sign)),
        ),
        (
            "oct",
            json!({"kty": "oct", "alg": "HS256", "k": b64(hmac_secret)}),
            "xolG4vUyIiSTA30S4RKXAyzxU-JihSk5fU8ufUvPlBY",
            Some(signer!(HS256Key::from_bytes(hmac_secret), authenticate)),
        ),
    ];
    for (what, jwk, thumbprint, sign) in cases {
        let keys = KeySet::from_jwks(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
        assert_eq!(keys.current().kid(), thumbprint, "{what}");

        let Some(sign) = sign else { continue };
        let server = Server::new(&[jwk]);
        let alg = keys.current().algorithm();
        let claims = || {
            Claims::with_custom_claims(custom_claims(&format!("{alg:?}")), Duration::from_mins(10))
                .with_subject("user-42")
        };
        for kid in [Some(thumbprint), None] {
            let reply = server.whoami(&sign(kid, claims())).await;
            let what = format!("{what}, token kid {kid:?}");
            assert_accepted(&what, &format!("{alg:?}"), &reply, thumbprint, "current");
        }
    }

    // A raw secret file's kid is the first 16 characters of the thumbprint.
    let keys = KeySet::from_secret(b"interop-secret-interop-secret-!!\n").unwrap();
    assert_eq!(keys.current().kid(), "xolG4vUyIiSTA30S");
}

#[tokio::test]
async fn jwt_simple_registered_claims_are_checked_like_jwt_simple_writes_them() {
    // jwt-simple writes `aud` as a string for one audience and as an array
    // for a set, and NumericDates as integers.
    type Edit = fn(JWTClaims<Value>) -> JWTClaims<Value>;
    const HOUR: u64 = 3600;
    let cases: [(&str, Edit, Option<&str>); 10] = [
        ("iss and one aud", |c| c, None),
        (
            "aud as a set",
            |c| c.with_audiences(["other".to_owned(), "api".to_owned()].into_iter().collect()),
            None,
        ),
        (
            "wrong iss",
            |c| c.with_issuer("https://evil.example"),
            Some("invalid_claims"),
        ),
        (
            "no aud",
            |mut c| {
                c.audiences = None;
                c
            },
            Some("invalid_claims"),
        ),
        (
            "other aud only",
            |c| c.with_audience("other"),
            Some("invalid_claims"),
        ),
        (
            "expired an hour ago",
            |mut c| {
                c.expires_at = Some(Duration::from_secs(unix_now() - HOUR));
                c
            },
            Some("expired"),
        ),
        (
            "expired 30 s ago, within the leeway",
            |mut c| {
                c.expires_at = Some(Duration::from_secs(unix_now() - 30));
                c
            },
            None,
        ),
        (
            "nbf in an hour",
            |mut c| {
                c.invalid_before = Some(Duration::from_secs(unix_now() + HOUR));
                c
            },
            Some("immature"),
        ),
        (
            "no exp",
            |mut c| {
                c.expires_at = None;
                c
            },
            Some("invalid_claims"),
        ),
        (
            "no nbf, no iat",
            |mut c| {
                c.invalid_before = None;
                c.issued_at = None;
                c
            },
            None,
        ),
    ];
    let key = test_key("ES256", 0);
    let server = Server::with_layer(&[key.jwk(Some("es-1"))], |layer| {
        layer
            .with_issuers(["https://auth.example"])
            .with_audiences(["api"])
    });
    for (what, edit, rejected) in cases {
        let claims = Claims::with_custom_claims(custom_claims("ES256"), Duration::from_mins(10))
            .with_subject("user-42")
            .with_issuer("https://auth.example")
            .with_audience("api");
        let reply = server.whoami(&(key.sign)(Some("es-1"), edit(claims))).await;
        match rejected {
            None => assert_accepted(what, "ES256", &reply, "es-1", "current"),
            Some(reason) => assert_rejected(what, &reply, reason),
        }
        match what {
            "iss and one aud" => assert_eq!(reply.body["claims"]["aud"], "api", "{what}"),
            "aud as a set" => assert!(reply.body["claims"]["aud"].is_array(), "{what}"),
            _ => {}
        }
    }
    assert_eq!(server.verifications("current", "es-1"), 4.0);
}
