//! What the benchmark binaries share: picking a key out of a JWKS, and the
//! logging and serving set-up of the example server, so that every server
//! in the comparison pays the same for them.

use serde_json::Value;

/// The key whose `kid` is `kid` in a JWKS document, else its first key.
pub fn select_jwk<'d>(document: &'d Value, kid: Option<&str>) -> Result<&'d Value, String> {
    let keys = document["keys"]
        .as_array()
        .ok_or("not a JWKS (no keys array)")?;
    match kid {
        Some(kid) => keys
            .iter()
            .find(|key| key["kid"].as_str() == Some(kid))
            .ok_or_else(|| format!("no key with kid {kid:?}")),
        None => keys
            .first()
            .ok_or_else(|| "the JWKS has no keys".to_owned()),
    }
}

/// The example server's subscriber: INFO and up, to stderr.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
}

/// Serves `app` until Ctrl-C (or forever where no signal can be awaited).
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
}
