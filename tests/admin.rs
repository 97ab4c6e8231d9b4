//! The admin API through the real router (nested under `/admin` like the
//! example server), driven with `tower::ServiceExt::oneshot`: the status
//! JSON, checked and forced retirement, authentication, malformed requests
//! and concurrent retirements.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::WWW_AUTHENTICATE;
use http::{Method, StatusCode};
use jwt_rollover::admin::{AdminAuth, AdminAuthError, MIN_ADMIN_TOKEN_BYTES, admin_router};
use jwt_rollover::{JwtLayer, KeyRing, ManualClock};
use prometheus::Registry;
use serde_json::{Value, json};

use common::{
    CHECK_INTERVAL, LEEWAY, MIN_AGE, NEW_KID, NEW_SECRET, NOW, OLD_KID, OLD_SECRET, QUIET, Reply,
    TestRing, bearer, metric_value, mint, new_and_old_keys, policy, request, send, whoami_router,
};

// ---------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------

const ADMIN_TOKEN: &str = "a-long-admin-token";

const KEYS: &str = "/admin/keys";
const RETIRE: &str = "/admin/keys/previous/retire";
const ADMIN_CHALLENGE: &str = "Bearer realm=\"jwt-rollover admin\"";
/// No `Authorization` header at all.
const NO_AUTHORIZATION: [&str; 0] = [];

struct Env {
    registry: Registry,
    ring: KeyRing,
    clock: ManualClock,
    /// The admin router, nested under `/admin`.
    admin: Router,
    /// An application route behind the JWT layer, to use the keys.
    app: Router,
}

impl Env {
    /// current = `kid-new`, previous = `kid-old` (previous since `NOW`),
    /// the clock at `NOW`, bearer auth with `ADMIN_TOKEN`.
    fn new() -> Self {
        Self::with_auth(AdminAuth::bearer(ADMIN_TOKEN).unwrap())
    }

    fn with_auth(auth: AdminAuth) -> Self {
        let TestRing {
            registry,
            clock,
            ring,
        } = TestRing::new(new_and_old_keys(), policy());
        let admin = Router::new().nest("/admin", admin_router(ring.clone(), auth));
        let app = whoami_router(JwtLayer::<Value>::new(ring.clone()));
        Self {
            registry,
            ring,
            clock,
            admin,
            app,
        }
    }

    /// Sends an admin request with the admin token.
    async fn admin(&self, method: Method, uri: &str) -> Reply {
        let authorization = [format!("Bearer {ADMIN_TOKEN}")];
        send(&self.admin, request(method, uri, &authorization)).await
    }

    async fn status(&self) -> Value {
        let reply = self.admin(Method::GET, KEYS).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }

    /// Uses `token` on the application route; asserts it was accepted.
    async fn use_token(&self, token: &str) {
        let reply = send(&self.app, bearer(token)).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{:?}",
            reply.headers.get(WWW_AUTHENTICATE)
        );
    }

    fn retirements(&self, trigger: &str) -> f64 {
        metric_value(
            &self.registry,
            "jwt_key_retirements_total",
            &[("trigger", trigger)],
        )
    }

    /// Asserts the previous key is still there and nothing was retired.
    fn assert_nothing_retired(&self, context: &str) {
        assert_eq!(
            self.ring.previous_kid().as_deref(),
            Some(OLD_KID),
            "{context}"
        );
        assert!(self.ring.status().retired.is_empty(), "{context}");
        for trigger in ["auto", "admin", "source"] {
            assert_eq!(self.retirements(trigger), 0.0, "{context}: {trigger}");
        }
    }
}

/// Uses the previous key at `NOW + 100` with a token expiring at
/// `NOW + 7200`, and the current key once, then sets the clock to
/// `NOW + 160`: every blocker holds.
async fn blocked(env: &Env) {
    env.clock.set(NOW + 100);
    env.use_token(&mint(
        OLD_SECRET,
        Some(OLD_KID),
        &json!({"sub": "alice", "exp": NOW + 7200}),
    ))
    .await;
    env.use_token(&mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"sub": "bob", "exp": NOW + 7200}),
    ))
    .await;
    env.clock.set(NOW + 160);
}

/// The blockers `blocked` sets up, as the API shows them at `NOW + 160`.
fn blocked_blockers() -> Value {
    json!([
        {"blocker": "min_age", "clears_at": NOW + MIN_AGE,
         "detail": "previous for 160s of the 3600s min_age"},
        {"blocker": "quiet", "clears_at": NOW + 100 + QUIET,
         "detail": "last used 60s ago; quiet needs 600s"},
        {"blocker": "live_tokens", "clears_at": NOW + 7200 + LEEWAY + 1,
         "detail": "1 previous-key token(s) not expired yet"},
    ])
}

fn policy_json() -> Value {
    json!({
        "min_age_seconds": MIN_AGE,
        "quiet_seconds": QUIET,
        "auto": true,
        "check_interval_seconds": CHECK_INTERVAL,
    })
}

// ---------------------------------------------------------------------------
// GET /admin/keys
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_keys_shows_the_whole_status() {
    let env = Env::new();
    blocked(&env).await;
    let reply = env.admin(Method::GET, KEYS).await;
    assert_eq!(reply.status, StatusCode::OK);
    let status = reply.json();
    // For the issue note: a real status during a rotation.
    println!("GET /admin/keys during a rotation: {}", reply.text());
    assert_eq!(
        status,
        json!({
            "now": NOW + 160,
            "current": {"kid": NEW_KID, "alg": "HS256", "since": NOW, "verified": 1},
            "previous": {
                "kid": OLD_KID,
                "alg": "HS256",
                "since": NOW,
                "verified": 1,
                "last_used": NOW + 100,
                "live_tokens": 1,
                "live_tokens_overflowed": false,
                "latest_exp": NOW + 7200,
                "eligibility": {"eligible": false, "blockers": blocked_blockers()},
            },
            "retired": [],
            "policy": policy_json(),
            "source": null,
        })
    );
    // The field order of the raw body follows the documented example.
    let raw = reply.text();
    let order = [
        "\"now\"",
        "\"current\"",
        "\"previous\"",
        "\"retired\"",
        "\"policy\"",
        "\"source\"",
    ]
    .map(|field| {
        raw.find(field)
            .unwrap_or_else(|| panic!("{field} in {raw}"))
    });
    assert!(order.is_sorted(), "field order {order:?} in {raw}");
}

#[tokio::test]
async fn get_keys_before_any_use_and_without_a_previous_key() {
    let env = Env::new();
    assert_eq!(
        env.status().await,
        json!({
            "now": NOW,
            "current": {"kid": NEW_KID, "alg": "HS256", "since": NOW, "verified": 0},
            "previous": {
                "kid": OLD_KID,
                "alg": "HS256",
                "since": NOW,
                "verified": 0,
                "last_used": null,
                "live_tokens": 0,
                "live_tokens_overflowed": false,
                "latest_exp": null,
                "eligibility": {"eligible": false, "blockers": [
                    {"blocker": "min_age", "clears_at": NOW + MIN_AGE,
                     "detail": "previous for 0s of the 3600s min_age"},
                ]},
            },
            "retired": [],
            "policy": policy_json(),
            "source": null,
        })
    );
    env.clock.set(NOW + MIN_AGE);
    let status = env.status().await;
    assert_eq!(
        status["previous"]["eligibility"],
        json!({"eligible": true, "blockers": []})
    );

    env.ring
        .retire(jwt_rollover::RetireRequest::previous().force())
        .await
        .ok();
    assert_eq!(
        env.status().await,
        json!({
            "now": NOW + MIN_AGE,
            "current": {"kid": NEW_KID, "alg": "HS256", "since": NOW, "verified": 0},
            "previous": null,
            "retired": [OLD_KID],
            "policy": policy_json(),
            "source": null,
        })
    );
}

// ---------------------------------------------------------------------------
// POST /admin/keys/previous/retire
// ---------------------------------------------------------------------------

#[tokio::test]
async fn retire_is_refused_with_the_blockers_then_done_when_eligible() {
    let env = Env::new();
    blocked(&env).await;
    let reply = env.admin(Method::POST, RETIRE).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    let body = reply.json();
    assert_eq!(
        body,
        json!({
            "error": "not_eligible",
            "message": "the previous key is not eligible for retirement",
            "blockers": blocked_blockers(),
        })
    );
    assert_eq!(
        body["blockers"],
        env.status().await["previous"]["eligibility"]["blockers"]
    );
    // Explicitly not forced is the same.
    let reply = env
        .admin(Method::POST, &format!("{RETIRE}?force=false"))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.json()["error"], "not_eligible");
    env.assert_nothing_retired("refused retirements");

    // One blocker left: only it is listed.
    env.clock.set(NOW + 7200 + LEEWAY);
    let reply = env.admin(Method::POST, RETIRE).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json()["blockers"],
        json!([{"blocker": "live_tokens", "clears_at": NOW + 7200 + LEEWAY + 1,
                "detail": "1 previous-key token(s) not expired yet"}])
    );
    env.assert_nothing_retired("one blocker left");

    // Eligible: retired, and the answer is the new status.
    env.clock.set(NOW + 7200 + LEEWAY + 1);
    let reply = env.admin(Method::POST, RETIRE).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(
        body,
        json!({
            "now": NOW + 7200 + LEEWAY + 1,
            "current": {"kid": NEW_KID, "alg": "HS256", "since": NOW, "verified": 1},
            "previous": null,
            "retired": [OLD_KID],
            "policy": policy_json(),
            "source": null,
        })
    );
    assert_eq!(body, env.status().await);
    assert_eq!(env.retirements("admin"), 1.0);
    assert_eq!(env.retirements("auto"), 0.0);

    // Nothing left to retire.
    for uri in [
        RETIRE.to_owned(),
        format!("{RETIRE}?force=true"),
        format!("{RETIRE}?kid={OLD_KID}"),
    ] {
        let reply = env.admin(Method::POST, &uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            reply.json(),
            json!({"error": "no_previous_key", "message": "there is no previous key"}),
            "{uri}"
        );
    }
    assert_eq!(env.retirements("admin"), 1.0);
}

#[tokio::test]
async fn force_retires_while_blocked() {
    let env = Env::new();
    blocked(&env).await;
    let reply = env
        .admin(Method::POST, &format!("{RETIRE}?force=true"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["previous"], Value::Null);
    assert_eq!(body["retired"], json!([OLD_KID]));
    assert_eq!(env.ring.previous_kid(), None);
    assert_eq!(env.retirements("admin"), 1.0);
}

#[tokio::test]
async fn a_kid_other_than_the_previous_key_is_refused() {
    let env = Env::new();
    blocked(&env).await;
    for (kid, query) in [
        ("other", "kid=other"),
        ("other", "kid=other&force=true"),
        ("other", "force=true&kid=other"),
        (NEW_KID, "kid=kid-new&force=true"),
        ("", "kid=&force=true"),
        ("kid old", "kid=kid%20old&force=true"),
    ] {
        let reply = env.admin(Method::POST, &format!("{RETIRE}?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::CONFLICT,
            "{query}: {}",
            reply.text()
        );
        assert_eq!(
            reply.json(),
            json!({
                "error": "kid_mismatch",
                "message": format!(
                    "kid {kid:?} is not the previous key (the previous key is \"{OLD_KID}\")"
                ),
                "previous": OLD_KID,
            }),
            "{query}"
        );
        env.assert_nothing_retired(query);
    }

    // The previous key's own kid is checked for eligibility as usual...
    let reply = env
        .admin(Method::POST, &format!("{RETIRE}?kid={OLD_KID}"))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.json()["error"], "not_eligible");
    env.assert_nothing_retired("kid of the previous key, not forced");
    // ...and retired when forced.
    let reply = env
        .admin(Method::POST, &format!("{RETIRE}?kid={OLD_KID}&force=true"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["retired"], json!([OLD_KID]));
    assert_eq!(env.retirements("admin"), 1.0);
}

#[tokio::test]
async fn a_kid_of_the_previous_key_retires_it_when_eligible() {
    let env = Env::new();
    env.clock.set(NOW + MIN_AGE);
    let reply = env
        .admin(Method::POST, &format!("{RETIRE}?kid={OLD_KID}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["retired"], json!([OLD_KID]));
}

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

/// Asserts an admin `401` with the realm challenge and the JSON error.
fn assert_unauthorized(reply: &Reply, context: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{context}: {}",
        reply.text()
    );
    let challenges: Vec<_> = reply.headers.get_all(WWW_AUTHENTICATE).iter().collect();
    assert_eq!(challenges, [ADMIN_CHALLENGE], "{context}");
    assert_eq!(
        reply.json(),
        json!({
            "error": "unauthorized",
            "message": "admin routes need Authorization: Bearer <admin token>",
        }),
        "{context}"
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_refused() {
    let env = Env::new();
    env.clock.set(NOW + MIN_AGE);
    let app_jwt = mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"sub": "alice", "exp": NOW + 7200}),
    );
    let right = format!("Bearer {ADMIN_TOKEN}");
    let basic = format!("Basic {}", STANDARD.encode(format!("admin:{ADMIN_TOKEN}")));
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("no Authorization", vec![]),
        (
            "wrong token",
            vec!["Bearer not-the-admin-token-at-all".to_owned()],
        ),
        ("token plus a byte", vec![format!("{right}x")]),
        (
            "token minus a byte",
            vec![right[..right.len() - 1].to_owned()],
        ),
        ("an application JWT", vec![format!("Bearer {app_jwt}")]),
        ("Basic scheme", vec![basic]),
        (
            "Basic with the raw token",
            vec![format!("Basic {ADMIN_TOKEN}")],
        ),
        ("another scheme", vec![format!("Token {ADMIN_TOKEN}")]),
        ("no space", vec![format!("Bearer{ADMIN_TOKEN}")]),
        ("trailing space", vec![format!("{right} ")]),
        ("scheme only", vec!["Bearer".to_owned()]),
        ("empty token", vec!["Bearer ".to_owned()]),
        ("empty header", vec![String::new()]),
        ("bare token", vec![ADMIN_TOKEN.to_owned()]),
        ("two right headers", vec![right.clone(), right.clone()]),
        (
            "right then wrong",
            vec![right.clone(), "Bearer nope".to_owned()],
        ),
        (
            "wrong then right",
            vec!["Bearer nope".to_owned(), right.clone()],
        ),
        ("both in one header", vec![format!("{right}, {right}")]),
    ];
    for (name, values) in &cases {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        for (method, uri) in [
            (Method::GET, KEYS.to_owned()),
            (Method::POST, RETIRE.to_owned()),
            (Method::POST, format!("{RETIRE}?force=true")),
            (Method::POST, format!("{RETIRE}?force=maybe")),
            (Method::POST, "/admin/keys/reload".to_owned()),
        ] {
            let reply = send(&env.admin, request(method.clone(), &uri, &values)).await;
            assert_unauthorized(&reply, &format!("{name}: {method} {uri}"));
        }
    }
    env.assert_nothing_retired("unauthorized requests");

    // The right token, in the usual and in the lowercase scheme, and after
    // several spaces (RFC 6750: "Bearer" 1*SP b64token), as the layer reads it.
    for value in [
        right.clone(),
        format!("bearer {ADMIN_TOKEN}"),
        format!("Bearer   {ADMIN_TOKEN}"),
    ] {
        let reply = send(&env.admin, request(Method::GET, KEYS, &[&value])).await;
        assert_eq!(reply.status, StatusCode::OK, "{value}: {}", reply.text());
        assert!(reply.headers.get(WWW_AUTHENTICATE).is_none());
    }
    let reply = send(
        &env.admin,
        request(Method::POST, RETIRE, &[&format!("bearer {ADMIN_TOKEN}")]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(env.retirements("admin"), 1.0);
}

#[test]
fn admin_tokens_shorter_than_16_bytes_are_refused() {
    assert_eq!(MIN_ADMIN_TOKEN_BYTES, 16);
    for token in ["", "short", "fifteen-bytes!!"] {
        match AdminAuth::bearer(token) {
            Err(AdminAuthError::TooShort(len)) => {
                assert_eq!(len, token.len());
                let message = AdminAuth::bearer(token).unwrap_err().to_string();
                assert!(message.contains("at least 16"), "{message}");
            }
            other => panic!("{token:?}: {other:?}"),
        }
    }
    let auth = AdminAuth::bearer("sixteen-bytes!!!").unwrap();
    assert!(AdminAuth::bearer(b"sixteen-bytes!!!".as_slice()).is_ok());
    // The token never shows in debug output.
    let debug = format!("{auth:?}");
    assert!(!debug.contains("sixteen"), "{debug}");
}

#[tokio::test]
async fn insecure_no_auth_needs_no_credentials() {
    let env = Env::with_auth(AdminAuth::insecure_no_auth());
    let reply = send(&env.admin, request(Method::GET, KEYS, &NO_AUTHORIZATION)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["previous"]["kid"], OLD_KID);
    // Whatever credential comes along is ignored.
    let reply = send(
        &env.admin,
        request(Method::GET, KEYS, &["Basic Zm9vOmJhcg=="]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(
        &env.admin,
        request(
            Method::POST,
            &format!("{RETIRE}?force=true"),
            &NO_AUTHORIZATION,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["retired"], json!([OLD_KID]));
}

// ---------------------------------------------------------------------------
// Malformed requests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_admin_requests_are_4xx_never_500() {
    let env = Env::new();
    blocked(&env).await;

    let bad_query = json!({
        "error": "bad_query",
        "message": "query parameters: force=true|false, kid=<kid>",
    });
    for query in [
        "force=maybe",
        "force=",
        "force=1",
        "force=TRUE",
        "force=yes",
        "force=true&force=true",
        "kid=a&kid=b",
    ] {
        let reply = env.admin(Method::POST, &format!("{RETIRE}?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.text()
        );
        assert_eq!(reply.json(), bad_query, "{query}");
    }
    env.assert_nothing_retired("bad queries");

    // Wrong methods and unknown routes (authenticated, so routing is what
    // answers).
    for (method, uri, expected) in [
        (Method::GET, RETIRE, StatusCode::METHOD_NOT_ALLOWED),
        (Method::PUT, RETIRE, StatusCode::METHOD_NOT_ALLOWED),
        (Method::DELETE, KEYS, StatusCode::METHOD_NOT_ALLOWED),
        (Method::POST, KEYS, StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/admin/nope", StatusCode::NOT_FOUND),
        (Method::POST, "/admin/keys/previous", StatusCode::NOT_FOUND),
        (
            Method::POST,
            "/admin/keys/current/retire",
            StatusCode::NOT_FOUND,
        ),
        (Method::GET, "/admin", StatusCode::NOT_FOUND),
        (Method::GET, "/keys", StatusCode::NOT_FOUND),
    ] {
        let reply = env.admin(method.clone(), uri).await;
        assert_eq!(reply.status, expected, "{method} {uri}: {}", reply.text());
    }

    // Odd but well-formed queries: never a 500, never a retirement.
    // The `http` crate refuses URIs of 64 KiB or more; stay just under.
    let huge_kid = "k".repeat(60_000);
    let many_params = "x=1&".repeat(15_000);
    for query in [
        format!("kid={huge_kid}"),
        format!("force={huge_kid}"),
        format!("{many_params}kid=other"),
        "kid=%FF%FE".to_owned(),
        "kid=%ZZ".to_owned(),
        "forced=true".to_owned(),
        "=&&=&force".to_owned(),
        "kid[]=a".to_owned(),
    ] {
        let reply = env.admin(Method::POST, &format!("{RETIRE}?{query}")).await;
        eprintln!("{:.40}: {}", query, reply.status);
        assert!(
            reply.status.is_client_error(),
            "{}...: {}",
            &query[..query.len().min(40)],
            reply.status
        );
        let body = reply.json();
        assert!(body["error"].is_string(), "{body}");
    }
    env.assert_nothing_retired("odd queries");
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retire_requests_retire_once() {
    for round in 0..50 {
        let env = Env::new();
        env.clock.set(NOW + MIN_AGE);
        let retire = || {
            let admin = env.admin.clone();
            let post = request(Method::POST, RETIRE, &[format!("Bearer {ADMIN_TOKEN}")]);
            tokio::spawn(async move { send(&admin, post).await })
        };
        let (a, b) = tokio::join!(retire(), retire());
        let mut statuses = [a.unwrap().status, b.unwrap().status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::NOT_FOUND],
            "round {round}"
        );
        assert_eq!(env.retirements("admin"), 1.0, "round {round}");
        assert_eq!(env.ring.status().retired, [OLD_KID], "round {round}");
    }
}

// ---------------------------------------------------------------------------
// Regressions
// ---------------------------------------------------------------------------

/// RFC 7235 section 2.1: the auth scheme is case-insensitive. The JWT layer
/// follows it; the admin router once accepted only `Bearer` and `bearer`.
#[tokio::test]
async fn admin_bearer_scheme_is_case_insensitive() {
    let env = Env::new();
    for scheme in ["BEARER", "bEaReR", "BeArEr"] {
        let value = format!("{scheme} {ADMIN_TOKEN}");
        let reply = send(&env.admin, request(Method::GET, KEYS, &[&value])).await;
        assert_eq!(reply.status, StatusCode::OK, "{value}: {}", reply.text());
    }
}
