//! Rotate JWT signing keys without rejecting a single valid request.
//!
//! The moment a signing key changes, every token signed with the old key
//! would be rejected. The safe procedure is to accept the new key *and* the
//! previous one, watch until the previous key stops being used, then drop
//! it. This crate makes that procedure a library:
//!
//! - [`KeySet`] parses a JWKS file or a raw secret into one or two keys,
//!   each pinned to its algorithm ([`keys`]).
//! - [`KeyRing`] holds the current and previous key as an immutable,
//!   atomically swapped snapshot ([`ring`]).
//! - [`JwtLayer`] is a tower layer that verifies each request's token
//!   against the ring and hands the typed claims to handlers as
//!   [`Verified<C>`] ([`layer`]), answering RFC 6750 `401`s otherwise
//!   ([`Rejection`]).
//! - [`Metrics`] counts which key matched and every rejection by reason,
//!   on your Prometheus `Registry` ([`metrics`]).
//!
//! # Example
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use jwt_rollover::{JwtLayer, KeyRing, KeySet, Metrics, Verified};
//!
//! async fn whoami(token: Verified<serde_json::Value>) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({
//!         "claims": token.claims,
//!         "kid": token.key.kid,
//!         "slot": token.key.slot,
//!     }))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = prometheus::Registry::new();
//! let keys = KeySet::from_jwks(br#"{"keys": [
//!     {"kty": "oct", "kid": "2026-11", "alg": "HS256", "k": "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQtISE"}
//! ]}"#)?;
//! let ring = KeyRing::new(keys, Metrics::new(&registry)?);
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(JwtLayer::<serde_json::Value>::new(ring));
//! # Ok(())
//! # }
//! ```
//!
//! # Crypto backend
//!
//! The `aws-lc-rs` feature (default) or `rust-crypto` picks jsonwebtoken's
//! backend. The crate installs it as jsonwebtoken's process default itself,
//! so jsonwebtoken's "no CryptoProvider" panic cannot happen; a provider the
//! application installed first is kept.

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod admin;
pub mod cache;
mod clock;
mod crypto;
mod header_memo;
pub mod keys;
pub mod layer;
pub mod metrics;
mod prehashed;
mod rejection;
pub mod retire;
pub mod ring;
mod sharded;
pub mod source;
pub mod status;
#[cfg(test)]
mod test_keys;
pub mod tracker;
pub mod transition;
mod verified;
mod verifier;
mod verify;
pub mod watch;

pub use cache::TokenCacheConfig;
pub use clock::{Clock, ManualClock, SystemClock};
pub use jsonwebtoken::Algorithm;
pub use keys::{Key, KeyError, KeyFile, KeyFormat, KeySet};
pub use layer::{JwtLayer, TokenSource};
pub use metrics::{Metrics, RetireTrigger};
pub use rejection::{Rejection, RejectionReason};
pub use retire::{Blocker, BlockerKind, Eligibility, RetirePolicy};
pub use ring::{AutoRetireTask, KeyRing, KeyRingBuilder, RetireError, RingError, Slot};
pub use source::{ReloadError, ReloadOutcome};
pub use status::KeyRingStatus;
pub use verified::{KeyMatch, Verified};
pub use verifier::Verifier;
pub use verify::{DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES};

// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
