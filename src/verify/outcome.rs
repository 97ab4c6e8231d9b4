//! What a verification yields: the typed claims and which key matched.
//! The axum extractor that hands them to a handler is in the layer.

use std::sync::Arc;

use serde::Serialize;

use crate::keys::Slot;

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
/// The claims are behind an [`Arc`]: extracting them (axum clones what it
/// takes out of the extensions) and a token-cache hit share one copy
/// instead of cloning the claims per request, and `C` needs no `Clone`.
/// Field access reads through it (`token.claims.sub`), an `Arc<C>`
/// serializes like `C` (this crate turns on serde's `rc` feature), and
/// [`Verified::into_claims`] gives them back by value.
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
/// #[derive(Deserialize)]
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
#[derive(Debug)]
pub struct Verified<C> {
    /// The token's claims, shared (see above).
    pub claims: Arc<C>,
    /// The key that verified it.
    pub key: KeyMatch,
}

impl<C> Verified<C> {
    /// The claims by value: moved out when this is their only holder,
    /// cloned otherwise (the token cache, when enabled, keeps one).
    ///
    /// ```
    /// # use jwt_rollover::{KeyRing, KeySet, Metrics, JwtLayer};
    /// # let keys = KeySet::from_secret(b"a-demo-secret-of-at-least-32-bytes")?;
    /// # let ring = KeyRing::new(keys, Metrics::new(&prometheus::Registry::new())?);
    /// # let verifier = JwtLayer::<serde_json::Value>::new(ring).verifier();
    /// # let token = jsonwebtoken::encode(
    /// #     &jsonwebtoken::Header::default(),
    /// #     &serde_json::json!({"sub": "ada", "exp": 4_000_000_000_u64}),
    /// #     &jsonwebtoken::EncodingKey::from_secret(b"a-demo-secret-of-at-least-32-bytes"),
    /// # )?;
    /// let verified = verifier.verify(&token)?;
    /// let claims: serde_json::Value = verified.into_claims();
    /// assert_eq!(claims["sub"], "ada");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_claims(self) -> C
    where
        C: Clone,
    {
        Arc::unwrap_or_clone(self.claims)
    }
}

/// Cheap: shares the claims (an `Arc`), whatever `C` is.
impl<C> Clone for Verified<C> {
    fn clone(&self) -> Self {
        Self {
            claims: Arc::clone(&self.claims),
            key: self.key.clone(),
        }
    }
}
