//! The ring's state as the admin API reports it (`GET /admin/keys`).
//!
//! Times are Unix seconds. Example, during a rotation:
//!
//! ```json
//! {
//!   "now": 1795846000,
//!   "current": {"kid": "demo-2026-11", "alg": "HS256", "since": 1795845900, "verified": 1520},
//!   "previous": {
//!     "kid": "demo-2026-10", "alg": "HS256", "since": 1795845900, "verified": 87,
//!     "last_used": 1795845990, "live_tokens": 12, "live_tokens_overflowed": false,
//!     "latest_exp": 1795849500,
//!     "eligibility": {
//!       "eligible": false,
//!       "blockers": [
//!         {"blocker": "min_age", "clears_at": 1795849500, "detail": "previous for 100s of the 3600s min_age"},
//!         {"blocker": "quiet", "clears_at": 1795846590, "detail": "last used 10s ago; quiet needs 600s"},
//!         {"blocker": "live_tokens", "clears_at": 1795849561, "detail": "12 previous-key token(s) not expired yet"}
//!       ]
//!     }
//!   },
//!   "retired": ["demo-2026-09"],
//!   "policy": {"min_age_seconds": 3600, "quiet_seconds": 600, "auto": true, "check_interval_seconds": 10},
//!   "source": {
//!     "path": "/etc/jwt/jwks.json", "format": "jwks", "last_reload": 1795845990,
//!     "last_success": 1795845900, "last_result": "unchanged", "last_error": null,
//!     "content_hash": "3f1a9c0d22b7e415", "read_in_progress": null
//!   }
//! }
//! ```
//!
//! A blocker's `clears_at` is `null` when nobody can tell (a fleet blocker
//! such as a replica that has not reloaded); fleet blockers also carry the
//! `query` and the `value` that blocked.
//!
//! With a fleet gate (see [`crate::fleet`]) the status also has a `fleet`
//! section, the gate's last answer, refreshed at every retirement check:
//!
//! ```json
//! "fleet": {
//!   "gate": "prometheus http://prometheus:9090 {job=\"orders\"}",
//!   "checked_at": 1795846000, "state": "closed",
//!   "current_kid": "demo-2026-11", "previous_kid": "demo-2026-10",
//!   "loaded_everywhere": true,
//!   "replicas": {"up": 2, "current_kids": {"demo-2026-11": 2}},
//!   "blockers": [{"blocker": "fleet_quiet", "clears_at": 1795846590,
//!                 "detail": "a replica matched the previous key 10s ago; quiet needs 600s",
//!                 "query": "max(jwt_previous_key_last_used_timestamp_seconds{job=\"orders\"})",
//!                 "value": "1795845990"}],
//!   "error": null
//! }
//! ```
//!
//! `state` is `open`, `closed`, `undecided` (the gate could not decide:
//! `error` has `reason` and `detail`) or `unchecked`.
//!
//! With a [`Signer`](crate::Signer) signing from the ring (feature
//! `signer`), a `signer` section says which key it signs with, since when,
//! and the ring's current key while that one is not active yet (it waits
//! for `activation_delay`, `fleet` or its `private_key`); `active_at` is
//! when the activation delay passes:
//!
//! ```json
//! "signer": {
//!   "kid": "demo-2026-10", "since": 1795845000, "activation_delay_seconds": 120,
//!   "pending": {"kid": "demo-2026-11", "waiting_for": ["activation_delay", "fleet"], "active_at": 1795846020},
//!   "private_keys": {"path": "/etc/jwt-private/jwks.json", "kids": ["demo-2026-11", "demo-2026-10"], "last_error": null}
//! }
//! ```
//!
//! `pending` is `null` once the signer signs with the current key;
//! `private_keys` is there only when the signer reads a private JWKS.
//!
//! `previous` is `null` when there is no previous key; `last_used` and
//! `latest_exp` are `null` until a token matched it; `source` is `null`
//! when the ring was not built from a key file. `source.read_in_progress`
//! is `{"since": <unix second>, "seconds": <age>}` while a read of the key
//! file has not returned (a hanging mount): reloads fail at once until it
//! does, and the status itself never waits for it.

use serde::Serialize;

use super::retire::RetirePolicy;

pub use super::fleet::{FleetReplicas, FleetStatus};
pub use super::reload::{ReadInProgress, SourceStatus};
pub use super::retire::{Blocker, BlockerKind, Eligibility};

/// The whole ring at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRingStatus {
    /// The clock's time when the status was taken.
    pub now: u64,
    /// The current key.
    pub current: KeyStatus,
    /// The previous key, if any, with its usage and eligibility.
    pub previous: Option<PreviousStatus>,
    /// Retired kids, oldest first (the last 32 are remembered).
    pub retired: Vec<String>,
    /// The retirement policy in force.
    pub policy: PolicyStatus,
    /// The key file, when the ring has one.
    pub source: Option<SourceStatus>,
    /// The fleet gate's last answer, when the ring has a gate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetStatus>,
    /// Which key the `Signer` signs with and the key it waits to switch
    /// to, when a signer signs from this ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerStatus>,
}

/// A signer's activation state: the key it signs with, and the ring's
/// current key while that one is not active yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerStatus {
    /// The kid it signs with now; `None` when it has no key it can sign
    /// with (its `sign` fails, naming the kid whose private key is missing).
    pub kid: Option<String>,
    /// Unix second it started signing with `kid`.
    pub since: Option<u64>,
    /// The activation delay, in seconds.
    pub activation_delay_seconds: u64,
    /// The ring's current key while the signer does not sign with it yet.
    pub pending: Option<PendingKey>,
    /// The private JWKS, when the signer has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_keys: Option<PrivateKeysStatus>,
}

/// A signer's private JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivateKeysStatus {
    /// The file's path.
    pub path: String,
    /// The kids of its last good keys, current first.
    pub kids: Vec<String>,
    /// Why its content is refused, while it is (the last good keys stay).
    pub last_error: Option<String>,
}

/// The ring's current key, not yet signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingKey {
    /// Its kid.
    pub kid: String,
    /// What it waits for; empty once it is active.
    pub waiting_for: Vec<SignerWait>,
    /// Unix second the activation delay passes.
    pub active_at: u64,
}

/// What a pending key waits for before a signer signs with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignerWait {
    /// It has not been current on this replica for the activation delay.
    ActivationDelay,
    /// The fleet gate has not said that every replica loaded it.
    Fleet,
    /// The signer has no private part for it (the private JWKS lacks it).
    PrivateKey,
}

/// What the ring asks of the signer that reports into it: its state now.
/// The ring defines it so that it never depends on the signing layer.
pub(crate) trait SignerReport: Send + Sync {
    fn signer_status(&self) -> SignerStatus;
}

/// One key in its slot.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    /// Its `kid`.
    pub kid: String,
    /// Its pinned algorithm.
    pub alg: &'static str,
    /// Unix second it took this slot.
    pub since: u64,
    /// Tokens it verified in this slot.
    pub verified: u64,
}

/// The previous key, with what retirement decides on.
#[derive(Debug, Clone, Serialize)]
pub struct PreviousStatus {
    /// Kid, algorithm, age and count.
    #[serde(flatten)]
    pub key: KeyStatus,
    /// Unix second of its last match.
    pub last_used: Option<u64>,
    /// Distinct tokens signed by it that are still live.
    pub live_tokens: u64,
    /// Whether the tracker was ever full (then `live_tokens` is a lower bound).
    pub live_tokens_overflowed: bool,
    /// Latest `exp` among its tokens seen.
    pub latest_exp: Option<u64>,
    /// Whether it may be retired now, and the blockers.
    pub eligibility: Eligibility,
}

/// The retirement policy, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyStatus {
    /// See [`RetirePolicy::min_age`].
    pub min_age_seconds: u64,
    /// See [`RetirePolicy::quiet`].
    pub quiet_seconds: u64,
    /// See [`RetirePolicy::auto`].
    pub auto: bool,
    /// See [`RetirePolicy::check_interval`].
    pub check_interval_seconds: u64,
}

impl From<&RetirePolicy> for PolicyStatus {
    fn from(policy: &RetirePolicy) -> Self {
        Self {
            min_age_seconds: policy.min_age().as_secs(),
            quiet_seconds: policy.quiet().as_secs(),
            auto: policy.auto(),
            check_interval_seconds: policy.check_interval().as_secs(),
        }
    }
}
