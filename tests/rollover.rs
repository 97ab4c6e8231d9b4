//! `JwtRollover`, the one-call wiring: what it starts, what it hands out,
//! and how it refuses to start.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use axum::Router;
use http::{Method, StatusCode};
use jwt_rollover::admin::AdminAuth;
use jwt_rollover::{JwtRollover, KeyFile, RejectionReason, StartError, WatchOptions};
use prometheus::Registry;
use serde_json::{Value, json};

use common::process::TempDir;
use common::{b64, bearer, mint, rename_over, request, send, unix_now, whoami_router};

const ADMIN_TOKEN: &str = "rollover-test-admin-token-0123456789";

fn jwks(keys: &[(&str, &[u8])]) -> Vec<u8> {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, secret)| json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": b64(secret)}))
        .collect();
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

const A: (&str, &[u8]) = ("rollover-a", b"rollover-test-secret-a-0123456789abcdef");
const B: (&str, &[u8]) = ("rollover-b", b"rollover-test-secret-b-0123456789abcdef");

fn token((kid, secret): (&str, &[u8])) -> String {
    mint(
        secret,
        Some(kid),
        &json!({"sub": "alice", "exp": unix_now() + 3600}),
    )
}

#[tokio::test]
async fn one_call_wires_the_layer_the_admin_api_metrics_and_the_watcher() {
    let dir = TempDir::new("rollover");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[A])).unwrap();
    let registry = Registry::new();
    let rollover = JwtRollover::builder(KeyFile::jwks(&path))
        .with_watch(
            WatchOptions::default()
                .with_poll_interval(Duration::from_millis(100))
                .with_debounce(Duration::from_millis(10)),
        )
        .start(&registry)
        .expect("starts");

    let app = whoami_router(rollover.layer());
    assert_eq!(send(&app, bearer(&token(A))).await.status, StatusCode::OK);
    let verifier = rollover.verifier::<Value>();
    assert_eq!(&*verifier.verify(&token(A)).unwrap().key.kid, A.0);
    assert_eq!(
        verifier.verify("x").unwrap_err().reason(),
        RejectionReason::Malformed
    );

    let admin: Router = rollover.metrics_router().nest(
        "/admin",
        rollover.admin_router(AdminAuth::bearer(ADMIN_TOKEN).unwrap()),
    );
    let metrics = send(&admin, request::<&str>(Method::GET, "/metrics", &[])).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text();
    assert!(
        text.contains(&format!(
            "jwt_key_info{{alg=\"HS256\",kid=\"{}\",slot=\"current\"}} 1",
            A.0
        )),
        "{text}"
    );
    assert!(text.contains("jwt_verifications_total"), "{text}");
    let authorization = [format!("Bearer {ADMIN_TOKEN}")];
    let status = send(&admin, request(Method::GET, "/admin/keys", &authorization)).await;
    assert_eq!(status.json()["current"]["kid"], A.0);

    // The watcher is running: a rotation written to the file is applied.
    rename_over(&path, &jwks(&[B, A]));
    let deadline = Instant::now() + Duration::from_secs(5);
    while rollover.ring().current_kid() != B.0 {
        assert!(Instant::now() < deadline, "the watcher never reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rollover.ring().previous_kid().as_deref(), Some(A.0));
    let reply = send(&app, bearer(&token(A))).await;
    assert_eq!(reply.json()["slot"], "previous");
}

#[tokio::test]
async fn it_refuses_to_start_with_bad_keys_or_a_registry_in_use() {
    let dir = TempDir::new("rollover-refusals");
    let pem = dir.path().join("public.pem");
    std::fs::write(
        &pem,
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = JwtRollover::builder(KeyFile::jwks(&pem))
        .start(&Registry::new())
        .unwrap_err();
    assert!(matches!(err, StartError::Keys { .. }), "{err:?}");
    assert!(err.to_string().contains("a PEM public key"), "{err}");

    // The metrics belong to one ring: a second start on the same registry
    // is refused instead of two rings sharing (and fighting over) them.
    let good = dir.path().join("jwks.json");
    std::fs::write(&good, jwks(&[A])).unwrap();
    let registry = Registry::new();
    let first = JwtRollover::builder(&good).without_watch().start(&registry);
    assert!(first.is_ok());
    let second = JwtRollover::builder(&good)
        .without_watch()
        .start(&registry)
        .unwrap_err();
    assert!(matches!(second, StartError::Metrics(_)), "{second:?}");
}

#[test]
fn it_needs_a_tokio_runtime() {
    let dir = TempDir::new("rollover-runtime");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[A])).unwrap();
    let err = JwtRollover::builder(&path)
        .start(&Registry::new())
        .unwrap_err();
    assert!(matches!(err, StartError::NoRuntime), "{err:?}");
}
