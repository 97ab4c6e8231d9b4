//! Verification micro-benchmarks: every number of ours sits beside
//! `jsonwebtoken::decode` on the same token, the same key material and the
//! same claims type, in the same run, so ratios between them are meaningful
//! even on a noisy machine (absolute times are not).
//!
//! Benchmark ids are `<ALG>/<side>/<scenario>`, side `ours` or
//! `jsonwebtoken`, plus `metrics/*` and `arc_swap/*`. Each `ours` number is
//! measured right before its `jsonwebtoken` counterpart.
//!
//! Per algorithm (HS256, RS256 with a 2048-bit key, ES256, EdDSA) the ring
//! holds a current and a previous key of that algorithm, loaded from one
//! JWKS; jsonwebtoken gets a `DecodingKey::from_jwk` of the very same JWKs.
//! Scenarios, and what the jsonwebtoken side does for each:
//!
//! | scenario | token | ours | jsonwebtoken |
//! |---|---|---|---|
//! | `current_kid` | current key, its kid | accepted (its header remembered from the first call, as for any issuer's repeated header) | `decode` with the current key |
//! | `current_kid_unseen_header` | the `current_kid` token, on a ring whose header memo is full of other headers | accepted, the header read in full | `decode` with the current key |
//! | `previous_kid` | previous key, its kid | accepted (previous slot) | `decode` with the previous key |
//! | `previous_no_kid` | previous key, no kid | current tried, then previous | `decode` with current, on `InvalidSignature` with previous |
//! | `unknown_kid` | previous key, kid nobody has | `unknown_kid`, no crypto | `decode` with the current key: `InvalidSignature` (a whole check) |
//! | `alg_mismatch` | current kid, another alg (HS384 for the HS256 ring, HS256 for the others) | `wrong_alg`, no crypto | `decode`: `InvalidAlgorithm` |
//! | `bad_signature` | current-kid token, one signature byte changed | `bad_signature` | `decode` with the current key: `InvalidSignature` |
//! | `expired` | current kid, `exp` an hour ago | `expired` (after the signature check) | `decode`: `ExpiredSignature` |
//! | `cache_hit` | the `current_kid` token, already verified once | answered from the token cache | `decode` with the current key (no cache) |
//!
//! Validation is the same on both sides: algorithm pinned, `exp` required,
//! `nbf` checked, 60 s leeway, no audience check.
//!
//! `scripts/bench_ratios.py` turns `target/criterion` into the ratio table.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use jwt_rollover::{
    JwtLayer, KeyRing, KeySet, Metrics, RejectionReason, Slot, TokenCacheConfig, Verifier,
};
use jwt_simple::prelude::{
    Claims, Duration as JwtDuration, ECDSAP256KeyPairLike as _, ECDSAP256PublicKeyLike as _,
    ES256KeyPair, Ed25519KeyPair, EdDSAKeyPairLike as _, HS256Key, HS384Key, HeaderOptions,
    JWTClaims, MACLike as _, NoCustomClaims, RS256KeyPair, RSAKeyPairLike as _,
};
use prometheus::{IntCounterVec, Opts, Registry};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The application's claims: small, typed, a few owned strings.
#[derive(Debug, Clone, Deserialize)]
struct BenchClaims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
}

const CURRENT_KID: &str = "2026-11";
const PREVIOUS_KID: &str = "2026-10";
const UNKNOWN_KID: &str = "2025-01";
const SUBJECT: &str = "user-42";
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "api.example.com";
const RSA_BITS: usize = 2048;

const SCENARIOS: [&str; 9] = [
    "current_kid",
    "current_kid_unseen_header",
    "previous_kid",
    "previous_no_kid",
    "unknown_kid",
    "alg_mismatch",
    "bad_signature",
    "expired",
    "cache_hit",
];

// ---------------------------------------------------------------------------
// Keys and tokens, minted by jwt-simple
// ---------------------------------------------------------------------------

/// Signs claims with an optional kid and an optional `typ` (default `JWT`)
/// in the header.
type SignFn = Box<dyn Fn(Option<&str>, Option<&str>, JWTClaims<NoCustomClaims>) -> String>;

/// One jwt-simple key: its public JWK (without `kid`/`alg`) and its signer.
struct TestKey {
    public_jwk: Map<String, Value>,
    sign: SignFn,
}

impl TestKey {
    fn jwk(&self, alg: &str, kid: &str) -> Value {
        let mut jwk = self.public_jwk.clone();
        jwk.insert("alg".into(), alg.into());
        jwk.insert("kid".into(), kid.into());
        Value::Object(jwk)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Boxes a signer: `$make` rebuilds the jwt-simple key for each token (the
/// values it captures are moved in), `with_key_id` attaches the kid, and
/// `$method` (`sign_with_options` or `authenticate_with_options`) mints the
/// token with the `typ` asked for.
macro_rules! signer {
    ($make:expr, $method:ident) => {
        Box::new(
            move |kid: Option<&str>, typ: Option<&str>, claims: JWTClaims<NoCustomClaims>| {
                let key = $make;
                let key = match kid {
                    Some(kid) => key.with_key_id(kid),
                    None => key,
                };
                let options = HeaderOptions {
                    signature_type: typ.map(str::to_owned),
                    ..HeaderOptions::default()
                };
                key.$method(claims, &options)
                    .expect("jwt-simple signs the token")
            },
        ) as SignFn
    };
}

fn hs256_key() -> TestKey {
    let secret = HS256Key::generate().to_bytes();
    let mut public_jwk = Map::new();
    public_jwk.insert("kty".into(), "oct".into());
    public_jwk.insert("k".into(), b64(&secret).into());
    TestKey {
        public_jwk,
        sign: signer!(HS256Key::from_bytes(&secret), authenticate_with_options),
    }
}

fn rs256_key() -> TestKey {
    let pair = RS256KeyPair::generate(RSA_BITS).expect("jwt-simple generates an RSA key");
    let components = pair.public_key().to_components();
    let mut public_jwk = Map::new();
    public_jwk.insert("kty".into(), "RSA".into());
    public_jwk.insert("n".into(), b64(&components.n).into());
    public_jwk.insert("e".into(), b64(&components.e).into());
    TestKey {
        public_jwk,
        sign: signer!(pair.clone(), sign_with_options),
    }
}

fn es256_key() -> TestKey {
    let pair = ES256KeyPair::generate();
    let point = pair.public_key().public_key().to_bytes_uncompressed();
    assert_eq!(point.len(), 65, "an uncompressed P-256 point");
    let private = pair.to_bytes();
    let mut public_jwk = Map::new();
    public_jwk.insert("kty".into(), "EC".into());
    public_jwk.insert("crv".into(), "P-256".into());
    public_jwk.insert("x".into(), b64(&point[1..33]).into());
    public_jwk.insert("y".into(), b64(&point[33..]).into());
    TestKey {
        public_jwk,
        sign: signer!(
            ES256KeyPair::from_bytes(&private).expect("jwt-simple reads its key"),
            sign_with_options
        ),
    }
}

fn eddsa_key() -> TestKey {
    let pair = Ed25519KeyPair::generate();
    let mut public_jwk = Map::new();
    public_jwk.insert("kty".into(), "OKP".into());
    public_jwk.insert("crv".into(), "Ed25519".into());
    public_jwk.insert("x".into(), b64(&pair.public_key().to_bytes()).into());
    TestKey {
        public_jwk,
        sign: signer!(pair.clone(), sign_with_options),
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// `sub`, `iss`, `aud`, `iat`, `nbf` and `exp`, valid for an hour.
fn valid_claims() -> JWTClaims<NoCustomClaims> {
    Claims::create(JwtDuration::from_hours(1))
        .with_subject(SUBJECT)
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
}

/// A token signed with another key than the current one, which the current
/// key must refuse with a whole signature check. An RSA signature made with
/// another key is, as a number, at or above the current modulus about half
/// the time, and is then refused before the modular exponentiation: the
/// cost of trying the current key first would depend on the keys drawn. So
/// with RSA the token is re-signed (another `jti`) until its signature is
/// below the current modulus; otherwise it is signed once.
fn signed_by_other_key(sign: &SignFn, kid: Option<&str>, current_modulus: Option<&[u8]>) -> String {
    let fits = |token: &String| {
        current_modulus.is_none_or(|modulus| {
            let signature = token.rsplit('.').next().expect("a JWS has dots");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            // Big-endian, same length: byte order is numeric order.
            signature.len() == modulus.len() && signature.as_slice() < modulus
        })
    };
    (0_u32..)
        .map(|jti| sign(kid, None, valid_claims().with_jwt_id(jti.to_string())))
        .find(fits)
        .expect("half of all signatures fit")
}

/// Expired an hour ago, far beyond the leeway.
fn expired_claims() -> JWTClaims<NoCustomClaims> {
    let now = now_unix();
    let mut claims = valid_claims();
    claims.issued_at = Some(JwtDuration::from_secs(now - 7_200));
    claims.invalid_before = Some(JwtDuration::from_secs(now - 7_200));
    claims.expires_at = Some(JwtDuration::from_secs(now - 3_600));
    claims
}

/// The same token with its signature's first byte changed: still valid
/// base64url of the same length, so both sides reach the crypto.
fn corrupt_signature(token: &str) -> String {
    let dot = token.rfind('.').expect("a JWS has dots");
    let mut bytes = token.as_bytes().to_vec();
    bytes[dot + 1] = if bytes[dot + 1] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("still ASCII")
}

// ---------------------------------------------------------------------------
// One algorithm's fixture: our verifiers and jsonwebtoken's keys
// ---------------------------------------------------------------------------

struct Fixture {
    alg: &'static str,
    ours: Verifier<BenchClaims>,
    ours_cached: Verifier<BenchClaims>,
    /// On a ring of its own, whose header memo is full of other headers.
    ours_unseen_header: Verifier<BenchClaims>,
    current: DecodingKey,
    previous: DecodingKey,
    validation: Validation,
    tokens: Tokens,
}

struct Tokens {
    current_kid: String,
    previous_kid: String,
    previous_no_kid: String,
    unknown_kid: String,
    alg_mismatch: String,
    bad_signature: String,
    expired: String,
}

impl Fixture {
    fn new(alg: &'static str) -> Self {
        // The alg_mismatch token names the current kid but is signed with
        // another algorithm: HS384 against the HS256 ring, HS256 (the
        // classic algorithm-confusion attempt) against the others.
        let (make_key, mismatch): (fn() -> TestKey, SignFn) = match alg {
            "HS256" => {
                let secret = HS384Key::generate().to_bytes();
                (
                    hs256_key,
                    signer!(HS384Key::from_bytes(&secret), authenticate_with_options),
                )
            }
            "RS256" => (rs256_key, hs256_key().sign),
            "ES256" => (es256_key, hs256_key().sign),
            "EdDSA" => (eddsa_key, hs256_key().sign),
            other => panic!("no fixture for {other}"),
        };
        let (current_key, previous_key) = (make_key(), make_key());
        let current_jwk = current_key.jwk(alg, CURRENT_KID);
        let previous_jwk = previous_key.jwk(alg, PREVIOUS_KID);

        let jwks = json!({ "keys": [current_jwk, previous_jwk] });
        let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).expect("our JWKS loads");
        let metrics = Metrics::new(&Registry::new()).expect("fresh registry");
        let ring = KeyRing::new(keys.clone(), metrics);
        let layer = JwtLayer::<BenchClaims>::new(ring);
        let ours = layer.verifier();
        let ours_cached = layer
            .with_token_cache(TokenCacheConfig::default())
            .verifier();

        let decoding_key = |jwk: Value| {
            let jwk: Jwk = serde_json::from_value(jwk).expect("jsonwebtoken reads the JWK");
            DecodingKey::from_jwk(&jwk).expect("jsonwebtoken accepts the JWK")
        };
        let jwa: jsonwebtoken::Algorithm = alg.parse().expect("a JOSE alg name");
        let mut validation = Validation::new(jwa);
        validation.leeway = 60;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);

        let modulus = current_key
            .public_jwk
            .get("n")
            .and_then(Value::as_str)
            .map(|n| URL_SAFE_NO_PAD.decode(n).expect("base64url"));
        let current_kid = (current_key.sign)(Some(CURRENT_KID), None, valid_claims());
        let tokens = Tokens {
            previous_kid: (previous_key.sign)(Some(PREVIOUS_KID), None, valid_claims()),
            previous_no_kid: signed_by_other_key(&previous_key.sign, None, modulus.as_deref()),
            unknown_kid: signed_by_other_key(
                &previous_key.sign,
                Some(UNKNOWN_KID),
                modulus.as_deref(),
            ),
            alg_mismatch: mismatch(Some(CURRENT_KID), None, valid_claims()),
            bad_signature: corrupt_signature(&current_kid),
            expired: (current_key.sign)(Some(CURRENT_KID), None, expired_claims()),
            current_kid,
        };

        // A ring that has remembered the headers of four other accepted
        // tokens (typ JWT0 to JWT3): its memo is full, so the current_kid
        // token's header is read in full on every call.
        let metrics = Metrics::new(&Registry::new()).expect("fresh registry");
        let ours_unseen_header =
            JwtLayer::<BenchClaims>::new(KeyRing::new(keys, metrics)).verifier();
        for n in 0..4 {
            let typ = format!("JWT{n}");
            let filler = (current_key.sign)(Some(CURRENT_KID), Some(&typ), valid_claims());
            assert!(ours_unseen_header.verify(&filler).is_ok(), "filler {typ}");
        }
        let fixture = Self {
            alg,
            ours,
            ours_cached,
            ours_unseen_header,
            current: decoding_key(current_jwk),
            previous: decoding_key(previous_jwk),
            validation,
            tokens,
        };
        fixture.check();
        fixture
    }

    fn token(&self, scenario: &str) -> &str {
        let t = &self.tokens;
        match scenario {
            "current_kid" | "current_kid_unseen_header" | "cache_hit" => &t.current_kid,
            "previous_kid" => &t.previous_kid,
            "previous_no_kid" => &t.previous_no_kid,
            "unknown_kid" => &t.unknown_kid,
            "alg_mismatch" => &t.alg_mismatch,
            "bad_signature" => &t.bad_signature,
            "expired" => &t.expired,
            other => panic!("no scenario {other}"),
        }
    }

    /// The verifier a scenario uses: the cached one for `cache_hit`, the
    /// one that never remembers the token's header for
    /// `current_kid_unseen_header`.
    fn verifier(&self, scenario: &str) -> &Verifier<BenchClaims> {
        match scenario {
            "cache_hit" => &self.ours_cached,
            "current_kid_unseen_header" => &self.ours_unseen_header,
            _ => &self.ours,
        }
    }

    /// The key jsonwebtoken decodes a scenario's token with, and the key it
    /// falls back to on `InvalidSignature` (see the module docs).
    fn decoding_keys(&self, scenario: &str) -> (&DecodingKey, Option<&DecodingKey>) {
        match scenario {
            "previous_kid" => (&self.previous, None),
            "previous_no_kid" => (&self.current, Some(&self.previous)),
            _ => (&self.current, None),
        }
    }

    /// Our side of a scenario.
    fn ours(&self, scenario: &str, token: &str) -> Result<Slot, RejectionReason> {
        self.verifier(scenario)
            .verify(token)
            .map(|verified| verified.key.slot)
            .map_err(|rejection| rejection.reason())
    }

    /// jsonwebtoken's side of a scenario.
    fn jsonwebtoken(
        &self,
        scenario: &str,
        token: &str,
    ) -> jsonwebtoken::errors::Result<jsonwebtoken::TokenData<BenchClaims>> {
        let (key, fallback) = self.decoding_keys(scenario);
        decode_with_fallback(token, key, fallback, &self.validation)
    }

    /// Every scenario does what its name says on both sides, so that no
    /// benchmark silently measures an early failure.
    fn check(&self) {
        for scenario in SCENARIOS {
            let token = self.token(scenario);
            let ours = self.ours(scenario, token);
            let expected_ours = match scenario {
                "current_kid" | "current_kid_unseen_header" | "cache_hit" => Ok(Slot::Current),
                "previous_kid" | "previous_no_kid" => Ok(Slot::Previous),
                "unknown_kid" => Err(RejectionReason::UnknownKid),
                "alg_mismatch" => Err(RejectionReason::WrongAlg),
                "bad_signature" => Err(RejectionReason::BadSignature),
                "expired" => Err(RejectionReason::Expired),
                other => panic!("no scenario {other}"),
            };
            assert_eq!(ours, expected_ours, "{}/ours/{scenario}", self.alg);

            let theirs = self.jsonwebtoken(scenario, token);
            match (scenario, &theirs) {
                (
                    "current_kid"
                    | "current_kid_unseen_header"
                    | "cache_hit"
                    | "previous_kid"
                    | "previous_no_kid",
                    Ok(data),
                ) => {
                    let claims = &data.claims;
                    assert_eq!(
                        (
                            claims.sub.as_str(),
                            claims.iss.as_str(),
                            claims.aud.as_str()
                        ),
                        (SUBJECT, ISSUER, AUDIENCE)
                    );
                    assert!(claims.iat <= now_unix() && claims.exp > now_unix());
                }
                ("unknown_kid" | "bad_signature", Err(err))
                    if *err.kind() == ErrorKind::InvalidSignature => {}
                ("alg_mismatch", Err(err)) if *err.kind() == ErrorKind::InvalidAlgorithm => {}
                ("expired", Err(err)) if *err.kind() == ErrorKind::ExpiredSignature => {}
                _ => panic!(
                    "{}/jsonwebtoken/{scenario}: unexpected {:?}",
                    self.alg,
                    theirs.map(|data| data.claims)
                ),
            }
        }
    }
}

/// `jsonwebtoken::decode` with `key`, then with `fallback` if the signature
/// did not match: how an application tries a current, then a previous key.
fn decode_with_fallback(
    token: &str,
    key: &DecodingKey,
    fallback: Option<&DecodingKey>,
    validation: &Validation,
) -> jsonwebtoken::errors::Result<jsonwebtoken::TokenData<BenchClaims>> {
    let decoded = jsonwebtoken::decode::<BenchClaims>(token, key, validation);
    match (decoded, fallback) {
        (Err(err), Some(fallback)) if *err.kind() == ErrorKind::InvalidSignature => {
            jsonwebtoken::decode::<BenchClaims>(token, fallback, validation)
        }
        (decoded, _) => decoded,
    }
}

// ---------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------

fn verification(c: &mut Criterion) {
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        let fixture = Fixture::new(alg);
        let mut group = c.benchmark_group(alg);
        for scenario in SCENARIOS {
            let token = fixture.token(scenario);
            if scenario == "cache_hit" {
                // Warm the entry: every measured call is a hit.
                assert!(fixture.ours_cached.verify(token).is_ok());
            }
            // Everything scenario-specific is chosen here, outside the
            // measured closures.
            let verifier = fixture.verifier(scenario);
            group.bench_function(BenchmarkId::new("ours", scenario), |b| {
                b.iter(|| verifier.verify(black_box(token)))
            });
            let (key, fallback) = fixture.decoding_keys(scenario);
            let validation = &fixture.validation;
            group.bench_function(BenchmarkId::new("jsonwebtoken", scenario), |b| {
                b.iter(|| decode_with_fallback(black_box(token), key, fallback, validation))
            });
        }
        group.finish();
    }
}

/// What resolving the `jwt_verifications_total{slot,kid}` child once per key
/// saves on every request.
fn metrics(c: &mut Criterion) {
    let counters = IntCounterVec::new(
        Opts::new("bench_verifications_total", "Verifications by key."),
        &["slot", "kid"],
    )
    .expect("valid metric");
    let resolved = counters.with_label_values(&["current", CURRENT_KID]);
    let mut group = c.benchmark_group("metrics");
    group.bench_function("with_label_values", |b| {
        b.iter(|| {
            counters
                .with_label_values(&[black_box("current"), black_box(CURRENT_KID)])
                .inc()
        })
    });
    group.bench_function("resolved", |b| b.iter(|| black_box(&resolved).inc()));
    group.finish();
}

/// Roughly the size of the ring's snapshot (two slotted keys, the retired
/// kids, the file keys): the load cost does not depend on it, but the
/// comparison should not look like it was picked to.
struct SnapshotSized {
    words: [u64; 48],
}

/// What a request pays to see one consistent ring state.
fn arc_swap(c: &mut Criterion) {
    let swapped = ArcSwap::from_pointee(SnapshotSized { words: [7; 48] });
    let plain = Arc::new(SnapshotSized { words: [7; 48] });
    let mut group = c.benchmark_group("arc_swap");
    group.bench_function("load", |b| {
        b.iter(|| {
            let snapshot = black_box(&swapped).load();
            black_box(snapshot.words[0])
        })
    });
    group.bench_function("load_full", |b| {
        b.iter(|| black_box(black_box(&swapped).load_full().words[0]))
    });
    group.bench_function("arc_clone", |b| {
        b.iter(|| black_box(Arc::clone(black_box(&plain)).words[0]))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = verification, metrics, arc_swap
}
criterion_main!(benches);
