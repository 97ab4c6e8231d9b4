//! Where the layer reads the token from.

use http::header::{self, HeaderMap, HeaderName};

use crate::rejection::{Rejection, RejectionReason as Reason};

/// Where a request carries its token.
///
/// ```
/// use jwt_rollover::TokenSource;
///
/// use http::HeaderName;
///
/// let default = TokenSource::default(); // Authorization: Bearer <token>
/// let proxied = TokenSource::bearer_header(HeaderName::from_static("x-forwarded-authorization"));
/// let raw = TokenSource::header(HeaderName::from_static("x-jwt"));
/// let cookie = TokenSource::cookie("session");
/// # let _ = (default, proxied, raw, cookie);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSource {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `<name>: Bearer <token>`.
    Bearer(HeaderName),
    /// `<name>: <token>`.
    Header(HeaderName),
    /// `Cookie: <name>=<token>`.
    Cookie(String),
}

impl Default for TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 section 2.1).
    fn default() -> Self {
        Self::bearer_header(header::AUTHORIZATION)
    }
}

impl TokenSource {
    /// `<name>: Bearer <token>`, for proxies that move the credential to
    /// another header.
    pub fn bearer_header(name: HeaderName) -> Self {
        Self {
            kind: Kind::Bearer(name),
        }
    }

    /// `<name>: <token>`, the token alone.
    pub fn header(name: HeaderName) -> Self {
        Self {
            kind: Kind::Header(name),
        }
    }

    /// The value of the cookie `name`.
    pub fn cookie(name: impl Into<String>) -> Self {
        Self {
            kind: Kind::Cookie(name.into()),
        }
    }

    /// Finds the token, enforcing one credential per request and the size
    /// bound before the token is looked at.
    pub(crate) fn extract<'h>(
        &self,
        headers: &'h HeaderMap,
        max_bytes: usize,
    ) -> Result<&'h str, Rejection> {
        let token = match &self.kind {
            // The scheme first: another scheme is no token at all, whatever
            // bytes its credential holds (a Latin-1 Basic password).
            Kind::Bearer(name) => text(bearer(single_header(headers, name, max_bytes)?)?)?,
            Kind::Header(name) => text(single_header(headers, name, max_bytes)?)?,
            Kind::Cookie(name) => cookie(headers, name, max_bytes)?,
        };
        if token.len() > max_bytes {
            return Err(Rejection::new(
                Reason::TooLarge,
                "the token is longer than allowed",
            ));
        }
        // Whitespace inside the token is left to the base64url decoders,
        // which refuse it (`malformed`): scanning every byte here would
        // cost as much as the decoding itself.
        let blank = |b: &u8| b.is_ascii_whitespace();
        let bytes = token.as_bytes();
        if token.is_empty() || bytes.first().is_some_and(blank) || bytes.last().is_some_and(blank) {
            return Err(Rejection::new(
                Reason::Malformed,
                "the token is empty or has whitespace around it",
            ));
        }
        Ok(token)
    }
}

/// Room for the scheme and separators around a token at the size bound.
const HEADER_OVERHEAD: usize = 64;

fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    max_bytes: usize,
) -> Result<&'h [u8], Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::new(Reason::Missing, "the request has no token"));
    };
    if values.next().is_some() {
        return Err(Rejection::new(
            Reason::Malformed,
            "the request has more than one credential header",
        ));
    }
    if value.len() > max_bytes.saturating_add(HEADER_OVERHEAD) {
        return Err(Rejection::new(
            Reason::TooLarge,
            "the token is longer than allowed",
        ));
    }
    Ok(value.as_bytes())
}

/// One UTF-8 check, a word at a time on ASCII (`HeaderValue::to_str` goes
/// byte by byte). Non-ASCII text that is valid UTF-8 passes here and is
/// refused by the base64url decoders, `malformed` either way.
fn text(credential: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(credential)
        .map_err(|_| Rejection::new(Reason::Malformed, "the credential is not valid UTF-8"))
}

/// `Bearer <token>`: the scheme is case-insensitive (RFC 7235), followed by
/// one or more spaces (RFC 6750's `"Bearer" 1*SP b64token`). Any other
/// scheme counts as no token at all, as RFC 6750 section 3.1 asks.
fn bearer(value: &[u8]) -> Result<&[u8], Rejection> {
    bearer_credential(value).ok_or(Rejection::new(
        Reason::Missing,
        "the request has no Bearer token",
    ))
}

/// The credential of an `Authorization: Bearer <credential>` value, or
/// `None` for another scheme. The one Bearer parser of the crate: the
/// layer and the admin API read the header alike.
pub(crate) fn bearer_credential(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(b"bearer".len())?;
    // "Bearer" alone has an empty credential; "Bearerx" is another scheme.
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first().is_some_and(|&b| b != b' ') {
        return None;
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    Some(&rest[spaces..])
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str, max_bytes: usize) -> Result<&'h str, Rejection> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        if value.len() > max_bytes.saturating_mul(2).saturating_add(HEADER_OVERHEAD) {
            return Err(Rejection::new(
                Reason::TooLarge,
                "the cookie header is longer than allowed",
            ));
        }
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((key, token)) = pair.trim_start().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return Err(Rejection::new(
                        Reason::Malformed,
                        "the request has the token cookie more than once",
                    ));
                }
                found = Some(token);
            }
        }
    }
    found.ok_or(Rejection::new(
        Reason::Missing,
        "the request has no token cookie",
    ))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn extraction_table() {
        let bearer = TokenSource::default();
        let cookie = TokenSource::cookie("jwt");
        let raw = TokenSource::header(HeaderName::from_static("x-jwt"));
        type Case<'a> = (
            &'a str,
            &'a TokenSource,
            &'a [(&'a str, &'a str)],
            Result<&'a str, Reason>,
        );
        let cases: &[Case<'_>] = &[
            (
                "bearer",
                &bearer,
                &[("authorization", "Bearer a.b.c")],
                Ok("a.b.c"),
            ),
            (
                "scheme any case",
                &bearer,
                &[("authorization", "bEaReR a.b.c")],
                Ok("a.b.c"),
            ),
            ("no header", &bearer, &[], Err(Reason::Missing)),
            (
                "basic scheme",
                &bearer,
                &[("authorization", "Basic dXNlcjpwYXNz")],
                Err(Reason::Missing),
            ),
            (
                "scheme only",
                &bearer,
                &[("authorization", "Bearer")],
                Err(Reason::Malformed),
            ),
            (
                "empty token",
                &bearer,
                &[("authorization", "Bearer ")],
                Err(Reason::Malformed),
            ),
            (
                "two spaces (RFC 6750: 1*SP)",
                &bearer,
                &[("authorization", "Bearer  a.b.c")],
                Ok("a.b.c"),
            ),
            (
                "only spaces after the scheme",
                &bearer,
                &[("authorization", "Bearer   ")],
                Err(Reason::Malformed),
            ),
            (
                "scheme run into the token",
                &bearer,
                &[("authorization", "Bearera.b.c")],
                Err(Reason::Missing),
            ),
            (
                "trailing space",
                &bearer,
                &[("authorization", "Bearer a.b.c ")],
                Err(Reason::Malformed),
            ),
            (
                "tab",
                &bearer,
                &[("authorization", "Bearer\ta.b.c")],
                Err(Reason::Missing),
            ),
            (
                "two headers",
                &bearer,
                &[
                    ("authorization", "Bearer a.b.c"),
                    ("authorization", "Bearer d.e.f"),
                ],
                Err(Reason::Malformed),
            ),
            ("raw header", &raw, &[("x-jwt", "a.b.c")], Ok("a.b.c")),
            (
                "cookie",
                &cookie,
                &[("cookie", "theme=dark; jwt=a.b.c")],
                Ok("a.b.c"),
            ),
            (
                "cookie split",
                &cookie,
                &[("cookie", "a=1"), ("cookie", "jwt=a.b.c")],
                Ok("a.b.c"),
            ),
            (
                "cookie missing",
                &cookie,
                &[("cookie", "theme=dark")],
                Err(Reason::Missing),
            ),
            (
                "cookie twice",
                &cookie,
                &[("cookie", "jwt=a.b.c; jwt=d.e.f")],
                Err(Reason::Malformed),
            ),
        ];
        for (name, source, pairs, expected) in cases {
            let map = headers(pairs);
            let got = source
                .extract(&map, 8192)
                .map_err(|rejection| rejection.reason());
            assert_eq!(got, *expected, "case {name:?}");
        }
    }

    #[test]
    fn size_bound_applies_before_parsing() {
        let long = format!("Bearer {}", "a".repeat(9000));
        let map = headers(&[("authorization", &long)]);
        let got = TokenSource::default().extract(&map, 8192);
        assert_eq!(got.unwrap_err().reason(), Reason::TooLarge);
        let just_over = format!("Bearer {}", "a".repeat(101));
        let map = headers(&[("authorization", &just_over)]);
        let got = TokenSource::default().extract(&map, 100);
        assert_eq!(got.unwrap_err().reason(), Reason::TooLarge);
    }
}
