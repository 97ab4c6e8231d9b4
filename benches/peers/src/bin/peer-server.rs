//! The peer server of the HTTP benchmark: the same two routes as
//! `examples/server.rs`, guarded by the `jwt-authorizer` crate instead of
//! jwt-rollover.
//!
//! ```text
//! peer-server --listen 127.0.0.1:3100 --keys keys.jwks.json [--kid K] [--leeway 60s]
//! ```
//!
//! - `GET /healthz`: `200 ok`, no token needed;
//! - `GET /whoami`: `200` with `{"claims": {...}, "kid": "..."}` for a valid
//!   token, jwt-authorizer's `401` otherwise.
//!
//! `--keys` is a JWKS file (the key whose `kid` is `--kid`, else the first
//! one; public members only are read), a PEM EC public key, or a raw HS256
//! secret file (UTF-8, one trailing newline dropped). Validation matches the
//! example server's defaults: `exp` required with `--leeway` (60 s), `nbf`
//! checked when present, no `iss`/`aud`, the algorithm pinned to the key's.
//!
//! jwt-authorizer 0.15 (its latest release) is written against axum 0.7; its
//! layer is a plain tower layer, so it guards this axum 0.8 router once its
//! rejection (an axum 0.7 response) is converted into an axum 0.8 response.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use jwt_authorizer::{AuthError, Authorizer, IntoLayer, JwtAuthorizer, Validation};
use jwt_rollover_bench_peers::{init_logging, select_jwk, serve};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tower::ServiceBuilder;

#[derive(Debug, Parser)]
#[command(about = "Benchmark peer: axum 0.8 + jwt-authorizer, routes /healthz and /whoami")]
struct Args {
    /// Address of the listener.
    #[arg(long, default_value = "127.0.0.1:3100")]
    listen: SocketAddr,
    /// Key file: a JWKS document, a PEM EC public key, or a raw HS256 secret.
    #[arg(long)]
    keys: PathBuf,
    /// With a JWKS: the kid of the key to use (default: the first key).
    #[arg(long)]
    kid: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, like the example server's --leeway.
    #[arg(long, value_parser = parse_secs, default_value = "60s")]
    leeway: Duration,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let digits = text.strip_suffix('s').unwrap_or(text);
    digits
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("expected whole seconds such as 60s, got {text:?}"))
}

/// The claims as the token carries them, the type the example server's
/// `/whoami` uses too: both answers echo the claims without building a
/// `Value` map, so the two servers differ only in their JWT middleware.
type RawClaims = Box<RawValue>;

/// What jwt-authorizer's layer puts in the request extensions: jsonwebtoken
/// 9's `TokenData` of the claims type.
type Token = jsonwebtoken_v9::TokenData<RawClaims>;

/// jwt-authorizer's own `JwtClaims` extractor implements axum 0.7's
/// `FromRequestParts`; this is the same extractor for axum 0.8. Like
/// `JwtClaims`, it clones the claims out of the request extensions (and the
/// header's kid, which the example server's answer also carries).
struct Claims {
    claims: RawClaims,
    kid: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Token>()
            .map(|token| Claims {
                claims: token.claims.clone(),
                kid: token.header.kid.clone(),
            })
            .ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "no authorization layer\n",
            ))
    }
}

/// Serialized from borrowed fields, like the example server's answer, so
/// that the two servers differ only in their JWT middleware.
#[derive(Serialize)]
struct WhoAmI<'a> {
    claims: &'a RawValue,
    kid: Option<&'a str>,
}

async fn whoami(token: Claims) -> Response {
    Json(WhoAmI {
        claims: &token.claims,
        kid: token.kid.as_deref(),
    })
    .into_response()
}

/// An axum 0.8 response that jwt-authorizer's service can build from its
/// `AuthError` (its layer requires `Response: From<AuthError>`).
struct PeerResponse(Response);

impl From<Response> for PeerResponse {
    fn from(response: Response) -> Self {
        Self(response)
    }
}

impl From<AuthError> for PeerResponse {
    fn from(err: AuthError) -> Self {
        // jwt-authorizer's own answer (status, WWW-Authenticate), axum 0.7 body.
        let response: axum07::response::Response = err.into();
        let (parts, body) = response.into_parts();
        Self(Response::from_parts(parts, axum::body::Body::new(body)))
    }
}

impl IntoResponse for PeerResponse {
    fn into_response(self) -> Response {
        self.0
    }
}

/// Which key source to give jwt-authorizer, read from `--keys`.
enum KeySource {
    /// A one-key JWKS written to a temporary file (jwt-authorizer reads JWKS from a path).
    Jwks {
        path: PathBuf,
        kid: String,
        alg: String,
    },
    EcPem(String),
    Secret(String),
}

fn key_source(args: &Args) -> Result<KeySource, String> {
    let bytes = std::fs::read(&args.keys)
        .map_err(|err| format!("cannot read {}: {err}", args.keys.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "{}: not UTF-8; jwt-authorizer takes a secret as &str",
            args.keys.display()
        )
    })?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let document: Value =
            serde_json::from_str(trimmed).map_err(|err| format!("not a JWKS: {err}"))?;
        let key = select_jwk(&document, args.kid.as_deref())
            .map_err(|err| format!("{}: {err}", args.keys.display()))?;
        // Public members only: jwt-authorizer verifies, it never needs `d`.
        let mut public = serde_json::Map::new();
        for member in ["kty", "kid", "alg", "use", "k", "crv", "x", "y", "n", "e"] {
            if let Some(value) = key.get(member) {
                public.insert(member.to_owned(), value.clone());
            }
        }
        let kid = public
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or("(none)")
            .to_owned();
        let alg = public
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or("(from key type)")
            .to_owned();
        let path =
            std::env::temp_dir().join(format!("peer-server-{}.jwks.json", std::process::id()));
        std::fs::write(&path, json!({ "keys": [public] }).to_string())
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        Ok(KeySource::Jwks { path, kid, alg })
    } else if trimmed.starts_with("-----BEGIN") {
        Ok(KeySource::EcPem(text))
    } else {
        let secret = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        Ok(KeySource::Secret(secret.to_owned()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The same subscriber as the example server, so both pay the same for logging.
    init_logging();
    let args = Args::parse();

    let validation = Validation::new()
        .exp(true)
        .nbf(true)
        .leeway(args.leeway.as_secs());
    let (builder, description, temp_jwks) = match key_source(&args)? {
        KeySource::Jwks { path, kid, alg } => (
            JwtAuthorizer::<RawClaims>::from_jwks(path.to_str().ok_or("temp path is not UTF-8")?),
            format!("JWKS key kid={kid} alg={alg}"),
            Some(path),
        ),
        KeySource::EcPem(pem) => (
            JwtAuthorizer::from_ec_pem_text(&pem),
            "PEM EC public key".to_owned(),
            None,
        ),
        KeySource::Secret(secret) => (
            JwtAuthorizer::from_secret(&secret),
            "raw HS256 secret".to_owned(),
            None,
        ),
    };
    // The key file is read here, once; the temporary JWKS is not needed after.
    let authorizer = builder.validation(validation).build().await;
    if let Some(path) = temp_jwks {
        let _ = std::fs::remove_file(path);
    }
    let authorizer: Authorizer<RawClaims> = authorizer?;
    let auth_layer = authorizer.into_layer();

    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(
            ServiceBuilder::new()
                .layer(auth_layer)
                .map_response(PeerResponse::from),
        )
        .route("/healthz", get(|| async { "ok\n" }));

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "peer-server (jwt-authorizer 0.15) on http://{}",
        args.listen
    );
    println!("  key: {description}");
    serve(listener, app).await?;
    Ok(())
}
