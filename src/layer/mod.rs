//! The tower middleware that verifies each request's JWT.
//!
//! [`JwtLayer`] wraps any service taking `http::Request`s, such as an axum
//! `Router`. For every request it:
//!
//! 1. reads the token (by default `Authorization: Bearer <token>`, see
//!    [`TokenSource`]), refusing more than one credential and anything over
//!    the size bound;
//! 2. picks the key: the header's `kid` selects the current or previous key
//!    (one signature check); without `kid` the current key is tried, then the
//!    previous one; a `kid` no loaded key has is refused without crypto;
//! 3. checks the signature with the algorithm the key is pinned to, then
//!    `exp`, `nbf` (with leeway), and the optional `iss`, `aud` and required
//!    claims;
//! 4. on success, counts `jwt_verifications_total{slot,kid}` and puts a
//!    [`Verified<C>`](crate::Verified) in the request's extensions;
//! 5. otherwise counts `jwt_rejections_total{reason}` and answers `401` with
//!    an RFC 6750 `WWW-Authenticate` header (see [`Rejection`](crate::Rejection)).
//!
//! A bad token is always a `401`, never an error from the service: the
//! service's error type is the inner service's.
//!
//! # Example
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use jwt_rollover::{JwtLayer, KeyFile, KeyRing, Metrics, Verified};
//! use serde::Deserialize;
//! use std::time::Duration;
//!
//! #[derive(Deserialize)]
//! struct Claims {
//!     sub: String,
//! }
//!
//! async fn hello(token: Verified<Claims>) -> String {
//!     format!("hello {}", token.claims.sub)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = prometheus::Registry::new();
//! # let dir = std::env::temp_dir().join(format!("jwt-rollover-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("secret");
//! # std::fs::write(&path, "a-demo-secret-of-at-least-32-bytes\n")?;
//! let keys = KeyFile::secret(&path).load()?; // or KeyFile::jwks, the default format
//! let ring = KeyRing::new(keys, Metrics::new(&registry)?);
//!
//! let app: Router = Router::new()
//!     .route("/hello", get(hello))
//!     .layer(
//!         JwtLayer::<Claims>::new(ring.clone())
//!             .with_leeway(Duration::from_secs(30))
//!             .with_issuers(["https://auth.example.com"]),
//!     );
//! # Ok(())
//! # }
//! ```

mod future;
// tower-http's layout: layer.rs, service.rs, future.rs.
#[allow(clippy::module_inception)]
mod layer;
mod service;
mod token_source;

pub use future::ResponseFuture;
pub use layer::JwtLayer;
pub use service::JwtService;
pub use token_source::TokenSource;
pub(crate) use token_source::bearer_credential;
