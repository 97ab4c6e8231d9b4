//! Keys and tokens for the HTTP benchmark.
//!
//! ```text
//! mint gen-hs256 --kid cur --kid prev --out hs256.jwks.json
//! mint gen-es256 --kid cur --kid prev --out es256.jwks.json \
//!      --private-out es256.private.jwks.json [--pem-dir DIR]
//! mint token --keys FILE [--kid K] [--alg HS256|ES256] [--ttl 3600] [--sub bench-user]
//! ```
//!
//! `gen-hs256` writes a JWKS of random 48-byte HS256 secrets; `gen-es256` a
//! JWKS of fresh P-256 public keys (for the servers), the same keys with
//! their private `d` (for `token`), and optionally `<kid>.pem` PKCS#8
//! private keys. The first `--kid` is the current key, the second the
//! previous one.
//!
//! `token` prints one compact JWS on stdout, with claims
//! `{"sub", "iat", "exp": now + ttl}` and the key's `kid` in the header.
//! `--keys` is a JWKS with private material (`oct` keys with `k`, `EC` keys
//! with `d`), a PEM EC private key, or a raw HS256 secret file.
//!
//! Signing goes through jsonwebtoken 11 with its aws-lc-rs backend.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::{Parser, Subcommand};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_rollover_bench_peers::select_jwk;
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, String>;

#[derive(Debug, Parser)]
#[command(about = "Keys and tokens for the jwt-rollover HTTP benchmark")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a JWKS of random HS256 secrets (48 bytes each), in --kid order.
    GenHs256 {
        /// Key ids, current first.
        #[arg(long = "kid", required = true)]
        kids: Vec<String>,
        /// Where to write the JWKS.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate P-256 key pairs: a public JWKS, a private JWKS, optional PEMs.
    GenEs256 {
        /// Key ids, current first.
        #[arg(long = "kid", required = true)]
        kids: Vec<String>,
        /// Where to write the public JWKS (for the servers).
        #[arg(long)]
        out: PathBuf,
        /// Where to write the JWKS with private `d` (for `mint token`).
        #[arg(long)]
        private_out: PathBuf,
        /// Also write `<kid>.pem` (PKCS#8 private keys) into this directory.
        #[arg(long)]
        pem_dir: Option<PathBuf>,
    },
    /// Print a signed token.
    Token {
        /// A JWKS with private material, a PEM EC private key, or a raw HS256 secret.
        #[arg(long)]
        keys: PathBuf,
        /// Key id: picks the JWKS key (default: the first) and goes in the header.
        #[arg(long)]
        kid: Option<String>,
        /// HS256 or ES256; checked against the key (default: the key's).
        #[arg(long)]
        alg: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The `sub` claim.
        #[arg(long, default_value = "bench-user")]
        sub: String,
    },
}

fn main() {
    if let Err(err) = run(Args::parse()) {
        eprintln!("mint: {err}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Command::GenHs256 { kids, out } => {
            let keys = kids
                .iter()
                .map(|kid| {
                    let mut secret = [0_u8; 48];
                    aws_lc_rs::rand::fill(&mut secret).map_err(|_| "no randomness".to_owned())?;
                    Ok(json!({
                        "kty": "oct", "kid": kid, "alg": "HS256", "use": "sig",
                        "k": URL_SAFE_NO_PAD.encode(secret),
                    }))
                })
                .collect::<Result<Vec<_>>>()?;
            write(&out, &json!({ "keys": keys }))
        }
        Command::GenEs256 {
            kids,
            out,
            private_out,
            pem_dir,
        } => {
            let mut public = Vec::new();
            let mut private = Vec::new();
            for kid in &kids {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| "cannot generate a P-256 key".to_owned())?;
                let point = pair.public_key().as_ref();
                let (x, y) = point_coordinates(point)?;
                let jwk = json!({
                    "kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                });
                let d: EcPrivateKeyBin<'_> = pair
                    .private_key()
                    .as_be_bytes()
                    .map_err(|_| "cannot export the private key".to_owned())?;
                let mut private_jwk = jwk.clone();
                private_jwk["d"] = json!(URL_SAFE_NO_PAD.encode(d.as_ref()));
                public.push(jwk);
                private.push(private_jwk);
                if let Some(dir) = &pem_dir {
                    let pkcs8 = pair
                        .to_pkcs8v1()
                        .map_err(|_| "cannot export PKCS#8".to_owned())?;
                    let path = dir.join(format!("{kid}.pem"));
                    std::fs::write(&path, pem("PRIVATE KEY", pkcs8.as_ref()))
                        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
                }
            }
            write(&out, &json!({ "keys": public }))?;
            write(&private_out, &json!({ "keys": private }))
        }
        Command::Token {
            keys,
            kid,
            alg,
            ttl,
            sub,
        } => {
            let signer = load_signer(&keys, kid.as_deref())?;
            if let Some(alg) = &alg {
                let wanted: Algorithm = alg
                    .parse()
                    .map_err(|_| format!("unknown alg {alg:?}; use HS256 or ES256"))?;
                if wanted != signer.alg {
                    return Err(format!(
                        "--alg {alg} does not fit the key, which is {:?}",
                        signer.alg
                    ));
                }
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|_| "the clock is before 1970".to_owned())?
                .as_secs();
            let claims = json!({ "sub": sub, "iat": now, "exp": now + ttl });
            let mut header = Header::new(signer.alg);
            header.kid = signer.kid;
            let token = jsonwebtoken::encode(&header, &claims, &signer.key)
                .map_err(|err| format!("cannot sign: {err}"))?;
            println!("{token}");
            Ok(())
        }
    }
}

struct Signer {
    kid: Option<String>,
    alg: Algorithm,
    key: EncodingKey,
}

fn load_signer(path: &Path, kid: Option<&str>) -> Result<Signer> {
    let bytes =
        std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        let document: Value = serde_json::from_slice(trimmed)
            .map_err(|err| format!("{}: not JSON: {err}", path.display()))?;
        let jwk = select_jwk(&document, kid).map_err(|err| format!("{}: {err}", path.display()))?;
        signer_from_jwk(jwk)
    } else if trimmed.starts_with(b"-----BEGIN") {
        let key = EncodingKey::from_ec_pem(&bytes)
            .map_err(|err| format!("{}: not a PEM EC private key: {err}", path.display()))?;
        Ok(Signer {
            kid: kid.map(str::to_owned),
            alg: Algorithm::ES256,
            key,
        })
    } else {
        // A raw secret file, read like jwt-rollover does: one trailing newline dropped.
        let secret = bytes
            .strip_suffix(b"\r\n")
            .or_else(|| bytes.strip_suffix(b"\n"))
            .unwrap_or(&bytes);
        Ok(Signer {
            kid: kid.map(str::to_owned),
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret),
        })
    }
}

fn signer_from_jwk(jwk: &Value) -> Result<Signer> {
    let member = |name: &str| -> Result<Vec<u8>> {
        let text = jwk[name].as_str().ok_or_else(|| {
            format!("the key has no {name:?} member (private material is needed to sign)")
        })?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| format!("member {name:?} is not base64url"))
    };
    let kid = jwk["kid"].as_str().map(str::to_owned);
    match jwk["kty"].as_str() {
        Some("oct") => {
            let alg = match jwk["alg"].as_str() {
                Some(alg) => alg.parse().map_err(|_| format!("unknown alg {alg:?}"))?,
                None => Algorithm::HS256,
            };
            Ok(Signer {
                kid,
                alg,
                key: EncodingKey::from_secret(&member("k")?),
            })
        }
        Some("EC") if jwk["crv"] == "P-256" => {
            let mut point = vec![0x04];
            point.extend(member("x")?);
            point.extend(member("y")?);
            let pair = EcdsaKeyPair::from_private_key_and_public_key(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &member("d")?,
                &point,
            )
            .map_err(|err| format!("not a valid P-256 key pair: {err}"))?;
            let pkcs8 = pair
                .to_pkcs8v1()
                .map_err(|_| "cannot export PKCS#8".to_owned())?;
            Ok(Signer {
                kid,
                alg: Algorithm::ES256,
                key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            })
        }
        other => Err(format!(
            "unsupported key type {other:?}: mint signs with oct (HS256) and EC P-256 (ES256) keys"
        )),
    }
}

/// x and y of an uncompressed SEC1 P-256 point.
fn point_coordinates(point: &[u8]) -> Result<(&[u8], &[u8])> {
    match point {
        [0x04, rest @ ..] if rest.len() == 64 => Ok(rest.split_at(32)),
        _ => Err("unexpected public key encoding".to_owned()),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn write(path: &Path, document: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(document).map_err(|err| err.to_string())?;
    std::fs::write(path, text + "\n")
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}
