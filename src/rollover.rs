//! One call that wires everything: the key file, the metrics, the ring, the
//! watcher and auto retirement, handing out the layer, the verifier, the
//! admin router and a `/metrics` route.

use std::fmt;
use std::sync::Arc;

use prometheus::Registry;

use crate::clock::Clock;
use crate::fleet::FleetGate;
use crate::keys::{KeyError, KeyFile};
use crate::layer::JwtLayer;
use crate::metrics::Metrics;
use crate::ring::{AutoRetireTask, KeyRing, RetirePolicy};
#[cfg(feature = "watch")]
use crate::ring::{KeyWatcher, WatchError, WatchOptions};
use crate::verify::Verifier;

/// Key rotation for a service, wired in one call: loads the key file,
/// registers the [`Metrics`] on your registry (owned here, so two rings can
/// never share them by mistake), builds the [`KeyRing`], starts the file
/// watcher and auto retirement, and hands out what a service mounts.
///
/// Dropping it stops the watcher and auto retirement; the layers and
/// verifiers it handed out keep working on the last keys.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use jwt_rollover::admin::AdminAuth;
/// use jwt_rollover::{JwtRollover, KeyFile, Verified};
///
/// async fn whoami(token: Verified<serde_json::Value>) -> String {
///     format!("{} (key {}, {})\n", token.claims, token.key.kid, token.key.slot)
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = prometheus::Registry::new();
/// let rollover = JwtRollover::builder(KeyFile::jwks("/etc/jwt/jwks.json")).start(&registry)?;
///
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .route_layer(rollover.layer::<serde_json::Value>());
/// let admin: Router = rollover
///     .metrics_router()
///     .nest("/admin", rollover.admin_router(AdminAuth::bearer("a-long-random-admin-token")?));
/// # Ok(())
/// # }
/// ```
pub struct JwtRollover {
    ring: KeyRing,
    registry: Registry,
    _auto_retire: AutoRetireTask,
    #[cfg(feature = "watch")]
    watcher: Option<KeyWatcher>,
}

/// Configures a [`JwtRollover`]: the policy, the clock, the watcher.
#[must_use]
pub struct JwtRolloverBuilder {
    file: KeyFile,
    policy: RetirePolicy,
    clock: Option<Arc<dyn Clock>>,
    metrics_prefix: Option<String>,
    fleet_gate: Option<Arc<dyn FleetGate>>,
    #[cfg(feature = "watch")]
    watch: Option<WatchOptions>,
}

/// Why [`JwtRolloverBuilder::start`] failed. Nothing was started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The key file could not be read or its content was refused.
    #[error("{path}: {source}")]
    Keys {
        /// The key file.
        path: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// The metrics could not be registered (already registered on this
    /// registry, or an invalid prefix).
    #[error("cannot register the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// Not called from within a tokio runtime.
    #[error("JwtRollover::start needs a tokio runtime (the watcher and auto retirement run on it)")]
    NoRuntime,
    /// The file watcher could not start.
    #[cfg(feature = "watch")]
    #[error("cannot watch the key file: {0}")]
    Watch(#[from] WatchError),
}

impl JwtRollover {
    /// A builder for the keys in `file` (a bare path is a JWKS file).
    pub fn builder(file: impl Into<KeyFile>) -> JwtRolloverBuilder {
        JwtRolloverBuilder {
            file: file.into(),
            policy: RetirePolicy::default(),
            clock: None,
            metrics_prefix: None,
            fleet_gate: None,
            #[cfg(feature = "watch")]
            watch: Some(WatchOptions::default()),
        }
    }

    /// The ring: to read its status, reload, rotate or retire in code.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// A layer verifying against the ring, with the default rules; set
    /// leeway, issuers, audiences or a token cache on it as on any
    /// [`JwtLayer`].
    pub fn layer<C>(&self) -> JwtLayer<C> {
        JwtLayer::new(self.ring.clone())
    }

    /// A verifier with the default rules, for tokens that do not come in an
    /// HTTP request. For other rules, configure a [`layer`](Self::layer)
    /// and take its [`verifier`](JwtLayer::verifier).
    pub fn verifier<C>(&self) -> Verifier<C> {
        self.layer().verifier()
    }

    /// A [`Signer`](crate::signing::Signer) builder for this ring, for a
    /// service that issues tokens as well as verifying them: it signs
    /// with the keys the layer verifies, switching to a new key only once
    /// every replica accepts it. Asymmetric keys also need
    /// [`with_private_keys`](crate::signing::SignerBuilder::with_private_keys).
    ///
    /// ```no_run
    /// use jwt_rollover::{JwtRollover, KeyFile};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let rollover = JwtRollover::builder(KeyFile::jwks("/etc/jwt/jwks.json"))
    ///     .start(&prometheus::Registry::new())?;
    /// let signer = rollover
    ///     .signer()
    ///     .with_private_keys(KeyFile::jwks("/etc/jwt-private/jwks.json"))
    ///     .build()?;
    /// let token = signer.sign(&serde_json::json!({"sub": "alice", "exp": 4_000_000_000_u64}))?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "signer")]
    pub fn signer(&self) -> crate::signing::SignerBuilder {
        crate::signing::Signer::builder(self.ring.clone())
    }

    /// The registry the metrics are on.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether the key file's events are watched (`false`: polling only, or
    /// no watcher).
    #[cfg(feature = "watch")]
    pub fn watches_events(&self) -> bool {
        self.watcher.as_ref().is_some_and(KeyWatcher::has_events)
    }

    /// The admin API for this ring (see [`admin`](crate::admin)), to nest
    /// under a prefix on an admin listener.
    #[cfg(feature = "axum")]
    pub fn admin_router(&self, auth: crate::admin::AdminAuth) -> axum::Router {
        crate::admin::admin_router(self.ring.clone(), auth)
    }

    /// `GET /metrics`: the registry in Prometheus' text format, for the
    /// admin listener (never the public one).
    #[cfg(feature = "axum")]
    pub fn metrics_router(&self) -> axum::Router {
        crate::admin::metrics_router(self.registry.clone())
    }
}

impl fmt::Debug for JwtRollover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtRollover")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl JwtRolloverBuilder {
    /// The retirement policy (default: [`RetirePolicy::default`]).
    pub fn with_policy(mut self, policy: RetirePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Reads time from `clock` (default: the system clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// A metrics prefix other than `jwt_` (see [`Metrics::with_prefix`]).
    pub fn with_metrics_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.metrics_prefix = Some(prefix.into());
        self
    }

    /// Retire only when the whole fleet agrees: see [`crate::fleet`] and
    /// [`PrometheusGate`](crate::fleet::PrometheusGate).
    ///
    /// ```no_run
    /// # #[cfg(feature = "prometheus-gate")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use jwt_rollover::{JwtRollover, KeyFile, fleet::PrometheusGate};
    ///
    /// let gate = PrometheusGate::new("http://prometheus.monitoring:9090", r#"job="orders""#)?;
    /// let rollover = JwtRollover::builder(KeyFile::jwks("/etc/jwt/jwks.json"))
    ///     .with_fleet_gate(gate)
    ///     .start(&prometheus::Registry::new())?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_fleet_gate(mut self, gate: impl FleetGate) -> Self {
        self.fleet_gate = Some(Arc::new(gate));
        self
    }

    /// How the key file is watched and polled (default:
    /// [`WatchOptions::default`]).
    #[cfg(feature = "watch")]
    pub fn with_watch(mut self, options: WatchOptions) -> Self {
        self.watch = Some(options);
        self
    }

    /// No watcher: the file is reloaded only through
    /// [`KeyRing::reload`] (or the admin API).
    #[cfg(feature = "watch")]
    pub fn without_watch(mut self) -> Self {
        self.watch = None;
        self
    }

    /// Loads the keys, registers the metrics on `registry`, and starts the
    /// watcher and auto retirement on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StartError`]: bad keys, metrics already registered, no runtime,
    /// or a watcher that cannot start.
    pub fn start(self, registry: &Registry) -> Result<JwtRollover, StartError> {
        tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let keys = self.file.load().map_err(|source| StartError::Keys {
            path: self.file.path().display().to_string(),
            source,
        })?;
        let metrics = match &self.metrics_prefix {
            Some(prefix) => Metrics::with_prefix(registry, prefix)?,
            None => Metrics::new(registry)?,
        };
        let mut builder = KeyRing::builder(keys, metrics)
            .with_policy(self.policy)
            .with_source(self.file);
        if let Some(clock) = self.clock {
            builder = builder.with_clock(clock);
        }
        if let Some(gate) = self.fleet_gate {
            builder = builder.with_fleet_gate(gate);
        }
        let ring = builder.build();
        #[cfg(feature = "watch")]
        let watcher = self.watch.map(|options| ring.watch(options)).transpose()?;
        Ok(JwtRollover {
            _auto_retire: ring.spawn_auto_retire(),
            ring,
            registry: registry.clone(),
            #[cfg(feature = "watch")]
            watcher,
        })
    }
}

impl fmt::Debug for JwtRolloverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtRolloverBuilder")
            .field("file", &self.file)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
