//! `mint`: a token signed by a private JWK, for smoke tests of a rotation
//! (does the service accept tokens from the new key yet?).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use jwt_rollover::SigningKey;
use serde_json::{Map, Value};

use crate::{Failure, files};

#[derive(Debug, Args)]
pub(crate) struct MintArgs {
    /// The private JWK to sign with (as `keygen --out` writes it).
    #[arg(long, value_name = "KEY.jwk")]
    key: PathBuf,
    /// The `sub` claim.
    #[arg(long, default_value = "jwt-rollover-cli")]
    sub: String,
    /// Lifetime: `exp` is now plus this.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
    ttl: Duration,
    /// Another claim, `name=value`; the value is JSON when it parses as
    /// JSON (`admin=true`, `n=3`, `roles=["a"]`), else a string.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,
    /// Leave `kid` out of the header (the verifier then tries its keys in turn).
    #[arg(long)]
    no_kid: bool,
}

fn parse_claim(text: &str) -> Result<(String, Value), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err("the claim name is empty; write NAME=VALUE".to_owned());
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

pub(crate) fn run(args: &MintArgs) -> Result<(), Failure> {
    let key = load_key("--key", &args.key)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), Value::from(args.sub.clone()));
    claims.insert("iat".to_owned(), Value::from(now));
    claims.insert("exp".to_owned(), Value::from(now + args.ttl.as_secs()));
    for (name, value) in &args.claims {
        claims.insert(name.clone(), value.clone());
    }
    let mut header = key.header();
    if args.no_kid {
        header.kid = None;
    }
    let token = jsonwebtoken::encode(&header, &claims, key.encoding_key())
        .map_err(|err| Failure::usage(format!("cannot sign with --key: {err}")))?;
    println!("{token}");
    Ok(())
}

/// A private JWK from a file, with the flag that named it in any error.
pub(crate) fn load_key(flag: &str, path: &std::path::Path) -> Result<SigningKey, Failure> {
    let bytes = files::read_bounded(flag, path)?;
    SigningKey::from_jwk_bytes(&bytes)
        .map_err(|err| Failure::usage(format!("{flag} {}: {err}", path.display())))
}
