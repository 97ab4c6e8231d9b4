//! The fleet gate: what the other replicas say before this one retires its
//! previous key, and whether every replica has loaded a key.
//!
//! Each replica sees only its slice of the traffic, and Kubernetes updates
//! each pod's copy of a Secret at its own moment. So with many replicas,
//! local eligibility is not enough: a key unused here may still be used on
//! another replica, or not yet be loaded there. A [`FleetGate`] answers from
//! a system that sees every replica ([`PrometheusGate`](crate::fleet::PrometheusGate)
//! reads what Prometheus scraped from each of them).
//!
//! The ring asks the gate *before* it takes its writer lock (a query may take
//! seconds), then retires under the lock only if the previous key is still
//! the one the gate was asked about. A gate that cannot decide never opens:
//! its error becomes a `fleet_undecided` blocker and counts in
//! `jwt_retire_gate_errors_total{reason}`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use super::retire::{Blocker, BlockerKind};

/// The future a [`FleetGate`] returns: boxed, so that the trait can be used
/// as `dyn FleetGate`.
pub type GateFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of truth about every replica, consulted before the previous key
/// is retired (by auto retirement, and by the admin API unless forced) and
/// by signers before they switch to a new key.
///
/// Implement it to consult another system than Prometheus; tests implement
/// it with fixed answers:
///
/// ```
/// use jwt_rollover::fleet::{FleetGate, FleetView, GateError, GateFuture, RetireQuestion};
///
/// /// A fleet of one: this replica's own view is the fleet's.
/// #[derive(Debug)]
/// struct Alone;
///
/// impl FleetGate for Alone {
///     fn may_retire<'a>(&'a self, q: &'a RetireQuestion) -> GateFuture<'a, Result<FleetView, GateError>> {
///         Box::pin(async move { Ok(FleetView::single(&q.current_kid)) })
///     }
///     fn loaded_everywhere<'a>(&'a self, kid: &'a str, _prefix: &'a str) -> GateFuture<'a, Result<FleetView, GateError>> {
///         Box::pin(async move { Ok(FleetView::single(kid)) })
///     }
///     fn describe(&self) -> String {
///         "alone".into()
///     }
/// }
/// ```
pub trait FleetGate: Send + Sync + std::fmt::Debug + 'static {
    /// May `question.previous_kid` be retired, as far as the whole fleet
    /// can tell? `Ok` with no blockers means yes; `Err` means the gate
    /// could not decide, which the ring treats as "not eligible".
    fn may_retire<'a>(
        &'a self,
        question: &'a RetireQuestion,
    ) -> GateFuture<'a, Result<FleetView, GateError>>;

    /// Is `kid` the current key on every replica? `Ok` with no blockers
    /// means yes. `metrics_prefix` is the ring's metric name prefix (`jwt_`).
    fn loaded_everywhere<'a>(
        &'a self,
        kid: &'a str,
        metrics_prefix: &'a str,
    ) -> GateFuture<'a, Result<FleetView, GateError>>;

    /// One line that names the gate in the status and in logs, for example
    /// `prometheus http://prometheus:9090 {job="orders"}`.
    fn describe(&self) -> String;
}

impl<G: FleetGate + ?Sized> FleetGate for std::sync::Arc<G> {
    fn may_retire<'a>(
        &'a self,
        question: &'a RetireQuestion,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        (**self).may_retire(question)
    }

    fn loaded_everywhere<'a>(
        &'a self,
        kid: &'a str,
        metrics_prefix: &'a str,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        (**self).loaded_everywhere(kid, metrics_prefix)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// What the ring asks its [`FleetGate`] before retiring its previous key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetireQuestion {
    /// This replica's current kid: every replica must report it as current.
    pub current_kid: String,
    /// The kid to retire.
    pub previous_kid: String,
    /// The policy's quiet window: fleet-wide usage over it must be zero.
    pub quiet: Duration,
    /// The ring's metric name prefix (`jwt_` unless configured).
    pub metrics_prefix: String,
}

impl RetireQuestion {
    /// A question about retiring `previous_kid` while `current_kid` is
    /// current, for a gate implementation's tests.
    pub fn new(
        current_kid: impl Into<String>,
        previous_kid: impl Into<String>,
        quiet: Duration,
    ) -> Self {
        Self {
            current_kid: current_kid.into(),
            previous_kid: previous_kid.into(),
            quiet,
            metrics_prefix: "jwt_".to_owned(),
        }
    }
}

/// The fleet as a gate saw it, and what it found in the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetView {
    /// Replicas the gate counts (for Prometheus: targets the selector
    /// matches, up or not).
    pub replicas: u64,
    /// How many replicas report each kid as their current key.
    pub current_kids: BTreeMap<String, u64>,
    /// What stands in the way; empty when the answer is yes.
    pub blockers: Vec<Blocker>,
}

impl FleetView {
    /// One replica, with `kid` current, and nothing in the way.
    pub fn single(kid: &str) -> Self {
        Self {
            replicas: 1,
            current_kids: BTreeMap::from([(kid.to_owned(), 1)]),
            blockers: Vec::new(),
        }
    }

    /// `true` when nothing stands in the way.
    pub fn is_open(&self) -> bool {
        self.blockers.is_empty()
    }
}

/// Why a gate could not decide. The ring counts it in
/// `jwt_retire_gate_errors_total{reason}` and treats it as "not eligible".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct GateError {
    /// The `reason` label.
    pub reason: GateErrorReason,
    /// A sentence for operators.
    pub detail: String,
    /// The query that failed, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

impl GateError {
    /// An error of `reason`, explained by `detail`.
    pub fn new(reason: GateErrorReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            query: None,
        }
    }

    /// The same error, naming the query that failed.
    #[must_use]
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }
}

/// The `reason` label of `jwt_retire_gate_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GateErrorReason {
    /// The source could not be reached (connection refused, DNS, TLS).
    Unreachable,
    /// No answer within the gate's timeout.
    Timeout,
    /// An HTTP error status, a query the source refused, or an answer that
    /// could not be read.
    QueryError,
    /// A replica's data is older than the gate accepts, or fewer replicas
    /// report than exist.
    Stale,
    /// No data where some was expected (a selector that matches nothing).
    MissingData,
}

impl GateErrorReason {
    /// Every reason.
    #[cfg(test)]
    const ALL: [Self; 5] = [
        Self::Unreachable,
        Self::Timeout,
        Self::QueryError,
        Self::Stale,
        Self::MissingData,
    ];

    /// The metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::QueryError => "query_error",
            Self::Stale => "stale",
            Self::MissingData => "missing_data",
        }
    }
}

impl std::fmt::Display for GateErrorReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One answer of the gate, remembered with what it was about.
#[derive(Debug, Clone)]
pub(crate) struct FleetCheck {
    pub(crate) checked_at: u64,
    pub(crate) current_kid: String,
    /// `None` for a "loaded everywhere" check (no previous key to ask about).
    pub(crate) previous_kid: Option<String>,
    pub(crate) answer: Result<FleetView, GateError>,
}

impl FleetCheck {
    /// The blockers this check puts on retiring `previous_kid` while
    /// `current_kid` is current: the gate's own, or one `fleet_undecided`
    /// when the gate could not decide or was asked about other keys.
    pub(crate) fn blockers_for(
        check: Option<&Self>,
        current_kid: &str,
        previous_kid: &str,
    ) -> Vec<Blocker> {
        let about_these_keys = |check: &&Self| {
            check.current_kid == current_kid && check.previous_kid.as_deref() == Some(previous_kid)
        };
        match check.filter(about_these_keys) {
            None => vec![Blocker::fleet(
                BlockerKind::FleetUndecided,
                format!("the fleet gate has not checked kid {previous_kid:?} yet"),
            )],
            Some(Self {
                answer: Ok(view), ..
            }) => view.blockers.clone(),
            Some(Self {
                answer: Err(err), ..
            }) => {
                let mut blocker = Blocker::fleet(
                    BlockerKind::FleetUndecided,
                    format!("the fleet gate could not decide ({err}); not eligible until it can"),
                );
                blocker.query.clone_from(&err.query);
                vec![blocker]
            }
        }
    }
}

/// The `fleet` section of the status: the gate's last answer.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    /// What the gate is ([`FleetGate::describe`]).
    pub gate: String,
    /// Unix second of the last check; `null` before the first.
    pub checked_at: Option<u64>,
    /// `open` (nothing in the way), `closed` (blockers), `undecided` (the
    /// gate could not decide) or `unchecked` (no check yet).
    pub state: &'static str,
    /// This replica's current kid at the last check.
    pub current_kid: Option<String>,
    /// The previous kid the last check was about; `null` when there was
    /// no previous key (then only "loaded everywhere" was checked).
    pub previous_kid: Option<String>,
    /// Whether every replica reports this replica's current kid as
    /// current. `false` until a check about that kid says so (right after
    /// a rotation, the last check was about the kid before).
    pub loaded_everywhere: bool,
    /// The replicas the gate saw, and how many report each current kid.
    pub replicas: Option<FleetReplicas>,
    /// What the gate found in the way.
    pub blockers: Vec<Blocker>,
    /// Why the gate could not decide, when it could not.
    pub error: Option<GateError>,
}

/// Replicas seen by the gate, by current kid.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReplicas {
    /// Replicas the gate counts.
    pub up: u64,
    /// How many report each kid as their current key.
    pub current_kids: BTreeMap<String, u64>,
}

impl FleetStatus {
    /// The section for a ring whose current kid is `current_kid`, from the
    /// gate's last check.
    pub(crate) fn new(gate: String, check: Option<&FleetCheck>, current_kid: &str) -> Self {
        let Some(check) = check else {
            return Self {
                gate,
                checked_at: None,
                state: "unchecked",
                current_kid: None,
                previous_kid: None,
                loaded_everywhere: false,
                replicas: None,
                blockers: Vec::new(),
                error: None,
            };
        };
        let (state, loaded_everywhere, replicas, blockers, error) = match &check.answer {
            Ok(view) => (
                if view.is_open() { "open" } else { "closed" },
                check.current_kid == current_kid && is_loaded_everywhere(view, current_kid),
                Some(FleetReplicas {
                    up: view.replicas,
                    current_kids: view.current_kids.clone(),
                }),
                view.blockers.clone(),
                None,
            ),
            Err(err) => ("undecided", false, None, Vec::new(), Some(err.clone())),
        };
        Self {
            gate,
            checked_at: Some(check.checked_at),
            state,
            current_kid: Some(check.current_kid.clone()),
            previous_kid: check.previous_kid.clone(),
            loaded_everywhere,
            replicas,
            blockers,
            error,
        }
    }
}

/// Every replica the gate counts reports `kid` as current, and none other.
pub(crate) fn is_loaded_everywhere(view: &FleetView, kid: &str) -> bool {
    view.replicas > 0
        && view.current_kids.len() == 1
        && view.current_kids.get(kid) == Some(&view.replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(replicas: u64, kids: &[(&str, u64)], blockers: Vec<Blocker>) -> FleetView {
        FleetView {
            replicas,
            current_kids: kids.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
            blockers,
        }
    }

    #[test]
    fn every_reason_has_a_pre_registered_series() {
        let labels: Vec<_> = GateErrorReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels, crate::metrics::GATE_ERROR_REASONS);
    }

    #[test]
    fn loaded_everywhere_needs_every_replica_on_the_kid() {
        assert!(is_loaded_everywhere(&view(2, &[("new", 2)], vec![]), "new"));
        assert!(!is_loaded_everywhere(
            &view(2, &[("new", 1), ("old", 1)], vec![]),
            "new"
        ));
        assert!(!is_loaded_everywhere(
            &view(3, &[("new", 2)], vec![]),
            "new"
        ));
        assert!(!is_loaded_everywhere(
            &view(2, &[("new", 2)], vec![]),
            "old"
        ));
        assert!(!is_loaded_everywhere(&view(0, &[], vec![]), "new"));
    }

    #[test]
    fn a_check_about_other_keys_or_none_blocks() {
        let open = FleetCheck {
            checked_at: 1,
            current_kid: "new".into(),
            previous_kid: Some("old".into()),
            answer: Ok(view(2, &[("new", 2)], vec![])),
        };
        assert!(FleetCheck::blockers_for(Some(&open), "new", "old").is_empty());
        for (check, current, previous) in [
            (None, "new", "old"),
            (Some(&open), "newer", "new"),
            (Some(&open), "new", "older"),
        ] {
            let blockers = FleetCheck::blockers_for(check, current, previous);
            assert_eq!(blockers.len(), 1);
            assert_eq!(blockers[0].blocker, BlockerKind::FleetUndecided);
        }
        let failed = FleetCheck {
            answer: Err(
                GateError::new(GateErrorReason::Timeout, "no answer in 5s").with_query("up")
            ),
            ..open
        };
        let blockers = FleetCheck::blockers_for(Some(&failed), "new", "old");
        assert_eq!(blockers[0].blocker, BlockerKind::FleetUndecided);
        assert!(
            blockers[0].detail.contains("timeout: no answer in 5s"),
            "{}",
            blockers[0].detail
        );
        assert_eq!(blockers[0].query.as_deref(), Some("up"));
    }
}
