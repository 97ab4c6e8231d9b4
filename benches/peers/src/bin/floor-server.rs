//! The floor of the HTTP benchmark: what `/whoami` would cost if JWT
//! verification were nothing but the unavoidable parts. Same axum, tokio
//! and logging setup as `examples/server.rs`; HS256 only.
//!
//! ```text
//! floor-server --listen 127.0.0.1:3200 --keys hs256.jwks.json [--kid K]
//! ```
//!
//! - `GET /healthz`: `200 ok`, no token (the HTTP floor, as in the example server);
//! - `GET /answer`: the example server's `/whoami` body, serialized from
//!   claims parsed once at start: the cost of the answer alone, no token read;
//! - `GET /hmac`: the same answer after only what any verifier must do:
//!   find the Bearer token, base64url-decode its signature, check the HMAC
//!   with a key prepared at start. Done in the handler (no middleware, so
//!   no layer overhead either); no header, no claims, no `exp`, no metrics:
//!   not a verifier, a lower bound for one;
//! - `GET /spin/1us`, `/spin/2us`, `/spin/4us`: the answer after that much
//!   busy CPU work, to calibrate what a microsecond per request costs in
//!   requests/second on the machine (the server shares its cores with wrk).
//!
//! `scripts/bench_http.sh` runs it beside the example server and prints
//! `/answer` and `/hmac` against `/healthz`: the share of the HTTP floor
//! left once the answer (and the HMAC) are paid, which bounds what any
//! JWT layer can reach on the machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use jwt_rollover_bench_peers::{init_logging, select_jwk, serve};
use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Benchmark floor: /healthz, /answer (no token), /hmac (HMAC check only)")]
struct Args {
    /// Address of the listener.
    #[arg(long, default_value = "127.0.0.1:3200")]
    listen: SocketAddr,
    /// A JWKS file with HS256 (`oct`) keys.
    #[arg(long)]
    keys: PathBuf,
    /// The kid of the key to check with (default: the first key).
    #[arg(long)]
    kid: Option<String>,
}

/// What every request shares: the prepared key and the answer's parts.
struct Floor {
    key: hmac::Key,
    kid: String,
    /// Claims of the shape `mint` signs, parsed once.
    claims: Box<RawValue>,
}

/// The example server's `/whoami` body, serialized the same way.
#[derive(Serialize)]
struct WhoAmI<'a> {
    claims: &'a RawValue,
    kid: &'a str,
    slot: &'static str,
}

/// Busy work for `micros` µs, then the answer.
async fn spin_then_answer(floor: Arc<Floor>, micros: u64) -> Response {
    let start = Instant::now();
    let budget = Duration::from_micros(micros);
    while start.elapsed() < budget {
        std::hint::spin_loop();
    }
    answer(State(floor)).await
}

async fn answer(State(floor): State<Arc<Floor>>) -> Response {
    Json(WhoAmI {
        claims: &floor.claims,
        kid: &floor.kid,
        slot: "current",
    })
    .into_response()
}

/// The HMAC check alone (`Bearer <signing input>.<signature>`), then the answer.
async fn hmac_then_answer(State(floor): State<Arc<Floor>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some((signed, signature_b64)) = token.and_then(|token| token.rsplit_once('.')) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut signature = [0_u8; 64];
    let verified = URL_SAFE_NO_PAD
        .decode_slice(signature_b64, &mut signature)
        .is_ok_and(|len| hmac::verify(&floor.key, signed.as_bytes(), &signature[..len]).is_ok());
    if !verified {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    answer(State(floor)).await
}

fn load(args: &Args) -> Result<Floor, String> {
    let text = std::fs::read_to_string(&args.keys)
        .map_err(|err| format!("cannot read {}: {err}", args.keys.display()))?;
    let document: Value =
        serde_json::from_str(&text).map_err(|err| format!("not a JWKS: {err}"))?;
    let key = select_jwk(&document, args.kid.as_deref())?;
    if key["kty"] != "oct" {
        return Err("the floor server checks HS256 only: the key must be kty oct".to_owned());
    }
    let secret = URL_SAFE_NO_PAD
        .decode(key["k"].as_str().ok_or("the key has no k")?)
        .map_err(|err| format!("k is not base64url: {err}"))?;
    Ok(Floor {
        key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        kid: key["kid"].as_str().unwrap_or_default().to_owned(),
        // The shape and size of mint's claims: sub, iat, exp.
        claims: to_raw_value(
            &json!({"exp": 1_795_862_257_u64, "iat": 1_795_855_057_u64, "sub": "bench-user"}),
        )
        .map_err(|err| err.to_string())?,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let args = Args::parse();
    let floor = Arc::new(load(&args)?);

    let app = Router::new()
        .route("/hmac", get(hmac_then_answer))
        .route("/answer", get(answer))
        .route("/spin/1us", get(|State(floor)| spin_then_answer(floor, 1)))
        .route("/spin/2us", get(|State(floor)| spin_then_answer(floor, 2)))
        .route("/spin/4us", get(|State(floor)| spin_then_answer(floor, 4)))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(floor.clone());

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "floor-server on http://{} (key kid={})",
        args.listen, floor.kid
    );
    serve(listener, app).await?;
    Ok(())
}
