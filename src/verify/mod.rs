//! Verification: one token against one ring snapshot (the pure check in
//! `token`, with its one-pass claims reader), the [`Verifier`] that wraps it
//! with the metrics, the previous-key tracker and the optional token cache,
//! and what a verification yields ([`Verified`], [`KeyMatch`]).

mod cache;
mod outcome;
mod token;
mod verifier;

pub use cache::TokenCacheConfig;
pub use outcome::{KeyMatch, Verified};
pub use token::{DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES};
pub use verifier::Verifier;

pub(crate) use cache::TokenCache;
pub(crate) use token::Rules;
pub(crate) use verifier::VerifierCore;
