//! The tower middleware that verifies each request's JWT.

#[cfg(feature = "axum")]
mod extract;
mod service;
mod token_source;

pub use service::{JwtLayer, JwtService, ResponseFuture};
pub use token_source::TokenSource;

#[cfg(feature = "axum")]
pub(crate) use token_source::bearer_credential;
