//! `keygen`: a new signing key, its private JWK in a file of its own and
//! its public JWK on stdout, ready for `rotate --new` and the verifiers.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jwt_rollover::{Algorithm, SigningKey};

use crate::{Failure, files};

/// The algorithms `keygen` makes keys for: one per family and size that
/// tokens commonly use (the library signs RS384/512 and PS384/512 too).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KeygenAlg {
    #[value(name = "HS256")]
    Hs256,
    #[value(name = "HS384")]
    Hs384,
    #[value(name = "HS512")]
    Hs512,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "PS256")]
    Ps256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "ES384")]
    Es384,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<KeygenAlg> for Algorithm {
    fn from(alg: KeygenAlg) -> Self {
        match alg {
            KeygenAlg::Hs256 => Self::HS256,
            KeygenAlg::Hs384 => Self::HS384,
            KeygenAlg::Hs512 => Self::HS512,
            KeygenAlg::Rs256 => Self::RS256,
            KeygenAlg::Ps256 => Self::PS256,
            KeygenAlg::Es256 => Self::ES256,
            KeygenAlg::Es384 => Self::ES384,
            KeygenAlg::EdDsa => Self::EdDSA,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The one algorithm the key signs with.
    #[arg(long)]
    alg: KeygenAlg,
    /// Key id; default `YYYY-MM-DD-` and 6 hex digits of the key's thumbprint.
    #[arg(long)]
    kid: Option<String>,
    /// Where to write the private JWK (mode 0600); an existing file is never overwritten.
    #[arg(long, value_name = "KEY.jwk")]
    out: PathBuf,
}

pub(crate) fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let key =
        SigningKey::generate(args.alg.into(), args.kid.clone()).map_err(|err| match &args.kid {
            Some(_) => Failure::usage(format!("{err}; check --kid")),
            None => Failure::usage(err.to_string()),
        })?;
    let private = pretty(&key.to_private_jwk())?;
    files::write_private(&args.out, private.as_bytes())?;
    let mut public = key.public_jwk();
    if key.is_symmetric() {
        // An HMAC key has no public part: its "public" JWK is the secret.
        // Never on a terminal; `rotate --new` writes it into the JWKS.
        if let Some(jwk) = public.as_object_mut() {
            jwk.remove("k");
        }
    }
    println!("{}", pretty(&public)?.trim_end());
    eprintln!(
        "wrote the private key {:?} ({:?}) to {} (mode 0600); its public JWK (for HMAC: kid and alg only) is on stdout",
        key.kid(),
        key.algorithm(),
        args.out.display()
    );
    if key.is_symmetric() {
        eprintln!("{}", hmac_warning());
    }
    Ok(())
}

/// What an operator must know about an HMAC key's "public" JWK.
pub(crate) fn hmac_warning() -> &'static str {
    "HMAC: there is no public part; the verifiers' JWKS holds the secret itself (rotate --new writes it from the key file, and it is never printed): keep the JWKS as secret as the key file"
}

pub(crate) fn pretty(value: &serde_json::Value) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|err| Failure::usage(format!("cannot serialize a JWK: {err}")))
}
