//! What the example server and the example issuer share: the retirement
//! and fleet-gate flags (the same names and defaults in both), the
//! `/whoami` handler (so both answer the same JSON), binding a listener
//! with an error that names the flag, and a graceful shutdown on Ctrl-C or
//! SIGTERM.
//!
//! Not an example of its own: each example declares `mod shared;`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Json;
use axum::response::IntoResponse;
use jwt_rollover::fleet::PrometheusGate;
use jwt_rollover::{
    JwtRollover, KeyFile, KeyFormat, RetirePolicy, Slot, StartError, Verified, WatchOptions,
};
use prometheus::Registry;
use serde::Serialize;
use serde_json::value::RawValue;

/// When the previous key is retired, and the fleet gate: flattened into
/// each example's flags.
#[derive(Debug, clap::Args)]
pub(crate) struct RetireFlags {
    /// Retirement policy: least time a key stays previous before auto retirement
    /// (at least the longest token lifetime plus the leeway).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub(crate) min_age: Duration,
    /// Retirement policy: how long no token may have matched the previous key.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub(crate) quiet: Duration,
    /// Retirement policy: how often eligibility (and the fleet gate) is checked.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub(crate) check_interval: Duration,
    /// The fleet gate: base URL of the Prometheus that scrapes every replica
    /// (e.g. `http://prometheus:9090`). Off when unset.
    #[arg(long, requires = "fleet_selector")]
    pub(crate) fleet_prometheus: Option<String>,
    /// The fleet gate: a label selector matching exactly this service's
    /// replicas, e.g. `job="orders"`.
    #[arg(long, requires = "fleet_prometheus")]
    pub(crate) fleet_selector: Option<String>,
    /// The fleet gate: Prometheus's scrape interval for the replicas; a
    /// replica not scraped for twice this long makes the gate undecided.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub(crate) fleet_scrape_interval: Duration,
}

impl RetireFlags {
    pub(crate) fn policy(&self) -> RetirePolicy {
        RetirePolicy::default()
            .with_min_age(self.min_age)
            .with_quiet(self.quiet)
            .with_check_interval(self.check_interval)
    }

    /// The fleet gate the flags ask for, if any; a bad URL or selector is
    /// a sentence naming both flags.
    pub(crate) fn gate(&self) -> Result<Option<PrometheusGate>, String> {
        let (Some(url), Some(selector)) = (&self.fleet_prometheus, &self.fleet_selector) else {
            return Ok(None);
        };
        let gate = PrometheusGate::new(url, selector)
            .map_err(|err| format!("--fleet-prometheus {url} --fleet-selector {selector}: {err}"))?
            .with_scrape_interval(self.fleet_scrape_interval);
        Ok(Some(gate))
    }
}

/// Starts the rollover on `keys`, watched and polled every `poll`, with the
/// retirement flags; errors are sentences naming the flag.
pub(crate) fn start(
    keys: &Path,
    key_format: KeyFormat,
    poll: Duration,
    retire: &RetireFlags,
) -> Result<JwtRollover, String> {
    let mut builder = JwtRollover::builder(KeyFile::new(keys, key_format))
        .with_policy(retire.policy())
        .with_watch(WatchOptions::default().with_poll_interval(poll));
    if let Some(gate) = retire.gate()? {
        builder = builder.with_fleet_gate(gate);
    }
    builder.start(&Registry::new()).map_err(|err| match err {
        StartError::Keys { source, .. } => format!(
            "--keys {} (--key-format {key_format}): {source}",
            keys.display()
        ),
        other => other.to_string(),
    })
}

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
