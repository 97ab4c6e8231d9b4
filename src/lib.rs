//! Rotate JWT signing keys without rejecting a single valid request.
//!
//! The moment a signing key changes, every token signed with the old key
//! would be rejected. The safe procedure is to accept the new key *and* the
//! previous one, watch until the previous key stops being used, then drop
//! it. This crate makes that procedure a library:
//!
//! - [`KeyFile`] reads a JWKS file or a raw secret, in the format it is
//!   configured with, into a [`KeySet`] of one or two keys, each pinned to
//!   its algorithm.
//! - [`KeyRing`] holds the current and previous key as an immutable,
//!   atomically swapped snapshot; it [reloads](KeyRing::reload) and
//!   [watches](KeyRing::watch) the key file, and retires the previous key
//!   under a [`RetirePolicy`].
//! - [`JwtLayer`] is a tower layer that verifies each request's token
//!   against the ring and hands the typed claims to handlers as
//!   [`Verified<C>`], answering RFC 6750 `401`s otherwise ([`Rejection`]).
//!   [`Verifier`] is the same check without tower.
//! - [`Metrics`] counts which key matched and every rejection by reason,
//!   on your Prometheus `Registry`.
//! - [`admin`] is the admin API, and [`status`] the state it reports.
//! - [`fleet`] makes retirement wait for the whole fleet (many replicas),
//!   read from the Prometheus that scrapes them.
//! - `Signer` (cargo feature `signer`) signs tokens from the same ring,
//!   switching to a new key only once every replica has it.
//! - [`JwtRollover`] wires all of it in one call.
//!
//! The `jwt-rollover` command (cargo feature `cli`) makes keys, rotates a
//! JWKS, mints and inspects tokens, and drives the admin API through a
//! rotation.
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

// One folder (or file) per layer; code imports only from its own layer and
// those below it: leaves (clock, prehashed, rejection) -> keys -> metrics ->
// ring -> fleet -> signing -> verify -> layer -> admin -> rollover. `tests/architecture.rs`
// holds that.
#[cfg(feature = "axum")]
pub mod admin;
mod clock;
pub mod fleet;
mod keys;
mod layer;
mod metrics;
mod prehashed;
mod rejection;
mod ring;
mod rollover;
#[cfg(feature = "signer")]
mod signing;
mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use jsonwebtoken::Algorithm;
pub use keys::{
    DEFAULT_READ_TIMEOUT, Key, KeyError, KeyFile, KeyFormat, KeySet, MAX_KEY_FILE_BYTES,
    MIN_HMAC_SECRET_BYTES, MIN_RSA_BITS, Slot,
};
pub use layer::{JwtLayer, JwtService, ResponseFuture, TokenSource};
pub use metrics::Metrics;
pub use rejection::{Rejection, RejectionReason};
pub use ring::status;
pub use ring::{
    AutoRetireTask, KeyRing, KeyRingBuilder, ReloadError, ReloadOutcome, RetireError, RetirePolicy,
    RetireRequest, RingError,
};
#[cfg(feature = "watch")]
pub use ring::{KeyFileLayout, KeyWatcher, WatchError, WatchOptions};
pub use rollover::{JwtRollover, JwtRolloverBuilder, StartError};
#[cfg(feature = "signer")]
pub use signing::{
    DEFAULT_ACTIVATION_DELAY, DEFAULT_FLEET_POLL, DEFAULT_PRIVATE_KEYS_POLL, PrivateKeysError,
    SignError, Signer, SignerBuilder, SignerError, SigningKey, SigningKeyError, SigningKeySet,
};
pub use verify::{
    DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES, KeyMatch, TokenCacheConfig, Verified, Verifier,
};
