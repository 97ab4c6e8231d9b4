//! The axum extractor: a handler names `Verified<C>` (or
//! `Option<Verified<C>>`) and gets what [`JwtLayer`](crate::JwtLayer) put in
//! the request.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::StatusCode;
use http::request::Parts;

use crate::verify::Verified;

impl<C, S> FromRequestParts<S> for Verified<C>
where
    C: Send + Sync + 'static,
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
    C: Send + Sync + 'static,
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
