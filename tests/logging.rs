//! Everything the crate logs, captured at TRACE with all fields while it
//! rejects tokens, reloads good and bad key files, rotates and retires
//! keys: the expected events are there, and no token, signature, secret
//! (raw, base64url, base64 or hex) or PEM body is.
//!
//! The subscriber is the test thread's default and the runtime is
//! current-thread, so every event the test causes is captured.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use http::StatusCode;
use jwt_rollover::{
    JwtLayer, KeyFile, KeyRing, KeySet, ManualClock, Metrics, ReloadOutcome, RetireRequest,
};
use serde_json::{Value, json};
use tracing_subscriber::fmt::format::FmtSpan;

use common::process::TempDir;
use common::{MIN_AGE, NOW, QUIET, b64, bearer, mint, policy, rename_over, send, whoami_router};

// ---------------------------------------------------------------------------
// Capturing the log
// ---------------------------------------------------------------------------

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// ---------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------

const CUR_KID: &str = "log-current";
const PREV_KID: &str = "log-previous";
const NEXT_KID: &str = "log-next";
const LAST_KID: &str = "log-last";

const CUR_SECRET: &[u8] = b"log-current-secret-Q7vK2-log-current!";
const PREV_SECRET: &[u8] = b"log-previous-secret-M3xR8-log-previous";
const NEXT_SECRET: &[u8] = b"log-next-secret-T5nB4-log-next-secret!!";
const LAST_SECRET: &[u8] = b"log-last-secret-C6wE0-log-last-secret!!";
/// Signs the bad-signature token; no ring has it.
const OTHER_SECRET: &[u8] = b"log-other-secret-Z9pL1-log-other-secr";
/// 16 bytes: refused as a weak HMAC key.
const WEAK_SECRET: &[u8] = b"weak-H4jW-secret";
/// Raw secret files.
const RAW_SECRET: &[u8] = b"raw-secret-D2fG6-raw-secret-D2fG6-raw!";
const RAW_NEXT_SECRET: &[u8] = b"raw-next-secret-J1hN5-raw-next-secret!";
const RAW_SHORT_SECRET: &[u8] = b"short-Y8kC";

const PEM_BODY: &str = "\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxwL9MCZ8T1LU2TQgbIXH
fdbGQYDpCYgGwjDeLw2rctq01yvAu5PBtb6mV0NPJn6cUBpifIJld30GsHVTBvpH
evKrkilDvmYW1UEtKykN8bk8QILwoeDViOGvqL0dhc40rUQXKBprZbEFVnjBOlNi
1GTAJB3Q7hnFB01G2bJEl1ITcs3kJ6BEicqIoYcFdjrQGzYIjEuImHXH1PL1vb6S
zqP4QrzsT9Y51ExBYo/xLqcfAEoNTUE8kBie0hXYlp1hMIHze7TrZs4fIKRReOvO
rdO2X828Fx7k8Ini0oMvAMFf9YQ3X8yecqTmbyQfNT0CSahPbgV1p3QIDAQAB";

fn pem() -> String {
    format!("-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----\n")
}

fn jwks(keys: &[(&str, &[u8])]) -> Vec<u8> {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, secret)| json!({"kty": "oct", "alg": "HS256", "kid": kid, "k": b64(secret)}))
        .collect();
    serde_json::to_vec_pretty(&json!({ "keys": keys })).unwrap()
}

fn claims(exp: u64) -> Value {
    json!({"sub": "log-test-subject", "exp": exp})
}

/// The tokens the test sends, so that the log can be searched for them.
#[derive(Default)]
struct Sent(Vec<String>);

impl Sent {
    fn keep(&mut self, token: String) -> String {
        self.0.push(token.clone());
        token
    }
}

/// Sends `token` as a Bearer token and asserts the status.
async fn expect(app: &Router, token: &str, status: StatusCode, what: &str) {
    let reply = send(app, bearer(token)).await;
    assert_eq!(reply.status, status, "{what}");
}

fn ring_with_source(keys: KeySet, file: KeyFile, clock: &ManualClock) -> KeyRing {
    let registry = prometheus::Registry::new();
    KeyRing::builder(keys, Metrics::new(&registry).unwrap())
        .with_clock(clock.clone())
        .with_policy(policy())
        .with_source(file)
        .build()
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_events_but_never_tokens_or_key_material() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_target(true)
        .with_file(true)
        .with_line_number(true)
        .with_thread_names(true)
        .with_span_events(FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    let mut sent = Sent::default();
    drive_jwks_ring(&mut sent).await;
    drive_secret_ring(&mut sent).await;

    drop(guard);
    let log = captured.text();
    assert_log(&log, &sent.0);
}

/// A JWKS ring behind the layer: good and rejected tokens, bad and good
/// reloads, a rotation, retirements by the source, the admin and auto.
async fn drive_jwks_ring(sent: &mut Sent) {
    let dir = TempDir::new("jwks");
    let path = dir.join("jwks.json");
    let first = jwks(&[(CUR_KID, CUR_SECRET), (PREV_KID, PREV_SECRET)]);
    std::fs::write(&path, &first).unwrap();
    let clock = ManualClock::new(NOW);
    let ring = ring_with_source(
        KeySet::parse(&first, jwt_rollover::KeyFormat::Jwks).unwrap(),
        KeyFile::jwks(&path),
        &clock,
    );
    let app = whoami_router(JwtLayer::<Value>::new(ring.clone()));
    let live = claims(NOW + 3600);

    // Accepted, by the current and the previous key.
    let current = sent.keep(mint(CUR_SECRET, Some(CUR_KID), &live));
    let previous = sent.keep(mint(PREV_SECRET, Some(PREV_KID), &live));
    expect(&app, &current, StatusCode::OK, "current key").await;
    expect(&app, &previous, StatusCode::OK, "previous key").await;

    // Rejected: a valid-looking token with a bad signature, an expired
    // one, `alg: none` with and without a signature part, garbage.
    let forged = sent.keep(mint(OTHER_SECRET, Some(CUR_KID), &live));
    let expired = sent.keep(mint(CUR_SECRET, Some(CUR_KID), &claims(NOW - 3600)));
    let none_header = b64(format!(r#"{{"alg":"none","kid":"{CUR_KID}"}}"#).as_bytes());
    let payload = b64(live.to_string().as_bytes());
    let alg_none = sent.keep(format!("{none_header}.{payload}."));
    let alg_none_signed = sent.keep(format!(
        "{none_header}.{payload}.{}",
        current.rsplit('.').next().unwrap()
    ));
    let garbage = sent.keep("garbage-Kq3w.not-a-token.P0xZ".to_owned());
    let unknown = sent.keep(mint(CUR_SECRET, Some("log-unknown"), &live));
    for (token, what) in [
        (&forged, "bad signature"),
        (&expired, "expired"),
        (&alg_none, "alg none"),
        (&alg_none_signed, "alg none with a signature"),
        (&garbage, "garbage"),
        (&unknown, "unknown kid"),
    ] {
        expect(&app, token, StatusCode::UNAUTHORIZED, what).await;
    }

    // Bad reloads: a weak HMAC key, a PEM file where a JWKS is expected,
    // a raw secret where a JWKS is expected.
    for bad in [
        jwks(&[(NEXT_KID, WEAK_SECRET)]),
        pem().into_bytes(),
        RAW_SECRET.to_vec(),
    ] {
        rename_over(&path, &bad);
        ring.reload().expect_err("bad content is refused");
    }
    assert_eq!(ring.current_kid(), CUR_KID);

    // A rotation by reload: the file now lists next, then current; the
    // previous key leaves the file and is retired by the source.
    rename_over(
        &path,
        &jwks(&[(NEXT_KID, NEXT_SECRET), (CUR_KID, CUR_SECRET)]),
    );
    let outcome = ring.reload().expect("good content applies");
    assert!(
        matches!(outcome, ReloadOutcome::Applied { rotated: true, .. }),
        "{outcome:?}"
    );
    expect(
        &app,
        &previous,
        StatusCode::UNAUTHORIZED,
        "retired by source",
    )
    .await;
    let next = sent.keep(mint(NEXT_SECRET, Some(NEXT_KID), &live));
    expect(&app, &next, StatusCode::OK, "rotated-in key").await;
    expect(&app, &current, StatusCode::OK, "demoted key").await;

    // Admin retirement of the previous key (the old current).
    assert_eq!(
        ring.retire(RetireRequest::previous().force())
            .await
            .ok()
            .as_deref(),
        Some(CUR_KID)
    );
    expect(&app, &current, StatusCode::UNAUTHORIZED, "retired by admin").await;

    // One new key: next is demoted, then retired automatically once the
    // policy allows.
    rename_over(&path, &jwks(&[(LAST_KID, LAST_SECRET)]));
    ring.reload().expect("one new key applies");
    assert_eq!(ring.previous_kid().as_deref(), Some(NEXT_KID));
    assert_eq!(ring.check_retirement().await, None, "too early");
    clock.advance(MIN_AGE + QUIET + 1);
    assert_eq!(ring.check_retirement().await.as_deref(), Some(NEXT_KID));
    let last = sent.keep(mint(
        LAST_SECRET,
        Some(LAST_KID),
        &claims(NOW + MIN_AGE + 7200),
    ));
    expect(&app, &last, StatusCode::OK, "last key").await;
}

/// A raw-secret ring: a PEM, a short secret and a JWKS are refused, a new
/// secret rotates.
async fn drive_secret_ring(sent: &mut Sent) {
    let dir = TempDir::new("secret");
    let path = dir.join("secret");
    let first = [RAW_SECRET, b"\n"].concat();
    std::fs::write(&path, &first).unwrap();
    let keys = KeySet::from_secret(&first).unwrap();
    let raw_kid = keys.current().kid().to_owned();
    let clock = ManualClock::new(NOW);
    let ring = ring_with_source(keys, KeyFile::secret(&path), &clock);
    let app = whoami_router(JwtLayer::<Value>::new(ring.clone()));
    let live = claims(NOW + 3600);

    let token = sent.keep(mint(RAW_SECRET, Some(&raw_kid), &live));
    expect(&app, &token, StatusCode::OK, "raw secret").await;
    let forged = sent.keep(mint(RAW_SHORT_SECRET, Some(&raw_kid), &live));
    expect(
        &app,
        &forged,
        StatusCode::UNAUTHORIZED,
        "raw: bad signature",
    )
    .await;

    for bad in [
        pem().into_bytes(),
        [RAW_SHORT_SECRET, b"\n"].concat(),
        jwks(&[(CUR_KID, CUR_SECRET)]),
    ] {
        rename_over(&path, &bad);
        ring.reload().expect_err("bad content is refused");
    }
    assert_eq!(ring.current_kid(), raw_kid);

    rename_over(&path, RAW_NEXT_SECRET);
    let outcome = ring.reload().expect("a new secret applies");
    assert!(
        matches!(outcome, ReloadOutcome::Applied { rotated: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(
        ring.retire(RetireRequest::previous().force())
            .await
            .ok()
            .as_deref(),
        Some(raw_kid.as_str())
    );
    expect(&app, &token, StatusCode::UNAUTHORIZED, "raw: retired").await;
}

/// Every way a secret could be spelled in a log line.
fn spellings(secret: &[u8]) -> Vec<String> {
    let mut found = vec![
        URL_SAFE_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        secret.iter().map(|b| format!("{b:02x}")).collect(),
        format!("{secret:?}"),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        found.push(text.to_owned());
    }
    found
}

fn assert_log(log: &str, tokens: &[String]) {
    assert!(!log.is_empty(), "nothing was logged");

    // The events the drive causes.
    for expected in [
        "JWT rejected",
        "reason=bad_signature",
        "reason=expired",
        "reason=wrong_alg",
        "reason=malformed",
        "reason=unknown_kid",
        "reason=retired_key",
        "key file refused; the last good keys stay active",
        "at least 32 bytes",
        "a PEM public key",
        "key file is valid again",
        "rotated: new current key",
        "retired key: it left the key source",
        "retired previous key",
        "trigger=\"source\"",
        "trigger=\"admin\"",
        "trigger=\"auto\"",
    ] {
        assert!(
            log.contains(expected),
            "the log has no {expected:?}:\n{log}"
        );
    }

    // What must never be there.
    let mut forbidden: Vec<(String, String)> = Vec::new();
    for token in tokens {
        forbidden.push((format!("token {token}"), token.clone()));
        let signature = token.rsplit('.').next().unwrap();
        if !signature.is_empty() {
            forbidden.push((format!("signature of {token}"), signature.to_owned()));
        }
    }
    for secret in [
        CUR_SECRET,
        PREV_SECRET,
        NEXT_SECRET,
        LAST_SECRET,
        OTHER_SECRET,
        WEAK_SECRET,
        RAW_SECRET,
        RAW_NEXT_SECRET,
        RAW_SHORT_SECRET,
    ] {
        for spelled in spellings(secret) {
            forbidden.push((
                format!("secret {}", String::from_utf8_lossy(secret)),
                spelled,
            ));
        }
    }
    forbidden.push(("the PEM body".to_owned(), PEM_BODY.to_owned()));
    for line in PEM_BODY.lines() {
        forbidden.push(("a line of the PEM body".to_owned(), line.to_owned()));
    }
    for (what, text) in &forbidden {
        assert!(
            !log.contains(text.as_str()),
            "the log holds {what} ({text:?})"
        );
    }
}
