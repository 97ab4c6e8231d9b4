use axum::{Router, routing::get};
use jwt_rollover::admin::AdminAuth;
use jwt_rollover::{JwtRollover, KeyFile, Verified};

async fn whoami(token: Verified<serde_json::Value>) -> String {
    let (kid, slot) = (&token.key.kid, token.key.slot);
    format!("{} (key {kid}, the {slot} one)\n", token.claims)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = prometheus::Registry::new();
    let rollover = JwtRollover::builder(KeyFile::jwks("jwks.json")).start(&registry)?;

    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(rollover.layer::<serde_json::Value>());
    let auth = AdminAuth::bearer(std::env::var("ADMIN_TOKEN")?)?; // at least 16 bytes
    let admin = rollover
        .metrics_router()
        .nest("/admin", rollover.admin_router(auth));

    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
    let app_server = axum::serve(app_listener, app).into_future();
    let admin_server = axum::serve(admin_listener, admin).into_future();
    tokio::try_join!(app_server, admin_server)?;
    Ok(())
}
