//! Verification without HTTP: what [`JwtLayer`](crate::JwtLayer) does to a
//! token, for gRPC metadata, WebSocket messages, queues, or tests.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::keys::Slot;
use crate::rejection::Rejection;
use crate::ring::{KeyRing, KidLookup, SlottedKey, Snapshot};
use crate::verify::cache::{self, TokenCache};
use crate::verify::outcome::{KeyMatch, Verified};
use crate::verify::token::{self, Rules};

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
    core: Arc<VerifierCore<C>>,
}

/// The ring, the rules and the optional cache: what a layer and a verifier share.
pub(crate) struct VerifierCore<C> {
    pub(crate) ring: KeyRing,
    pub(crate) rules: Rules,
    pub(crate) cache: Option<Arc<TokenCache<C>>>,
}

impl<C> Clone for VerifierCore<C> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            rules: self.rules.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<C> fmt::Debug for VerifierCore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierCore")
            .field("ring", &self.ring)
            .field("rules", &self.rules)
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

impl<C: DeserializeOwned> VerifierCore<C> {
    /// Verifies `token` and does the bookkeeping of an accepted or refused token.
    pub(crate) fn verify(&self, token: &str) -> Result<Verified<C>, Rejection> {
        let result = self.verify_uncounted(token);
        if let Err(rejection) = &result {
            self.ring.metrics().rejected(rejection.reason());
        }
        result
    }

    fn verify_uncounted(&self, token: &str) -> Result<Verified<C>, Rejection> {
        let ring = &self.ring;
        // One snapshot for the whole verification, never held across an await.
        let snapshot = ring.load();
        let now = ring.now();
        if let Some(cache) = &self.cache {
            if let Some(verified) = self.cached(cache, token, &snapshot, now) {
                return Ok(verified);
            }
            ring.metrics().token_cache_missed();
        }
        let accepted = token::check::<C>(token, &snapshot, &self.rules, now)?;
        self.count(accepted.key, now, accepted.exp, || accepted.signature);
        let key = KeyMatch {
            kid: accepted.key.key.kid_arc().clone(),
            slot: accepted.key.slot,
        };
        let Some(cache) = &self.cache else {
            return Ok(Verified {
                claims: Arc::new(accepted.claims),
                key,
            });
        };
        match self.cache_entry(accepted, snapshot.generation) {
            Ok(entry) => {
                let claims = entry.claims.clone();
                let evicted = cache.insert(token, entry);
                ring.metrics().token_cache_evicted(evicted);
                Ok(Verified { claims, key })
            }
            Err(claims) => Ok(Verified {
                claims: Arc::new(claims),
                key,
            }),
        }
    }

    /// What the cache keeps of an accepted token. A token without `exp` is
    /// never cached: its claims come back as the error.
    fn cache_entry(
        &self,
        accepted: token::Accepted<'_, '_, C>,
        generation: u64,
    ) -> Result<cache::CachedToken<C>, C> {
        let Some(exp) = accepted.exp else {
            return Err(accepted.claims);
        };
        let leeway = self.rules.leeway;
        Ok(cache::CachedToken {
            claims: Arc::new(accepted.claims),
            // A copy of its own, not the key's `Arc`: hits on different
            // tokens from different cores then share no reference count
            // (benches/contention.rs).
            kid: Arc::from(accepted.key.key.kid()),
            slot: accepted.key.slot,
            generation,
            exp,
            valid_from: accepted.nbf.map_or(0, |nbf| nbf.saturating_sub(leeway)),
            valid_until: exp.saturating_add(leeway),
            claims_bytes: accepted.claims_bytes,
        })
    }

    /// A cached verification, counted exactly like a fresh one.
    fn cached(
        &self,
        cache: &TokenCache<C>,
        token: &str,
        snapshot: &Snapshot,
        now: u64,
    ) -> Option<Verified<C>> {
        let hit = cache.get(token, snapshot.generation, now, || {
            let accepted = token::check::<C>(token, snapshot, &self.rules, now).ok()?;
            self.cache_entry(accepted, snapshot.generation).ok()
        })?;
        // Same generation, so the key is in the snapshot in the same slot.
        let KidLookup::Found(key) = snapshot.find(&hit.kid) else {
            return None;
        };
        if key.slot != hit.slot {
            return None;
        }
        self.ring.metrics().token_cache_hit();
        self.count(key, now, hit.exp, || {
            token.rsplit('.').next().unwrap_or(token)
        });
        Some(Verified {
            claims: hit.claims,
            key: KeyMatch {
                kid: hit.kid,
                slot: hit.slot,
            },
        })
    }

    /// Counts a use of `key`. The signature is only looked for when the
    /// previous key's tracker needs it: a current-key cache hit never scans
    /// the token for it.
    fn count<'t>(
        &self,
        key: &SlottedKey,
        now: u64,
        exp: Option<u64>,
        signature: impl FnOnce() -> &'t str,
    ) {
        key.verified.inc();
        if key.slot == Slot::Previous {
            self.ring
                .previous_used(key, now, exp, signature(), self.rules.leeway);
        }
    }
}

impl<C> Verifier<C> {
    pub(crate) fn new(core: VerifierCore<C>) -> Self {
        Self {
            core: Arc::new(core),
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
