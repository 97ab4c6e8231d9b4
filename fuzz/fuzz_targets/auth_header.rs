//! Fuzz target: arbitrary `Authorization` values through `JwtLayer` in
//! front of an axum `Router`, driven with `tower::ServiceExt::oneshot`.
//!
//! The ring is fixed: current `fuzz-current`, previous `fuzz-previous`
//! (both HS256), and `fuzz-retired` retired. The first byte picks how the
//! rest becomes the header value (values `HeaderValue::from_bytes` refuses
//! are skipped):
//!
//! - `% 4 == 0`: the rest, as it is;
//! - `% 4 == 1`: `Bearer ` and the rest;
//! - `% 4 == 2`: `Bearer ` and a well-formed, unexpired token of the
//!   current, previous or retired key (`/ 4 % 3`) with the rest spliced in:
//!   its first byte is the position, the others overwrite (or, when `/ 16`
//!   is odd, are inserted) there;
//! - `% 4 == 3`: `Bearer ` and a token signed by the current key whose
//!   claims part is the rest, whatever it holds.
//!
//! Every answer must be a `200` from the handler, with the kid of the
//! current or previous key, or a `401` with an empty body and one
//! `WWW-Authenticate`: exactly `Bearer` (no token, or another scheme) or
//! `Bearer error="invalid_token", error_description="<reason>: <detail>"`
//! with a documented reason other than `missing`. Never a `500` (the
//! handler's extractor failing), never a panic.
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run auth_header corpus/auth_header seeds/auth_header -- -max_total_time=300
//! ```

#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header};
use jwt_rollover::{
    Algorithm, DEFAULT_MAX_TOKEN_BYTES, JwtLayer, Key, KeyRing, KeySet, ManualClock, Metrics,
    RejectionReason, Verified,
};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
const TOKEN_EXP: u64 = 4_000_000_000;

/// `(kid, secret)` of the current, previous and retired key, in that order.
const KEYS: [(&str, &[u8]); 3] = [
    ("fuzz-current", b"fuzz-current-secret-fuzz-current-!"),
    ("fuzz-previous", b"fuzz-previous-secret-fuzz-previous"),
    ("fuzz-retired", b"fuzz-retired-secret-fuzz-retired-!"),
];

const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\", error_description=\"";

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
    /// A well-formed, unexpired token of each key of [`KEYS`].
    tokens: Vec<String>,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let key = |(kid, secret): (&str, &[u8])| {
            Key::hmac(Some(kid), Algorithm::HS256, secret).expect("an HMAC key")
        };
        let metrics = Metrics::new(&prometheus::Registry::new()).expect("metrics register");
        let keys = KeySet::new(key(KEYS[1]), Some(key(KEYS[2]))).expect("distinct kids");
        let ring = KeyRing::builder(keys, metrics)
            .with_clock(ManualClock::new(NOW))
            .build();
        // The new key pushes the old previous key out: it is retired.
        ring.rotate(key(KEYS[0])).expect("a new kid");
        let router = Router::new()
            .route("/", get(whoami))
            .layer(JwtLayer::<serde_json::Value>::new(ring));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        // Built after the ring, which installs jsonwebtoken's crypto provider.
        let tokens = KEYS
            .iter()
            .map(|&(kid, secret)| {
                let claims = serde_json::json!({"sub": "fuzz", "exp": TOKEN_EXP});
                jsonwebtoken::encode(&header(kid), &claims, &EncodingKey::from_secret(secret))
                    .expect("an HS256 token")
            })
            .collect();
        App {
            runtime,
            router,
            tokens,
        }
    })
}

async fn whoami(token: Verified<serde_json::Value>) -> String {
    token.key.kid.to_string()
}

fn header(kid: &str) -> Header {
    Header {
        kid: Some(kid.to_owned()),
        ..Header::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let app = app();
    let value = match mode % 4 {
        0 => rest.to_vec(),
        1 => bearer(rest),
        2 => bearer(&splice(
            app.tokens[usize::from(mode / 4) % app.tokens.len()].as_bytes(),
            rest,
            (mode / 16) % 2 == 1,
        )),
        _ => bearer(signed_claims(rest).as_bytes()),
    };
    let Ok(header_value) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let request = Request::builder()
        .uri("/")
        .header(AUTHORIZATION, header_value)
        .body(Body::empty())
        .expect("a request");
    let (status, challenges, body) = app.runtime.block_on(async {
        let response = app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let challenges: Vec<HeaderValue> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .cloned()
            .collect();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, challenges, body)
    });
    match status {
        StatusCode::OK => {
            assert!(challenges.is_empty(), "a 200 with a challenge");
            assert!(
                body == KEYS[0].0 || body == KEYS[1].0,
                "verified by {body:?}, not the current or previous key"
            );
        }
        StatusCode::UNAUTHORIZED => {
            assert!(body.is_empty(), "a 401 with a body");
            let [challenge] = &challenges[..] else {
                panic!("a 401 with {} challenges", challenges.len());
            };
            let challenge = challenge.to_str().expect("an ASCII challenge");
            if challenge == "Bearer" {
                check_missing(&value, true);
            } else {
                check_missing(&value, false);
                check_invalid_token(challenge);
            }
        }
        other => panic!("status {other} for {value:?}"),
    }
});

/// `Bearer ` and the token.
fn bearer(token: &[u8]) -> Vec<u8> {
    [b"Bearer ", token].concat()
}

/// `token` with `edit[1..]` written over (or inserted) at a position
/// `edit[0]` picks.
fn splice(token: &[u8], edit: &[u8], insert: bool) -> Vec<u8> {
    let Some((&position, bytes)) = edit.split_first() else {
        return token.to_vec();
    };
    let at = usize::from(position) * token.len() / 256;
    let end = if insert {
        at
    } else {
        (at + bytes.len()).min(token.len())
    };
    [&token[..at], bytes, &token[end..]].concat()
}

/// A token signed by the current key, with `claims` as its claims part.
fn signed_claims(claims: &[u8]) -> String {
    let (kid, secret) = KEYS[0];
    let header = serde_json::to_vec(&header(kid)).expect("a header");
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = jsonwebtoken::crypto::sign(
        token.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("an HS256 signature");
    token.push('.');
    token.push_str(&signature);
    token
}

/// The bare challenge (reason `missing`) is for a request without a Bearer
/// token: another scheme, as RFC 6750 section 3.1 asks, whatever bytes
/// follow it (Basic credentials with a Latin-1 password, say). The layer
/// refuses a value over the size bound as `too_large` before reading its
/// scheme, so only values within it are judged here.
fn check_missing(value: &[u8], bare: bool) {
    if value.len() > DEFAULT_MAX_TOKEN_BYTES {
        return;
    }
    let bearer_scheme = value.len() >= 6
        && value[..6].eq_ignore_ascii_case(b"bearer")
        && value.get(6).is_none_or(|&b| b == b' ');
    assert_eq!(
        bare,
        !bearer_scheme,
        "bare challenge {bare} for {:?}",
        String::from_utf8_lossy(value)
    );
}

/// `Bearer error="invalid_token", error_description="<reason>: <detail>"`.
fn check_invalid_token(challenge: &str) {
    let description = challenge
        .strip_prefix(INVALID_TOKEN)
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("challenge {challenge:?}"));
    let (reason, detail) = description
        .split_once(": ")
        .unwrap_or_else(|| panic!("no reason in {challenge:?}"));
    assert!(
        RejectionReason::ALL
            .iter()
            .any(|r| r.as_str() == reason && *r != RejectionReason::Missing),
        "reason {reason:?} in {challenge:?}"
    );
    assert!(
        !detail.is_empty() && !detail.contains(['"', '\\']),
        "detail {detail:?} in {challenge:?}"
    );
}
