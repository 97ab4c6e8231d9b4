//! `inspect`: what a token says, shown as unverified until proven; with
//! `--jwks`, which key would check it and whether it verifies, by the
//! crate's own `Verifier` (the very check the service runs).

use std::io::Read as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use jwt_rollover::{JwtLayer, KeyRing, KeySet, Metrics};
use serde_json::Value;

use crate::timefmt::{relative, unix_now};
use crate::{Failure, files, keygen::pretty};

/// Longest token read: the layer refuses anything over 8 KiB anyway.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The token (compact JWS), or `-` to read it from stdin.
    token: String,
    /// The verifiers' JWKS: check the signature (and exp/nbf) against it.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
}

fn read_token(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut token = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_TOKEN_BYTES)
        .read_to_string(&mut token)
        .map_err(|err| Failure::usage(format!("cannot read the token from stdin: {err}")))?;
    Ok(token.trim().to_owned())
}

fn decode_part(part: &str, what: &str) -> Result<Value, Failure> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        Failure::usage(format!(
            "the token's {what} is not base64url; is this a JWT (three dot-separated parts)?"
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|_| {
        Failure::usage(format!(
            "the token's {what} is not JSON; is this a JWT (not an encrypted JWE)?"
        ))
    })
}

pub(crate) fn run(args: &InspectArgs) -> Result<(), Failure> {
    let token = read_token(&args.token)?;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, _signature] = parts.as_slice() else {
        return Err(Failure::usage(format!(
            "the token has {} dot-separated part(s); a JWT has three (header.claims.signature)",
            parts.len()
        )));
    };
    let header = decode_part(header, "header")?;
    let claims = decode_part(claims, "claims")?;
    println!("UNVERIFIED header:\n{}", pretty(&header)?.trim_end());
    println!("UNVERIFIED claims:\n{}", pretty(&claims)?.trim_end());
    let now = unix_now();
    for (name, meaning) in [("iat", "issued"), ("nbf", "valid from"), ("exp", "expires")] {
        if let Some(at) = claims[name].as_u64() {
            println!("  {name}: {meaning} {}", relative(at, now));
        }
    }
    let Some(jwks_path) = &args.jwks else {
        return Ok(());
    };
    let bytes = files::read_bounded("--jwks", jwks_path)?;
    let keys = KeySet::from_jwks(&bytes)
        .map_err(|err| Failure::usage(format!("--jwks {}: {err}", jwks_path.display())))?;
    describe_key_choice(&header, &keys);
    let metrics = Metrics::new(&prometheus::Registry::new())
        .map_err(|err| Failure::usage(format!("cannot set up metrics: {err}")))?;
    let verifier = JwtLayer::<Value>::new(KeyRing::new(keys, metrics)).verifier();
    match verifier.verify(&token) {
        Ok(verified) => {
            println!(
                "VERIFIED: the signature verifies with key {:?} (the {} key of --jwks), and exp/nbf hold",
                verified.key.kid, verified.key.slot
            );
            Ok(())
        }
        Err(rejection) => Err(Failure::refused(format!(
            "the token does not verify against --jwks {}: {}: {}; check that it was signed by a key in that JWKS and has not expired",
            jwks_path.display(),
            rejection.reason(),
            rejection.detail()
        ))),
    }
}

/// Which key the verifier picks: the one named by `kid`, else each key
/// pinned to the header's `alg`, current first.
fn describe_key_choice(header: &Value, keys: &KeySet) {
    let slots = [
        ("current", Some(keys.current())),
        ("previous", keys.previous()),
    ];
    let slots = slots
        .iter()
        .filter_map(|(slot, key)| key.map(|key| (*slot, key)));
    match header["kid"].as_str() {
        Some(kid) => match slots.clone().find(|(_, key)| key.kid() == kid) {
            Some((slot, key)) => println!(
                "key: kid {kid:?} names the {slot} key of --jwks ({:?})",
                key.algorithm()
            ),
            None => println!("key: kid {kid:?} is not in --jwks"),
        },
        None => {
            let alg = header["alg"].as_str().unwrap_or("?");
            let tried: Vec<String> = slots
                .filter(|(_, key)| format!("{:?}", key.algorithm()) == alg)
                .map(|(slot, key)| format!("{slot} {:?}", key.kid()))
                .collect();
            if tried.is_empty() {
                println!("key: no kid, and no key of --jwks is pinned to alg {alg:?}");
            } else {
                println!("key: no kid; tried in turn: {}", tried.join(", then "));
            }
        }
    }
}
