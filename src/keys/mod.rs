//! Keys: the model (one `kid`, one pinned algorithm, parsed key material) and

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::Algorithm;
use serde::Serialize;
use serde_json::{Map, Value};

use crypto::{Material, PreparedKey};

pub(crate) mod crypto;
mod file;
mod sniff;
#[cfg(test)]
pub(crate) mod test_keys;

pub use file::{DEFAULT_READ_TIMEOUT, KeyFile, KeyFormat};

/// Largest key file we read. Real JWKS files with two RSA-4096 keys are
/// about 2 KiB; anything near this bound is not a key file.
pub const MAX_KEY_FILE_BYTES: usize = 64 * 1024;

/// Shortest HMAC secret we accept (RFC 7518 section 3.2: at least the size
/// of the hash output for HS256).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Smallest RSA modulus we accept (RFC 7518 section 3.3).
pub const MIN_RSA_BITS: usize = 2048;

const MAX_KID_BYTES: usize = 256;
const JWKS_SHAPE: &str = r#"a JWKS document, {"keys": [current, previous]}"#;
const RAW_SECRET_KID_CHARS: usize = 16;

/// JWKS members are base64url; some tools pad them anyway, which is harmless.
const B64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why key material was refused. The message names the key and the problem,
/// never the material itself, so it is safe to log and to show in the admin
/// status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The path names a FIFO, a device, a socket or a directory.
    #[error(
        "cannot read key file {path}: it is {kind}; only a regular file (or a symlink to one) is read"
    )]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead, for example `a FIFO`.
        kind: &'static str,
    },
    /// The read did not return within the read timeout (a hanging mount).
    #[error("cannot read key file {path}: no answer within {timeout:?}")]
    ReadTimeout {
        /// The path.
        path: PathBuf,
        /// The timeout that passed.
        timeout: std::time::Duration,
    },
    /// An earlier read of the file has still not returned, so no new one
    /// is started.
    #[error("cannot read key file {path}: an earlier read has not returned for {seconds}s")]
    ReadStuck {
        /// The path.
        path: PathBuf,
        /// How long the earlier read has been waiting.
        seconds: u64,
    },
    /// The key file is larger than [`MAX_KEY_FILE_BYTES`].
    #[error("key file is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// Size of the content.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// The file or secret is empty.
    #[error("key file is empty")]
    Empty,
    /// The JWKS document is not valid JSON or not of the form `{"keys": [...]}`.
    #[error("not a JWKS document: {0}")]
    NotJwks(String),
    /// Raw-secret content that is shaped like a key or a document, not
    /// like a secret.
    #[error("not a raw secret: this looks like {0}; a secret file holds only the secret's bytes")]
    NotSecret(&'static str),
    /// The JWKS `keys` array is empty.
    #[error("JWKS has no keys; it needs a current key and optionally a previous one")]
    NoKeys,
    /// The JWKS has more than two keys.
    #[error(
        "JWKS has {count} keys; at most two are allowed (the first is current, the second previous)"
    )]
    TooManyKeys {
        /// How many keys the file has.
        count: usize,
    },
    /// Two keys share a `kid`, so a token's `kid` could not pick one.
    #[error("duplicate kid {kid:?}: each key needs its own kid")]
    DuplicateKid {
        /// The repeated `kid`.
        kid: String,
    },
    /// One key is unusable: weak, unknown type, algorithm or curve, or bad
    /// encoding. The message names it: `key #2 (kid "2026-10"): ...`.
    #[error("{}: {problem}", KeyLabel { position: *position, kid: kid.clone() })]
    InvalidKey {
        /// 1-based position of the key in the file.
        position: usize,
        /// The key's `kid`, when it has one.
        kid: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
}

/// Names a key in an error: its 1-based position in the file and its `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyLabel {
    position: usize,
    kid: Option<String>,
}

impl KeyLabel {
    fn refuse(self, problem: String) -> KeyError {
        KeyError::InvalidKey {
            position: self.position,
            kid: self.kid,
            problem,
        }
    }
}

impl fmt::Display for KeyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "key #{} (kid {kid:?})", self.position),
            None => write!(f, "key #{} (no kid)", self.position),
        }
    }
}

/// One verification key: a `kid`, the one algorithm it accepts, and its
/// parsed material.
///
/// The algorithm is pinned: a token whose header names another `alg` is
/// rejected before any crypto, which rules out algorithm confusion (an RSA
/// public key used as an HMAC secret) and `alg: none`.
///
/// ```
/// use jwt_rollover::{Algorithm, Key};
///
/// let key = Key::hmac(Some("2026-11"), Algorithm::HS256, b"a-secret-of-at-least-32-bytes!!!")?;
/// assert_eq!(key.kid(), "2026-11");
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// # Ok::<(), jwt_rollover::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Key {
    kid: Arc<str>,
    alg: Algorithm,
    alg_name: &'static str,
    prepared: Arc<PreparedKey>,
    thumbprint: Arc<str>,
    /// An HMAC key's secret, kept so that a `Signer` can sign with the
    /// very key the ring verifies with; `None` for public keys.
    #[cfg(feature = "signer")]
    secret: Option<Arc<[u8]>>,
}

impl Key {
    /// An HMAC key from raw secret bytes. Without a `kid`, the key gets its
    /// RFC 7638 thumbprint.
    ///
    /// # Errors
    ///
    /// When `alg` is not an HMAC algorithm, the secret is shorter than
    /// [`MIN_HMAC_SECRET_BYTES`], or `kid` is empty or too long.
    pub fn hmac(kid: Option<&str>, alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let label = KeyLabel {
            position: 1,
            kid: kid.map(str::to_owned),
        };
        let fail = |problem: String| label.clone().refuse(problem);
        if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(fail(format!("{alg:?} is not an HMAC algorithm")));
        }
        check_hmac_secret(secret).map_err(fail)?;
        let kid = kid.map(check_kid).transpose().map_err(fail)?;
        Self::new(kid, alg, KeyMaterial::Oct { k: secret.to_vec() }).map_err(fail)
    }

    /// Builds the key; without a `kid`, the thumbprint is the kid.
    fn new(kid: Option<String>, alg: Algorithm, material: KeyMaterial) -> Result<Self, String> {
        let thumbprint = material.thumbprint()?;
        let mut point = Vec::new();
        let prepared = PreparedKey::new(
            alg,
            match &material {
                KeyMaterial::Oct { k } => Material::Secret(k),
                KeyMaterial::Rsa { n, e } => Material::Rsa { n, e },
                KeyMaterial::Ec { x, y, .. } => {
                    point.push(0x04);
                    point.extend_from_slice(x);
                    point.extend_from_slice(y);
                    Material::EcPoint(&point)
                }
                KeyMaterial::Okp { x } => Material::Ed25519(x),
            },
        )?;
        Ok(Self {
            kid: kid.unwrap_or_else(|| thumbprint.clone()).into(),
            alg,
            alg_name: algorithm_name(alg),
            prepared: Arc::new(prepared),
            thumbprint: thumbprint.into(),
            #[cfg(feature = "signer")]
            secret: match &material {
                KeyMaterial::Oct { k } => Some(Arc::from(k.as_slice())),
                _ => None,
            },
        })
    }

    /// Whether `other` is the same key: same kid, algorithm and material.
    /// A reload that lists a kid with new material replaces the key.
    pub fn same_key_as(&self, other: &Key) -> bool {
        self.kid == other.kid && self.alg == other.alg && self.thumbprint == other.thumbprint
    }

    /// The key's RFC 7638 thumbprint (SHA-256, base64url): identifies its
    /// material without revealing it.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn kid_arc(&self) -> &Arc<str> {
        &self.kid
    }

    /// The JOSE name of the algorithm, as a token header spells it.
    pub(crate) fn alg_name(&self) -> &'static str {
        self.alg_name
    }

    /// The secret of an HMAC key (`None` for a public key): what signs
    /// the tokens this key verifies. Never logged, never in `Debug`.
    #[cfg(feature = "signer")]
    pub(crate) fn hmac_secret(&self) -> Option<&[u8]> {
        self.secret.as_deref()
    }

    pub(crate) fn prepared(&self) -> &PreparedKey {
        &self.prepared
    }
}

impl fmt::Debug for Key {
    // Only public facts: key material never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The JOSE `alg` name of an algorithm.
pub(crate) fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // jsonwebtoken's enum is non-exhaustive; a newer algorithm cannot
        // be loaded by our parser, so this name is never matched by a token.
        _ => "unsupported",
    }
}

/// Which place in the ring a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// The key tokens are signed with now.
    Current,
    /// The key being rotated out.
    Previous,
}

impl Slot {
    /// The label value, `current` or `previous`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys of one source, in order: current first, then the optional previous.
///
/// Everything here is parsed and checked once, when keys are loaded, so the
/// request path never parses key material. Errors name the key (position and
/// `kid`) and say what is wrong, but never quote key material.
///
/// # Formats
///
/// A **JWKS file** (RFC 7517, `{"keys": [...]}`) holds one or two keys: the
/// first is *current*, the optional second is *previous*.
///
/// | `kty` | `alg` | material | checks |
/// |---|---|---|---|
/// | `oct` | `HS256`, `HS384`, `HS512` (required) | `k` | at least 32 bytes |
/// | `RSA` | `RS256`..`RS512`, `PS256`..`PS512` (required) | `n`, `e` | modulus at least 2048 bits |
/// | `EC` | `ES256` (`crv` `P-256`), `ES384` (`crv` `P-384`); inferred from `crv` | `x`, `y` | coordinate lengths |
/// | `OKP` | `EdDSA` (`crv` `Ed25519`); inferred | `x` | 32 bytes |
///
/// A key without `kid` gets its RFC 7638 thumbprint (SHA-256, base64url) as
/// its `kid`. `use`, if present, must be `sig`. Members we do not use
/// (`key_ops`, `x5c`, private parameters...) are ignored.
///
/// A **raw secret file** is one HS256 secret: the whole file, minus one
/// trailing `\n` (or `\r\n`), so that both `echo secret > file` and
/// `kubectl create secret generic jwt --from-literal=secret=...` work. Its
/// `kid` is the first 16 characters of its RFC 7638 thumbprint.
///
/// The format is **configured, never guessed** ([`KeyFormat`], JWKS by
/// default): content that is not valid for the configured format is refused
/// whole, with a message that names what it looks like ("a PEM public key",
/// "a JSON array", "a UTF-8 byte order mark"). A raw secret is refused too
/// when it is printable text shaped like a public key or a document, since
/// no secret generator writes one like that:
///
/// - PEM armour (`-----BEGIN`), a byte order mark, or text starting with
///   `{`, `[`, `<` or `---` (JSON, XML/HTML, YAML);
/// - text of several lines, unless every line is base64 (as
///   `openssl rand -base64 64` writes).
///
/// Key files are read by [`KeyFile`]: regular files only, size- and
/// time-bounded.
///
/// ```
/// use jwt_rollover::KeySet;
///
/// let jwks = br#"{"keys": [
///   {"kty": "oct", "kid": "2026-11", "alg": "HS256", "k": "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQtISE"},
///   {"kty": "oct", "kid": "2026-10", "alg": "HS256", "k": "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQtISE"}
/// ]}"#;
/// let keys = KeySet::from_jwks(jwks)?;
/// assert_eq!(keys.current().kid(), "2026-11");
/// assert_eq!(keys.previous().map(|k| k.kid()), Some("2026-10"));
///
/// let weak = KeySet::from_secret(b"too-short\n").unwrap_err();
/// assert!(weak.to_string().contains("at least 32 bytes"));
/// # Ok::<(), jwt_rollover::KeyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeySet {
    current: Key,
    previous: Option<Key>,
}

impl KeySet {
    /// A set from keys built in code.
    ///
    /// # Errors
    ///
    /// [`KeyError::DuplicateKid`] when both keys have the same `kid`.
    pub fn new(current: Key, previous: Option<Key>) -> Result<Self, KeyError> {
        if let Some(previous) = &previous
            && previous.kid == current.kid
        {
            return Err(KeyError::DuplicateKid {
                kid: current.kid().to_owned(),
            });
        }
        Ok(Self { current, previous })
    }

    /// A set of one key, current.
    pub fn single(current: Key) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// Parses a key file's content in the configured `format`. Nothing is
    /// guessed: JWKS content given as [`KeyFormat::Secret`] is refused, and
    /// so is anything but a JWKS document given as [`KeyFormat::Jwks`].
    ///
    /// # Errors
    ///
    /// See [`KeySet::from_jwks`] and [`KeySet::from_secret`].
    pub fn parse(bytes: &[u8], format: KeyFormat) -> Result<Self, KeyError> {
        match format {
            KeyFormat::Jwks => Self::from_jwks(bytes),
            KeyFormat::Secret => Self::from_secret(bytes),
        }
    }

    /// Parses a JWKS document holding one or two keys.
    ///
    /// # Errors
    ///
    /// When the document is too large, not JSON, has no key or more than
    /// two, has a duplicate `kid`, or has a key that is weak or of an
    /// unknown type, algorithm or curve.
    pub fn from_jwks(bytes: &[u8]) -> Result<Self, KeyError> {
        check_size(bytes)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(KeyError::Empty);
        }
        if let Some(looks_like) = sniff::not_json_text(bytes) {
            return Err(KeyError::NotJwks(format!(
                "this looks like {looks_like}; expected {JWKS_SHAPE}"
            )));
        }
        let document: Value = serde_json::from_slice(bytes).map_err(|err| {
            // serde_json messages can quote input; give only the position.
            KeyError::NotJwks(format!(
                "invalid JSON at line {}, column {}; expected {JWKS_SHAPE}",
                err.line(),
                err.column()
            ))
        })?;
        let Some(entries) = document.get("keys").and_then(Value::as_array) else {
            return Err(KeyError::NotJwks(format!(
                "this looks like {}; expected {JWKS_SHAPE}",
                sniff::json_shape(&document)
            )));
        };
        match entries.len() {
            0 => return Err(KeyError::NoKeys),
            1 | 2 => {}
            count => return Err(KeyError::TooManyKeys { count }),
        }
        let mut keys = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let label = KeyLabel {
                position: index + 1,
                kid: entry.get("kid").and_then(Value::as_str).map(str::to_owned),
            };
            let key = parse_jwk(entry).map_err(|problem| label.refuse(problem))?;
            keys.push(key);
        }
        let previous = if keys.len() == 2 { keys.pop() } else { None };
        let current = keys.pop().ok_or(KeyError::NoKeys)?;
        Self::new(current, previous)
    }

    /// Parses a raw HS256 secret: the whole content minus one trailing
    /// newline.
    ///
    /// # Errors
    ///
    /// When the secret is empty, too large, or shorter than
    /// [`MIN_HMAC_SECRET_BYTES`].
    pub fn from_secret(bytes: &[u8]) -> Result<Self, KeyError> {
        check_size(bytes)?;
        let secret = bytes
            .strip_suffix(b"\r\n")
            .or_else(|| bytes.strip_suffix(b"\n"))
            .unwrap_or(bytes);
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(looks_like) = sniff::not_a_secret(secret) {
            return Err(KeyError::NotSecret(looks_like));
        }
        let label = || KeyLabel {
            position: 1,
            kid: None,
        };
        check_hmac_secret(secret)
            .map_err(|problem| label().refuse(format!("raw secret: {problem}")))?;
        let material = KeyMaterial::Oct { k: secret.to_vec() };
        let mut kid = material
            .thumbprint()
            .map_err(|problem| label().refuse(problem))?;
        kid.truncate(RAW_SECRET_KID_CHARS);
        let current = Key::new(Some(kid), Algorithm::HS256, material)
            .map_err(|problem| label().refuse(problem))?;
        Ok(Self {
            current,
            previous: None,
        })
    }

    /// The key tokens are signed with now.
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// The key being rotated out, if the source lists one.
    pub fn previous(&self) -> Option<&Key> {
        self.previous.as_ref()
    }

    /// Splits the set into current and previous.
    pub fn into_parts(self) -> (Key, Option<Key>) {
        (self.current, self.previous)
    }
}

fn check_size(bytes: &[u8]) -> Result<(), KeyError> {
    if bytes.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::TooLarge {
            size: bytes.len(),
            max: MAX_KEY_FILE_BYTES,
        });
    }
    Ok(())
}

/// The one rule for an HMAC secret's length, for verifying and signing keys.
pub(crate) fn check_hmac_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_HMAC_SECRET_BYTES {
        return Err(format!(
            "HMAC secret is {} bytes; at least {MIN_HMAC_SECRET_BYTES} bytes are required (RFC 7518 section 3.2)",
            secret.len()
        ));
    }
    Ok(())
}

fn check_kid(kid: &str) -> Result<String, String> {
    if kid.is_empty() {
        return Err("kid is empty".to_owned());
    }
    if kid.len() > MAX_KID_BYTES {
        return Err(format!("kid is longer than {MAX_KID_BYTES} bytes"));
    }
    if kid.chars().any(char::is_control) {
        return Err("kid contains control characters".to_owned());
    }
    Ok(kid.to_owned())
}

/// Decoded public material of one JWK, kept only long enough to build the
/// prepared key and the thumbprint.
enum KeyMaterial {
    Oct {
        k: Vec<u8>,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        crv: &'static str,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Okp {
        x: Vec<u8>,
    },
}

impl KeyMaterial {
    /// RFC 7638: the required members, in lexicographic order, no
    /// whitespace, SHA-256, base64url. Field order in these structs is the
    /// order serde writes, so it is the canonical order.
    fn thumbprint(&self) -> Result<String, String> {
        #[derive(Serialize)]
        struct Oct<'a> {
            k: &'a str,
            kty: &'a str,
        }
        #[derive(Serialize)]
        struct Rsa<'a> {
            e: &'a str,
            kty: &'a str,
            n: &'a str,
        }
        #[derive(Serialize)]
        struct Ec<'a> {
            crv: &'a str,
            kty: &'a str,
            x: &'a str,
            y: &'a str,
        }
        #[derive(Serialize)]
        struct Okp<'a> {
            crv: &'a str,
            kty: &'a str,
            x: &'a str,
        }
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let canonical = match self {
            Self::Oct { k } => serde_json::to_vec(&Oct {
                k: &b64(k),
                kty: "oct",
            }),
            Self::Rsa { n, e } => serde_json::to_vec(&Rsa {
                e: &b64(e),
                kty: "RSA",
                n: &b64(n),
            }),
            Self::Ec { crv, x, y } => serde_json::to_vec(&Ec {
                crv,
                kty: "EC",
                x: &b64(x),
                y: &b64(y),
            }),
            Self::Okp { x } => serde_json::to_vec(&Okp {
                crv: "Ed25519",
                kty: "OKP",
                x: &b64(x),
            }),
        }
        .map_err(|_| "cannot serialize the key for its thumbprint".to_owned())?;
        crypto::ensure_provider();
        let digest = crypto::sha256(&canonical)
            .map_err(|_| "cannot hash the key for its thumbprint".to_owned())?;
        Ok(URL_SAFE_NO_PAD.encode(digest))
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(format!("member {name:?} must be a string")),
    }
}

fn required<'a>(jwk: &'a Map<String, Value>, name: &str, kty: &str) -> Result<&'a str, String> {
    member(jwk, name)?.ok_or_else(|| format!("{kty} key is missing member {name:?}"))
}

fn decode_member(jwk: &Map<String, Value>, name: &str, kty: &str) -> Result<Vec<u8>, String> {
    B64URL_ANY_PADDING
        .decode(required(jwk, name, kty)?)
        .map_err(|_| format!("member {name:?} is not valid base64url"))
}

/// Turns one JWK object into a key, or says what is wrong with it.
fn parse_jwk(entry: &Value) -> Result<Key, String> {
    let Value::Object(jwk) = entry else {
        return Err("is not a JSON object".to_owned());
    };
    if let Some(usage) = member(jwk, "use")?
        && usage != "sig"
    {
        return Err(format!(
            "\"use\" is {usage:?}; only \"sig\" keys verify tokens"
        ));
    }
    let kty = member(jwk, "kty")?.ok_or("is missing \"kty\"")?;
    let alg = member(jwk, "alg")?;
    let (alg, material) = match kty {
        "oct" => {
            let alg = match alg {
                Some("HS256") => Algorithm::HS256,
                Some("HS384") => Algorithm::HS384,
                Some("HS512") => Algorithm::HS512,
                Some(other) => return Err(format!("unknown alg {other:?} for an oct key")),
                None => return Err("oct key needs \"alg\" (HS256, HS384 or HS512)".to_owned()),
            };
            let k = decode_member(jwk, "k", kty)?;
            check_hmac_secret(&k)?;
            (alg, KeyMaterial::Oct { k })
        }
        "RSA" => {
            let alg = match alg {
                Some("RS256") => Algorithm::RS256,
                Some("RS384") => Algorithm::RS384,
                Some("RS512") => Algorithm::RS512,
                Some("PS256") => Algorithm::PS256,
                Some("PS384") => Algorithm::PS384,
                Some("PS512") => Algorithm::PS512,
                Some(other) => return Err(format!("unknown alg {other:?} for an RSA key")),
                None => {
                    return Err("RSA key needs \"alg\" (RS256..RS512 or PS256..PS512)".to_owned());
                }
            };
            // RFC 7518 says no leading zeros; some tools add one anyway.
            let n = strip_leading_zeros(decode_member(jwk, "n", kty)?);
            let e = strip_leading_zeros(decode_member(jwk, "e", kty)?);
            let bits = significant_bits(&n);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA modulus is {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            // RFC 8017 section 3.1: an odd e of at least 3. Even e (such
            // as 2, Rabin's) is no RSA key; huge e is no public exponent.
            if significant_bits(&e) < 2 || e.len() > 8 || e.last().is_some_and(|b| b % 2 == 0) {
                return Err(
                    "RSA exponent \"e\" must be odd and at least 3 (RFC 8017 section 3.1)"
                        .to_owned(),
                );
            }
            (alg, KeyMaterial::Rsa { n, e })
        }
        "EC" => {
            let (crv, curve_alg, coordinate_len) = match member(jwk, "crv")? {
                Some("P-256") => ("P-256", Algorithm::ES256, 32),
                Some("P-384") => ("P-384", Algorithm::ES384, 48),
                Some(other) => {
                    return Err(format!(
                        "unknown curve {other:?} for an EC key (P-256 or P-384)"
                    ));
                }
                None => return Err("EC key is missing member \"crv\"".to_owned()),
            };
            if let Some(alg) = alg
                && alg != algorithm_name(curve_alg)
            {
                return Err(format!(
                    "alg {alg:?} does not match curve {crv} (expected {})",
                    algorithm_name(curve_alg)
                ));
            }
            let x = decode_member(jwk, "x", kty)?;
            let y = decode_member(jwk, "y", kty)?;
            if x.len() != coordinate_len || y.len() != coordinate_len {
                return Err(format!(
                    "{crv} coordinates must be {coordinate_len} bytes each"
                ));
            }
            (curve_alg, KeyMaterial::Ec { crv, x, y })
        }
        "OKP" => {
            match member(jwk, "crv")? {
                Some("Ed25519") => {}
                Some(other) => {
                    return Err(format!("unknown curve {other:?} for an OKP key (Ed25519)"));
                }
                None => return Err("OKP key is missing member \"crv\"".to_owned()),
            }
            if let Some(alg) = alg
                && alg != "EdDSA"
            {
                return Err(format!(
                    "alg {alg:?} does not match curve Ed25519 (expected EdDSA)"
                ));
            }
            let x = decode_member(jwk, "x", kty)?;
            if x.len() != 32 {
                return Err("Ed25519 public key \"x\" must be 32 bytes".to_owned());
            }
            (Algorithm::EdDSA, KeyMaterial::Okp { x })
        }
        other => {
            return Err(format!(
                "unknown kty {other:?} (supported: oct, RSA, EC, OKP)"
            ));
        }
    };
    let kid = member(jwk, "kid")?.map(check_kid).transpose()?;
    Key::new(kid, alg, material)
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Bit length of a big-endian unsigned integer, ignoring leading zeros.
fn significant_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests;
