//! The admin API: an axum `Router` to inspect the ring and retire the
//! previous key. Serve it on an admin listener, never on the public one.
//!
//! | route | answer |
//! |---|---|
//! | `GET /keys` | `200` + [status](crate::ring::status) JSON |
//! | `POST /keys/previous/retire` | `200` + status when retired; `409` + blockers when not eligible; `404` when there is no previous key |
//! | `POST /keys/previous/retire?force=true` | retires even when not eligible |
//! | `POST /keys/previous/retire?kid=K` | `409` unless `K` is the previous key now, so a retire meant for one key never drops another |
//! | `POST /keys/reload` | re-reads the key file: `200` + status; `422` + error when the content is bad (keys unchanged); `404` when the ring has no key file |
//!
//! Nest it under a prefix of your choice; the example server uses `/admin`,
//! giving `GET /admin/keys`.
//!
//! Every route needs `Authorization: Bearer <admin token>`, compared in
//! constant time. A missing or wrong credential (an application JWT too) is a
//! `401`. There is no way to build the router without choosing
//! [`AdminAuth`]; the opt-out is named [`AdminAuth::insecure_no_auth`].
//!
//! Refusals are JSON with a stable `error` code:
//!
//! ```json
//! {"error": "not_eligible", "message": "the previous key is not eligible for retirement",
//!  "blockers": [{"blocker": "quiet", "clears_at": 1795846590, "detail": "last used 10s ago; quiet needs 600s"}]}
//! {"error": "kid_mismatch", "message": "kid \"a\" is not the previous key (the previous key is \"b\")", "previous": "b"}
//! {"error": "no_previous_key", "message": "there is no previous key"}
//! {"error": "unauthorized", "message": "admin routes need Authorization: Bearer <admin token>"}
//! {"error": "bad_query", "message": "query parameters: force=true|false, kid=<kid>"}
//! {"error": "bad_key_content", "message": "key file refused, last good keys kept: key #1 (kid \"a\"): HMAC secret is 8 bytes; ..."}
//! {"error": "no_source", "message": "the key ring has no key file to reload"}
//! ```
//!
//! With a fleet gate (see [`crate::fleet`]), `not_eligible` lists the
//! gate's blockers too (`fleet_*`, with the `query` and `value` that
//! blocked, and `clears_at` `null` when unknown): a retirement that is not
//! forced asks the gate first.
//!
//! A malformed query (`?force=maybe`) is a `400`; never a `500`.
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use jwt_rollover::admin::{AdminAuth, admin_router};
//! # use jwt_rollover::{KeyRing, KeySet, Metrics};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let keys = KeySet::from_secret(b"a-demo-secret-of-at-least-32-bytes")?;
//! # let ring = KeyRing::new(keys, Metrics::new(&prometheus::Registry::new())?);
//! let token = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "a-long-random-admin-token".into());
//! let admin: Router = Router::new().nest("/admin", admin_router(ring, AdminAuth::bearer(token)?));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus::{Encoder as _, Registry, TextEncoder};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::keys::crypto;
use crate::layer::bearer_credential;
use crate::ring::ReloadError;
use crate::ring::{KeyRing, RetireError, RetireRequest};

/// Shortest admin token accepted: it guards key retirement.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

/// How admin requests authenticate. Required to build the router.
#[derive(Clone)]
pub struct AdminAuth {
    /// SHA-256 of the token: comparing fixed-size digests in constant time
    /// hides the token's length too.
    token_digest: Option<Arc<[u8]>>,
}

/// Why an admin token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminAuthError {
    /// Shorter than [`MIN_ADMIN_TOKEN_BYTES`].
    #[error("the admin token is {0} bytes; at least {MIN_ADMIN_TOKEN_BYTES} are required")]
    TooShort(usize),
    /// The digest could not be computed by the crypto backend.
    #[error("cannot hash the admin token")]
    Digest,
}

impl AdminAuth {
    /// Requests must carry `Authorization: Bearer <token>`.
    ///
    /// # Errors
    ///
    /// When the token is shorter than [`MIN_ADMIN_TOKEN_BYTES`].
    pub fn bearer(token: impl AsRef<[u8]>) -> Result<Self, AdminAuthError> {
        let token = token.as_ref();
        if token.len() < MIN_ADMIN_TOKEN_BYTES {
            return Err(AdminAuthError::TooShort(token.len()));
        }
        crypto::ensure_provider();
        let digest = crypto::sha256(token).map_err(|_| AdminAuthError::Digest)?;
        Ok(Self {
            token_digest: Some(digest.into()),
        })
    }

    /// No authentication at all: anyone who reaches the router can retire
    /// keys. Only for a listener that nothing untrusted can reach.
    pub fn insecure_no_auth() -> Self {
        Self { token_digest: None }
    }

    fn allows(&self, parts: &Parts) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let Some(token) = bearer_credential(value.as_bytes()) else {
            return false;
        };
        crypto::sha256(token).is_ok_and(|digest| bool::from(digest.ct_eq(expected)))
    }
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.token_digest.is_some() {
            "bearer"
        } else {
            "insecure_no_auth"
        };
        f.debug_struct("AdminAuth").field("kind", &kind).finish()
    }
}

#[derive(Clone)]
struct AdminState {
    ring: KeyRing,
    auth: AdminAuth,
}

/// The admin routes for `ring`, guarded by `auth`. See the [module docs](self).
pub fn admin_router(ring: KeyRing, auth: AdminAuth) -> Router {
    Router::new()
        .route("/keys", get(keys))
        .route("/keys/previous/retire", post(retire))
        .route("/keys/reload", post(reload))
        .with_state(AdminState { ring, auth })
}

/// Proof that the request carried the admin credential.
struct Authorized;

impl FromRequestParts<AdminState> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Response> {
        if state.auth.allows(parts) {
            return Ok(Self);
        }
        let mut response = refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin routes need Authorization: Bearer <admin token>",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jwt-rollover admin\""),
        );
        Err(response)
    }
}

async fn keys(_: Authorized, State(state): State<AdminState>) -> Response {
    Json(state.ring.status()).into_response()
}

#[derive(Debug, Deserialize)]
struct RetireQuery {
    #[serde(default)]
    force: bool,
    kid: Option<String>,
}

async fn retire(
    _: Authorized,
    State(state): State<AdminState>,
    query: Result<Query<RetireQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "query parameters: force=true|false, kid=<kid>",
        );
    };
    let mut request = match query.kid {
        Some(kid) => RetireRequest::kid(kid),
        None => RetireRequest::previous(),
    };
    if query.force {
        request = request.force();
    }
    match state.ring.retire(request).await {
        Ok(_) => Json(state.ring.status()).into_response(),
        Err(err @ RetireError::NoPrevious) => {
            refusal(StatusCode::NOT_FOUND, "no_previous_key", &err.to_string())
        }
        Err(err @ RetireError::KidMismatch { .. }) => {
            let RetireError::KidMismatch { previous, .. } = &err else {
                unreachable!("matched above")
            };
            let body =
                json!({"error": "kid_mismatch", "message": err.to_string(), "previous": previous});
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        Err(err @ RetireError::NotEligible(_)) => {
            let RetireError::NotEligible(eligibility) = &err else {
                unreachable!("matched above")
            };
            let body = json!({
                "error": "not_eligible",
                "message": err.to_string(),
                "blockers": eligibility.blockers,
            });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
    }
}

async fn reload(_: Authorized, State(state): State<AdminState>) -> Response {
    let ring = state.ring.clone();
    // File I/O off the async workers.
    let result = tokio::task::spawn_blocking(move || ring.reload()).await;
    match result {
        Ok(Ok(_)) => Json(state.ring.status()).into_response(),
        Ok(Err(err @ ReloadError::NoSource)) => {
            refusal(StatusCode::NOT_FOUND, "no_source", &err.to_string())
        }
        Ok(Err(err)) => refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_key_content",
            &err.to_string(),
        ),
        Err(_) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "reload_interrupted",
            "the reload did not finish; try again",
        ),
    }
}

/// `GET /metrics`: `registry` in Prometheus' text format. Serve it on the
/// admin listener, beside the admin API, never on the public one.
///
/// ```
/// use axum::Router;
/// use jwt_rollover::admin::metrics_router;
///
/// let registry = prometheus::Registry::new();
/// let admin: Router = metrics_router(registry);
/// ```
pub fn metrics_router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(registry)
}

async fn metrics(State(registry): State<Registry>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the metrics\n",
            )
                .into_response()
        }
    }
}

fn refusal(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
}
