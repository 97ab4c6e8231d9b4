//! Prometheus metrics, registered on the caller's `Registry`.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `jwt_verifications_total` | counter | `slot`, `kid` |
//! | `jwt_rejections_total` | counter | `reason` |
//! | `jwt_key_info` | gauge (1) | `slot`, `kid`, `alg` |
//! | `jwt_previous_key_last_used_timestamp_seconds` | gauge | |
//! | `jwt_previous_key_tokens_expire_timestamp_seconds` | gauge | |
//! | `jwt_previous_key_live_tokens` | gauge | |
//! | `jwt_key_reloads_total` | counter | `result` |
//! | `jwt_key_rotations_total` | counter | |
//! | `jwt_key_retirements_total` | counter | `trigger` |
//!
//! The `jwt_` prefix is configurable with [`Metrics::with_prefix`].
//!
//! The request path never looks a label up: each key's
//! `jwt_verifications_total{slot,kid}` child is resolved when the key is
//! published in the ring, and each reason's counter when the metrics are
//! created. A key that leaves the ring has its series removed, so label
//! values stay bounded by the keys loaded now.
//!
//! The two timestamp gauges read 0 while there is no previous key or no
//! token has matched it yet. `jwt_previous_key_live_tokens` goes up as new
//! previous-key tokens arrive and is recomputed (expired tokens dropped) at
//! every auto-retire check, so it may lag expiry by one `check_interval`.

use std::sync::Arc;

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::rejection::RejectionReason;
use crate::ring::Slot;

/// What removed a previous key: the `trigger` label of
/// `jwt_key_retirements_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetireTrigger {
    /// The retirement policy found the key unused.
    Auto,
    /// An operator asked for it through the admin API or [`KeyRing::retire_previous`](crate::KeyRing::retire_previous).
    Admin,
    /// The key source stopped listing it, or a rotation pushed it out.
    Source,
}

impl RetireTrigger {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
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
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    verifications: IntCounterVec,
    rejections: [IntCounter; RejectionReason::ALL.len()],
    key_info: IntGaugeVec,
    previous_last_used: IntGauge,
    previous_tokens_expire: IntGauge,
    previous_live_tokens: IntGauge,
    rotations: IntCounter,
    retirements: IntCounterVec,
    reloads: IntCounterVec,
}

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

        let verifications = IntCounterVec::new(
            Opts::new(
                name("verifications_total"),
                "Tokens accepted, by the key that matched.",
            ),
            &["slot", "kid"],
        )?;
        let rejections_vec = IntCounterVec::new(
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
        registry.register(Box::new(previous_last_used.clone()))?;
        registry.register(Box::new(previous_tokens_expire.clone()))?;
        registry.register(Box::new(previous_live_tokens.clone()))?;
        registry.register(Box::new(rotations.clone()))?;
        registry.register(Box::new(retirements.clone()))?;
        registry.register(Box::new(reloads.clone()))?;

        Ok(Self {
            inner: Arc::new(Inner {
                verifications,
                rejections,
                key_info,
                previous_last_used,
                previous_tokens_expire,
                previous_live_tokens,
                rotations,
                retirements,
                reloads,
            }),
        })
    }

    pub(crate) fn verified_counter(&self, slot: Slot, kid: &str) -> IntCounter {
        self.inner
            .verifications
            .with_label_values(&[slot.as_str(), kid])
    }

    pub(crate) fn forget_verified(&self, slot: Slot, kid: &str) {
        // An absent series is fine: nothing to forget.
        let _ = self
            .inner
            .verifications
            .remove_label_values(&[slot.as_str(), kid]);
    }

    pub(crate) fn rejected(&self, reason: RejectionReason) {
        self.inner.rejections[reason.index()].inc();
    }

    /// Replaces the `key_info` series with the keys loaded now.
    pub(crate) fn set_key_info<'a>(
        &self,
        keys: impl IntoIterator<Item = (Slot, &'a str, &'a str)>,
    ) {
        self.inner.key_info.reset();
        for (slot, kid, alg) in keys {
            self.inner
                .key_info
                .with_label_values(&[slot.as_str(), kid, alg])
                .set(1);
        }
    }

    pub(crate) fn set_previous_usage(&self, last_used: u64, tokens_expire: u64) {
        self.inner.previous_last_used.set(saturating_i64(last_used));
        self.inner
            .previous_tokens_expire
            .set(saturating_i64(tokens_expire));
    }

    pub(crate) fn previous_used_at(&self, now: u64) {
        self.inner.previous_last_used.set(saturating_i64(now));
    }

    pub(crate) fn previous_tokens_expire_at(&self, exp: u64) {
        self.inner.previous_tokens_expire.set(saturating_i64(exp));
    }

    pub(crate) fn set_previous_live_tokens(&self, count: u64) {
        self.inner.previous_live_tokens.set(saturating_i64(count));
    }

    pub(crate) fn previous_live_token_added(&self) {
        self.inner.previous_live_tokens.inc();
    }

    pub(crate) fn reloaded(&self, result: &str) {
        self.inner.reloads.with_label_values(&[result]).inc();
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

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
