//! Token verification as a pure function: token text, ring snapshot, rules
//! and "now" in; typed claims and the matching key, or a [`Rejection`], out.
//!
//! The order of checks is chosen so that a token the header already rules
//! out never reaches crypto:
//!
//! 1. size, three parts, header and payload non-empty;
//! 2. header: base64url, JSON object, `alg` and `kid` strings; `alg: none`
//!    (any case) is `wrong_alg` even with an empty signature part; then a
//!    non-empty signature part and no `crit`;
//!    a header already read in this ring snapshot (same text, from a token
//!    whose signature matched) is not read again ([`header_memo`]);
//! 3. key choice: `kid` known (one key), retired, or unknown; no `kid`: the
//!    keys pinned to the header's `alg`, current first; `alg` must be the
//!    chosen key's (never `none`);
//! 4. payload and signature are valid base64url;
//! 5. signature, against each candidate key;
//! 6. claims: a JSON object, read once into the application's claims type
//!    while the registered claims are noted ([`one_pass`]); then `exp`,
//!    `nbf`, `iss`, `aud` and required claims are checked. When that pass
//!    fails, two passes (registered claims, then the type) name the reason,
//!    registered claims first.
//!
//! Claims semantics follow `jsonwebtoken::Validation` (so that the two
//! agree) with these deliberate differences:
//!
//! - `nbf` is checked whenever present;
//! - a configured issuer or audience makes `iss` or `aud` required (with
//!   jsonwebtoken a token without them passes);
//! - with no audience configured, `aud` is not checked (jsonwebtoken rejects
//!   any token that has one);
//! - `sub`, when present, must be a string, and appear once (jsonwebtoken
//!   ignores a number);
//! - the claims must be a JSON object (jsonwebtoken also reads an array by
//!   position), and a configured issuer must match a string `iss`
//!   (jsonwebtoken also accepts an array);
//! - header members we do not act on are not checked (jsonwebtoken refuses
//!   a `typ`, `x5c` or `jwk` of the wrong type, or a duplicate);
//! - `exp`/`nbf` are RFC 7519 NumericDates: integers, or non-integers that
//!   are rounded like jsonwebtoken does (PyJWT users often write
//!   `time.time() + 3600`). Strings, negatives, `null` and numbers beyond
//!   `u64` (`1e400` too) are `invalid_claims`.
//!
//! The request path allocates nothing of its own for a typical token:
//! header and payload decode into stack buffers, and the registered claims
//! are borrowed from the payload and parsed only when a rule needs them.
//! What remains is the application's claims type (and, once per ring
//! snapshot and distinct header, the header memo's entry).
//!
//! [`header_memo`]: crate::ring::header_memo

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::rejection::{Rejection, RejectionReason as Reason};
use crate::ring::{KidLookup, SlottedKey, Snapshot};

/// Default bound on a token's length, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Default clock skew allowed on `exp` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Large enough for an RSA-8192 signature.
const MAX_SIGNATURE_BYTES: usize = 1024;
/// Headers and payloads up to these sizes decode on the stack; larger ones
/// (rare: the whole token is bounded) fall back to the heap.
const HEADER_STACK_BYTES: usize = 512;
const PAYLOAD_STACK_BYTES: usize = 2048;

/// Decodes base64url into `stack` when it fits, else into `heap`, so the
/// common request allocates nothing for it.
fn decode_b64<'b>(
    b64: &str,
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], base64::DecodeSliceError> {
    if base64::decoded_len_estimate(b64.len()) <= stack.len() {
        let len = URL_SAFE_NO_PAD.decode_slice(b64, stack)?;
        Ok(&stack[..len])
    } else {
        *heap = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(base64::DecodeSliceError::DecodeError)?;
        Ok(heap)
    }
}

/// The claim checks a layer applies, beyond the signature.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) leeway: u64,
    pub(crate) require_exp: bool,
    pub(crate) issuers: Option<Box<[String]>>,
    pub(crate) audiences: Option<Box<[String]>>,
    /// Claim names that must be present, beyond `exp`.
    pub(crate) required_claims: Box<[String]>,
    pub(crate) require_kid: bool,
    pub(crate) max_token_bytes: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            leeway: DEFAULT_LEEWAY_SECS,
            require_exp: true,
            issuers: None,
            audiences: None,
            required_claims: Box::new([]),
            require_kid: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// A token that passed every check.
pub(crate) struct Accepted<'s, 't, C> {
    pub(crate) claims: C,
    pub(crate) key: &'s SlottedKey,
    pub(crate) exp: Option<u64>,
    pub(crate) nbf: Option<u64>,
    /// The signature part, which identifies the token for the tracker.
    pub(crate) signature: &'t str,
    /// Size of the claims' JSON.
    pub(crate) claims_bytes: usize,
}

impl<C> fmt::Debug for Accepted<'_, '_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accepted")
            .field("kid", &self.key.key.kid())
            .field("slot", &self.key.slot)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

const fn reject(reason: Reason, detail: &'static str) -> Rejection {
    Rejection::new(reason, detail)
}

/// The JOSE header members we act on. Others are ignored; a duplicate of
/// one of these is a parse error, so two parsers can never disagree on them.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    /// `"kid": null` is not a kid: it must be a string when present.
    #[serde(borrow, default, deserialize_with = "present_string")]
    kid: Option<Cow<'a, str>>,
    /// Any `crit`, even `null`, asks for extensions we do not implement.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    // Through `Text`: serde's own `Cow` impl always copies.
    Text::deserialize(deserializer).map(|text| Some(text.0))
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// Verifies `token` against the keys of `snapshot`.
pub(crate) fn check<'s, 't, C: DeserializeOwned>(
    token: &'t str,
    snapshot: &'s Snapshot,
    rules: &Rules,
    now: u64,
) -> Result<Accepted<'s, 't, C>, Rejection> {
    if token.len() > rules.max_token_bytes {
        return Err(reject(Reason::TooLarge, "the token is longer than allowed"));
    }
    let (header_b64, payload_b64, signature_b64) = split(token)?;

    let (mut header_stack, mut header_heap) = ([0_u8; HEADER_STACK_BYTES], Vec::new());
    // The same header text reads the same: see `header_memo`.
    let remembered = snapshot.headers.get(header_b64);
    let header = match remembered {
        Some(read) => JoseHeader {
            alg: Cow::Borrowed(&read.alg),
            kid: read.kid.as_deref().map(Cow::Borrowed),
            crit: false,
        },
        None => read_header(header_b64, &mut header_stack, &mut header_heap)?,
    };
    // Before any other check, and whatever the signature part holds (an
    // unsecured JWS has an empty one): operators alert on `wrong_alg`.
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(reject(Reason::WrongAlg, "alg none is never accepted"));
    }
    if signature_b64.is_empty() {
        return Err(reject(Reason::Malformed, "a part of the token is empty"));
    }
    if header.crit {
        return Err(reject(
            Reason::Malformed,
            "the header has a crit parameter; no extension is supported",
        ));
    }

    let candidates = match choose_keys(snapshot, &header.alg, header.kid.as_deref(), rules) {
        Err(rejection) if rejection.reason() == Reason::RetiredKey => {
            return Err(retired_or_expired(payload_b64, rules, now));
        }
        chosen => chosen?,
    };

    let (mut payload_stack, mut payload_heap) = ([0_u8; PAYLOAD_STACK_BYTES], Vec::new());
    let payload = decode_b64(payload_b64, &mut payload_stack, &mut payload_heap)
        .map_err(|_| reject(Reason::Malformed, "the payload is not base64url"))?;
    let mut signature = [0_u8; MAX_SIGNATURE_BYTES];

    let signature_len = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature)
        .map_err(|_| reject(Reason::Malformed, "the signature is not base64url"))?;
    let signature = &signature[..signature_len];

    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let key = candidates
        .into_iter()
        .flatten()
        .find(|candidate| {
            #[cfg(test)]
            tests::CRYPTO_CALLS.with(|calls| calls.set(calls.get() + 1));
            let key = &candidate.key;
            key.prepared()
                .verify(key.algorithm(), signed, signature, signature_b64)
        })
        .ok_or(reject(
            Reason::BadSignature,
            "the signature does not match the key",
        ))?;
    if remembered.is_none() {
        // Signed by one of our keys, so an issuer's header, not a forger's.
        snapshot
            .headers
            .remember(header_b64, &header.alg, header.kid.as_deref());
    }

    let one_pass = if one_pass::wants_raw_value::<C>() {
        None
    } else {
        one_pass::claims_and_registered::<C>(payload, rules).ok()
    };
    let (claims, (exp, nbf)) = match one_pass {
        // One pass over the JSON read both: check what it saw.
        Some((claims, registered)) => (claims, check_registered(&registered, rules, now)?),
        // Refused claims, or a type one pass cannot serve (`Box<RawValue>`,
        // non-object shapes): the two passes give the exact reason.
        None => {
            let checked = check_claims(payload, rules, now)?;
            let claims = serde_json::from_slice::<C>(payload).map_err(|_| {
                reject(
                    Reason::InvalidClaims,
                    "the claims do not have the shape the application expects",
                )
            })?;
            (claims, checked)
        }
    };
    Ok(Accepted {
        claims,
        key,
        exp,
        nbf,
        signature: signature_b64,
        claims_bytes: payload.len(),
    })
}

/// Splits a compact JWS into its three parts, refusing anything but
/// base64url characters and exactly two dots.
fn split(token: &str) -> Result<(&str, &str, &str), Rejection> {
    if token.is_empty() {
        return Err(reject(Reason::Malformed, "the token is empty"));
    }
    // Each part's characters are checked by its base64url decoder, and only
    // when the part is needed. The dots are found with SIMD (`memchr`),
    // measurably cheaper than `str::split` (figures in docs/performance.md).
    let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(reject(
            Reason::Malformed,
            "a JWT has three dot-separated parts",
        ));
    };
    let (header, payload, signature) = (
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    );
    // An empty signature is refused once the header is read: `alg: none`
    // must be `wrong_alg` however the token ends.
    if header.is_empty() || payload.is_empty() {
        return Err(reject(Reason::Malformed, "a part of the token is empty"));
    }
    Ok((header, payload, signature))
}

/// Reads the header from its base64url text (into `stack` when it fits).
/// Never inlined: a frame of its own in profiles (`scripts/profile_http.sh`).
#[inline(never)]
fn read_header<'b>(
    header_b64: &str,
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<JoseHeader<'b>, Rejection> {
    let header_json = decode_b64(header_b64, stack, heap)
        .map_err(|_| reject(Reason::Malformed, "the header is not base64url"))?;
    // serde would also read a struct from a JSON array; a header is an object.
    header_json
        .trim_ascii_start()
        .starts_with(b"{")
        .then(|| serde_json::from_slice(header_json).ok())
        .flatten()
        .ok_or(reject(
            Reason::Malformed,
            "the header is not a valid JOSE header",
        ))
}

/// A token naming a retired kid: `retired_key` is the alarm "a key was
/// retired while clients still use it", so an already expired token (which
/// no key would accept) is `expired` instead. Its `exp` is read without a
/// signature check, since the key is gone: a forger can only move the token
/// from one refusal to the other.
fn retired_or_expired(payload_b64: &str, rules: &Rules, now: u64) -> Rejection {
    let retired = reject(Reason::RetiredKey, "the key of this kid was retired");
    let mut stack = [0_u8; PAYLOAD_STACK_BYTES];
    let mut heap = Vec::new();
    let Ok(payload) = decode_b64(payload_b64, &mut stack, &mut heap) else {
        return retired;
    };
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let exp = RegisteredSeed { required: &[] }
        .deserialize(&mut deserializer)
        .ok()
        .and_then(|registered| registered.exp)
        .and_then(numeric_date);
    if exp.is_some_and(|exp| exp < now.saturating_sub(rules.leeway)) {
        reject(
            Reason::Expired,
            "the token has expired (and its key was retired)",
        )
    } else {
        retired
    }
}

/// At most two keys to try, in order, without allocating.
type Candidates<'s> = [Option<&'s SlottedKey>; 2];

fn choose_keys<'s>(
    snapshot: &'s Snapshot,
    alg: &str,
    kid: Option<&str>,
    rules: &Rules,
) -> Result<Candidates<'s>, Rejection> {
    match kid {
        Some(kid) => match snapshot.find(kid) {
            KidLookup::Found(key) if key.key.alg_name() == alg => Ok([Some(key), None]),
            KidLookup::Found(_) => Err(reject(
                Reason::WrongAlg,
                "alg differs from the algorithm this kid is pinned to",
            )),
            KidLookup::Retired => Err(reject(
                Reason::RetiredKey,
                "the key of this kid was retired",
            )),
            KidLookup::Unknown => Err(reject(Reason::UnknownKid, "no loaded key has this kid")),
        },
        None if rules.require_kid => Err(reject(
            Reason::UnknownKid,
            "the token has no kid and one is required",
        )),
        None => {
            let mut pinned = snapshot.keys().filter(|k| k.key.alg_name() == alg);
            let candidates = [pinned.next(), pinned.next()];
            if candidates[0].is_none() {
                return Err(reject(Reason::WrongAlg, "no loaded key uses this alg"));
            }
            Ok(candidates)
        }
    }
}

/// The registered claims we check, borrowed from the payload as raw JSON:
/// a value is only parsed if a rule needs it. Read alongside the
/// application's claims ([`one_pass`]), or alone ([`RegisteredSeed`]).
#[derive(Default)]
struct Registered<'a> {
    exp: Option<&'a RawValue>,
    sub: Option<&'a RawValue>,
    nbf: Option<&'a RawValue>,
    iss: Option<&'a RawValue>,
    aud: Option<&'a RawValue>,
    /// One flag per `Rules::required_claims` name; empty when none are configured.
    present: Vec<bool>,
}

struct RegisteredSeed<'r> {
    required: &'r [String],
}

impl<'de> Registered<'de> {
    fn new(required: &[String]) -> Self {
        Self {
            present: vec![false; required.len()],
            ..Self::default()
        }
    }

    /// Notes the claim `name`; returns which of ours it is, if any. A
    /// second occurrence of one of ours is an error: two parsers could read
    /// a duplicate differently.
    fn note<E: serde::de::Error>(
        &mut self,
        name: &str,
        required: &[String],
    ) -> Result<Option<Claim>, E> {
        if let Some(index) = required.iter().position(|r| *r == *name) {
            self.present[index] = true;
        }
        let claim = match name {
            "exp" => Claim::Exp,
            "sub" => Claim::Sub,
            "nbf" => Claim::Nbf,
            "iss" => Claim::Iss,
            "aud" => Claim::Aud,
            _ => return Ok(None),
        };
        if self.slot(claim).is_some() {
            return Err(E::custom("duplicate registered claim"));
        }
        Ok(Some(claim))
    }

    fn slot(&mut self, claim: Claim) -> &mut Option<&'de RawValue> {
        match claim {
            Claim::Exp => &mut self.exp,
            Claim::Sub => &mut self.sub,
            Claim::Nbf => &mut self.nbf,
            Claim::Iss => &mut self.iss,
            Claim::Aud => &mut self.aud,
        }
    }
}

/// The registered claims [`Registered`] keeps.
#[derive(Debug, Clone, Copy)]
enum Claim {
    Exp,
    Sub,
    Nbf,
    Iss,
    Aud,
}

impl<'de> DeserializeSeed<'de> for RegisteredSeed<'_> {
    type Value = Registered<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Registered<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RegisteredSeed<'_> {
    type Value = Registered<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Registered<'de>, A::Error> {
        let mut out = Registered::new(self.required);
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            match out.note(&name, self.required)? {
                Some(claim) => *out.slot(claim) = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Reads the registered claims alone, then checks them; returns `exp` and
/// `nbf` when present.
fn check_claims(
    payload: &[u8],
    rules: &Rules,
    now: u64,
) -> Result<(Option<u64>, Option<u64>), Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let registered = RegisteredSeed {
        required: &rules.required_claims,
    }
    .deserialize(&mut deserializer)
    .and_then(|registered| deserializer.end().map(|()| registered))
    .map_err(|_| {
        reject(
            Reason::Malformed,
            "the claims are not a JSON object with unique registered claims",
        )
    })?;
    check_registered(&registered, rules, now)
}

/// Checks registered claims already read; returns `exp` and `nbf` when present.
fn check_registered(
    registered: &Registered<'_>,
    rules: &Rules,
    now: u64,
) -> Result<(Option<u64>, Option<u64>), Rejection> {
    if registered.present.contains(&false) {
        return Err(reject(Reason::InvalidClaims, "a required claim is missing"));
    }
    let exp = match registered.exp {
        Some(value) => Some(
            numeric_date(value).ok_or(reject(Reason::InvalidClaims, "exp is not a NumericDate"))?,
        ),
        None if rules.require_exp => {
            return Err(reject(Reason::InvalidClaims, "the exp claim is required"));
        }
        None => None,
    };
    let nbf = match registered.nbf {
        Some(value) => Some(
            numeric_date(value).ok_or(reject(Reason::InvalidClaims, "nbf is not a NumericDate"))?,
        ),
        None => None,
    };
    if exp.is_some_and(|exp| exp < now.saturating_sub(rules.leeway)) {
        return Err(reject(Reason::Expired, "the token has expired"));
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(rules.leeway)) {
        return Err(reject(Reason::Immature, "the token is not valid yet (nbf)"));
    }
    // RFC 7519 section 4.1.2: a StringOrURI. A token whose subject parsers
    // could read differently identifies nobody.
    if registered.sub.is_some_and(|raw| !is_json_string(raw)) {
        return Err(reject(Reason::InvalidClaims, "sub is not a string"));
    }
    if let Some(issuers) = &rules.issuers {
        let accepted = registered
            .iss
            .and_then(|raw| serde_json::from_str::<Text<'_>>(raw.get()).ok())
            .is_some_and(|iss| issuers.iter().any(|accepted| *accepted == *iss.0));
        if !accepted {
            return Err(reject(
                Reason::InvalidClaims,
                "iss is missing or not accepted",
            ));
        }
    }
    if let Some(audiences) = &rules.audiences {
        let accepts = |aud: &Text<'_>| audiences.iter().any(|accepted| *accepted == *aud.0);
        let accepted = registered.aud.is_some_and(|raw| {
            // A single audience is a string; several are an array of strings.
            if raw.get().starts_with('[') {
                // Every element must be a string (RFC 7519 section 4.1.3).
                serde_json::from_str::<Vec<Text<'_>>>(raw.get())
                    .is_ok_and(|auds| auds.iter().any(accepts))
            } else {
                serde_json::from_str::<Text<'_>>(raw.get()).is_ok_and(|aud| accepts(&aud))
            }
        });
        if !accepted {
            return Err(reject(
                Reason::InvalidClaims,
                "aud is missing or not accepted",
            ));
        }
    }
    Ok((exp, nbf))
}

/// A JSON string, borrowed from the input unless it has escapes (serde's
/// own `Cow<str>` always copies).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Whether a raw JSON value is a string a Rust `str` can hold. One with no
/// escapes always is (the value is valid JSON); escapes may hide a lone
/// surrogate, so serde_json decides those.
fn is_json_string(raw: &RawValue) -> bool {
    let text = raw.get();
    (text.starts_with('"') && !text.contains('\\'))
        || serde_json::from_str::<Text<'_>>(text).is_ok()
}

/// An RFC 7519 NumericDate as whole seconds, rounding like jsonwebtoken.
fn numeric_date(value: &RawValue) -> Option<u64> {
    let text = value.get();
    // The usual form, up to 19 digits (always within u64): read directly.
    // The raw value is JSON serde_json has read, so there is no space or
    // leading zero to consider; anything else takes serde_json's path.
    if (1..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    numeric_date_by_serde(text)
}

/// [`numeric_date`] for any JSON number: fractions, exponents, big values.
fn numeric_date_by_serde(text: &str) -> Option<u64> {
    let number = serde_json::from_str::<serde_json::Number>(text).ok()?;
    number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f.round() as u64)
    })
}

mod one_pass;
#[cfg(test)]
mod tests;
