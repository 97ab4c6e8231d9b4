//! HTTP-level tests of `JwtLayer`: an axum `Router` behind the layer, driven
//! with `tower::ServiceExt::oneshot`, checking status, `WWW-Authenticate`
//! and the Prometheus metrics of every outcome.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{AUTHORIZATION, COOKIE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use jsonwebtoken::EncodingKey;
use jwt_rollover::{
    Algorithm, JwtLayer, Key, KeyRing, KeySet, ManualClock, RetirePolicy, RetireRequest,
    TokenSource, Verified,
};
use prometheus::Registry;
use serde_json::{Value, json};

use common::{
    NEW_KID, NEW_SECRET, NOW, OLD_KID, OLD_SECRET, TestRing, b64, bearer, hmac, info, key_info,
    metric, metric_value, mint, mint_alg, new_and_old_keys, request, send, series,
    whoami_with_claims,
};

// ---------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------

/// A secret no key in any ring has.
const OTHER_SECRET: &[u8] = b"other-secret-other-secret-other-!!";

/// Every `reason` label of `jwt_rejections_total`.
const REASONS: [&str; 10] = [
    "missing",
    "malformed",
    "too_large",
    "unknown_kid",
    "retired_key",
    "bad_signature",
    "wrong_alg",
    "expired",
    "immature",
    "invalid_claims",
];

struct Env {
    registry: Registry,
    ring: KeyRing,
    clock: ManualClock,
}

impl Env {
    /// current = `kid-new`, previous = `kid-old`, both HS256, clock at `NOW`.
    fn new() -> Self {
        let TestRing {
            registry,
            clock,
            ring,
        } = TestRing::new(new_and_old_keys(), RetirePolicy::default());
        Self {
            registry,
            ring,
            clock,
        }
    }

    fn layer(&self) -> JwtLayer<Value> {
        JwtLayer::<Value>::new(self.ring.clone())
    }

    /// The app with the default layer.
    fn app(&self) -> Router {
        router(self.layer())
    }

    fn rejections(&self) -> BTreeMap<&'static str, f64> {
        REASONS
            .iter()
            .map(|reason| {
                let value = metric_value(
                    &self.registry,
                    "jwt_rejections_total",
                    &[("reason", reason)],
                );
                (*reason, value)
            })
            .collect()
    }

    fn verifications(&self, slot: &str, kid: &str) -> f64 {
        metric_value(
            &self.registry,
            "jwt_verifications_total",
            &[("slot", slot), ("kid", kid)],
        )
    }

    /// Sum of every `jwt_verifications_total` series.
    fn all_verifications(&self) -> f64 {
        series(&self.registry, "jwt_verifications_total")
            .iter()
            .map(|(_, value)| value)
            .sum()
    }

    fn gauge(&self, name: &str) -> f64 {
        metric_value(&self.registry, name, &[])
    }

    /// Sends `request`, asserts a `401` counted under `reason` (and no other
    /// reason, and no verification), and returns the `WWW-Authenticate` value.
    async fn assert_rejected(&self, app: &Router, request: Request<Body>, reason: &str) -> String {
        let description = format!("{request:?}");
        let before = self.rejections();
        let verified_before = self.all_verifications();
        let response = send(app, request).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{description}: expected 401 ({reason}), got body {:?}",
            String::from_utf8_lossy(&response.body)
        );
        let challenges: Vec<_> = response.headers.get_all(WWW_AUTHENTICATE).iter().collect();
        assert_eq!(
            challenges.len(),
            1,
            "{description}: one WWW-Authenticate header"
        );
        let challenge = challenges[0]
            .to_str()
            .expect("WWW-Authenticate is ASCII")
            .to_owned();
        if reason == "missing" {
            assert_eq!(challenge, "Bearer", "{description}");
        } else {
            let prefix = format!("Bearer error=\"invalid_token\", error_description=\"{reason}: ");
            assert!(
                challenge.starts_with(&prefix) && challenge.ends_with('"'),
                "{description}: challenge {challenge:?} does not start with {prefix:?}"
            );
            let detail = &challenge[prefix.len()..challenge.len() - 1];
            assert!(!detail.is_empty(), "{description}: empty detail");
            assert!(
                !detail.contains('"') && !detail.contains('\\'),
                "{description}: detail {detail:?} breaks the quoted string"
            );
        }
        assert!(
            response.body.is_empty(),
            "{description}: 401 body not empty"
        );

        let after = self.rejections();
        for reason_label in REASONS {
            let expected = if reason_label == reason { 1.0 } else { 0.0 };
            assert_eq!(
                after[reason_label] - before[reason_label],
                expected,
                "{description}: jwt_rejections_total{{reason={reason_label:?}}} moved by {}, \
                 expected {expected} (rejected as {reason})",
                after[reason_label] - before[reason_label]
            );
        }
        assert_eq!(
            self.all_verifications(),
            verified_before,
            "{description}: a rejected request counted a verification"
        );
        challenge
    }

    /// Sends `request`, asserts a `200` from `/whoami`, and returns its JSON.
    async fn assert_accepted(&self, app: &Router, request: Request<Body>) -> Value {
        let description = format!("{request:?}");
        let before = self.rejections();
        let response = send(app, request).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{description}: expected 200, got WWW-Authenticate {:?}",
            response.headers.get(WWW_AUTHENTICATE)
        );
        assert_eq!(
            self.rejections(),
            before,
            "{description}: an accepted request counted a rejection"
        );
        serde_json::from_slice(&response.body).expect("whoami answers JSON")
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn maybe(token: Option<Verified<Value>>) -> String {
    match token {
        Some(token) => format!("some {}", token.key.kid),
        None => "none".to_owned(),
    }
}

fn router(layer: JwtLayer<Value>) -> Router {
    Router::new()
        .route("/whoami", get(whoami_with_claims))
        .route("/healthz", get(healthz))
        .layer(layer)
}

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// `GET path` with `Authorization: <value>`, the value taken as given
/// (bytes, so that non-ASCII and odd whitespace survive).
fn with_authorization(path: &str, value: &[u8]) -> Request<Body> {
    request(Method::GET, path, &[value])
}

/// `GET /whoami` with the header `name: value`.
fn with_header(name: HeaderName, value: &str) -> Request<Body> {
    let mut request = get_request("/whoami");
    request
        .headers_mut()
        .insert(name, HeaderValue::from_str(value).unwrap());
    request
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

fn claims() -> Value {
    json!({"sub": "alice", "exp": NOW + 3600})
}

/// A token from raw header and payload JSON text, HS256-signed with `secret`
/// so that only the part under test is wrong.
fn raw_token(header: &str, payload: &str, secret: &[u8]) -> String {
    let signed = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{signed}.{signature}")
}

/// `part` with `blank` in its middle.
fn blank_inside(part: &str, blank: char) -> String {
    let (left, right) = part.split_at(part.len() / 2);
    format!("{left}{blank}{right}")
}

/// A correctly signed `kid-new` token with these raw claims.
fn raw_claims(payload: &str) -> String {
    raw_token(r#"{"alg":"HS256","kid":"kid-new"}"#, payload, NEW_SECRET)
}

// ---------------------------------------------------------------------------
// One test per rejection reason
// ---------------------------------------------------------------------------

#[tokio::test]
async fn missing_token_gets_a_bare_bearer_challenge() {
    let env = Env::new();
    let app = env.app();
    env.assert_rejected(&app, get_request("/whoami"), "missing")
        .await;
    // The layer covers routes without an extractor too.
    env.assert_rejected(&app, get_request("/healthz"), "missing")
        .await;
    // Another scheme is no Bearer token at all (RFC 6750 section 3.1).
    env.assert_rejected(
        &app,
        with_authorization("/whoami", b"Basic dXNlcjpwYXNz"),
        "missing",
    )
    .await;
    let valid = mint(NEW_SECRET, Some(NEW_KID), &claims());
    env.assert_rejected(
        &app,
        with_authorization("/whoami", format!("Token {valid}").as_bytes()),
        "missing",
    )
    .await;
}

#[tokio::test]
async fn malformed_token() {
    let env = Env::new();
    let app = env.app();
    let challenge = env
        .assert_rejected(&app, bearer("not-a-jwt"), "malformed")
        .await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"malformed: a JWT has three dot-separated parts\""
    );
}

#[tokio::test]
async fn too_large_token() {
    let env = Env::new();
    let app = env.app();

    // Valid tokens, just longer than the default 8 KiB bound: the smallest
    // one over it (via the token check) and a much larger one (via the
    // header check).
    let mut padding = 5000;
    let (fits, over) = loop {
        let small = mint(
            NEW_SECRET,
            Some(NEW_KID),
            &json!({"exp": NOW + 3600, "pad": "x".repeat(padding)}),
        );
        let large = mint(
            NEW_SECRET,
            Some(NEW_KID),
            &json!({"exp": NOW + 3600, "pad": "x".repeat(padding + 1)}),
        );
        if small.len() <= jwt_rollover::DEFAULT_MAX_TOKEN_BYTES
            && large.len() > jwt_rollover::DEFAULT_MAX_TOKEN_BYTES
        {
            break (small, large);
        }
        padding += 1;
        assert!(padding < 8000, "no padding crosses the bound");
    };
    assert!(over.len() <= jwt_rollover::DEFAULT_MAX_TOKEN_BYTES + 4);
    env.assert_accepted(&app, bearer(&fits)).await;
    let challenge = env.assert_rejected(&app, bearer(&over), "too_large").await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"too_large: the token is longer than allowed\""
    );
    let huge = mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"exp": NOW + 3600, "pad": "x".repeat(20_000)}),
    );
    env.assert_rejected(&app, bearer(&huge), "too_large").await;
    // Not even a JWT: the bound applies before anything else is looked at.
    env.assert_rejected(&app, bearer(&"%".repeat(10_000)), "too_large")
        .await;

    // A configured bound, exactly at and one byte under a valid token's length.
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    let exact = router(env.layer().with_max_token_bytes(token.len()));
    env.assert_accepted(&exact, bearer(&token)).await;
    let under = router(env.layer().with_max_token_bytes(token.len() - 1));
    env.assert_rejected(&under, bearer(&token), "too_large")
        .await;
}

#[tokio::test]
async fn unknown_kid() {
    let env = Env::new();
    let app = env.app();
    let token = mint(NEW_SECRET, Some("kid-nobody-has"), &claims());
    let challenge = env
        .assert_rejected(&app, bearer(&token), "unknown_kid")
        .await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"unknown_kid: no loaded key has this kid\""
    );

    // With kid required, a kid-less token is refused as unknown_kid, even
    // though the current key signed it.
    let strict = router(env.layer().with_kid_required(true));
    let no_kid = mint(NEW_SECRET, None, &claims());
    env.assert_rejected(&strict, bearer(&no_kid), "unknown_kid")
        .await;
    let with_kid = mint(NEW_SECRET, Some(NEW_KID), &claims());
    env.assert_accepted(&strict, bearer(&with_kid)).await;
}

#[tokio::test]
async fn retired_key() {
    let env = Env::new();
    let app = env.app();
    let old_token = mint(OLD_SECRET, Some(OLD_KID), &claims());
    // Accepted while the key is loaded...
    env.assert_accepted(&app, bearer(&old_token)).await;

    let admin_before = metric(
        &env.registry,
        "jwt_key_retirements_total",
        &[("trigger", "admin")],
    )
    .unwrap();
    assert_eq!(
        env.ring
            .retire(RetireRequest::previous().force())
            .await
            .ok()
            .as_deref(),
        Some(OLD_KID)
    );
    assert_eq!(
        metric(
            &env.registry,
            "jwt_key_retirements_total",
            &[("trigger", "admin")]
        ),
        Some(admin_before + 1.0)
    );
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", NEW_KID)])
    );

    // ...refused once it is retired.
    let challenge = env
        .assert_rejected(&app, bearer(&old_token), "retired_key")
        .await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"retired_key: the key of this kid was retired\""
    );
    // Without kid, only the current key is left to try.
    let old_no_kid = mint(OLD_SECRET, None, &claims());
    env.assert_rejected(&app, bearer(&old_no_kid), "bad_signature")
        .await;
    // The current key is unaffected.
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    env.assert_accepted(&app, bearer(&token)).await;
}

#[tokio::test]
async fn bad_signature() {
    let env = Env::new();
    let app = env.app();
    let challenge = env
        .assert_rejected(
            &app,
            bearer(&mint(OTHER_SECRET, Some(NEW_KID), &claims())),
            "bad_signature",
        )
        .await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"bad_signature: the signature does not match the key\""
    );
    // The previous key's kid with the current key's secret: kid picks one key only.
    env.assert_rejected(
        &app,
        bearer(&mint(NEW_SECRET, Some(OLD_KID), &claims())),
        "bad_signature",
    )
    .await;
    // No kid: both keys tried, neither matches.
    env.assert_rejected(
        &app,
        bearer(&mint(OTHER_SECRET, None, &claims())),
        "bad_signature",
    )
    .await;
    // A valid token whose claims were swapped after signing.
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = b64(json!({"sub": "mallory", "exp": NOW + 3600})
        .to_string()
        .as_bytes());
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    env.assert_rejected(&app, bearer(&forged), "bad_signature")
        .await;
}

#[tokio::test]
async fn wrong_alg() {
    let env = Env::new();
    let app = env.app();
    // The kid's key is pinned to HS256; a token claiming HS384 for it is refused.
    let hs384 = mint_alg(Algorithm::HS384, NEW_SECRET, Some(NEW_KID), &claims());
    let challenge = env.assert_rejected(&app, bearer(&hs384), "wrong_alg").await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"wrong_alg: alg differs from the algorithm this kid is pinned to\""
    );
    // No kid and no key uses this alg.
    let hs512 = mint_alg(Algorithm::HS512, NEW_SECRET, None, &claims());
    env.assert_rejected(&app, bearer(&hs512), "wrong_alg").await;
    // alg none, with a non-empty signature so it gets past the shape check.
    let none = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(br#"{"alg":"none","kid":"kid-new"}"#),
        b64(claims().to_string().as_bytes())
    );
    env.assert_rejected(&app, bearer(&none), "wrong_alg").await;
}

#[tokio::test]
async fn expired() {
    let env = Env::new();
    let app = env.app();
    // Default leeway is 60 s: exp = NOW - 60 passes, NOW - 61 does not.
    let boundary = mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW - 60}));
    env.assert_accepted(&app, bearer(&boundary)).await;
    let token = mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW - 61}));
    let challenge = env.assert_rejected(&app, bearer(&token), "expired").await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"expired: the token has expired\""
    );
    // A float exp in the past is expired too.
    env.assert_rejected(
        &app,
        bearer(&raw_claims(&format!(r#"{{"exp":{}.5}}"#, NOW - 3600))),
        "expired",
    )
    .await;

    // Without leeway, one second late is expired.
    let strict = router(env.layer().with_leeway(Duration::ZERO));
    let late = mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW - 1}));
    env.assert_rejected(&strict, bearer(&late), "expired").await;
    env.assert_accepted(&app, bearer(&late)).await;

    // Moving the clock expires a token that was fine.
    let fine = mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW + 10}));
    env.assert_accepted(&app, bearer(&fine)).await;
    env.clock.advance(71);
    env.assert_rejected(&app, bearer(&fine), "expired").await;
}

#[tokio::test]
async fn immature() {
    let env = Env::new();
    let app = env.app();
    let boundary = mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"exp": NOW + 3600, "nbf": NOW + 60}),
    );
    env.assert_accepted(&app, bearer(&boundary)).await;
    let token = mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"exp": NOW + 3600, "nbf": NOW + 61}),
    );
    let challenge = env.assert_rejected(&app, bearer(&token), "immature").await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"immature: the token is not valid yet (nbf)\""
    );
    env.clock.advance(1);
    env.assert_accepted(&app, bearer(&token)).await;
}

#[derive(Clone, Debug, serde::Deserialize)]
struct Typed {
    sub: String,
}

#[tokio::test]
async fn invalid_claims() {
    let env = Env::new();
    let app = env.app();
    // exp is required by default.
    let no_exp = mint(NEW_SECRET, Some(NEW_KID), &json!({"sub": "alice"}));
    let challenge = env
        .assert_rejected(&app, bearer(&no_exp), "invalid_claims")
        .await;
    assert_eq!(
        challenge,
        "Bearer error=\"invalid_token\", error_description=\"invalid_claims: the exp claim is required\""
    );
    let lax = router(env.layer().with_exp_required(false));
    env.assert_accepted(&lax, bearer(&no_exp)).await;
    // ...but still checked when present.
    let expired = mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW - 3600}));
    env.assert_rejected(&lax, bearer(&expired), "expired").await;

    // Required claims.
    let needs_role = router(env.layer().with_required_claims(["sub", "role"]));
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    env.assert_rejected(&needs_role, bearer(&token), "invalid_claims")
        .await;
    let with_role = mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"sub": "alice", "role": "admin", "exp": NOW + 3600}),
    );
    env.assert_accepted(&needs_role, bearer(&with_role)).await;

    // Claims that do not fit the application's claims type.
    let typed: Router = Router::new()
        .route(
            "/typed",
            get(|token: Verified<Typed>| async move { token.claims.sub.clone() }),
        )
        .layer(JwtLayer::<Typed>::new(env.ring.clone()));
    let wrong_shape = mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"sub": 42, "exp": NOW + 3600}),
    );
    let request = with_authorization("/typed", format!("Bearer {wrong_shape}").as_bytes());
    env.assert_rejected(&typed, request, "invalid_claims").await;
    let request = with_authorization("/typed", format!("Bearer {token}").as_bytes());
    let response = send(&typed, request).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, b"alice");
}

// ---------------------------------------------------------------------------
// Hostile and broken input: always a 401 with a reason, never a 500 or a panic
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_is_always_a_401_with_a_reason() {
    let env = Env::new();
    let app = env.app();
    let valid = mint(NEW_SECRET, Some(NEW_KID), &claims());
    let valid_parts: Vec<&str> = valid.split('.').collect();
    let (h, p, s) = (valid_parts[0], valid_parts[1], valid_parts[2]);
    let future = NOW + 3600;

    let tokens: Vec<(&str, String, &str)> = vec![
        // Shape.
        ("one part", "abc".to_owned(), "malformed"),
        ("two parts", format!("{h}.{p}"), "malformed"),
        ("four parts", format!("{h}.{p}.{s}.{s}"), "malformed"),
        ("dots only", "..".to_owned(), "malformed"),
        ("empty header", format!(".{p}.{s}"), "malformed"),
        ("empty payload", format!("{h}..{s}"), "malformed"),
        ("empty signature", format!("{h}.{p}."), "malformed"),
        ("padding", format!("{h}=.{p}.{s}"), "malformed"),
        ("standard base64", format!("{h}.{p}+/.{s}"), "malformed"),
        ("percent", format!("{h}.{p}.{s}%"), "malformed"),
        // Whitespace inside: the extractor only checks the ends, each
        // part's base64url decoder refuses the rest.
        (
            "space in the header",
            format!("{}.{p}.{s}", blank_inside(h, ' ')),
            "malformed",
        ),
        (
            "space in the payload",
            format!("{h}.{}.{s}", blank_inside(p, ' ')),
            "malformed",
        ),
        (
            "tab in the signature",
            format!("{h}.{p}.{}", blank_inside(s, '\t')),
            "malformed",
        ),
        // Bad base64 in each part (a lone character is never base64).
        ("bad base64 header", format!("A.{p}.{s}"), "malformed"),
        ("bad base64 payload", format!("{h}.A.{s}"), "malformed"),
        ("bad base64 signature", format!("{h}.{p}.A"), "malformed"),
        (
            "oversized signature",
            format!("{h}.{p}.{}", "A".repeat(2000)),
            "malformed",
        ),
        // Header JSON.
        (
            "header not JSON",
            format!("{}.{p}.{s}", b64(br#"{"alg":"HS256""#)),
            "malformed",
        ),
        (
            "header a string",
            format!("{}.{p}.{s}", b64(br#""HS256""#)),
            "malformed",
        ),
        (
            "header without alg",
            raw_token(r#"{"kid":"kid-new"}"#, &claims().to_string(), NEW_SECRET),
            "malformed",
        ),
        (
            "header alg not a string",
            raw_token(
                r#"{"alg":256,"kid":"kid-new"}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "malformed",
        ),
        (
            "duplicate alg",
            raw_token(
                r#"{"alg":"HS256","alg":"none","kid":"kid-new"}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "malformed",
        ),
        (
            "kid not a string",
            raw_token(
                r#"{"alg":"HS256","kid":5}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "malformed",
        ),
        (
            "kid null",
            raw_token(
                r#"{"alg":"HS256","kid":null}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "malformed",
        ),
        (
            "kid an array",
            raw_token(
                r#"{"alg":"HS256","kid":["kid-new"]}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "malformed",
        ),
        (
            "crit header",
            raw_token(
                r#"{"alg":"HS256","kid":"kid-new","crit":["exp"]}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "malformed",
        ),
        // alg.
        // Every `none` is `wrong_alg`, the class operators alert on, even
        // with the empty signature part an unsecured JWS has.
        (
            "alg none, empty signature",
            format!("{}.{p}.", b64(br#"{"alg":"none"}"#)),
            "wrong_alg",
        ),
        (
            "alg NONE, empty signature, a kid",
            format!("{}.{p}.", b64(br#"{"alg":"NONE","kid":"kid-new"}"#)),
            "wrong_alg",
        ),
        (
            "alg none with crit",
            format!("{}.{p}.{s}", b64(br#"{"alg":"none","crit":["x"]}"#)),
            "wrong_alg",
        ),
        (
            "alg none, with signature",
            format!("{}.{p}.{s}", b64(br#"{"alg":"none"}"#)),
            "wrong_alg",
        ),
        (
            "alg None",
            format!("{}.{p}.{s}", b64(br#"{"alg":"None"}"#)),
            "wrong_alg",
        ),
        (
            "alg mismatched with kid",
            format!("{}.{p}.{s}", b64(br#"{"alg":"HS512","kid":"kid-new"}"#)),
            "wrong_alg",
        ),
        (
            "alg RS256 on an HMAC kid",
            raw_token(
                r#"{"alg":"RS256","kid":"kid-new"}"#,
                &claims().to_string(),
                NEW_SECRET,
            ),
            "wrong_alg",
        ),
        // Claims JSON.
        ("claims not JSON", raw_claims(r#"{"exp":"#), "malformed"),
        (
            "claims with trailing garbage",
            raw_claims(&format!(r#"{{"exp":{future}}} x"#)),
            "malformed",
        ),
        ("claims an array", raw_claims(r#"[1,2]"#), "malformed"),
        ("claims a string", raw_claims(r#""alice""#), "malformed"),
        ("claims null", raw_claims("null"), "malformed"),
        ("claims a number", raw_claims("42"), "malformed"),
        (
            "duplicate exp",
            raw_claims(&format!(r#"{{"exp":{future},"exp":{}}}"#, NOW - 3600)),
            "malformed",
        ),
        // NumericDates.
        (
            "exp a string",
            raw_claims(&format!(r#"{{"exp":"{future}"}}"#)),
            "invalid_claims",
        ),
        ("exp null", raw_claims(r#"{"exp":null}"#), "invalid_claims"),
        (
            "exp negative",
            raw_claims(r#"{"exp":-1}"#),
            "invalid_claims",
        ),
        (
            "exp 1e300",
            raw_claims(r#"{"exp":1e300}"#),
            "invalid_claims",
        ),
        (
            "exp 2^64",
            raw_claims(r#"{"exp":18446744073709551616}"#),
            "invalid_claims",
        ),
        (
            "nbf a string",
            raw_claims(&format!(r#"{{"exp":{future},"nbf":"0"}}"#)),
            "invalid_claims",
        ),
    ];
    for (name, token, reason) in &tokens {
        eprintln!("case {name:?}");
        env.assert_rejected(&app, bearer(token), reason).await;
    }

    // Requests whose credential is wrong before any token is looked at.
    let requests: Vec<(&str, Vec<&[u8]>, &str)> = vec![
        ("Basic scheme", vec![b"Basic dXNlcjpwYXNz"], "missing"),
        (
            "scheme glued to token",
            vec![b"Bearerabc.def.ghi"],
            "missing",
        ),
        ("empty Authorization", vec![b""], "missing"),
        ("scheme only", vec![b"Bearer"], "malformed"),
        ("scheme and a space", vec![b"Bearer "], "malformed"),
        ("not UTF-8", vec![b"Bearer \xff\xfe.a.b"], "malformed"),
        // Valid UTF-8, but no base64url: refused by the decoders.
        (
            "non-ASCII UTF-8",
            vec!["Bearer \u{e9}\u{e9}.a.b".as_bytes()],
            "malformed",
        ),
    ];
    for (name, values, reason) in &requests {
        eprintln!("case {name:?}");
        env.assert_rejected(&app, request(Method::GET, "/whoami", values), reason)
            .await;
    }

    // A valid token, presented wrongly.
    let presented: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "non-ASCII UTF-8 at the signature's end",
            vec![format!("Bearer {}\u{e9}", &valid[..valid.len() - 1])],
            "malformed",
        ),
        (
            "trailing space",
            vec![format!("Bearer {valid} ")],
            "malformed",
        ),
        (
            "trailing tab",
            vec![format!("Bearer {valid}\t")],
            "malformed",
        ),
        ("tab separator", vec![format!("Bearer\t{valid}")], "missing"),
        ("leading space", vec![format!(" Bearer {valid}")], "missing"),
        (
            "two Authorization headers",
            vec![format!("Bearer {valid}"), format!("Bearer {valid}")],
            "malformed",
        ),
        (
            "Bearer and Basic",
            vec![format!("Bearer {valid}"), "Basic dXNlcjpwYXNz".to_owned()],
            "malformed",
        ),
    ];
    for (name, values, reason) in &presented {
        eprintln!("case {name:?}");
        env.assert_rejected(&app, request(Method::GET, "/whoami", values), reason)
            .await;
    }

    // RFC 6750's grammar is `"Bearer" 1*SP b64token`: any number of spaces.
    for spaces in [" ", "  ", "     "] {
        let value = format!("Bearer{spaces}{valid}");
        env.assert_accepted(&app, request(Method::GET, "/whoami", &[&value]))
            .await;
    }
}

#[tokio::test]
async fn float_and_edge_numeric_dates_are_accepted() {
    let env = Env::new();
    let app = env.app();
    // PyJWT-style `time.time() + 3600`: documented as accepted, rounded.
    let body = env
        .assert_accepted(
            &app,
            bearer(&raw_claims(&format!(r#"{{"exp":{}.25}}"#, NOW + 3600))),
        )
        .await;
    assert_eq!(body["slot"], "current");
    // Exponent notation is a NumericDate too.
    env.assert_accepted(&app, bearer(&raw_claims(r#"{"exp":1.9e9}"#)))
        .await;
    // The largest u64 is a (very distant) NumericDate.
    env.assert_accepted(&app, bearer(&raw_claims(r#"{"exp":18446744073709551615}"#)))
        .await;
    // A float nbf in the past.
    env.assert_accepted(
        &app,
        bearer(&raw_claims(&format!(
            r#"{{"exp":{},"nbf":{}.75}}"#,
            NOW + 3600,
            NOW - 10
        ))),
    )
    .await;
    // Lower-case scheme (RFC 7235: case-insensitive).
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    env.assert_accepted(
        &app,
        with_authorization("/whoami", format!("bearer {token}").as_bytes()),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------

#[tokio::test]
async fn current_and_previous_keys_are_accepted_and_counted() {
    let env = Env::new();
    let app = env.app();
    let cases = [
        (NEW_SECRET, Some(NEW_KID), NEW_KID, "current"),
        (OLD_SECRET, Some(OLD_KID), OLD_KID, "previous"),
        (NEW_SECRET, None, NEW_KID, "current"),
        (OLD_SECRET, None, OLD_KID, "previous"),
    ];
    for (secret, kid, matched_kid, slot) in cases {
        let claims = json!({"sub": "alice", "exp": NOW + 3600, "n": [1, 2]});
        let token = mint(secret, kid, &claims);
        let before_current = env.verifications("current", NEW_KID);
        let before_previous = env.verifications("previous", OLD_KID);
        let body = env.assert_accepted(&app, bearer(&token)).await;
        assert_eq!(
            body,
            json!({"claims": claims, "kid": matched_kid, "slot": slot}),
            "token with kid {kid:?}"
        );
        let (expected_current, expected_previous) = if slot == "current" {
            (1.0, 0.0)
        } else {
            (0.0, 1.0)
        };
        assert_eq!(
            env.verifications("current", NEW_KID) - before_current,
            expected_current,
            "kid {kid:?}"
        );
        assert_eq!(
            env.verifications("previous", OLD_KID) - before_previous,
            expected_previous,
            "kid {kid:?}"
        );
    }
    // Exactly the two series, and no other.
    assert_eq!(series(&env.registry, "jwt_verifications_total").len(), 2);
    assert_eq!(env.all_verifications(), 4.0);

    // A route without extractor passes through.
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    let response = send(
        &app,
        with_authorization("/healthz", format!("Bearer {token}").as_bytes()),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, b"ok");
}

#[tokio::test]
async fn previous_key_usage_gauges() {
    const LAST_USED: &str = "jwt_previous_key_last_used_timestamp_seconds";
    const EXPIRE: &str = "jwt_previous_key_tokens_expire_timestamp_seconds";
    let env = Env::new();
    let app = env.app();
    assert_eq!(env.gauge(LAST_USED), 0.0);
    assert_eq!(env.gauge(EXPIRE), 0.0);

    // Current-key matches do not move them.
    let current = mint(NEW_SECRET, Some(NEW_KID), &claims());
    env.assert_accepted(&app, bearer(&current)).await;
    assert_eq!(env.gauge(LAST_USED), 0.0);
    assert_eq!(env.gauge(EXPIRE), 0.0);

    let exp = NOW + 3600;
    let token = mint(OLD_SECRET, Some(OLD_KID), &json!({"exp": exp}));
    env.assert_accepted(&app, bearer(&token)).await;
    assert_eq!(env.gauge(LAST_USED), NOW as f64);
    assert_eq!(env.gauge(EXPIRE), exp as f64);

    // An earlier exp later on: last use moves, the max exp stays.
    env.clock.advance(10);
    let earlier = mint(OLD_SECRET, Some(OLD_KID), &json!({"exp": NOW + 100}));
    env.assert_accepted(&app, bearer(&earlier)).await;
    assert_eq!(env.gauge(LAST_USED), (NOW + 10) as f64);
    assert_eq!(env.gauge(EXPIRE), exp as f64);

    // A later exp, matched without kid, raises it.
    env.clock.advance(5);
    let later = mint(OLD_SECRET, None, &json!({"exp": NOW + 7200}));
    let body = env.assert_accepted(&app, bearer(&later)).await;
    assert_eq!(body["slot"], "previous");
    assert_eq!(env.gauge(LAST_USED), (NOW + 15) as f64);
    assert_eq!(env.gauge(EXPIRE), (NOW + 7200) as f64);

    // Both read 0 once there is no previous key.
    env.ring
        .retire(RetireRequest::previous().force())
        .await
        .ok();
    assert_eq!(env.gauge(LAST_USED), 0.0);
    assert_eq!(env.gauge(EXPIRE), 0.0);
}

#[tokio::test]
async fn key_info_and_rotation() {
    let env = Env::new();
    let app = env.app();
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", NEW_KID), info("previous", OLD_KID)])
    );
    let rotations = || metric(&env.registry, "jwt_key_rotations_total", &[]).unwrap();
    let retirements = |trigger: &str| {
        metric(
            &env.registry,
            "jwt_key_retirements_total",
            &[("trigger", trigger)],
        )
        .unwrap()
    };
    assert_eq!(rotations(), 0.0);
    for trigger in ["auto", "admin", "source"] {
        assert_eq!(retirements(trigger), 0.0, "{trigger}");
    }
    // Use the previous key, so that its usage has something to forget.
    env.assert_accepted(&app, bearer(&mint(OLD_SECRET, Some(OLD_KID), &claims())))
        .await;

    const NEWEST_KID: &str = "kid-newest";
    const NEWEST_SECRET: &[u8] = b"newest-secret-newest-secret-newest!";
    env.ring.rotate(hmac(NEWEST_KID, NEWEST_SECRET)).unwrap();
    assert_eq!(env.ring.current_kid(), NEWEST_KID);
    assert_eq!(env.ring.previous_kid().as_deref(), Some(NEW_KID));
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", NEWEST_KID), info("previous", NEW_KID)])
    );
    assert_eq!(rotations(), 1.0);
    assert_eq!(retirements("source"), 1.0);
    assert_eq!(retirements("admin"), 0.0);
    assert_eq!(retirements("auto"), 0.0);
    // The key that became previous starts with fresh usage.
    assert_eq!(
        env.gauge("jwt_previous_key_last_used_timestamp_seconds"),
        0.0
    );
    assert_eq!(
        env.gauge("jwt_previous_key_tokens_expire_timestamp_seconds"),
        0.0
    );
    // Verification series follow the keys (bounded label values).
    let kids: BTreeSet<(String, String)> = series(&env.registry, "jwt_verifications_total")
        .into_iter()
        .map(|(labels, _)| (labels["slot"].clone(), labels["kid"].clone()))
        .collect();
    assert_eq!(
        kids,
        BTreeSet::from([
            ("current".to_owned(), NEWEST_KID.to_owned()),
            ("previous".to_owned(), NEW_KID.to_owned()),
        ])
    );

    // The pushed-out key is retired; the other two work, in their new slots.
    env.assert_rejected(
        &app,
        bearer(&mint(OLD_SECRET, Some(OLD_KID), &claims())),
        "retired_key",
    )
    .await;
    let body = env
        .assert_accepted(&app, bearer(&mint(NEW_SECRET, Some(NEW_KID), &claims())))
        .await;
    assert_eq!(body["slot"], "previous");
    let body = env
        .assert_accepted(&app, bearer(&mint(NEWEST_SECRET, None, &claims())))
        .await;
    assert_eq!(body["slot"], "current");
    assert_eq!(body["kid"], NEWEST_KID);
    assert_eq!(env.verifications("previous", NEW_KID), 1.0);
    assert_eq!(env.verifications("current", NEWEST_KID), 1.0);
}

// ---------------------------------------------------------------------------
// Token sources
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cookie_token_source() {
    let env = Env::new();
    let app = router(env.layer().with_token_source(TokenSource::cookie("jwt")));
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());

    let with_cookies = |values: &[String]| {
        let mut request = get_request("/whoami");
        for value in values {
            request
                .headers_mut()
                .append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        request
    };
    let body = env
        .assert_accepted(&app, with_cookies(&[format!("theme=dark; jwt={token}")]))
        .await;
    assert_eq!(body["slot"], "current");
    env.assert_accepted(
        &app,
        with_cookies(&["theme=dark".to_owned(), format!("jwt={token}; lang=en")]),
    )
    .await;
    env.assert_rejected(&app, with_cookies(&["theme=dark".to_owned()]), "missing")
        .await;
    env.assert_rejected(&app, get_request("/whoami"), "missing")
        .await;
    // The Authorization header is not where this layer looks.
    env.assert_rejected(&app, bearer(&token), "missing").await;
    env.assert_rejected(
        &app,
        with_cookies(&[format!("jwt={token}; jwt={token}")]),
        "malformed",
    )
    .await;
    env.assert_rejected(&app, with_cookies(&["jwt=".to_owned()]), "malformed")
        .await;
    env.assert_rejected(
        &app,
        with_cookies(&[format!(
            "jwt={}",
            mint(OTHER_SECRET, Some(NEW_KID), &claims())
        )]),
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn custom_header_token_sources() {
    let env = Env::new();
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    let x_jwt = HeaderName::from_static("x-jwt");
    let raw = router(
        env.layer()
            .with_token_source(TokenSource::header(x_jwt.clone())),
    );

    env.assert_accepted(&raw, with_header(x_jwt.clone(), &token))
        .await;

    env.assert_rejected(&raw, bearer(&token), "missing").await;
    let request = with_header(x_jwt.clone(), &format!("Bearer {token}"));
    env.assert_rejected(&raw, request, "malformed").await;

    let forwarded = HeaderName::from_static("x-forwarded-authorization");
    let proxied = router(
        env.layer()
            .with_token_source(TokenSource::bearer_header(forwarded.clone())),
    );
    let request = with_header(forwarded.clone(), &format!("Bearer {token}"));
    env.assert_accepted(&proxied, request).await;
    env.assert_rejected(&proxied, bearer(&token), "missing")
        .await;
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

#[tokio::test]
async fn verified_without_the_layer_is_a_500_and_option_is_none() {
    let env = Env::new();
    let unlayered: Router = Router::new()
        .route("/whoami", get(whoami_with_claims))
        .route("/maybe", get(maybe));
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());

    let response = send(&unlayered, bearer(&token)).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains("JwtLayer"), "{body}");
    assert!(!body.contains(&token), "{body}");

    let response = send(
        &unlayered,
        with_authorization("/maybe", format!("Bearer {token}").as_bytes()),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, b"none");

    // With the layer, the Option is Some.
    let layered = Router::new().route("/maybe", get(maybe)).layer(env.layer());
    let response = send(
        &layered,
        with_authorization("/maybe", format!("Bearer {token}").as_bytes()),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, format!("some {NEW_KID}").into_bytes());

    // A layer of another claims type is a wiring bug too.
    let mismatched = Router::new()
        .route(
            "/typed",
            get(|token: Verified<Typed>| async move { token.claims.sub.clone() }),
        )
        .layer(env.layer());
    let response = send(
        &mismatched,
        with_authorization("/typed", format!("Bearer {token}").as_bytes()),
    )
    .await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    // Nothing was rejected: the layer accepted the token.
    assert_eq!(env.all_verifications(), 2.0);
    assert!(env.rejections().values().all(|v| *v == 0.0));
}

// ---------------------------------------------------------------------------
// iss / aud through the builders
// ---------------------------------------------------------------------------

#[tokio::test]
async fn issuer_and_audience() {
    let env = Env::new();
    let app = router(
        env.layer()
            .with_issuers(["https://auth.example.com", "https://auth2.example.com"])
            .with_audiences(["api", "admin"]),
    );
    let exp = NOW + 3600;
    let token = |claims: Value| bearer(&mint(NEW_SECRET, Some(NEW_KID), &claims));

    for ok in [
        json!({"exp": exp, "iss": "https://auth.example.com", "aud": "api"}),
        json!({"exp": exp, "iss": "https://auth2.example.com", "aud": "admin"}),
        json!({"exp": exp, "iss": "https://auth.example.com", "aud": ["other", "api"]}),
    ] {
        env.assert_accepted(&app, token(ok)).await;
    }
    for bad in [
        json!({"exp": exp, "iss": "https://evil.example.com", "aud": "api"}),
        json!({"exp": exp, "aud": "api"}),
        json!({"exp": exp, "iss": ["https://auth.example.com"], "aud": "api"}),
        json!({"exp": exp, "iss": "https://auth.example.com", "aud": "other"}),
        json!({"exp": exp, "iss": "https://auth.example.com", "aud": ["other"]}),
        json!({"exp": exp, "iss": "https://auth.example.com", "aud": []}),
        json!({"exp": exp, "iss": "https://auth.example.com"}),
        json!({"exp": exp, "iss": "https://auth.example.com", "aud": 1}),
    ] {
        env.assert_rejected(&app, token(bad), "invalid_claims")
            .await;
    }
    // Without the builders, neither is checked.
    env.assert_accepted(
        &env.app(),
        token(json!({"exp": exp, "iss": "https://evil.example.com", "aud": "other"})),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

/// Eight tasks send 200 requests each while another thread rotates and
/// retires keys as fast as it can. The key `k0` is in the ring the whole
/// time: the rotator only ever does `rotate(x_i)` (k0 current -> previous),
/// `rotate(k0)` (a rollback: k0 previous -> current, x_i previous) and
/// `retire_previous()` while k0 is current (drops x_i). So every token
/// signed by k0, with or without kid, must be accepted, by k0, whichever
/// snapshot a request sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_never_rejects_a_key_that_stays() {
    const K0_SECRET: &[u8] = b"k0-secret-k0-secret-k0-secret-k0!!";
    let k0 = hmac("k0", K0_SECRET);
    let start = hmac("x-start", OTHER_SECRET);
    let TestRing { registry, ring, .. } = TestRing::new(
        KeySet::new(k0.clone(), Some(start)).unwrap(),
        RetirePolicy::default(),
    );
    let app = router(JwtLayer::<Value>::new(ring.clone()));
    let transient: Vec<Key> = (0..4)
        .map(|i| {
            let secret = format!("transient-secret-{i}-transient-secret-{i}");
            hmac(&format!("x-{i}"), secret.as_bytes())
        })
        .collect();

    // The rotator is an OS thread of its own: it cannot be starved by the
    // client tasks, nor starve them.
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicU64::new(0));
    let rotator = {
        let ring = ring.clone();
        let stop = stop.clone();
        let cycles = cycles.clone();
        std::thread::spawn(move || {
            // Retirements without a fleet gate complete at their first poll.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let mut done = 0_u64;
            while !stop.load(Ordering::SeqCst) {
                ring.rotate(transient[(done % 4) as usize].clone()).unwrap();
                assert_eq!(ring.previous_kid().as_deref(), Some("k0"));
                std::thread::yield_now();
                ring.rotate(k0.clone()).unwrap();
                assert_eq!(ring.current_kid(), "k0");
                std::thread::yield_now();
                assert!(
                    runtime
                        .block_on(ring.retire(RetireRequest::previous().force()))
                        .ok()
                        .is_some()
                );
                done += 1;
                cycles.store(done, Ordering::SeqCst);
                std::thread::yield_now();
            }
            done
        })
    };
    // Clients start once rotations are under way.
    while cycles.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }

    let with_kid = mint(K0_SECRET, Some("k0"), &claims());
    let without_kid = mint(K0_SECRET, None, &claims());
    let clients: Vec<_> = (0..8)
        .map(|task| {
            let app = app.clone();
            let tokens = [with_kid.clone(), without_kid.clone()];
            tokio::spawn(async move {
                let mut slots = BTreeMap::<String, usize>::new();
                for i in 0..200 {
                    let token = &tokens[(task + i) % 2];
                    let response = send(&app, bearer(token)).await;
                    assert_eq!(
                        response.status,
                        StatusCode::OK,
                        "task {task} request {i}: {:?}",
                        response.headers.get(WWW_AUTHENTICATE)
                    );
                    let body: Value = serde_json::from_slice(&response.body).unwrap();
                    assert_eq!(body["kid"], "k0", "task {task} request {i}");
                    *slots
                        .entry(body["slot"].as_str().unwrap().to_owned())
                        .or_default() += 1;
                    // A real server awaits I/O between requests.
                    tokio::task::yield_now().await;
                }
                slots
            })
        })
        .collect();

    let mut slots = BTreeMap::<String, usize>::new();
    let mut client_failure = None;
    for client in clients {
        match client.await {
            Ok(counts) => {
                for (slot, count) in counts {
                    *slots.entry(slot).or_default() += count;
                }
            }
            Err(error) => client_failure = Some(error),
        }
    }
    let cycles_during_requests = cycles.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let cycles = rotator.join().expect("rotator thread");
    if let Some(error) = client_failure {
        panic!("client task failed: {error:?}");
    }
    eprintln!(
        "{cycles_during_requests} rotation cycles during the requests ({cycles} in all); \
         matches by slot: {slots:?}"
    );
    assert_eq!(slots.values().sum::<usize>(), 8 * 200);

    for reason in REASONS {
        assert_eq!(
            metric(&registry, "jwt_rejections_total", &[("reason", reason)]),
            Some(0.0),
            "{reason}"
        );
    }
    // No update was lost: two rotations and one retirement per cycle, and
    // the initial previous key pushed out once.
    let value = |name: &str, labels: &[(&str, &str)]| metric(&registry, name, labels).unwrap();
    assert_eq!(value("jwt_key_rotations_total", &[]), (2 * cycles) as f64);
    assert_eq!(
        value("jwt_key_retirements_total", &[("trigger", "admin")]),
        cycles as f64
    );
    assert_eq!(
        value("jwt_key_retirements_total", &[("trigger", "source")]),
        1.0
    );
    assert_eq!(key_info(&registry), BTreeSet::from([info("current", "k0")]));
}

// ---------------------------------------------------------------------------
// Findings: these fail against the crate as it is (see the report)
// ---------------------------------------------------------------------------

/// src/verify/token.rs documents the header check as "JSON object"; serde's
/// derived `Deserialize` for `JoseHeader` also accepts a JSON array (fields
/// by position), so `["HS256","kid-new"]` passes as `alg`/`kid`.
#[tokio::test]
async fn jose_header_must_be_a_json_object() {
    let env = Env::new();
    let app = env.app();
    for header in [r#"["HS256"]"#, r#"["HS256","kid-new"]"#] {
        let token = raw_token(header, &claims().to_string(), NEW_SECRET);
        let challenge = env.assert_rejected(&app, bearer(&token), "malformed").await;
        assert_eq!(
            challenge,
            "Bearer error=\"invalid_token\", error_description=\"malformed: the header is not a valid JOSE header\"",
            "header {header}"
        );
    }
}

/// "no `crit`": a header that has the `crit` member is refused, whatever its
/// value. `Option<IgnoredAny>` reads `"crit": null` as absent.
#[tokio::test]
async fn crit_header_is_refused_even_when_null() {
    let env = Env::new();
    let app = env.app();
    let token = raw_token(
        r#"{"alg":"HS256","kid":"kid-new","crit":null}"#,
        &claims().to_string(),
        NEW_SECRET,
    );
    env.assert_rejected(&app, bearer(&token), "malformed").await;
}

/// Numbers beyond even f64 are not NumericDates either: `invalid_claims`,
/// as src/verify/token.rs documents (the registered claims are read raw, so the
/// number's size is judged by the claim check, not the JSON parser).
#[tokio::test]
async fn numeric_dates_beyond_f64_are_invalid_claims() {
    let env = Env::new();
    let app = env.app();
    for payload in [
        r#"{"exp":1e400}"#.to_owned(),
        format!(r#"{{"exp":{}}}"#, "9".repeat(400)),
        format!(r#"{{"exp":{},"nbf":1e400}}"#, NOW + 3600),
    ] {
        env.assert_rejected(&app, bearer(&raw_claims(&payload)), "invalid_claims")
            .await;
    }
}

/// `with_max_token_bytes(usize::MAX)` ("no practical limit") makes
/// `max_bytes + HEADER_OVERHEAD` (and `max_bytes * 2 + ...` for cookies)
/// overflow in src/layer/token_source.rs: a panic in debug builds, and in
/// release a wrapped bound of 63 bytes that refuses every real token as
/// `too_large`.
#[tokio::test]
async fn huge_max_token_bytes_neither_panics_nor_refuses() {
    let env = Env::new();
    let token = mint(NEW_SECRET, Some(NEW_KID), &claims());
    let sources = [
        (
            "Authorization",
            TokenSource::default(),
            format!("Bearer {token}"),
        ),
        ("cookie", TokenSource::cookie("jwt"), format!("jwt={token}")),
    ];
    for (max, label) in [
        (usize::MAX, "usize::MAX"),
        (usize::MAX / 2, "usize::MAX / 2"),
    ] {
        for (name, source, value) in &sources {
            let app = router(
                env.layer()
                    .with_max_token_bytes(max)
                    .with_token_source(source.clone()),
            );
            let header = if *name == "cookie" {
                COOKIE
            } else {
                AUTHORIZATION
            };
            let request = with_header(header, value);
            // In a task, so that a panic is reported as a failure of this case.
            let reply = tokio::spawn(async move { send(&app, request).await })
                .await
                .unwrap_or_else(|panic| {
                    panic!("max {label}, {name}: the layer panicked: {panic:?}")
                });
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "max {label}, {name}: {:?}",
                reply.headers.get(WWW_AUTHENTICATE)
            );
        }
    }
}
