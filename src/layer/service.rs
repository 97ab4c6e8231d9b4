//! The middleware service: verify, then call the inner service or answer `401`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Config;

/// The service built by [`JwtLayer`](super::JwtLayer): see the [module docs](crate::layer).
pub struct JwtService<S, C> {
    inner: S,
    config: Arc<Config<C>>,
}

impl<S, C> JwtService<S, C> {
    pub(super) fn new(inner: S, config: Arc<Config<C>>) -> Self {
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
