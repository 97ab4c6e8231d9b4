//! Which jsonwebtoken crypto backend signs and verifies.
//!
//! jsonwebtoken 10+ panics at the first verification ("Could not
//! automatically determine the process-level CryptoProvider") when it cannot
//! tell which backend to use, for example when some other crate in the build
//! turned on its second backend feature. We never want a user to meet that
//! panic, so every entry point of this crate calls [`ensure_provider`] before
//! touching jsonwebtoken.

use std::sync::Once;

use jsonwebtoken::Algorithm;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "jwt-rollover needs a crypto backend: enable the `aws-lc-rs` (default) or the `rust-crypto` feature"
);

/// The provider selected by this crate's features. With both enabled,
/// aws-lc-rs wins: it is the default and the faster of the two.
#[cfg(feature = "aws-lc-rs")]
fn selected() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
fn selected() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
}

/// Installs this crate's provider as jsonwebtoken's process default, once.
///
/// If the application installed a provider of its own first, that one stays:
/// it was a deliberate choice, and any provider verifies the same tokens.
pub(crate) fn ensure_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An `Err` only means a provider is already installed: keep it.
        let _ = selected().install_default();
    });
}

/// SHA-256 through the installed backend, so we add no hashing crate of our own.
pub(crate) fn sha256(data: &[u8]) -> jsonwebtoken::errors::Result<Vec<u8>> {
    (selected().key_utils.compute_digest)(data, jsonwebtoken::jwk::ThumbprintHash::SHA256)
}

/// A key's verification material, prepared once at load so that a request
/// only runs the signature check itself.
///
/// With the `aws-lc-rs` backend the HMAC key schedule and the parsed public
/// key (RSA modulus, EC point) are built here, once; this also refuses an
/// EC point that is not on its curve when the key is loaded rather than on
/// every request. The `rust-crypto` backend goes through jsonwebtoken's
/// verifier, which prepares the key on each call.
// Keys live behind an `Arc`, one per loaded key: the size of the largest
// variant costs nothing, boxing it would cost an indirection per request.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PreparedKey {
    #[cfg(feature = "aws-lc-rs")]
    Hmac(aws_lc_rs::hmac::Key),
    #[cfg(feature = "aws-lc-rs")]
    Public(aws_lc_rs::signature::ParsedPublicKey),
    #[cfg_attr(feature = "aws-lc-rs", allow(dead_code))]
    Jsonwebtoken(jsonwebtoken::DecodingKey),
}

/// Public material as the verifier needs it.
pub(crate) enum Material<'a> {
    Secret(&'a [u8]),
    Rsa {
        n: &'a [u8],
        e: &'a [u8],
    },
    /// An uncompressed SEC1 point, `0x04 || x || y`.
    EcPoint(&'a [u8]),
    Ed25519(&'a [u8]),
}

impl PreparedKey {
    /// Prepares `material` for `alg`.
    pub(crate) fn new(alg: Algorithm, material: Material<'_>) -> Result<Self, String> {
        ensure_provider();
        Self::prepare(alg, material)
    }

    #[cfg(feature = "aws-lc-rs")]
    fn prepare(alg: Algorithm, material: Material<'_>) -> Result<Self, String> {
        use aws_lc_rs::{hmac, signature as sig};
        let public = |verification: &'static dyn sig::VerificationAlgorithm, bytes: &[u8]| {
            sig::ParsedPublicKey::new(verification, bytes)
                .map(Self::Public)
                .map_err(|err| format!("the public key is not valid for {alg:?}: {err}"))
        };
        match (alg, material) {
            (Algorithm::HS256, Material::Secret(k)) => {
                Ok(Self::Hmac(hmac::Key::new(hmac::HMAC_SHA256, k)))
            }
            (Algorithm::HS384, Material::Secret(k)) => {
                Ok(Self::Hmac(hmac::Key::new(hmac::HMAC_SHA384, k)))
            }
            (Algorithm::HS512, Material::Secret(k)) => {
                Ok(Self::Hmac(hmac::Key::new(hmac::HMAC_SHA512, k)))
            }
            (Algorithm::ES256, Material::EcPoint(point)) => {
                public(&sig::ECDSA_P256_SHA256_FIXED, point)
            }
            (Algorithm::ES384, Material::EcPoint(point)) => {
                public(&sig::ECDSA_P384_SHA384_FIXED, point)
            }
            (Algorithm::EdDSA, Material::Ed25519(x)) => public(&sig::ED25519, x),
            (alg, Material::Rsa { n, e }) => {
                let params: &'static sig::RsaParameters = match alg {
                    Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(format!("{alg:?} is not an RSA algorithm")),
                };
                sig::RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(params)
                    .map(Self::Public)
                    .map_err(|err| format!("the RSA public key is not valid: {err}"))
            }
            (alg, _) => Err(format!("key material does not fit {alg:?}")),
        }
    }

    #[cfg(not(feature = "aws-lc-rs"))]
    fn prepare(alg: Algorithm, material: Material<'_>) -> Result<Self, String> {
        use jsonwebtoken::DecodingKey;
        let _ = alg;
        Ok(Self::Jsonwebtoken(match material {
            Material::Secret(k) => DecodingKey::from_secret(k),
            Material::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            Material::EcPoint(point) => DecodingKey::from_ec_der(point),
            Material::Ed25519(x) => DecodingKey::from_ed_der(x),
        }))
    }

    /// Checks `signature` (decoded) over `message`. `signature_b64` is the
    /// same signature as it appears in the token, for backends that decode
    /// it themselves.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
        signature_b64: &str,
    ) -> bool {
        match self {
            #[cfg(feature = "aws-lc-rs")]
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
            #[cfg(feature = "aws-lc-rs")]
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            // An error means the key and algorithm do not fit, which loading
            // rules out; either way the signature is not valid.
            Self::Jsonwebtoken(key) => {
                let _ = signature;
                jsonwebtoken::crypto::verify(signature_b64, message, key, alg).unwrap_or(false)
            }
        }
    }
}
