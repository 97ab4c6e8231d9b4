//! Why a request was refused, and the RFC 6750 `401` that says so.
//!
//! Every refusal has a [`RejectionReason`] (the `reason` label of
//! `jwt_rejections_total`) and a fixed detail text. Both are static strings
//! chosen here, so no token or key material can reach a response or a log.
//!
//! The response is `401 Unauthorized` with an empty body and:
//!
//! - no token at all (or a non-Bearer scheme, RFC 6750 section 3.1):
//!   `WWW-Authenticate: Bearer`
//! - any other reason:
//!   `WWW-Authenticate: Bearer error="invalid_token", error_description="<reason>: <detail>"`,
//!   for example `error_description="expired: the token has expired"`.
//!
//! The description starts with the reason code, so clients and tests can
//! match it without parsing prose.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};

/// The reasons a token is refused: the `reason` label values of
/// `jwt_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionReason {
    /// No token where the layer looks for one (or a non-Bearer scheme).
    Missing,
    /// Not a well-formed JWT: not a JWS compact token (three base64url
    /// parts, a JSON object header), a payload that is not a JSON object of
    /// claims with unique registered claims (RFC 7519 section 7.2 asks for
    /// one, so this holds even behind a valid signature), or a request
    /// with several tokens.
    Malformed,
    /// Longer than the configured limit; refused before any decoding.
    TooLarge,
    /// The header names a `kid` no loaded key has, or no `kid` where one is required.
    UnknownKid,
    /// The header names the `kid` of a key that was retired, and the token
    /// has not expired (an expired one is [`Expired`](Self::Expired)): the
    /// sign that a key was retired while clients still use it.
    RetiredKey,
    /// No key's signature check passed.
    BadSignature,
    /// The header's `alg` is not the algorithm its key is pinned to, or
    /// is `none` in any case, whatever the signature part holds: the
    /// algorithm-confusion class operators alert on.
    WrongAlg,
    /// `exp` (plus leeway) is in the past.
    Expired,
    /// `nbf` (minus leeway) is in the future.
    Immature,
    /// Claims are of the wrong type, or fail the `iss`, `aud` or required-claims checks.
    InvalidClaims,
}

impl RejectionReason {
    /// Every reason, in a fixed order (the metrics keep one counter each).
    pub const ALL: [Self; 10] = [
        Self::Missing,
        Self::Malformed,
        Self::TooLarge,
        Self::UnknownKid,
        Self::RetiredKey,
        Self::BadSignature,
        Self::WrongAlg,
        Self::Expired,
        Self::Immature,
        Self::InvalidClaims,
    ];

    /// The label value, as in `jwt_rejections_total{reason="expired"}`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::UnknownKid => "unknown_kid",
            Self::RetiredKey => "retired_key",
            Self::BadSignature => "bad_signature",
            Self::WrongAlg => "wrong_alg",
            Self::Expired => "expired",
            Self::Immature => "immature",
            Self::InvalidClaims => "invalid_claims",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the reason and a fixed, non-leaking detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    reason: RejectionReason,
    detail: &'static str,
}

impl Rejection {
    pub(crate) const fn new(reason: RejectionReason, detail: &'static str) -> Self {
        Self { reason, detail }
    }

    /// Why the request was refused.
    pub fn reason(&self) -> RejectionReason {
        self.reason
    }

    /// A short human-readable explanation, safe to show to the client.
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// The `WWW-Authenticate` value for this rejection.
    pub fn www_authenticate(&self) -> HeaderValue {
        if self.reason == RejectionReason::Missing {
            return HeaderValue::from_static("Bearer");
        }
        let value = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}: {}\"",
            self.reason, self.detail
        );
        // Details are our own ASCII literals without quotes or backslashes,
        // so this cannot fail; the fallback keeps the response valid anyway.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// The `401` response, with an empty body of any default-constructible type.
    pub fn into_response<B: Default>(self) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.www_authenticate());
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// So that `Verifier::verify(..)?` works in functions returning
/// `Box<dyn Error>` or `anyhow::Result`.
impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_distinct_label_in_index_order() {
        for (index, reason) in RejectionReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index);
        }
        let mut labels: Vec<_> = RejectionReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectionReason::ALL.len());
    }

    #[test]
    fn missing_token_gets_a_bare_challenge() {
        let rejection = Rejection::new(RejectionReason::Missing, "no bearer token");
        assert_eq!(rejection.www_authenticate(), "Bearer");
    }

    #[test]
    fn other_reasons_name_the_reason_first() {
        let rejection = Rejection::new(RejectionReason::Expired, "the token has expired");
        let response = rejection.into_response::<String>();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"expired: the token has expired\""
        );
    }
}
