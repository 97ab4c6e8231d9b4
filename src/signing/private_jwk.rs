//! Private key material: read from a private JWK (RFC 7517/7518), written
//! back to one, generated, and handed to jsonwebtoken as the DER it expects.
//!
//! All the crypto is the RustCrypto crates' (the ones jsonwebtoken's
//! `rust-crypto` backend uses): they check that the members of a key fit
//! together and write the DER. What jsonwebtoken 11 reads, in both backends:
//!
//! | family | `EncodingKey::` | DER | aws-lc-rs reads it with | rust-crypto with |
//! |---|---|---|---|---|
//! | RSA | `from_rsa_der` | PKCS#1 `RSAPrivateKey` | `RsaKeyPair::from_der` | `RsaPrivateKey::from_pkcs1_der` |
//! | EC | `from_ec_der` | PKCS#8 | `EcdsaKeyPair::from_pkcs8` | `SigningKey::from_pkcs8_der` |
//! | Ed25519 | `from_ed_der` | PKCS#8 (v2, with the public key) | `Ed25519KeyPair::from_pkcs8` | `SigningKey::from_pkcs8_der` |
//! | HMAC | `from_secret` | the raw secret | | |
//!
//! The round-trip tests in `super::tests` sign with each and verify with
//! the crate's own `KeySet`, under whichever backend the build selected.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::{OsRng, RngCore as _};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Map, Value, json};

use crate::keys::MIN_RSA_BITS;

/// JWK members are base64url; some tools pad them anyway, which is harmless.
const B64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Size of a generated RSA modulus: the floor verifiers accept, which is
/// also what every JWT library defaults to.
const GENERATED_RSA_BITS: usize = 2048;

/// The members only a private JWK has (RFC 7518 section 6).
pub(super) const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Why a JWK could not be read as a private key. `PublicOnly` is its own
/// case: a public key given where a private one belongs is the likeliest
/// mistake, and its message says which file to use instead.
pub(super) enum JwkProblem {
    /// The key type needs `d`, which the JWK lacks.
    PublicOnly,
    /// Anything else, as a sentence.
    Invalid(String),
}

impl From<String> for JwkProblem {
    fn from(problem: String) -> Self {
        Self::Invalid(problem)
    }
}

impl From<&str> for JwkProblem {
    fn from(problem: &str) -> Self {
        Self::Invalid(problem.to_owned())
    }
}

/// Private key material for one algorithm family. The RustCrypto types
/// zeroize themselves on drop.
pub(super) enum Private {
    Oct(Vec<u8>),
    Rsa(Box<RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// The JOSE name of an algorithm this module signs with.
pub(super) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // jsonwebtoken's enum is non-exhaustive; nothing here builds a key
        // for an algorithm it does not list above.
        _ => "unsupported",
    }
}

/// Parses a JOSE `alg` name, refusing `none` in any case and every
/// algorithm this module cannot sign with.
pub(super) fn parse_alg(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err(
            "alg \"none\" signs nothing: name a real algorithm (HS256, RS256, ES256, EdDSA...)"
                .to_owned(),
        );
    }
    name.parse::<Algorithm>()
        .ok()
        .filter(|alg| alg_name(*alg) == name)
        .ok_or_else(|| {
            format!(
                "unknown alg {name:?}: use one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
            )
        })
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(format!("member {name:?} must be a string")),
    }
}

fn decode(jwk: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, String> {
    member(jwk, name)?
        .map(|text| {
            B64URL_ANY_PADDING
                .decode(text)
                .map_err(|_| format!("member {name:?} is not valid base64url"))
        })
        .transpose()
}

fn required(jwk: &Map<String, Value>, name: &str, kty: &str) -> Result<Vec<u8>, String> {
    decode(jwk, name)?.ok_or_else(|| format!("{kty} key is missing member {name:?}"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key's `kid` and `alg` and its private material, from one JWK
/// object. `alg` is required and must fit the key type and curve.
pub(super) fn parse(jwk: &Map<String, Value>) -> Result<(Algorithm, Private), JwkProblem> {
    if let Some(usage) = member(jwk, "use")?
        && usage != "sig"
    {
        return Err(format!(
            "\"use\" is {usage:?}; a signing key has \"use\": \"sig\" or no \"use\""
        )
        .into());
    }
    let kty =
        member(jwk, "kty")?.ok_or("is missing \"kty\" (oct, RSA, EC or OKP): is this a JWK?")?;
    let alg = member(jwk, "alg")?.ok_or_else(|| {
        format!(
            "has no \"alg\": a signing key must name its one algorithm (for example \"alg\": \"{}\")",
            match kty {
                "oct" => "HS256",
                "RSA" => "RS256",
                "OKP" => "EdDSA",
                _ => "ES256",
            }
        )
    })?;
    let alg = parse_alg(alg)?;
    let fits = match kty {
        "oct" => matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512),
        "RSA" => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        "EC" => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
        "OKP" => alg == Algorithm::EdDSA,
        other => {
            return Err(format!("unknown kty {other:?} (supported: oct, RSA, EC, OKP)").into());
        }
    };
    if !fits {
        return Err(format!(
            "alg {} does not fit a {kty} key; fix \"alg\" or use a key of the right type",
            alg_name(alg)
        )
        .into());
    }
    if kty != "oct" && jwk.get("d").is_none() {
        return Err(JwkProblem::PublicOnly);
    }
    let private = match kty {
        "oct" => parse_oct(jwk)?,
        "RSA" => parse_rsa(jwk)?,
        "EC" => parse_ec(jwk, alg)?,
        _ => parse_okp(jwk)?,
    };
    Ok((alg, private))
}

/// The verifiers' own length rule, with the way out for a signer.
fn check_hmac_secret(secret: &[u8]) -> Result<(), String> {
    crate::keys::check_hmac_secret(secret)
        .map_err(|problem| format!("{problem}: generate a new one with `jwt-rollover keygen`"))
}

fn parse_oct(jwk: &Map<String, Value>) -> Result<Private, String> {
    let k = required(jwk, "k", "oct")?;
    check_hmac_secret(&k)?;
    Ok(Private::Oct(k))
}

fn parse_rsa(jwk: &Map<String, Value>) -> Result<Private, String> {
    if jwk.contains_key("oth") {
        return Err("multi-prime RSA keys (\"oth\") are not supported".to_owned());
    }
    let big = |name: &str| required(jwk, name, "RSA").map(|bytes| BigUint::from_bytes_be(&bytes));
    let (n, e, d) = (big("n")?, big("e")?, big("d")?);
    if n.bits() < MIN_RSA_BITS {
        return Err(format!(
            "RSA modulus is {} bits; at least {MIN_RSA_BITS} are required: generate a new key",
            n.bits()
        ));
    }
    let primes = match (decode(jwk, "p")?, decode(jwk, "q")?) {
        (Some(p), Some(q)) => vec![BigUint::from_bytes_be(&p), BigUint::from_bytes_be(&q)],
        (None, None) => Vec::new(),
        _ => {
            return Err("RSA key has only one of \"p\" and \"q\"; give both or neither".to_owned());
        }
    };
    let key = RsaPrivateKey::from_components(n, e, d, primes).map_err(|err| {
        format!("the RSA private members do not form a valid key ({err}); is the file damaged?")
    })?;
    // The CRT members are optional, but when present they must be this
    // key's: a signer using them would otherwise compute wrong signatures.
    for (name, expected) in [
        ("dp", key.dp().cloned()),
        ("dq", key.dq().cloned()),
        ("qi", key.crt_coefficient()),
    ] {
        if let Some(given) = decode(jwk, name)?
            && Some(BigUint::from_bytes_be(&given)) != expected
        {
            return Err(format!(
                "RSA member {name:?} does not belong to this key; is the file damaged?"
            ));
        }
    }
    Ok(Private::Rsa(Box::new(key)))
}

fn parse_ec(jwk: &Map<String, Value>, alg: Algorithm) -> Result<Private, String> {
    let crv = member(jwk, "crv")?.ok_or("EC key is missing member \"crv\"")?;
    let (expected_crv, len) = match alg {
        Algorithm::ES256 => ("P-256", 32),
        _ => ("P-384", 48),
    };
    if crv != expected_crv {
        return Err(format!(
            "alg {} needs curve {expected_crv}, but \"crv\" is {crv:?}",
            alg_name(alg)
        ));
    }
    let d = required(jwk, "d", "EC")?;
    if d.len() != len {
        return Err(format!(
            "{crv} private key \"d\" must be {len} bytes, not {}",
            d.len()
        ));
    }
    let invalid = |_| format!("\"d\" is not a valid {crv} private key");
    let private = if len == 32 {
        Private::P256(p256::SecretKey::from_slice(&d).map_err(invalid)?)
    } else {
        Private::P384(p384::SecretKey::from_slice(&d).map_err(invalid)?)
    };
    check_public_matches(jwk, &private, &["x", "y"])?;
    Ok(private)
}

fn parse_okp(jwk: &Map<String, Value>) -> Result<Private, String> {
    match member(jwk, "crv")? {
        Some("Ed25519") => {}
        Some(other) => {
            return Err(format!("unknown curve {other:?} for an OKP key (Ed25519)"));
        }
        None => return Err("OKP key is missing member \"crv\"".to_owned()),
    }
    let d = required(jwk, "d", "OKP")?;
    let seed: [u8; 32] = d.as_slice().try_into().map_err(|_| {
        format!(
            "Ed25519 private key \"d\" must be 32 bytes, not {}",
            d.len()
        )
    })?;
    let private = Private::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)));
    check_public_matches(jwk, &private, &["x"])?;
    Ok(private)
}

/// A private JWK may carry its public members too; they must be the ones
/// `d` gives, or the verifiers would be handed a key that does not match.
fn check_public_matches(
    jwk: &Map<String, Value>,
    private: &Private,
    names: &[&str],
) -> Result<(), String> {
    let public = private.public_members();
    for name in names {
        if let Some(given) = decode(jwk, name)?
            && public.get(*name).and_then(Value::as_str) != Some(b64(&given).as_str())
        {
            return Err(format!(
                "public member {name:?} does not belong to private key \"d\"; is the file damaged?"
            ));
        }
    }
    Ok(())
}

impl Private {
    /// Fresh material for `alg`, from the operating system's generator.
    pub(super) fn generate(alg: Algorithm) -> Result<Self, String> {
        let mut rng = OsRng;
        Ok(match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                // As long as the hash output (RFC 7518 section 3.2).
                let len = match alg {
                    Algorithm::HS256 => 32,
                    Algorithm::HS384 => 48,
                    _ => 64,
                };
                let mut secret = vec![0; len];
                rng.try_fill_bytes(&mut secret)
                    .map_err(|err| format!("the system random generator failed: {err}"))?;
                Self::Oct(secret)
            }
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                // `new` uses e = 65537 (F4), what every RSA generator uses.
                let key = RsaPrivateKey::new(&mut rng, GENERATED_RSA_BITS)
                    .map_err(|err| format!("RSA key generation failed: {err}"))?;
                Self::Rsa(Box::new(key))
            }
            Algorithm::ES256 => Self::P256(p256::SecretKey::random(&mut rng)),
            Algorithm::ES384 => Self::P384(p384::SecretKey::random(&mut rng)),
            Algorithm::EdDSA => {
                Self::Ed25519(Box::new(ed25519_dalek::SigningKey::generate(&mut rng)))
            }
            other => return Err(format!("{other:?} keys cannot be generated")),
        })
    }

    /// The key-type members of the public JWK: `kty` and the public
    /// parameters (for HMAC, the secret itself: it has no public part).
    pub(super) fn public_members(&self) -> Map<String, Value> {
        let value = match self {
            Self::Oct(k) => json!({"kty": "oct", "k": b64(k)}),
            Self::Rsa(key) => json!({
                "kty": "RSA",
                "n": b64(&key.n().to_bytes_be()),
                "e": b64(&key.e().to_bytes_be()),
            }),
            Self::P256(key) => {
                let point = key.public_key().to_encoded_point(false);
                ec_public(
                    "P-256",
                    point.x().map(|x| &x[..]),
                    point.y().map(|y| &y[..]),
                )
            }
            Self::P384(key) => {
                let point = key.public_key().to_encoded_point(false);
                ec_public(
                    "P-384",
                    point.x().map(|x| &x[..]),
                    point.y().map(|y| &y[..]),
                )
            }
            Self::Ed25519(key) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(key.verifying_key().as_bytes()),
            }),
        };
        match value {
            Value::Object(members) => members,
            _ => Map::new(),
        }
    }

    /// The public members plus the private ones (RFC 7518 section 6).
    pub(super) fn private_members(&self) -> Map<String, Value> {
        let mut members = self.public_members();
        let mut add = |name: &str, bytes: &[u8]| {
            members.insert(name.to_owned(), Value::String(b64(bytes)));
        };
        match self {
            Self::Oct(_) => {}
            Self::Rsa(key) => {
                add("d", &key.d().to_bytes_be());
                let primes = key.primes();
                if let [p, q] = primes {
                    add("p", &p.to_bytes_be());
                    add("q", &q.to_bytes_be());
                }
                if let (Some(dp), Some(dq), Some(qi)) = (key.dp(), key.dq(), key.crt_coefficient())
                {
                    add("dp", &dp.to_bytes_be());
                    add("dq", &dq.to_bytes_be());
                    add("qi", &qi.to_bytes_be());
                }
            }
            Self::P256(key) => add("d", &key.to_bytes()),
            Self::P384(key) => add("d", &key.to_bytes()),
            Self::Ed25519(key) => add("d", &key.to_bytes()),
        }
        members
    }

    /// The key as jsonwebtoken's `EncodingKey`, in the DER form both of its
    /// backends read (see the module docs).
    pub(super) fn encoding_key(&self) -> Result<EncodingKey, String> {
        let failed = |err: &dyn std::fmt::Display| format!("cannot encode the key as DER: {err}");
        Ok(match self {
            Self::Oct(k) => EncodingKey::from_secret(k),
            Self::Rsa(key) => {
                EncodingKey::from_rsa_der(key.to_pkcs1_der().map_err(|e| failed(&e))?.as_bytes())
            }
            Self::P256(key) => EncodingKey::from_ec_der(
                p256::pkcs8::EncodePrivateKey::to_pkcs8_der(key)
                    .map_err(|e| failed(&e))?
                    .as_bytes(),
            ),
            Self::P384(key) => EncodingKey::from_ec_der(
                p384::pkcs8::EncodePrivateKey::to_pkcs8_der(key)
                    .map_err(|e| failed(&e))?
                    .as_bytes(),
            ),
            Self::Ed25519(key) => {
                EncodingKey::from_ed_der(key.to_pkcs8_der().map_err(|e| failed(&e))?.as_bytes())
            }
        })
    }
}

/// An uncompressed point always has both coordinates (only the identity has
/// none, and no secret scalar gives it).
fn ec_public(crv: &str, x: Option<&[u8]>, y: Option<&[u8]>) -> Value {
    json!({"kty": "EC", "crv": crv, "x": x.map(b64), "y": y.map(b64)})
}
