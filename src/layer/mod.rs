//! The tower middleware that verifies each request's JWT.

mod extract;
mod service;
mod token_source;

pub use service::{JwtLayer, JwtService, ResponseFuture};
pub use token_source::TokenSource;

pub(crate) use token_source::bearer_credential;
