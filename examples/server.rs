//! The example server: jwt-rollover in front of a tiny axum app.
//!
//! ```text
//! cargo run --release --example server                      # demo keys in examples/keys/
//! cargo run --release --example server -- --keys path/to/jwks.json --leeway 30s
//! ```
//!
//! Public listener (`--listen`, default 127.0.0.1:3000):
//! - `GET /healthz`: `200`, no token needed;
//! - `GET /whoami`: `200` with `{"claims": {...}, "kid": "...", "slot": "current"|"previous"}`
//!   for a valid token, an RFC 6750 `401` otherwise.
//!
//! Admin listener (`--admin-listen`, default 127.0.0.1:9100):
//! - `GET /metrics`: Prometheus text format, unauthenticated;
//! - `GET /admin/keys`, `POST /admin/keys/previous/retire[?force=true][&kid=K]`,
//!   `POST /admin/keys/reload`: the admin API, with `Authorization: Bearer <admin token>`.
//!
//! Hot reload: the key file is watched (its directory, so Kubernetes Secret
//! volume swaps are seen) and polled every `--poll`; bad content is refused
//! and the last good keys stay active.
//!
//! Retirement: the previous key is retired automatically once it has been
//! previous for `--min-age`, unused for `--quiet`, and every token it signed
//! that was seen has expired.
//!
//! Fleet gate (`--fleet-prometheus URL --fleet-selector 'job="..."'`): with
//! many replicas, retirement also waits until the Prometheus that scrapes
//! them says the whole fleet agrees (docs/fleet.md); off when unset.
//!
//! At start it prints `curl` commands with fresh demo tokens, one signed by
//! the current key and one by the previous key, when the key file holds
//! HMAC secrets (the demo keys do).

mod shared;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use jsonwebtoken::{EncodingKey, Header};
use jwt_rollover::admin::AdminAuth;
use jwt_rollover::{Algorithm, KeyFormat, KeyRing, KeySet, TokenCacheConfig};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use shared::{RetireFlags, bind, shutdown, whoami};

/// Flags: names and defaults are a stable interface (scripts and tests use them).
#[derive(Debug, Parser)]
#[command(about = "jwt-rollover example server")]
struct Args {
    /// Address of the public listener (`/healthz`, `/whoami`).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/admin/...`).
    #[arg(long, default_value = "127.0.0.1:9100")]
    admin_listen: SocketAddr,
    /// Key file, in the format `--key-format` names.
    #[arg(long, default_value = "examples/keys/jwks.json")]
    keys: PathBuf,
    /// Format of the key file: `jwks` (a JWKS document) or `secret` (the
    /// whole file is one raw HS256 secret). Never guessed from the content.
    #[arg(long, default_value = "jwks")]
    key_format: KeyFormat,
    /// Bearer token for the admin routes; a random one is printed when unset.
    #[arg(long, env = "JWT_ROLLOVER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Poll interval of the key file, the fallback to file events.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    poll: Duration,
    /// Clock skew allowed on `exp` and `nbf`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    leeway: Duration,
    #[command(flatten)]
    retire: RetireFlags,
    /// Verified-token cache size in entries; 0 (the default) turns it off.
    #[arg(long, default_value_t = 0)]
    token_cache: usize,
    /// Accept only tokens with this `iss`.
    #[arg(long)]
    issuer: Option<String>,
    /// Accept only tokens with this `aud`.
    #[arg(long)]
    audience: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, never in collected logs.
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(tracing::Level::INFO)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        // A sentence naming the flag, never `Debug` output.
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let rollover = shared::start(&args.keys, args.key_format, args.poll, &args.retire)?;

    let mut layer = rollover.layer::<Box<RawValue>>().with_leeway(args.leeway);
    if args.token_cache > 0 {
        layer =
            layer.with_token_cache(TokenCacheConfig::default().with_max_entries(args.token_cache));
    }
    if let Some(issuer) = &args.issuer {
        layer = layer.with_issuers([issuer.clone()]);
    }
    if let Some(audience) = &args.audience {
        layer = layer.with_audiences([audience.clone()]);
    }
    // `route_layer`: the layer guards the routes, not the fallback, so an
    // unknown path is a plain 404 and scanners do not count as rejections.
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(layer)
        .route("/healthz", get(|| async { "ok\n" }));
    let admin_token_was_generated = args.admin_token.is_none();
    let admin_token = args
        .admin_token
        .clone()
        .unwrap_or_else(|| URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>()));
    let auth = AdminAuth::bearer(&admin_token).map_err(|err| format!("--admin-token: {err}"))?;
    let admin = rollover
        .metrics_router()
        .nest("/admin", rollover.admin_router(auth));

    let public_listener = bind("--listen", args.listen).await?;
    let admin_listener = bind("--admin-listen", args.admin_listen).await?;

    print_banner(
        &args,
        rollover.ring(),
        &admin_token,
        admin_token_was_generated,
    );

    let public = axum::serve(public_listener, app).with_graceful_shutdown(shutdown());
    let admin = axum::serve(admin_listener, admin).with_graceful_shutdown(shutdown());
    tokio::try_join!(async { public.await }, async { admin.await },)?;
    Ok(())
}

fn print_banner(args: &Args, ring: &KeyRing, admin_token: &str, admin_token_was_generated: bool) {
    let app = format!("http://{}", args.listen);
    let admin = format!("http://{}", args.admin_listen);
    println!("jwt-rollover example server");
    println!("  keys:  {}", args.keys.display());
    println!("         current  {}", ring.current_kid());
    match ring.previous_kid() {
        Some(kid) => println!("         previous {kid}"),
        None => println!("         previous (none)"),
    }
    println!("  app:   {app}  (GET /healthz, GET /whoami)");
    println!(
        "  admin: {admin}  (GET /metrics, GET /admin/keys, POST /admin/keys/previous/retire, POST /admin/keys/reload)"
    );
    if admin_token_was_generated {
        println!("  admin token (random; set JWT_ROLLOVER_ADMIN_TOKEN to choose): {admin_token}");
    }
    println!(
        "  auto retirement: previous key dropped after --min-age {}, --quiet {}, and no live token",
        humantime::format_duration(args.retire.min_age),
        humantime::format_duration(args.retire.quiet),
    );
    println!(
        "  hot reload: the key file is watched, and polled every --poll {}",
        humantime::format_duration(args.poll),
    );
    println!();

    let signers = demo_signers(&args.keys, args.key_format);
    if signers.is_empty() {
        println!("The key file has no HMAC secret, so no demo token can be minted here.");
        println!("Sign a token with your own private key and try:");
        println!("  curl -s {app}/whoami -H 'Authorization: Bearer <token>'");
    } else {
        println!("Try it (demo tokens, valid for 1 hour):");
        let mut shown = 0;
        for (slot, kid) in [
            ("current", Some(ring.current_kid())),
            ("previous", ring.previous_kid()),
        ] {
            let Some(kid) = kid else { continue };
            let Some((_, secret, alg)) = signers.iter().find(|(signer_kid, ..)| *signer_kid == kid)
            else {
                continue;
            };
            match demo_token(&kid, secret, *alg, args) {
                Ok(token) => {
                    println!("  # signed by the {slot} key ({kid}):");
                    println!("  curl -s {app}/whoami -H 'Authorization: Bearer {token}'");
                    shown += 1;
                }
                Err(err) => println!("  cannot mint a demo token for {kid}: {err}"),
            }
        }
        if shown == 0 {
            println!("  (no loaded key matches a secret in the key file)");
        }
    }
    println!("  # previous-key use, as a dashboard sees it:");
    println!("  curl -s {admin}/metrics | grep -E '^jwt_(verifications|rejections|previous)'");
    let from_env = std::env::var("JWT_ROLLOVER_ADMIN_TOKEN").is_ok_and(|env| env == admin_token);
    let token_ref = if admin_token_was_generated {
        admin_token.to_owned()
    } else if from_env {
        println!(
            "  # (the admin token is the one in JWT_ROLLOVER_ADMIN_TOKEN: export it in this shell)"
        );
        "$JWT_ROLLOVER_ADMIN_TOKEN".to_owned()
    } else {
        "<your --admin-token>".to_owned()
    };
    println!("  # the ring, and whether the previous key may be retired:");
    println!("  curl -s {admin}/admin/keys -H \"Authorization: Bearer {token_ref}\"");
    if let Some(previous) = ring.previous_kid() {
        // Naming the kid: a retire replayed after another rotation is refused.
        println!(
            "  curl -s -X POST '{admin}/admin/keys/previous/retire?kid={previous}' -H \"Authorization: Bearer {token_ref}\""
        );
    }
    println!();
}

/// The HMAC secrets in the key file, by kid, so the banner can mint tokens.
/// Demo convenience only: a real verifier never needs to sign.
fn demo_signers(path: &Path, format: KeyFormat) -> Vec<(String, Vec<u8>, Algorithm)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    if format == KeyFormat::Jwks {
        let Ok(document) = serde_json::from_slice::<Value>(&bytes) else {
            return Vec::new();
        };
        let keys = document["keys"].as_array().cloned().unwrap_or_default();
        return keys
            .iter()
            .filter(|key| key["kty"] == "oct")
            .filter_map(|key| {
                let kid = key["kid"].as_str()?;
                let secret = URL_SAFE_NO_PAD.decode(key["k"].as_str()?).ok()?;
                let alg = key["alg"].as_str()?.parse().ok()?;
                Some((kid.to_owned(), secret, alg))
            })
            .collect();
    }
    // A raw secret file: the crate computed its kid; mint with the same bytes.
    match KeySet::parse(&bytes, format) {
        Ok(keys) => {
            let secret = bytes
                .strip_suffix(b"\r\n")
                .or_else(|| bytes.strip_suffix(b"\n"))
                .unwrap_or(&bytes);
            vec![(
                keys.current().kid().to_owned(),
                secret.to_vec(),
                Algorithm::HS256,
            )]
        }
        Err(_) => Vec::new(),
    }
}

fn demo_token(
    kid: &str,
    secret: &[u8],
    alg: Algorithm,
    args: &Args,
) -> jsonwebtoken::errors::Result<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut claims = json!({
        "sub": "demo-user",
        "iat": now,
        "exp": now + 3600,
    });
    if let Some(issuer) = &args.issuer {
        claims["iss"] = json!(issuer);
    }
    if let Some(audience) = &args.audience {
        claims["aud"] = json!(audience);
    }
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
}
