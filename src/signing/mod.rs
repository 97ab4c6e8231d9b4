//! Signing keys: private JWKs (RFC 7517/7518) loaded, generated, and turned
//! into their public part for the verifiers' JWKS (feature `signer`).
//!
//! A [`SigningKey`] is the private half of what a [`Key`] verifies: one
//! `kid`, one pinned algorithm, and private material held as jsonwebtoken's
//! [`EncodingKey`]. Every key is checked on the way in the same way the
//! verifiers will check its public part, so a key that loads here is one
//! that [`KeySet`] accepts: `alg` required and fitting the key type and
//! curve (never `none`), HMAC secrets of at least
//! [`MIN_HMAC_SECRET_BYTES`](crate::MIN_HMAC_SECRET_BYTES), RSA moduli of at
//! least [`MIN_RSA_BITS`](crate::MIN_RSA_BITS).
//!
//! An HMAC key has no public part: the verifiers' JWKS holds the secret
//! itself, so [`SigningKey::public_jwk`] of an `oct` key is as secret as
//! the key ([`SigningKey::is_symmetric`] says so).
//!
//! No message, and no `Debug` output, ever shows key material.
//!
//! ```
//! use jwt_rollover::{Algorithm, KeySet, SigningKey};
//!
//! let key = SigningKey::generate(Algorithm::ES256, Some("2026-11".into()))?;
//! // The public part goes into the verifiers' JWKS...
//! let jwks = serde_json::json!({"keys": [key.public_jwk()]});
//! let verifiers = KeySet::from_jwks(jwks.to_string().as_bytes())?;
//! assert_eq!(verifiers.current().kid(), "2026-11");
//! // ...and the private JWK into the signer's secret store.
//! let private = key.to_private_jwk().to_string();
//! let again = SigningKey::from_jwk_bytes(private.as_bytes())?;
//! assert_eq!(again.kid(), "2026-11");
//!
//! let claims = serde_json::json!({"sub": "alice", "exp": 4_000_000_000_u64});
//! let token = jsonwebtoken::encode(&key.header(), &claims, key.encoding_key())?;
//! assert_eq!(token.split('.').count(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::keys::{Key, KeyError, KeySet, MAX_KEY_FILE_BYTES, crypto};
use private_jwk::{JwkProblem, PRIVATE_MEMBERS, Private};

mod private_jwk;
mod signer;
#[cfg(test)]
mod tests;

pub use signer::{
    DEFAULT_ACTIVATION_DELAY, DEFAULT_FLEET_POLL, DEFAULT_PRIVATE_KEYS_POLL, PrivateKeysError,
    SignError, Signer, SignerBuilder, SignerError,
};

/// Hex digits of the thumbprint in a generated `kid`: enough to tell a
/// day's keys apart, short enough to read aloud.
const KID_THUMBPRINT_HEX: usize = 6;

/// Why a signing key was refused or could not be made. Each message names
/// the key, says what is wrong and what to do; none quotes key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// The input is larger than a key file can be.
    #[error(
        "the key file is {size} bytes; at most {max} are accepted (a private JWK is a few KiB): is this the right file?"
    )]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The bound, [`MAX_KEY_FILE_BYTES`](crate::MAX_KEY_FILE_BYTES).
        max: usize,
    },
    /// The input is not one JSON object (or, for a set, not `{"keys": [...]}`).
    #[error("not a private JWK: {0}")]
    NotJwk(String),
    /// A public key where a private one belongs.
    #[error(
        "{key} is a public key (it has no \"d\"): signing needs the private JWK, such as the file `jwt-rollover keygen --out` wrote, not the verifiers' JWKS"
    )]
    PublicOnly {
        /// Which key: `private JWK (kid "...")`.
        key: String,
    },
    /// The key is unusable: weak, inconsistent, unknown type or algorithm.
    #[error("{key}: {problem}")]
    InvalidKey {
        /// Which key: `private JWK (kid "...")`.
        key: String,
        /// What is wrong with it, and what to do.
        problem: String,
    },
    /// A new key could not be made.
    #[error("cannot generate a {alg:?} key: {problem}")]
    Generate {
        /// The algorithm asked for.
        alg: Algorithm,
        /// Why.
        problem: String,
    },
    /// A private JWKS with an empty `keys` array.
    #[error("the private JWKS has no keys; it needs the current signing key first")]
    NoKeys,
    /// A private JWKS with more than two keys.
    #[error(
        "the private JWKS has {count} keys; at most two are allowed (the current signing key first, the previous second)"
    )]
    TooManyKeys {
        /// How many it has.
        count: usize,
    },
    /// Two keys of a private JWKS share a `kid`.
    #[error("duplicate kid {kid:?} in the private JWKS: give each key its own kid")]
    DuplicateKid {
        /// The repeated kid.
        kid: String,
    },
}

/// A private key for one algorithm: what signs the tokens a [`Key`] with
/// the same `kid` verifies. It is checked as the verifiers will check its
/// public part: `alg` required and fitting the key type and curve (never
/// `none`), HMAC secrets of at least
/// [`MIN_HMAC_SECRET_BYTES`](crate::MIN_HMAC_SECRET_BYTES), RSA moduli of at
/// least [`MIN_RSA_BITS`](crate::MIN_RSA_BITS).
///
/// | `kty` | `alg` | private members | generated as |
/// |---|---|---|---|
/// | `oct` | `HS256`, `HS384`, `HS512` | `k` | 32, 48 or 64 random bytes |
/// | `RSA` | `RS256`..`RS512`, `PS256`..`PS512` | `d` (and optionally `p`, `q`, `dp`, `dq`, `qi`) | 2048 bits, e = 65537 |
/// | `EC` | `ES256` (`P-256`), `ES384` (`P-384`) | `d` | a random scalar |
/// | `OKP` | `EdDSA` (`Ed25519`) | `d` | a random seed |
///
/// An HMAC key has no public part: the verifiers' JWKS holds the secret
/// itself, so [`SigningKey::public_jwk`] of an `oct` key is as secret as
/// the key ([`SigningKey::is_symmetric`] says so).
///
/// `Debug` shows the `kid` and algorithm only.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    private: Private,
    encoding: EncodingKey,
    verification: Key,
}

/// How a key without a given `kid` gets one.
enum DefaultKid {
    /// A loaded JWK without `kid`: its RFC 7638 thumbprint, which is what
    /// the verifiers give its public part too.
    Thumbprint,
    /// A generated key: `YYYY-MM-DD-` and the thumbprint's first hex
    /// digits, so that a kid says when the key was made.
    Dated {
        /// Unix seconds of the day.
        now: u64,
    },
}

impl SigningKey {
    /// Reads one private JWK (a JSON object), at most
    /// [`MAX_KEY_FILE_BYTES`](crate::MAX_KEY_FILE_BYTES) long.
    ///
    /// ```
    /// use jwt_rollover::{Algorithm, SigningKey};
    ///
    /// let jwk = br#"{"kty": "oct", "kid": "k1", "alg": "HS256",
    ///                "k": "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQtISE"}"#;
    /// let key = SigningKey::from_jwk_bytes(jwk)?;
    /// assert_eq!((key.kid(), key.algorithm()), ("k1", Algorithm::HS256));
    ///
    /// let public = br#"{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
    ///                   "x": "c8SsbO5pnwDnWeUn63EwN_dFsZm0JtaHU98927_U6g8"}"#;
    /// let refused = SigningKey::from_jwk_bytes(public).unwrap_err();
    /// assert!(refused.to_string().contains("is a public key"));
    /// # Ok::<(), jwt_rollover::SigningKeyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the input is too large, not a JSON object, a public key, or a
    /// key that [`SigningKey::from_jwk`] refuses.
    pub fn from_jwk_bytes(bytes: &[u8]) -> Result<Self, SigningKeyError> {
        let document = parse_json(bytes)?;
        if let Some(keys) = document.get("keys") {
            let count = keys.as_array().map_or(0, Vec::len);
            return Err(SigningKeyError::NotJwk(format!(
                "this is a JWKS ({count} key(s) under \"keys\"), not one key; give the private JWK of a single key"
            )));
        }
        Self::from_jwk(&document)
    }

    /// Reads one private JWK already parsed as JSON.
    ///
    /// `kty`, `alg` (which must fit the key type and curve, and is never
    /// `none`) and the private members are required; `use`, when present,
    /// must be `sig`. Public members that come with the private ones (`x`,
    /// `y`; `dp`, `dq`, `qi`) must belong to them. Without `kid`, the key
    /// gets its RFC 7638 thumbprint, as the verifiers do.
    ///
    /// # Errors
    ///
    /// [`SigningKeyError::PublicOnly`] for a public key, and
    /// [`SigningKeyError::InvalidKey`] for everything else that is wrong.
    pub fn from_jwk(jwk: &Value) -> Result<Self, SigningKeyError> {
        Self::from_jwk_labelled(jwk, None)
    }

    fn from_jwk_labelled(jwk: &Value, position: Option<usize>) -> Result<Self, SigningKeyError> {
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        let key = label(position, kid.as_deref());
        let Value::Object(members) = jwk else {
            return Err(SigningKeyError::NotJwk(format!(
                "{key} is {}; a JWK is a JSON object",
                json_kind(jwk)
            )));
        };
        let invalid = |problem: String| SigningKeyError::InvalidKey {
            key: key.clone(),
            problem,
        };
        if jwk.get("kid").is_some_and(|kid| !kid.is_string()) {
            return Err(invalid("member \"kid\" must be a string".to_owned()));
        }
        let (alg, private) = private_jwk::parse(members).map_err(|problem| match problem {
            JwkProblem::PublicOnly => SigningKeyError::PublicOnly { key: key.clone() },
            JwkProblem::Invalid(problem) => invalid(problem),
        })?;
        Self::build(kid, alg, private, DefaultKid::Thumbprint).map_err(invalid)
    }

    /// A new key for `alg`, from the operating system's random generator:
    /// HMAC secrets as long as the hash (32, 48 or 64 bytes), RSA keys of
    /// 2048 bits (e = 65537), P-256, P-384 and Ed25519 keys.
    ///
    /// Without `kid`, the key is named `YYYY-MM-DD-` (today, UTC) and the
    /// first six hex digits of its RFC 7638 thumbprint, such as
    /// `2026-11-03-4f0c1a`: sortable by age and distinct per key.
    ///
    /// ```
    /// use jwt_rollover::{Algorithm, SigningKey};
    ///
    /// let key = SigningKey::generate(Algorithm::HS256, None)?;
    /// let kid = key.kid();
    /// assert_eq!(kid.len(), "2026-11-03-4f0c1a".len());
    /// assert!(key.is_symmetric());
    /// # Ok::<(), jwt_rollover::SigningKeyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When `alg` is not one listed in the [`SigningKey`] table, `kid` is
    /// not a valid kid, or the random generator fails.
    pub fn generate(alg: Algorithm, kid: Option<String>) -> Result<Self, SigningKeyError> {
        let fail = |problem: String| SigningKeyError::Generate { alg, problem };
        let private = Private::generate(alg).map_err(fail)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        Self::build(kid, alg, private, DefaultKid::Dated { now }).map_err(fail)
    }

    /// Names the key and checks its public part exactly as the verifiers
    /// will, so that no key leaves here that a [`KeySet`] would refuse.
    fn build(
        kid: Option<String>,
        alg: Algorithm,
        private: Private,
        default_kid: DefaultKid,
    ) -> Result<Self, String> {
        crypto::ensure_provider();
        let encoding = private.encoding_key()?;
        let verification = verification_key(&private, alg, kid.as_deref())?;
        let (kid, verification) = match (kid, default_kid) {
            (Some(kid), _) => (kid, verification),
            (None, DefaultKid::Thumbprint) => (verification.kid().to_owned(), verification),
            (None, DefaultKid::Dated { now }) => {
                let kid = dated_kid(now, verification.thumbprint())?;
                let verification = verification_key(&private, alg, Some(&kid))?;
                (kid, verification)
            }
        };
        Ok(Self {
            kid,
            alg,
            private,
            encoding,
            verification,
        })
    }

    /// The key id: the `kid` of the tokens it signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether this is an HMAC key, whose "public" JWK is the secret
    /// itself: the verifiers' JWKS must then be kept as secret as the key.
    pub fn is_symmetric(&self) -> bool {
        matches!(self.private, Private::Oct(_))
    }

    /// The key as jsonwebtoken signs with it. Having a `SigningKey` means
    /// the crate's crypto backend is installed as jsonwebtoken's provider,
    /// so `jsonwebtoken::encode` cannot panic for the lack of one.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// A token header for this key: its `alg`, its `kid`, `typ: JWT`.
    pub fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header
    }

    /// The verification key of the public part, as a [`KeySet`] loads it
    /// from [`SigningKey::public_jwk`].
    pub fn verification_key(&self) -> &Key {
        &self.verification
    }

    /// The public JWK, for the verifiers' JWKS: `kty`, `kid`, `alg`,
    /// `use: "sig"` and the public members, never `d` or the other private
    /// ones. For an HMAC key it holds the secret `k` (see
    /// [`SigningKey::is_symmetric`]).
    pub fn public_jwk(&self) -> Value {
        Value::Object(with_names(
            self.private.public_members(),
            Some(&self.kid),
            self.alg,
        ))
    }

    /// The whole private JWK, to store where the signer reads it (a file
    /// of mode 0600, a Kubernetes Secret): the public JWK plus the private
    /// members. [`SigningKey::from_jwk`] reads it back.
    pub fn to_private_jwk(&self) -> Value {
        Value::Object(with_names(
            self.private.private_members(),
            Some(&self.kid),
            self.alg,
        ))
    }
}

impl fmt::Debug for SigningKey {
    // Only public facts: key material never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The signing keys of one source, in order: the current key (the one to
/// sign with), then optionally the previous one. The private counterpart
/// of [`KeySet`], read from a private JWKS (`{"keys": [...]}`).
///
/// ```
/// use jwt_rollover::{Algorithm, SigningKey, SigningKeySet};
///
/// let new = SigningKey::generate(Algorithm::EdDSA, Some("new".into()))?;
/// let old = SigningKey::generate(Algorithm::EdDSA, Some("old".into()))?;
/// let jwks = serde_json::json!({"keys": [new.to_private_jwk(), old.to_private_jwk()]});
/// let set = SigningKeySet::from_jwks_bytes(jwks.to_string().as_bytes())?;
/// assert_eq!(set.current().kid(), "new");
/// assert_eq!(set.previous().map(SigningKey::kid), Some("old"));
/// # Ok::<(), jwt_rollover::SigningKeyError>(())
/// ```
#[derive(Debug)]
pub struct SigningKeySet {
    current: SigningKey,
    previous: Option<SigningKey>,
}

impl SigningKeySet {
    /// Parses a private JWKS of one or two keys, each as
    /// [`SigningKey::from_jwk`] reads it.
    ///
    /// # Errors
    ///
    /// When the input is too large, not `{"keys": [...]}`, has no key or
    /// more than two, has a duplicate `kid`, or a key that is refused; the
    /// message names the key by position and `kid`.
    pub fn from_jwks_bytes(bytes: &[u8]) -> Result<Self, SigningKeyError> {
        let document = parse_json(bytes)?;
        let Some(entries) = document.get("keys").and_then(Value::as_array) else {
            return Err(SigningKeyError::NotJwk(format!(
                "this is {}; a private JWKS is {{\"keys\": [current, previous]}}",
                json_kind(&document)
            )));
        };
        match entries.len() {
            0 => return Err(SigningKeyError::NoKeys),
            1 | 2 => {}
            count => return Err(SigningKeyError::TooManyKeys { count }),
        }
        let mut keys = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| SigningKey::from_jwk_labelled(entry, Some(index + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        let previous = if keys.len() == 2 { keys.pop() } else { None };
        let current = keys.pop().ok_or(SigningKeyError::NoKeys)?;
        Self::new(current, previous)
    }

    /// A set from keys in hand.
    ///
    /// # Errors
    ///
    /// [`SigningKeyError::DuplicateKid`] when both have the same `kid`.
    pub fn new(current: SigningKey, previous: Option<SigningKey>) -> Result<Self, SigningKeyError> {
        if let Some(previous) = &previous
            && previous.kid == current.kid
        {
            return Err(SigningKeyError::DuplicateKid {
                kid: current.kid.clone(),
            });
        }
        Ok(Self { current, previous })
    }

    /// The key to sign with.
    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// The key being rotated out, if the set lists one.
    pub fn previous(&self) -> Option<&SigningKey> {
        self.previous.as_ref()
    }

    /// Whether a JWK object carries private members (`d`, `p`, `q`, `dp`,
    /// `dq`, `qi`, `oth`): such a key must never be published in a
    /// verifiers' JWKS. An `oct` key is the one exception the member list
    /// cannot see; see [`SigningKey::is_symmetric`].
    ///
    /// ```
    /// use jwt_rollover::SigningKeySet;
    ///
    /// let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "d": "..."});
    /// assert!(SigningKeySet::has_private_members(&jwk));
    /// ```
    pub fn has_private_members(jwk: &Value) -> bool {
        PRIVATE_MEMBERS.iter().any(|name| jwk.get(name).is_some())
    }
}

/// Bounds and parses the input, without ever quoting it in an error.
fn parse_json(bytes: &[u8]) -> Result<Value, SigningKeyError> {
    if bytes.len() > MAX_KEY_FILE_BYTES {
        return Err(SigningKeyError::TooLarge {
            size: bytes.len(),
            max: MAX_KEY_FILE_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SigningKeyError::NotJwk(
            "the input is empty; give the file `jwt-rollover keygen --out` wrote".to_owned(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|err| {
        // serde_json messages can quote the input; give only the position.
        SigningKeyError::NotJwk(format!(
            "invalid JSON at line {}, column {}; a private JWK is one JSON object",
            err.line(),
            err.column()
        ))
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "a JSON object",
        Value::Array(_) => "a JSON array",
        Value::String(_) => "a JSON string",
        Value::Number(_) => "a JSON number",
        Value::Bool(_) => "a JSON boolean",
        Value::Null => "JSON null",
    }
}

fn label(position: Option<usize>, kid: Option<&str>) -> String {
    let place = match position {
        Some(position) => format!("key #{position} of the private JWKS"),
        None => "private JWK".to_owned(),
    };
    match kid {
        Some(kid) => format!("{place} (kid {kid:?})"),
        None => format!("{place} (no kid)"),
    }
}

/// `members` with `kid`, `alg` and `use: "sig"` added.
fn with_names(
    mut members: Map<String, Value>,
    kid: Option<&str>,
    alg: Algorithm,
) -> Map<String, Value> {
    if let Some(kid) = kid {
        members.insert("kid".to_owned(), Value::String(kid.to_owned()));
    }
    members.insert(
        "alg".to_owned(),
        Value::String(private_jwk::alg_name(alg).to_owned()),
    );
    members.insert("use".to_owned(), Value::String("sig".to_owned()));
    members
}

/// The public part as the verifiers load it, through [`KeySet`] itself.
fn verification_key(private: &Private, alg: Algorithm, kid: Option<&str>) -> Result<Key, String> {
    let public = Value::Object(with_names(private.public_members(), kid, alg));
    let jwks = serde_json::json!({"keys": [public]});
    let bytes = serde_json::to_vec(&jwks).map_err(|_| "cannot serialize the public JWK")?;
    let keys = KeySet::from_jwks(&bytes).map_err(|err| match err {
        // The key is the only one, so its position says nothing.
        KeyError::InvalidKey { problem, .. } => {
            format!("the verifiers would refuse its public part: {problem}")
        }
        other => format!("the verifiers would refuse its public part: {other}"),
    })?;
    Ok(keys.into_parts().0)
}

/// `YYYY-MM-DD-` (UTC) and the first hex digits of the base64url
/// `thumbprint`.
fn dated_kid(now: u64, thumbprint: &str) -> Result<String, String> {
    let digest = URL_SAFE_NO_PAD
        .decode(thumbprint)
        .map_err(|_| "the key's thumbprint is not base64url".to_owned())?;
    let hex: String = digest
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        .chars()
        .take(KID_THUMBPRINT_HEX)
        .collect();
    let (year, month, day) = civil_date(now);
    Ok(format!("{year:04}-{month:02}-{day:02}-{hex}"))
}

/// The proleptic Gregorian date (UTC) of a Unix time, by Howard Hinnant's
/// `civil_from_days`: no date crate for one line of a kid.
fn civil_date(unix_seconds: u64) -> (u64, u64, u64) {
    let days = unix_seconds / 86_400 + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
