//! The crate installs jsonwebtoken's crypto provider itself, so a user never
//! meets jsonwebtoken's "Could not automatically determine the process-level
//! CryptoProvider" panic.
//!
//! That panic happens when jsonwebtoken sees both of its backend features,
//! which is what `cargo test --all-features` builds (our `aws-lc-rs` and
//! `rust-crypto` features turn on jsonwebtoken's two). Under that build,
//! `plain_jsonwebtoken_panics_without_our_install` shows, in a child process
//! that never touches this crate, that the panic is real; the other tests
//! show that going through this crate avoids it.

use std::process::Command;

use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use jwt_rollover::{JwtLayer, Key, KeyRing, KeySet, Metrics, Verified};
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"provider-test-secret-of-32-bytes!";

fn token(kid: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &json!({"sub": "x", "exp": 4_000_000_000_u64}),
        &EncodingKey::from_secret(SECRET),
    )
    .expect("encoding works once a provider is installed")
}

#[tokio::test]
async fn verifying_through_the_crate_needs_no_provider_set_up() {
    // No CryptoProvider::install_default anywhere in this test binary.
    let key = Key::hmac(Some("k1"), Algorithm::HS256, SECRET).unwrap();
    let ring = KeyRing::new(
        KeySet::new(key, None).unwrap(),
        Metrics::new(&prometheus::Registry::new()).unwrap(),
    );
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|token: Verified<Value>| async move { token.key.kid.to_string() }),
        )
        .layer(JwtLayer::<Value>::new(ring));
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {}", token("k1")))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
}

/// Run only as a child process by the test below, which expects it to panic.
#[test]
#[ignore = "run in a child process by plain_jsonwebtoken_panics_without_our_install"]
fn child_decode_with_plain_jsonwebtoken() {
    let result = jsonwebtoken::decode::<Value>(
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
        &jsonwebtoken::DecodingKey::from_secret(SECRET),
        &Validation::new(Algorithm::HS256),
    );
    assert!(result.is_err(), "a bad signature never verifies");
}

#[test]
fn plain_jsonwebtoken_panics_without_our_install() {
    let both_backends = cfg!(all(feature = "aws-lc-rs", feature = "rust-crypto"));
    if !both_backends {
        println!(
            "skipped: with one backend jsonwebtoken can pick it alone; \
             `cargo test --all-features` builds the ambiguous case this test is about"
        );
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_decode_with_plain_jsonwebtoken",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "plain jsonwebtoken should panic here"
    );
    assert!(
        stderr.contains("CryptoProvider") || stdout.contains("CryptoProvider"),
        "expected jsonwebtoken's provider panic, got:\n{stdout}\n{stderr}"
    );
}

#[test]
fn parsing_keys_alone_installs_the_provider() {
    // Thumbprints hash through the provider: a key without kid needs it.
    let keys = KeySet::from_secret(b"another-secret-of-at-least-32-bytes").unwrap();
    assert_eq!(keys.current().kid().len(), 16);
    // And jsonwebtoken itself now works in this process.
    assert!(!token("any").is_empty());
}
