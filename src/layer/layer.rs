//! The layer: configuration only, cheap to clone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::service::JwtService;
use super::token_source::TokenSource;
use crate::cache::{TokenCache, TokenCacheConfig};
use crate::ring::KeyRing;
use crate::verifier::{Verifier, VerifierCore};
use crate::verify::Rules;

/// Verifies JWTs against a [`KeyRing`]'s current and previous keys: see the
/// [module docs](crate::layer).
///
/// `C` is the claims type handlers receive through [`Verified<C>`](crate::Verified);
/// the default, [`serde_json::Value`], accepts any claims object.
pub struct JwtLayer<C = serde_json::Value> {
    config: Arc<Config<C>>,
}

pub(super) struct Config<C> {
    pub(super) core: VerifierCore<C>,
    pub(super) source: TokenSource,
}

impl<C> Clone for Config<C> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            source: self.source.clone(),
        }
    }
}

impl<C> fmt::Debug for Config<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("core", &self.core)
            .field("source", &self.source)
            .finish()
    }
}

impl<C> JwtLayer<C> {
    /// A layer verifying against `ring`, with the defaults: token from
    /// `Authorization: Bearer`, at most 8 KiB, `exp` required, 60 s leeway,
    /// no `iss`/`aud` checks, tokens without `kid` allowed.
    pub fn new(ring: KeyRing) -> Self {
        Self {
            config: Arc::new(Config {
                core: VerifierCore {
                    ring,
                    rules: Rules::default(),
                    cache: None,
                },
                source: TokenSource::default(),
            }),
        }
    }

    fn rules(&mut self) -> &mut Rules {
        &mut Arc::make_mut(&mut self.config).core.rules
    }

    /// A [`Verifier`] with this layer's ring and rules, to verify tokens
    /// that do not arrive in HTTP requests.
    pub fn verifier(&self) -> Verifier<C> {
        Verifier::new(self.config.core.clone())
    }

    /// Clock skew allowed on `exp` and `nbf` (default 60 s; whole seconds,
    /// rounded down).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.rules().leeway = leeway.as_secs();
        self
    }

    /// Accept only tokens whose `iss` is one of `issuers`. A token without
    /// `iss` is then refused.
    #[must_use]
    pub fn with_issuers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules().issuers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// Accept only tokens whose `aud` (a string or an array) names one of
    /// `audiences`. A token without `aud` is then refused.
    #[must_use]
    pub fn with_audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules().audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Claims every token must have (any names, for example `sub`), on top
    /// of `exp`.
    #[must_use]
    pub fn with_required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut claims: Vec<String> = claims.into_iter().map(Into::into).collect();
        claims.sort_unstable();
        claims.dedup();
        self.rules().required_claims = claims.into();
        self
    }

    /// Whether `exp` is required (default `true`). Turning it off accepts
    /// tokens that never expire; `exp` is still checked when present.
    #[must_use]
    pub fn with_exp_required(mut self, required: bool) -> Self {
        self.rules().require_exp = required;
        self
    }

    /// Refuse tokens without `kid` (`unknown_kid`) instead of trying the
    /// current, then the previous key.
    #[must_use]
    pub fn with_kid_required(mut self, required: bool) -> Self {
        self.rules().require_kid = required;
        self
    }

    /// Longest token accepted (default 8 KiB). Longer ones are refused as
    /// `too_large` before any decoding.
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.rules().max_token_bytes = max;
        self
    }

    /// Caches verified tokens (off by default): see [`crate::cache`] for
    /// what it guarantees and when it pays.
    #[must_use]
    pub fn with_token_cache(mut self, config: TokenCacheConfig) -> Self {
        let cache = (config.max_entries() > 0).then(|| Arc::new(TokenCache::new(config)));
        Arc::make_mut(&mut self.config).core.cache = cache;
        self
    }

    /// Where requests carry the token (default `Authorization: Bearer`).
    #[must_use]
    pub fn with_token_source(mut self, source: TokenSource) -> Self {
        Arc::make_mut(&mut self.config).source = source;
        self
    }
}

impl<C> Clone for JwtLayer<C> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

impl<C> fmt::Debug for JwtLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayer")
            .field("config", &self.config)
            .field("claims", &std::any::type_name::<C>())
            .finish()
    }
}

impl<S, C> Layer<S> for JwtLayer<C> {
    type Service = JwtService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtService::new(inner, self.config.clone())
    }
}
