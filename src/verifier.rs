//! Verification without HTTP: what [`JwtLayer`](crate::JwtLayer) does to a
//! token, for gRPC metadata, WebSocket messages, queues, or tests.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::rejection::Rejection;
use crate::ring::{KeyRing, Slot};
use crate::verified::{KeyMatch, Verified};
use crate::verify::{self, Rules};

/// Verifies tokens against a [`KeyRing`] with a layer's rules, and counts
/// them in the ring's metrics exactly as the layer does (verifications by
/// key, rejections by reason, previous-key usage).
///
/// Get one from a configured layer with [`JwtLayer::verifier`](crate::JwtLayer::verifier).
///
/// ```
/// use jwt_rollover::{JwtLayer, KeyRing, KeySet, Metrics, RejectionReason};
/// use std::time::Duration;
///
/// # let keys = KeySet::from_secret(b"a-demo-secret-of-at-least-32-bytes")?;
/// # let ring = KeyRing::new(keys, Metrics::new(&prometheus::Registry::new())?);
/// let verifier = JwtLayer::<serde_json::Value>::new(ring)
///     .with_leeway(Duration::from_secs(30))
///     .verifier();
/// let rejection = verifier.verify("not-a-jwt").unwrap_err();
/// assert_eq!(rejection.reason(), RejectionReason::Malformed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier<C = serde_json::Value> {
    core: Arc<VerifierCore>,
    _claims: PhantomData<fn() -> C>,
}

/// The ring and the rules: what a layer and a verifier share.
#[derive(Debug, Clone)]
pub(crate) struct VerifierCore {
    pub(crate) ring: KeyRing,
    pub(crate) rules: Rules,
}

impl VerifierCore {
    /// Verifies `token` and does the bookkeeping of an accepted or refused token.
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<C>, Rejection> {
        let result = self.verify_uncounted(token);
        if let Err(rejection) = &result {
            self.ring.metrics().rejected(rejection.reason());
        }
        result
    }

    fn verify_uncounted<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>, Rejection> {
        let ring = &self.ring;
        // One snapshot for the whole verification, never held across an await.
        let snapshot = ring.load();
        let now = ring.now();
        let accepted = verify::verify::<C>(token, &snapshot, &self.rules, now)?;
        accepted.key.verified.inc();
        if accepted.key.slot == Slot::Previous {
            ring.previous_used(
                accepted.key,
                now,
                accepted.exp,
                accepted.signature,
                self.rules.leeway,
            );
        }
        Ok(Verified {
            claims: accepted.claims,
            key: KeyMatch {
                kid: accepted.key.key.kid_arc().clone(),
                slot: accepted.key.slot,
            },
        })
    }
}

impl<C> Verifier<C> {
    pub(crate) fn new(core: VerifierCore) -> Self {
        Self {
            core: Arc::new(core),
            _claims: PhantomData,
        }
    }
}

impl<C: DeserializeOwned> Verifier<C> {
    /// Verifies a compact JWS token (no `Bearer ` prefix).
    ///
    /// # Errors
    ///
    /// The [`Rejection`] the layer would answer `401` with.
    pub fn verify(&self, token: &str) -> Result<Verified<C>, Rejection> {
        self.core.verify(token)
    }
}

impl<C> Clone for Verifier<C> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C> fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("core", &self.core)
            .finish()
    }
}
