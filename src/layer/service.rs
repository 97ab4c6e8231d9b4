//! The middleware, as tower-http lays one out: the layer (configuration
//! only, cheap to clone), the service it builds (verify, then call the
//! inner service or answer `401`), and the response future (the inner
//! future, or a ready rejection; never boxed).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

use super::token_source::TokenSource;
use crate::ring::KeyRing;
use crate::verify::{Rules, TokenCache, TokenCacheConfig, Verifier, VerifierCore};

/// Verifies JWTs against a [`KeyRing`]'s current and previous keys.
///
/// `C` is the claims type handlers receive through [`Verified<C>`](crate::Verified);
/// the default, [`serde_json::Value`], accepts any claims object.
///
/// [`JwtLayer`] wraps any service taking `http::Request`s, such as an axum
/// `Router`. For every request it:
///
/// 1. reads the token (by default `Authorization: Bearer <token>`, see
///    [`TokenSource`]), refusing more than one credential and anything over
///    the size bound;
/// 2. picks the key: the header's `kid` selects the current or previous key
///    (one signature check); without `kid` the current key is tried, then the
///    previous one; a `kid` no loaded key has is refused without crypto;
/// 3. checks the signature with the algorithm the key is pinned to, then
///    `exp`, `nbf` (with leeway), and the optional `iss`, `aud` and required
///    claims;
/// 4. on success, counts `jwt_verifications_total{slot,kid}` and puts a
///    [`Verified<C>`](crate::Verified) in the request's extensions;
/// 5. otherwise counts `jwt_rejections_total{reason}` and answers `401` with
///    an RFC 6750 `WWW-Authenticate` header (see [`Rejection`](crate::Rejection)).
///
/// A bad token is always a `401`, never an error from the service: the
/// service's error type is the inner service's.
///
/// # Example
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use jwt_rollover::{JwtLayer, KeyFile, KeyRing, Metrics, Verified};
/// use serde::Deserialize;
/// use std::time::Duration;
///
/// #[derive(Deserialize)]
/// struct Claims {
///     sub: String,
/// }
///
/// async fn hello(token: Verified<Claims>) -> String {
///     format!("hello {}", token.claims.sub)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = prometheus::Registry::new();
/// # let dir = std::env::temp_dir().join(format!("jwt-rollover-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("secret");
/// # std::fs::write(&path, "a-demo-secret-of-at-least-32-bytes\n")?;
/// let keys = KeyFile::secret(&path).load()?; // or KeyFile::jwks, the default format
/// let ring = KeyRing::new(keys, Metrics::new(&registry)?);
///
/// let app: Router = Router::new()
///     .route("/hello", get(hello))
///     .layer(
///         JwtLayer::<Claims>::new(ring.clone())
///             .with_leeway(Duration::from_secs(30))
///             .with_issuers(["https://auth.example.com"]),
///     );
/// # Ok(())
/// # }
/// ```
pub struct JwtLayer<C = serde_json::Value> {
    config: Arc<Config<C>>,
}

struct Config<C> {
    core: VerifierCore<C>,
    source: TokenSource,
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

    /// Caches verified tokens (off by default): see [`TokenCacheConfig`] for
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

/// The service built by [`JwtLayer`]: see there.
pub struct JwtService<S, C> {
    inner: S,
    config: Arc<Config<C>>,
}

impl<S, C> JwtService<S, C> {
    fn new(inner: S, config: Arc<Config<C>>) -> Self {
        Self { inner, config }
    }
}

impl<S: Clone, C> Clone for JwtService<S, C> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.config.clone())
    }
}

impl<S: fmt::Debug, C> fmt::Debug for JwtService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for JwtService<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: DeserializeOwned + Send + Sync + 'static,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let verified = match config
            .source
            .extract(request.headers(), config.core.rules.max_token_bytes)
        {
            Ok(token) => config.core.verify(token),
            Err(rejection) => {
                config.core.ring.metrics().rejected(rejection.reason());
                Err(rejection)
            }
        };
        match verified {
            Ok(verified) => {
                request.extensions_mut().insert(verified);
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(rejection) => {
                tracing::debug!(reason = %rejection.reason(), detail = rejection.detail(), "JWT rejected");
                ResponseFuture::rejected(rejection.into_response())
            }
        }
    }
}

pin_project! {
    /// Response future of [`JwtService`](JwtService). Not boxed: a
    /// rejection is a ready response, anything else polls the inner future.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn rejected(response: Response<B>) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Rejected { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}
