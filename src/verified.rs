//! What a verified request carries: the typed claims and which key matched,
//! and the axum extractor that hands them to a handler.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;

use crate::ring::Slot;

/// Which key verified the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyMatch {
    /// The matching key's `kid`.
    pub kid: Arc<str>,
    /// Whether it was the current or the previous key.
    pub slot: Slot,
}

/// A verified token: the claims, deserialized into `C`, and the key that
/// matched. [`JwtLayer`](crate::JwtLayer) puts it in the request's
/// extensions; as an axum extractor it hands it to a handler.
///
/// `C` must be the claims type the layer was built with. With a route the
/// layer does not cover (or another `C`), extraction fails with a `500`
/// that names the mistake: that is a wiring bug, not a client error.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use jwt_rollover::Verified;
/// use serde::Deserialize;
///
/// #[derive(Clone, Deserialize)]
/// struct Claims {
///     sub: String,
/// }
///
/// async fn whoami(token: Verified<Claims>) -> String {
///     format!("{} (key {}, {})", token.claims.sub, token.key.kid, token.key.slot)
/// }
///
/// let app: Router = Router::new().route("/whoami", get(whoami));
/// ```
#[derive(Debug, Clone)]
pub struct Verified<C> {
    /// The token's claims.
    pub claims: C,
    /// The key that verified it.
    pub key: KeyMatch,
}

impl<C, S> FromRequestParts<S> for Verified<C>
where
    C: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = (StatusCode, String);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            tracing::error!(
                claims = std::any::type_name::<C>(),
                "Verified extractor used where no JwtLayer with these claims ran"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "no verified token of claims type `{}`: is JwtLayer<{0}> applied to this route?",
                    std::any::type_name::<C>()
                ),
            )
        })
    }
}

/// `Option<Verified<C>>` never fails: `None` where the layer did not run.
impl<C, S> OptionalFromRequestParts<S> for Verified<C>
where
    C: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}
