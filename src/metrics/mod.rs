//! Prometheus metrics, registered on the caller's `Registry`.

pub(crate) mod sharded;

use std::sync::{Arc, Mutex, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::keys::Slot;
use crate::rejection::RejectionReason;
use sharded::{HotCounter, HotCounterVec};

/// What removed a previous key: the `trigger` label of
/// `jwt_key_retirements_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum RetireTrigger {
    /// The retirement policy found the key unused.
    Auto,
    /// An operator asked for it through the admin API or [`KeyRing::retire_previous`](crate::KeyRing::retire_previous).
    Admin,
    /// The key source stopped listing it, or a rotation pushed it out.
    Source,
}

impl RetireTrigger {
    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Admin => "admin",
            Self::Source => "source",
        }
    }
}

/// The crate's metrics, registered once on a caller-supplied registry and
/// shared by a [`KeyRing`](crate::KeyRing) and its layers. Cloning is cheap.
///
/// ```
/// use jwt_rollover::Metrics;
///
/// let registry = prometheus::Registry::new();
/// let metrics = Metrics::new(&registry)?;
/// // A second set on the same registry needs another prefix.
/// let other = Metrics::with_prefix(&registry, "admin_jwt_")?;
/// # let _ = (metrics, other);
/// # Ok::<(), prometheus::Error>(())
/// ```
///
/// | name | type | labels |
/// |---|---|---|
/// | `jwt_verifications_total` | counter | `slot`, `kid` |
/// | `jwt_rejections_total` | counter | `reason` |
/// | `jwt_key_info` | gauge (1) | `slot`, `kid`, `alg` |
/// | `jwt_previous_key_last_used_timestamp_seconds` | gauge | |
/// | `jwt_previous_key_tokens_expire_timestamp_seconds` | gauge | |
/// | `jwt_previous_key_live_tokens` | gauge | |
/// | `jwt_previous_key_since_timestamp_seconds` | gauge | |
/// | `jwt_key_reloads_total` | counter | `result` |
/// | `jwt_key_rotations_total` | counter | |
/// | `jwt_token_cache_hits_total`, `_misses_total`, `_evictions_total` | counter | |
/// | `jwt_key_retirements_total` | counter | `trigger` |
/// | `jwt_retire_gate_errors_total` | counter | `reason` |
/// | `jwt_signer_key_info` | gauge (1) | `kid` |
///
/// The `jwt_` prefix is configurable with [`Metrics::with_prefix`].
///
/// The request path never looks a label up: each key's
/// `jwt_verifications_total{slot,kid}` child is resolved when the key is
/// published in the ring, and each reason's counter when the metrics are
/// created. A key that leaves the ring has its series removed, so label
/// values stay bounded by the keys loaded now.
///
/// The four `jwt_previous_key_*` gauges are computed when Prometheus
/// scrapes, from the ring as it is then: the timestamps read 0 while there
/// is no previous key or no token has matched it yet, and the live-token
/// count is exact at scrape time. The request path writes no gauge.
///
/// Use one `Metrics` per [`KeyRing`](crate::KeyRing): the previous-key
/// gauges follow the ring built last with it.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    verifications: HotCounterVec,
    rejections: [HotCounter; RejectionReason::ALL.len()],
    key_info: IntGaugeVec,
    previous: Arc<PreviousGauges>,
    rotations: IntCounter,
    retirements: IntCounterVec,
    reloads: IntCounterVec,
    cache_hits: HotCounter,
    cache_misses: HotCounter,
    cache_evictions: IntCounter,
    gate_errors: IntCounterVec,
    // Registered in every build so that dashboards see the same series
    // names; only the `Signer` (feature "signer") sets it.
    #[cfg_attr(not(feature = "signer"), allow(dead_code))]
    signer_key: IntGaugeVec,
    prefix: String,
}

/// The `reason` label values of `jwt_retire_gate_errors_total`, registered
/// up front so that `increase()` sees the first error.
pub(crate) const GATE_ERROR_REASONS: [&str; 5] = [
    "unreachable",
    "timeout",
    "query_error",
    "stale",
    "missing_data",
];

impl Metrics {
    /// Registers the metrics with the default `jwt_` prefix.
    ///
    /// # Errors
    ///
    /// When the registry already has metrics of these names.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Self::with_prefix(registry, "jwt_")
    }

    /// Registers the metrics with names starting with `prefix` (for example
    /// `"auth_jwt_"`).
    ///
    /// # Errors
    ///
    /// When the prefix makes an invalid metric name, or the registry
    /// already has metrics of these names.
    pub fn with_prefix(registry: &Registry, prefix: &str) -> Result<Self, prometheus::Error> {
        let name = |suffix: &str| format!("{prefix}{suffix}");

        // Incremented by every request: counters sharded over cache lines
        // (`crate::metrics::sharded`), so that cores do not queue on them.
        let verifications = HotCounterVec::new(
            Opts::new(
                name("verifications_total"),
                "Tokens accepted, by the key that matched.",
            ),
            &["slot", "kid"],
        )?;
        let rejections_vec = HotCounterVec::new(
            Opts::new(name("rejections_total"), "Requests refused, by reason."),
            &["reason"],
        )?;
        let rejections =
            RejectionReason::ALL.map(|reason| rejections_vec.with_label_values(&[reason.as_str()]));
        let key_info = IntGaugeVec::new(
            Opts::new(name("key_info"), "Keys loaded now (value 1), by slot."),
            &["slot", "kid", "alg"],
        )?;
        let previous_last_used = IntGauge::new(
            name("previous_key_last_used_timestamp_seconds"),
            "Unix time of the last token that matched the previous key (0: none yet).",
        )?;
        let previous_tokens_expire = IntGauge::new(
            name("previous_key_tokens_expire_timestamp_seconds"),
            "Latest exp among tokens that matched the previous key (0: none yet).",
        )?;
        let previous_live_tokens = IntGauge::new(
            name("previous_key_live_tokens"),
            "Distinct previous-key tokens seen and not expired yet.",
        )?;
        let rotations = IntCounter::new(name("key_rotations_total"), "Current key changes.")?;
        let retirements = IntCounterVec::new(
            Opts::new(
                name("key_retirements_total"),
                "Previous keys dropped, by what triggered it.",
            ),
            &["trigger"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(
                name("key_reloads_total"),
                "Key file reload attempts, by result.",
            ),
            &["result"],
        )?;
        for result in ["success", "error", "unchanged"] {
            reloads.with_label_values(&[result]);
        }
        for trigger in [
            RetireTrigger::Auto,
            RetireTrigger::Admin,
            RetireTrigger::Source,
        ] {
            // Present from the start so that rate() and increase() see the first one.
            retirements.with_label_values(&[trigger.as_str()]);
        }

        registry.register(Box::new(verifications.clone()))?;
        registry.register(Box::new(rejections_vec))?;
        registry.register(Box::new(key_info.clone()))?;
        let previous_since = IntGauge::new(
            name("previous_key_since_timestamp_seconds"),
            "Unix time the previous key became previous (0: no previous key).",
        )?;
        let previous = Arc::new(PreviousGauges {
            reader: Mutex::new(None),
            since: previous_since,
            last_used: previous_last_used,
            tokens_expire: previous_tokens_expire,
            live_tokens: previous_live_tokens,
        });
        registry.register(Box::new(PreviousCollector(previous.clone())))?;
        registry.register(Box::new(rotations.clone()))?;
        registry.register(Box::new(retirements.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        let cache_hits = HotCounter::new(
            name("token_cache_hits_total"),
            "Verifications answered from the verified-token cache.",
        )?;
        let cache_misses = HotCounter::new(
            name("token_cache_misses_total"),
            "Verifications the token cache could not answer.",
        )?;
        let cache_evictions = IntCounter::new(
            name("token_cache_evictions_total"),
            "Cached tokens dropped to make room.",
        )?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(cache_misses.clone()))?;
        registry.register(Box::new(cache_evictions.clone()))?;
        let gate_errors = IntCounterVec::new(
            Opts::new(
                name("retire_gate_errors_total"),
                "Fleet gate checks that could not decide (each counts as not eligible), by reason.",
            ),
            &["reason"],
        )?;
        for reason in GATE_ERROR_REASONS {
            gate_errors.with_label_values(&[reason]);
        }
        let signer_key = IntGaugeVec::new(
            Opts::new(
                name("signer_key_info"),
                "The key a Signer signs with now (value 1).",
            ),
            &["kid"],
        )?;
        registry.register(Box::new(gate_errors.clone()))?;
        registry.register(Box::new(signer_key.clone()))?;

        Ok(Self {
            inner: Arc::new(Inner {
                verifications,
                rejections,
                key_info,
                previous,
                rotations,
                retirements,
                reloads,
                cache_hits,
                cache_misses,
                cache_evictions,
                gate_errors,
                signer_key,
                prefix: prefix.to_owned(),
            }),
        })
    }

    /// The metric name prefix (`jwt_` unless set): the fleet gate queries
    /// the fleet's series by these names.
    pub(crate) fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Counts a fleet gate check that could not decide.
    pub(crate) fn gate_error(&self, reason: &str) {
        self.inner.gate_errors.with_label_values(&[reason]).inc();
    }

    /// Moves `jwt_signer_key_info` from the kid a signer signed with
    /// (`old`) to the one it signs with now: the new series first, so that
    /// a scrape never sees none.
    #[cfg(feature = "signer")]
    pub(crate) fn signer_key(&self, old: Option<&str>, new: &str) {
        let gauge = &self.inner.signer_key;
        gauge.with_label_values(&[new]).set(1);
        if let Some(old) = old.filter(|old| *old != new) {
            // An absent series is fine: nothing to forget.
            let _ = gauge.remove_label_values(&[old]);
        }
    }

    pub(crate) fn verified_counter(&self, slot: Slot, kid: &str) -> HotCounter {
        self.inner
            .verifications
            .with_label_values(&[slot.as_str(), kid])
    }

    /// Where the previous-key gauges are read from at scrape time. Held
    /// weakly: the registry must not keep a dropped ring alive.
    pub(crate) fn read_previous_from(&self, reader: Weak<dyn PreviousUsageReader>) {
        *self
            .inner
            .previous
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reader);
    }

    pub(crate) fn rejected(&self, reason: RejectionReason) {
        self.inner.rejections[reason.index()].inc();
    }

    /// Sets the `key_info` series of a key loaded now.
    pub(crate) fn key_loaded(&self, slot: Slot, kid: &str, alg: &str) {
        self.inner
            .key_info
            .with_label_values(&[slot.as_str(), kid, alg])
            .set(1);
    }

    /// Drops the series of a key that left its slot: its `key_info` and
    /// its verification counter. Removing only what left (never a reset)
    /// means a scrape can never see the ring without keys.
    pub(crate) fn key_unloaded(&self, slot: Slot, kid: &str, alg: &str) {
        self.key_info_dropped(slot, kid, alg);
        // An absent series is fine: nothing to forget.
        let _ = self
            .inner
            .verifications
            .remove_label_values(&[slot.as_str(), kid]);
    }

    /// Drops one `key_info` series (a kid whose algorithm changed).
    pub(crate) fn key_info_dropped(&self, slot: Slot, kid: &str, alg: &str) {
        // An absent series is fine: nothing to forget.
        let _ = self
            .inner
            .key_info
            .remove_label_values(&[slot.as_str(), kid, alg]);
    }

    pub(crate) fn reloaded(&self, result: &str) {
        self.inner.reloads.with_label_values(&[result]).inc();
    }

    pub(crate) fn token_cache_hit(&self) {
        self.inner.cache_hits.inc();
    }

    pub(crate) fn token_cache_missed(&self) {
        self.inner.cache_misses.inc();
    }

    pub(crate) fn token_cache_evicted(&self, count: u64) {
        if count > 0 {
            self.inner.cache_evictions.inc_by(count);
        }
    }

    pub(crate) fn rotated(&self) {
        self.inner.rotations.inc();
    }

    pub(crate) fn retired(&self, trigger: RetireTrigger) {
        self.inner
            .retirements
            .with_label_values(&[trigger.as_str()])
            .inc();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The previous key's usage, as the gauges show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PreviousGaugeValues {
    pub(crate) since: u64,
    pub(crate) last_used: u64,
    pub(crate) tokens_expire: u64,
    pub(crate) live_tokens: u64,
}

/// Gives the previous key's usage when Prometheus scrapes.
pub(crate) trait PreviousUsageReader: Send + Sync {
    /// Zeros when there is no previous key.
    fn previous_gauge_values(&self) -> PreviousGaugeValues;
}

/// The three previous-key gauges, computed at scrape time from the ring's
/// current snapshot. Computing them on the request path instead would race
/// with retirements and rotations (a request that loaded an older snapshot
/// would write a stale value after the reset), and cost every request.
struct PreviousGauges {
    reader: Mutex<Option<Weak<dyn PreviousUsageReader>>>,
    since: IntGauge,
    last_used: IntGauge,
    tokens_expire: IntGauge,
    live_tokens: IntGauge,
}

impl PreviousGauges {
    fn all(&self) -> [&IntGauge; 4] {
        [
            &self.since,
            &self.last_used,
            &self.tokens_expire,
            &self.live_tokens,
        ]
    }
}

struct PreviousCollector(Arc<PreviousGauges>);

impl Collector for PreviousCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0
            .all()
            .into_iter()
            .flat_map(|gauge| gauge.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let gauges = &self.0;
        let reader = gauges
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(Weak::upgrade);
        let values = reader.map_or_else(PreviousGaugeValues::default, |reader| {
            reader.previous_gauge_values()
        });
        gauges.since.set(saturating_i64(values.since));
        gauges.last_used.set(saturating_i64(values.last_used));
        gauges
            .tokens_expire
            .set(saturating_i64(values.tokens_expire));
        gauges.live_tokens.set(saturating_i64(values.live_tokens));
        gauges
            .all()
            .into_iter()
            .flat_map(|gauge| gauge.collect())
            .collect()
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
