//! The example issuer: a service that both issues tokens (with a `Signer`)
//! and verifies them (with the layer), from one key ring.
//!
//! ```text
//! cargo run --release --example issuer --features signer     # HMAC demo keys in examples/keys/
//! cargo run --release --example issuer --features signer -- \
//!     --keys /etc/jwt/jwks.json --private-keys /etc/jwt/private.json   # asymmetric keys
//! ```
//!
//! Then:
//!
//! ```text
//! TOKEN=$(curl -s -X POST 'http://127.0.0.1:3000/token?sub=alice' | jq -r .access_token)
//! curl -s http://127.0.0.1:3000/whoami -H "Authorization: Bearer $TOKEN"
//! ```
//!
//! Public listener (`--listen`, default 127.0.0.1:3000):
//! - `POST /token?sub=alice` (or a JSON body `{"sub": "alice"}`): `200` with
//!   `{"access_token": "...", "token_type": "Bearer", "expires_in": <s>, "kid": "..."}`,
//!   a token valid for `--token-ttl`;
//! - `GET /whoami`: `200` with `{"claims": {...}, "kid": "...", "slot": "current"|"previous"}`
//!   for a valid token, an RFC 6750 `401` otherwise (as the example server);
//! - `GET /healthz`: `200`.
//!
//! Admin listener (`--admin-listen`, default 127.0.0.1:9100): `GET /metrics`
//! and the admin API under `/admin`, as the example server; `GET
//! /admin/keys` has a `signer` section (the key it signs with, and the
//! new key it waits for), and `jwt_signer_key_info{kid}` names the key it
//! signs with.
//!
//! Rotating is one Secret change: for HMAC keys, the JWKS `--keys` reads
//! (`{"keys": [new, old]}`); for asymmetric keys, that public JWKS and the
//! private JWKS `--private-keys` reads, with the same kids (`jwt-rollover
//! rotate --new k.jwk` writes the first, the same command with `--private`
//! the second). The issuer keeps signing with the
//! old key until the new one has been current for `--activation-delay`
//! (and, with `--fleet-prometheus`, is loaded on every replica), so no
//! replica rejects a fresh token as `unknown_kid`.

mod shared;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use jwt_rollover::admin::AdminAuth;
use jwt_rollover::{KeyFile, KeyFormat, Signer, SignerError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use shared::{RetireFlags, bind, shutdown, whoami};

/// Flags: the example server's names where they overlap.
#[derive(Debug, Parser)]
#[command(about = "jwt-rollover example issuer: issues and verifies tokens from one key ring")]
struct Args {
    /// Address of the public listener (`/token`, `/whoami`, `/healthz`).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/admin/...`).
    #[arg(long, default_value = "127.0.0.1:9100")]
    admin_listen: SocketAddr,
    /// The verifiers' key file (for HMAC keys, also what signs).
    #[arg(long, default_value = "examples/keys/jwks.json")]
    keys: PathBuf,
    /// Format of the key file: `jwks` or `secret`.
    #[arg(long, default_value = "jwks")]
    key_format: KeyFormat,
    /// The private JWKS (`{"keys": [current, previous]}` of private JWKs)
    /// for asymmetric keys; its kids match the `--keys` JWKS.
    #[arg(long)]
    private_keys: Option<PathBuf>,
    /// How long a new key must be current here before it signs (longer
    /// than a kubelet sync, so that the other replicas have it too).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2m")]
    activation_delay: Duration,
    /// Lifetime of the issued tokens (`exp - iat`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
    token_ttl: Duration,
    /// Bearer token for the admin routes; a random one is printed when unset.
    #[arg(long, env = "JWT_ROLLOVER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Poll interval of the key files, the fallback to file events.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    poll: Duration,
    /// Clock skew allowed on `exp` and `nbf`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    leeway: Duration,
    #[command(flatten)]
    retire: RetireFlags,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(tracing::Level::INFO)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone)]
struct Issuer {
    signer: Signer,
    ttl: Duration,
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let rollover = shared::start(&args.keys, args.key_format, args.poll, &args.retire)?;

    let mut signer = rollover
        .signer()
        .with_activation_delay(args.activation_delay)
        .with_private_keys_poll(args.poll);
    if let Some(private) = &args.private_keys {
        signer = signer.with_private_keys(KeyFile::jwks(private));
    }
    let signer = signer.build().map_err(|err| match err {
        SignerError::PrivateKeys(source) => format!(
            "--private-keys {}: {source}",
            args.private_keys
                .as_deref()
                .unwrap_or_else(|| "".as_ref())
                .display()
        ),
        SignerError::NoSigningKey(source) => {
            format!("{source} (give --private-keys for asymmetric --keys)")
        }
        other => other.to_string(),
    })?;

    let layer = rollover.layer::<Box<RawValue>>().with_leeway(args.leeway);
    let issuer = Issuer {
        signer: signer.clone(),
        ttl: args.token_ttl,
    };
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(layer)
        .route("/token", post(token))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(issuer);
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

    let app_url = format!("http://{}", args.listen);
    println!("jwt-rollover example issuer");
    println!("  keys:    {}", args.keys.display());
    if let Some(private) = &args.private_keys {
        println!("  private: {}", private.display());
    }
    println!(
        "  signing with {} (new keys after --activation-delay {})",
        signer.signing_kid().unwrap_or_default(),
        humantime::format_duration(args.activation_delay)
    );
    println!("  app:     {app_url}  (POST /token?sub=NAME, GET /whoami, GET /healthz)");
    println!(
        "  admin:   http://{}  (GET /metrics, GET /admin/keys, ...)",
        args.admin_listen
    );
    if admin_token_was_generated {
        println!("  admin token (random; set JWT_ROLLOVER_ADMIN_TOKEN to choose): {admin_token}");
    }
    println!("Try it:");
    println!(
        "  TOKEN=$(curl -s -X POST '{app_url}/token?sub=alice' | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
    );
    println!("  curl -s {app_url}/whoami -H \"Authorization: Bearer $TOKEN\"");
    println!();

    let public = axum::serve(public_listener, app).with_graceful_shutdown(shutdown());
    let admin = axum::serve(admin_listener, admin).with_graceful_shutdown(shutdown());
    tokio::try_join!(async { public.await }, async { admin.await },)?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    sub: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    kid: String,
}

/// `POST /token`: the subject from the query or a JSON body. A demo: a
/// real issuer authenticates the caller before it signs anything.
async fn token(
    State(issuer): State<Issuer>,
    Query(query): Query<TokenRequest>,
    body: Option<Json<TokenRequest>>,
) -> Response {
    let sub = query
        .sub
        .or_else(|| body.and_then(|Json(body)| body.sub))
        .filter(|sub| !sub.is_empty());
    let Some(sub) = sub else {
        let error = json!({"error": "invalid_request", "error_description": "give sub: ?sub=NAME or {\"sub\": \"NAME\"}"});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let ttl = issuer.ttl.as_secs();
    let claims = json!({"sub": sub, "iat": now, "exp": now + ttl});
    match issuer.signer.sign(&claims) {
        Ok(token) => {
            let kid = jsonwebtoken::decode_header(&token)
                .ok()
                .and_then(|header| header.kid)
                .unwrap_or_default();
            Json(TokenResponse {
                access_token: token,
                token_type: "Bearer",
                expires_in: ttl,
                kid,
            })
            .into_response()
        }
        Err(err) => {
            // The error names a kid at most, never key material.
            tracing::error!(error = %err, "cannot sign a token");
            let error =
                json!({"error": "server_error", "error_description": "cannot sign a token now"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response()
        }
    }
}
