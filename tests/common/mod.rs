//! Helpers shared by the integration tests: the keys, clock and policy the
//! rings are built with, HS256 tokens by jsonwebtoken, requests sent through
//! a `Router` with `tower::ServiceExt::oneshot`, and reading a
//! `prometheus::Registry`.
//!
//! Every test binary compiles this module on its own and uses only part of
//! it, so the `mod common;` sites allow dead code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{EncodingKey, Header};
use jwt_rollover::{
    Algorithm, JwtLayer, Key, KeyRing, KeySet, ManualClock, Metrics, RetirePolicy, Verified,
};
use prometheus::Registry;
use prometheus::proto::MetricType;
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub mod process;
pub mod prom_server;

// ---------------------------------------------------------------------------
// Keys, time and the ring
// ---------------------------------------------------------------------------

/// The fixed "now" every ring is built at (the keys' `since`), so expiry is
/// deterministic.
pub const NOW: u64 = 1_800_000_000;
pub const MIN_AGE: u64 = 3600;
pub const QUIET: u64 = 600;
pub const CHECK_INTERVAL: u64 = 10;
/// The layer's default leeway on `exp`.
pub const LEEWAY: u64 = 60;

pub const NEW_KID: &str = "kid-new";
pub const OLD_KID: &str = "kid-old";
pub const NEW_SECRET: &[u8] = b"new-secret-new-secret-new-secret-!!";
pub const OLD_SECRET: &[u8] = b"old-secret-old-secret-old-secret-!!";

/// A public key as `openssl rsa -pubout` writes it: world-readable, and
/// once loaded as an HMAC secret when the format was guessed.
pub const PEM_PUBLIC_KEY: &[u8] = b"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
-----END PUBLIC KEY-----
";

/// The shape of `/etc/passwd`: what a wrong key path (or a symlink to the
/// wrong file) gives.
pub const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
";

/// A JWKS of HS256 keys, `(kid, secret)` in order (the first is current).
pub fn hs256_jwks(keys: &[(&str, &[u8])]) -> Vec<u8> {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, secret)| {
            json!({"kty": "oct", "kid": kid, "alg": "HS256", "use": "sig", "k": b64(secret)})
        })
        .collect();
    serde_json::to_vec_pretty(&json!({ "keys": keys })).expect("JSON")
}

/// An HS256 key.
pub fn hmac(kid: &str, secret: &[u8]) -> Key {
    Key::hmac(Some(kid), Algorithm::HS256, secret).unwrap()
}

/// current = `kid-new`, previous = `kid-old`, both HS256.
pub fn new_and_old_keys() -> KeySet {
    KeySet::new(hmac(NEW_KID, NEW_SECRET), Some(hmac(OLD_KID, OLD_SECRET))).unwrap()
}

/// `MIN_AGE`, `QUIET` and `CHECK_INTERVAL`, auto retirement on.
pub fn policy() -> RetirePolicy {
    RetirePolicy::default()
        .with_min_age(Duration::from_secs(MIN_AGE))
        .with_quiet(Duration::from_secs(QUIET))
        .with_check_interval(Duration::from_secs(CHECK_INTERVAL))
}

/// A ring that reads a `ManualClock`, with a registry of its own.
pub struct TestRing {
    pub registry: Registry,
    pub clock: ManualClock,
    pub ring: KeyRing,
}

impl TestRing {
    /// `keys` under `policy`, the clock at `NOW`.
    pub fn new(keys: KeySet, policy: RetirePolicy) -> Self {
        let registry = Registry::new();
        let clock = ManualClock::new(NOW);
        let ring = KeyRing::builder(keys, Metrics::new(&registry).unwrap())
            .with_clock(clock.clone())
            .with_policy(policy)
            .build();
        Self {
            registry,
            clock,
            ring,
        }
    }
}

/// Unix time now, in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Writes `bytes` to a temporary name beside `path`, then renames it over
/// `path` (what editors, config tools and deploy tools do).
pub fn rename_over(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-for-rename");
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename over key file");
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// An HS256 token by jsonwebtoken, naming `kid` when given.
pub fn mint(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    mint_alg(Algorithm::HS256, secret, kid, claims)
}

/// Like [`mint`], with `alg` in the header (an HMAC algorithm).
pub fn mint_alg(alg: Algorithm, secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

/// Base64url without padding, as in JWTs and JWKs.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------
// Requests through a router
// ---------------------------------------------------------------------------

/// `{"kid", "slot"}`: the key that verified the token.
pub async fn whoami(token: Verified<Value>) -> Json<Value> {
    Json(json!({
        "kid": token.key.kid.to_string(),
        "slot": token.key.slot,
    }))
}

/// `{"claims", "kid", "slot"}`: the claims and the key that verified them.
pub async fn whoami_with_claims(token: Verified<Value>) -> Json<Value> {
    Json(json!({
        "claims": token.claims,
        "kid": token.key.kid.to_string(),
        "slot": token.key.slot,
    }))
}

/// [`whoami`] at `/whoami`, behind `layer`.
pub fn whoami_router(layer: JwtLayer<Value>) -> Router {
    Router::new().route("/whoami", get(whoami)).layer(layer)
}

/// A response, collected.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; asserts the `application/json` content type.
    pub fn json(&self) -> Value {
        assert_eq!(
            self.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
            Some(b"application/json".as_slice()),
            "content type of {}",
            self.text()
        );
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends `request` through `app` and collects the response.
pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `method uri` with an empty body and one `Authorization` header per
/// value, each taken as given (bytes, so that non-ASCII and odd whitespace
/// survive).
pub fn request<V: AsRef<[u8]>>(method: Method, uri: &str, authorization: &[V]) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    for value in authorization {
        request.headers_mut().append(
            AUTHORIZATION,
            HeaderValue::from_bytes(value.as_ref()).expect("valid header value"),
        );
    }
    request
}

/// `GET /whoami` with `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> Request<Body> {
    request(Method::GET, "/whoami", &[format!("Bearer {token}")])
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// Every series of the metric `name`: its labels and value (counter or gauge).
pub fn series(registry: &Registry, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut found = Vec::new();
    for family in registry.gather().iter().filter(|f| f.name() == name) {
        for metric in family.get_metric() {
            let labels = metric
                .get_label()
                .iter()
                .map(|pair| (pair.name().to_owned(), pair.value().to_owned()))
                .collect();
            let value = match family.get_field_type() {
                MetricType::COUNTER => metric.get_counter().get_value(),
                MetricType::GAUGE => metric.get_gauge().get_value(),
                other => panic!("{name} is a {other:?}, not a counter or gauge"),
            };
            found.push((labels, value));
        }
    }
    found
}

/// The value of the series of `name` with exactly these labels, if there is one.
pub fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    series(registry, name)
        .into_iter()
        .find(|(labels, _)| *labels == wanted)
        .map(|(_, value)| value)
}

/// Like [`metric`]; panics when there is no such series.
pub fn metric_value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(registry, name, labels).unwrap_or_else(|| panic!("no series {name}{labels:?}"))
}

/// The `(slot, kid, alg)` of every `jwt_key_info` series, each asserted to be 1.
pub fn key_info(registry: &Registry) -> BTreeSet<(String, String, String)> {
    series(registry, "jwt_key_info")
        .into_iter()
        .map(|(labels, value)| {
            assert_eq!(value, 1.0, "jwt_key_info{labels:?}");
            assert_eq!(labels.len(), 3, "jwt_key_info labels {labels:?}");
            (
                labels["slot"].clone(),
                labels["kid"].clone(),
                labels["alg"].clone(),
            )
        })
        .collect()
}

/// A `jwt_key_info` entry of an HS256 key.
pub fn info(slot: &str, kid: &str) -> (String, String, String) {
    (slot.to_owned(), kid.to_owned(), "HS256".to_owned())
}
