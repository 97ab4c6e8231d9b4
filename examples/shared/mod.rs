//! What the example server and the example issuer share: the `/whoami`
//! handler (so both answer the same JSON), binding a listener with an error
//! that names the flag, and a graceful shutdown on Ctrl-C or SIGTERM.
//!
//! Not an example of its own: each example declares `mod shared;`.

use std::net::SocketAddr;

use axum::Json;
use axum::response::IntoResponse;
use jwt_rollover::{Slot, Verified};
use serde::Serialize;
use serde_json::value::RawValue;

/// The `/whoami` answer, serialized straight from the verified token.
///
/// The claims are a `Box<RawValue>`: the payload's JSON as the token
/// carries it, checked (exp, nbf, iss, aud) but never built into a `Value`
/// map, so echoing them costs a copy instead of a parse, a serialization
/// and a drop (callgrind: this handler 5,458 -> 3,841 instructions per
/// request; end to end about +0.04 of `/healthz`'s requests per second,
/// see docs/performance.md). JSON that a `Value` cannot hold (a lone
/// surrogate escape such as `"\ud800"`) is therefore echoed as written
/// rather than refused. An application that reads its claims would name
/// its own struct instead: `Verified<MyClaims>`.
#[derive(Serialize)]
pub(crate) struct WhoAmI<'a> {
    claims: &'a RawValue,
    kid: &'a str,
    slot: Slot,
}

pub(crate) async fn whoami(token: Verified<Box<RawValue>>) -> impl IntoResponse {
    Json(WhoAmI {
        claims: &token.claims,
        kid: &token.key.kid,
        slot: token.key.slot,
    })
    .into_response()
}

/// Binds `address`, or says which flag named an address that cannot be used.
pub(crate) async fn bind(
    flag: &str,
    address: SocketAddr,
) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| format!("{flag} {address}: {err}"))
}

/// Ctrl-C, or SIGTERM (what Kubernetes sends before killing a pod): stop
/// accepting connections and let the open ones finish.
pub(crate) async fn shutdown() {
    let interrupt = async {
        // If a handler cannot be installed, that signal never ends the wait.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
