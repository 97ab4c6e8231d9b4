//! The key ring: one current key, at most one previous key, and the kids

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

use crate::clock::{Clock, SystemClock};
use crate::keys::{Key, KeyFile, KeySet, Slot, crypto};
use crate::metrics::sharded::HotCounter;
use crate::metrics::{Metrics, PreviousGaugeValues, PreviousUsageReader, RetireTrigger};

pub(crate) mod fleet;
pub(crate) mod header_memo;
mod reload;
mod retire;
pub mod status;
mod tracker;
mod transition;
#[cfg(feature = "watch")]
mod watch;

use fleet::{FleetCheck, FleetGate, FleetStatus, GateError, RetireQuestion};
use header_memo::HeaderMemo;
use reload::Source;
use retire::{Eligibility, PreviousFacts};
use status::{KeyRingStatus, KeyStatus, PolicyStatus, PreviousStatus, SignerReport};
use tracker::{LiveTokens, Tracker};
use transition::{Plan, RingKeys};

pub use reload::{ReloadError, ReloadOutcome};
pub use retire::RetirePolicy;
#[cfg(feature = "watch")]
pub use watch::{KeyFileLayout, KeyWatcher, WatchError, WatchOptions};

/// How many retired kids the ring remembers, so that late tokens signed
/// with them get `retired_key` instead of `unknown_kid`. Bounded so that
/// years of rotations cannot grow memory.
const RETIRED_KIDS_KEPT: usize = 32;

/// The longest a fleet gate may take to answer before the ring counts a
/// `timeout`: a bound for gates that do not bound themselves.
const FLEET_CHECK_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a ring change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// The new current key has the `kid` of the key that is current already.
    #[error("kid {0:?} is already the current key")]
    AlreadyCurrent(String),
}

/// Why a checked retirement ([`KeyRing::retire`]) did not happen.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetireError {
    /// There is no previous key (perhaps it was just retired).
    #[error("there is no previous key")]
    NoPrevious,
    /// The caller named a key that is not the previous key now.
    #[error("kid {requested:?} is not the previous key (the previous key is {previous:?})")]
    KidMismatch {
        /// The kid the caller asked to retire.
        requested: String,
        /// The previous key's kid.
        previous: String,
    },
    /// The previous key is still in use; see the blockers.
    #[error("the previous key is not eligible for retirement")]
    NotEligible(Eligibility),
}

/// What [`KeyRing::retire`] retires: the previous key, optionally named
/// by kid, and whether its usage may stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RetireRequest {
    kid: Option<String>,
    force: bool,
}

impl RetireRequest {
    /// The previous key, whichever kid it has, once it is eligible.
    pub fn previous() -> Self {
        Self {
            kid: None,
            force: false,
        }
    }

    /// The previous key only while its kid is `kid`: a retirement replayed
    /// after another rotation is refused instead of dropping the new
    /// previous key.
    pub fn kid(kid: impl Into<String>) -> Self {
        Self {
            kid: Some(kid.into()),
            force: false,
        }
    }

    /// Even while the key is still in use: its blockers are ignored, and
    /// clients still holding its tokens get `retired_key`.
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }
}

/// A key in its slot, with its hot-path counter resolved.
pub(crate) struct SlottedKey {
    pub(crate) key: Key,
    pub(crate) slot: Slot,
    /// Unix second the key took this slot.
    pub(crate) since: u64,
    pub(crate) verified: HotCounter,
    /// Only the previous key's usage is tracked: that is what retirement
    /// decides on, and current-key requests should not pay for it.
    pub(crate) usage: Option<Arc<PreviousUsage>>,
}

/// How the previous key is being used. Starts empty each time a key
/// becomes previous.
pub(crate) struct PreviousUsage {
    /// Unix second of the last match; 0 for never.
    last_used: AtomicU64,
    latest_exp: AtomicU64,
    tracker: Mutex<Tracker>,
}

impl PreviousUsage {
    fn new(tracker_capacity: usize) -> Self {
        Self {
            last_used: AtomicU64::new(0),
            latest_exp: AtomicU64::new(0),
            tracker: Mutex::new(Tracker::new(tracker_capacity)),
        }
    }

    fn last_used(&self) -> Option<u64> {
        Some(self.last_used.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    fn latest_exp(&self) -> Option<u64> {
        Some(self.latest_exp.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        // The tracker is consistent after every call, so a panic elsewhere
        // while holding the lock leaves nothing half done.
        self.tracker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live(&self, now: u64) -> LiveTokens {
        self.tracker().live(now)
    }
}

/// One immutable state of the ring.
pub(crate) struct Snapshot {
    pub(crate) current: SlottedKey,
    pub(crate) previous: Option<SlottedKey>,
    /// Retired kids, oldest first, at most [`RETIRED_KIDS_KEPT`].
    retired: Vec<Arc<str>>,
    /// The key file's last good keys, when the ring has a file source: the
    /// transition rules depend on what the file listed before.
    file_keys: Option<KeySet>,
    /// Bumped by every published change, so that anything derived from an
    /// older snapshot (a cached verification) can tell it is stale.
    pub(crate) generation: u64,
    /// Headers of accepted tokens, read once per snapshot.
    pub(crate) headers: HeaderMemo,
}

/// What a token's `kid` points at.
pub(crate) enum KidLookup<'a> {
    Found(&'a SlottedKey),
    Retired,
    Unknown,
}

impl Snapshot {
    /// A snapshot with an empty header memo (headers are read anew for
    /// every published change). [`KeyRing::update`] sets the generation.
    fn new(
        current: SlottedKey,
        previous: Option<SlottedKey>,
        retired: Vec<Arc<str>>,
        file_keys: Option<KeySet>,
    ) -> Self {
        Self {
            current,
            previous,
            retired,
            file_keys,
            generation: 0,
            headers: HeaderMemo::default(),
        }
    }

    pub(crate) fn find(&self, kid: &str) -> KidLookup<'_> {
        if self.current.key.kid() == kid {
            return KidLookup::Found(&self.current);
        }
        if let Some(previous) = &self.previous
            && previous.key.kid() == kid
        {
            return KidLookup::Found(previous);
        }
        if self.retired.iter().any(|retired| &**retired == kid) {
            return KidLookup::Retired;
        }
        KidLookup::Unknown
    }

    fn ring_keys(&self) -> RingKeys<'_> {
        RingKeys {
            current: &self.current.key,
            previous: self.previous.as_ref().map(|p| &p.key),
            retired: &self.retired,
        }
    }

    /// Current first, then previous: the order kid-less tokens try them.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &SlottedKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

/// A handle on the key ring. Clones share the same ring: give one to each
/// [`JwtLayer`](crate::JwtLayer) and keep one to rotate or retire keys.
///
/// The ring holds one current key, at most one previous key, and the kids
/// retired so far, as an immutable snapshot behind `arc-swap`.
///
/// A request loads the snapshot once and sees one consistent state for its
/// whole verification. Every change (rotation, retirement, reload) builds a
/// new snapshot from the old one and publishes it whole; changes are
/// serialized by a mutex so that two of them never interleave. Readers never
/// wait for it.
///
/// ```
/// use jwt_rollover::{Algorithm, Key, KeyRing, KeySet, Metrics, Slot};
///
/// let registry = prometheus::Registry::new();
/// let old = Key::hmac(Some("2026-10"), Algorithm::HS256, b"old-secret-old-secret-old-secret")?;
/// let ring = KeyRing::new(KeySet::new(old, None)?, Metrics::new(&registry)?);
///
/// let new = Key::hmac(Some("2026-11"), Algorithm::HS256, b"new-secret-new-secret-new-secret")?;
/// ring.rotate(new)?;
/// assert_eq!(ring.current_kid(), "2026-11");
/// assert_eq!(ring.previous_kid().as_deref(), Some("2026-10"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct KeyRing {
    shared: Arc<Shared>,
}

struct Shared {
    snapshot: ArcSwap<Snapshot>,
    /// Serializes writers; readers only ever touch `snapshot`.
    update: Mutex<()>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    policy: RetirePolicy,
    /// The key file and its reload history, when the ring has one.
    source: Option<Source>,
    /// The fleet gate and its last answer, when the ring has one.
    fleet: Option<FleetState>,
    /// The signer that signs from this ring, if any: it reports its
    /// activation state for the status. Weak, so that the ring never keeps
    /// a dropped signer alive (and the signer layer stays above the ring).
    signer: Mutex<Option<Weak<dyn SignerReport>>>,
}

/// A fleet gate and what it last said. The mutex is held only to copy the
/// answer in or out, never across a query.
struct FleetState {
    gate: Arc<dyn FleetGate>,
    last: Mutex<Option<FleetCheck>>,
}

impl FleetState {
    fn last(&self) -> std::sync::MutexGuard<'_, Option<FleetCheck>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Builds a [`KeyRing`] with a clock or a retirement policy other than the
/// defaults.
///
/// ```
/// use jwt_rollover::{KeyRing, KeySet, ManualClock, Metrics, RetirePolicy};
/// use std::time::Duration;
///
/// # let keys = KeySet::from_secret(b"a-demo-secret-of-at-least-32-bytes")?;
/// let ring = KeyRing::builder(keys, Metrics::new(&prometheus::Registry::new())?)
///     .with_policy(RetirePolicy::default().with_min_age(Duration::from_secs(2 * 3600)))
///     .with_clock(ManualClock::new(1_700_000_000))
///     .build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct KeyRingBuilder {
    keys: KeySet,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    policy: RetirePolicy,
    source: Option<KeyFile>,
    fleet_gate: Option<Arc<dyn FleetGate>>,
}

impl KeyRingBuilder {
    /// Reads time from `clock` (default: the system clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Retirement policy (default: [`RetirePolicy::default`]).
    pub fn with_policy(mut self, policy: RetirePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The keys came from this file: [`KeyRing::reload`] and
    /// [`KeyRing::watch`] re-read it, in its configured format, and apply
    /// the changes by the [transition rules](KeyRing::reload). A bare path is
    /// a JWKS file; name a raw secret file with
    /// [`KeyFile::secret`](crate::keys::KeyFile::secret).
    pub fn with_source(mut self, file: impl Into<KeyFile>) -> Self {
        self.source = Some(file.into());
        self
    }

    /// Retire only when `gate` says the whole fleet agrees: auto
    /// retirement and [`KeyRing::retire`] (unless forced) then need its
    /// answer on top of the local policy. See [`crate::fleet`].
    pub fn with_fleet_gate(mut self, gate: impl FleetGate) -> Self {
        self.fleet_gate = Some(Arc::new(gate));
        self
    }

    /// The ring.
    pub fn build(self) -> KeyRing {
        crypto::ensure_provider();
        let now = self.clock.now_unix();
        let capacity = self.policy.tracker_capacity();
        let file_keys = self.source.is_some().then(|| self.keys.clone());
        let (current, previous) = self.keys.into_parts();
        let snapshot = Snapshot::new(
            slotted(&self.metrics, current, Slot::Current, now, capacity),
            previous.map(|key| slotted(&self.metrics, key, Slot::Previous, now, capacity)),
            Vec::new(),
            file_keys,
        );
        publish_metrics(&self.metrics, None, &snapshot);
        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            update: Mutex::new(()),
            metrics: self.metrics,
            clock: self.clock,
            policy: self.policy,
            source: self.source.map(Source::new),
            fleet: self.fleet_gate.map(|gate| FleetState {
                gate,
                last: Mutex::new(None),
            }),
            signer: Mutex::new(None),
        });
        let reader: Weak<dyn PreviousUsageReader> = Arc::downgrade(&shared) as Weak<Shared>;
        shared.metrics.read_previous_from(reader);
        KeyRing { shared }
    }
}

impl KeyRing {
    /// A ring holding `keys` (current, and previous if the set has one),
    /// reading time from the system clock.
    pub fn new(keys: KeySet, metrics: Metrics) -> Self {
        Self::builder(keys, metrics).build()
    }

    /// Like [`KeyRing::new`], reading time from `clock`: tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn with_clock(keys: KeySet, metrics: Metrics, clock: impl Clock) -> Self {
        Self::builder(keys, metrics).with_clock(clock).build()
    }

    /// A builder, to set the clock and the retirement policy.
    pub fn builder(keys: KeySet, metrics: Metrics) -> KeyRingBuilder {
        KeyRingBuilder {
            keys,
            metrics,
            clock: Arc::new(SystemClock),
            policy: RetirePolicy::default(),
            source: None,
            fleet_gate: None,
        }
    }

    /// The retirement policy.
    pub fn policy(&self) -> &RetirePolicy {
        &self.shared.policy
    }

    /// The `kid` of the current key.
    pub fn current_kid(&self) -> String {
        self.shared.snapshot.load().current.key.kid().to_owned()
    }

    /// The `kid` of the previous key, if there is one.
    pub fn previous_kid(&self) -> Option<String> {
        let snapshot = self.shared.snapshot.load();
        snapshot.previous.as_ref().map(|p| p.key.kid().to_owned())
    }

    /// Makes `key` current and the old current key previous.
    ///
    /// A previous key that this pushes out is retired (trigger `source`): a
    /// token signed with it now gets `retired_key`. If `key` is the previous
    /// key (a rollback) the two swap places; if its kid was retired, the
    /// retirement is cleared.
    ///
    /// # Errors
    ///
    /// [`RingError::AlreadyCurrent`] when `key` has the current key's kid.
    pub fn rotate(&self, key: Key) -> Result<(), RingError> {
        self.update(|old, metrics| {
            if old.current.key.kid() == key.kid() {
                return Err(RingError::AlreadyCurrent(key.kid().to_owned()));
            }
            // A rotation is the "one new key" row of the file transitions,
            // as if the file had listed only the current key before.
            let ring = old.ring_keys();
            let plan = transition::transition(
                ring,
                &KeySet::single(ring.current.clone()),
                &KeySet::single(key),
            );
            Ok(self.apply(old, metrics, plan, old.file_keys.clone()))
        })
    }

    /// Builds the snapshot a transition plan describes: keys that stay in
    /// their slot keep their counters, age and usage; the rest start fresh.
    fn apply(
        &self,
        old: &Snapshot,
        metrics: &Metrics,
        plan: Plan,
        file_keys: Option<KeySet>,
    ) -> Snapshot {
        let now = self.now();
        let capacity = self.shared.policy.tracker_capacity();
        let place = |key: Key, slot: Slot| {
            old.keys()
                .find(|k| k.slot == slot && k.key.same_key_as(&key))
                .map_or_else(|| slotted(metrics, key, slot, now, capacity), reuse)
        };
        let mut retired = old.retired.clone();
        if let Some(revived) = &plan.revived {
            retired.retain(|kid| kid != revived);
            tracing::info!(
                kid = &**revived,
                "a retired kid is current again: its retirement is cleared"
            );
        }
        if let Some(refused) = &plan.refused_previous {
            tracing::warn!(
                kid = &**refused,
                "the key source lists a retired kid as previous; it stays retired"
            );
        }
        for dropped in &plan.dropped {
            remember_retired(&mut retired, dropped.kid_arc().clone());
            metrics.retired(RetireTrigger::Source);
            tracing::info!(
                kid = dropped.kid(),
                trigger = "source",
                "retired key: it left the key source"
            );
        }
        if plan.rotated {
            metrics.rotated();
            tracing::info!(
                kid = plan.current.kid(),
                previous = old.current.key.kid(),
                "rotated: new current key"
            );
        }
        Snapshot::new(
            place(plan.current, Slot::Current),
            plan.previous.map(|key| place(key, Slot::Previous)),
            retired,
            file_keys,
        )
    }

    /// Retires the previous key as `request` says: only if it is eligible
    /// under the policy (unless [forced](RetireRequest::force)), and only
    /// if it is the kid the request names, so that a request meant for one
    /// key can never drop another. The check and the retirement happen
    /// under the ring's writer lock: two concurrent calls retire at most
    /// once. Tokens signed with the retired key get `retired_key` from then
    /// on. Returns the retired kid; counted with trigger `admin`.
    ///
    /// With a fleet gate, a retirement that is not forced first asks the
    /// gate (outside the writer lock) and adds its blockers to the local
    /// ones.
    ///
    /// ```
    /// use jwt_rollover::{Algorithm, Key, KeyRing, KeySet, Metrics, RetireError, RetireRequest};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key = |kid, secret: &[u8]| Key::hmac(Some(kid), Algorithm::HS256, secret);
    /// let keys = KeySet::new(
    ///     key("2026-11", b"new-secret-new-secret-new-secret")?,
    ///     Some(key("2026-10", b"old-secret-old-secret-old-secret")?),
    /// )?;
    /// let ring = KeyRing::new(keys, Metrics::new(&prometheus::Registry::new())?);
    ///
    /// // Just rotated: the previous key is not eligible yet (min_age).
    /// let refused = ring.retire(RetireRequest::kid("2026-10")).await;
    /// assert!(matches!(refused, Err(RetireError::NotEligible(_))));
    /// // Forced, it goes.
    /// assert_eq!(ring.retire(RetireRequest::kid("2026-10").force()).await?, "2026-10");
    /// assert_eq!(ring.previous_kid(), None);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RetireError::NoPrevious`], [`RetireError::KidMismatch`], or
    /// [`RetireError::NotEligible`] with the blockers.
    pub async fn retire(&self, request: RetireRequest) -> Result<String, RetireError> {
        let check = match &self.shared.fleet {
            Some(fleet) if !request.force => {
                let (current, previous) = {
                    let snapshot = self.load();
                    let previous = snapshot.previous.as_ref().ok_or(RetireError::NoPrevious)?;
                    (
                        snapshot.current.key.kid().to_owned(),
                        previous.key.kid().to_owned(),
                    )
                };
                Some(self.ask_fleet(fleet, current, Some(previous)).await)
            }
            _ => None,
        };
        self.retire_as(
            request.kid.as_deref(),
            request.force,
            RetireTrigger::Admin,
            check.as_ref(),
        )
    }

    /// Retires the previous key under the writer lock, if it is still
    /// `expected_kid` and eligible: by the local policy, and by `fleet`
    /// (the gate's answer, asked before the lock) when the ring has a gate.
    fn retire_as(
        &self,
        expected_kid: Option<&str>,
        force: bool,
        trigger: RetireTrigger,
        fleet: Option<&FleetCheck>,
    ) -> Result<String, RetireError> {
        let now = self.now();
        let policy = &self.shared.policy;
        let mut retired_kid = String::new();
        self.update(|old, metrics| {
            let previous = old.previous.as_ref().ok_or(RetireError::NoPrevious)?;
            if let Some(expected) = expected_kid
                && expected != previous.key.kid()
            {
                return Err(RetireError::KidMismatch {
                    requested: expected.to_owned(),
                    previous: previous.key.kid().to_owned(),
                });
            }
            let mut eligibility = retire::eligibility(&previous_facts(previous, now), policy, now);
            if self.shared.fleet.is_some() {
                eligibility.add(FleetCheck::blockers_for(
                    fleet,
                    old.current.key.kid(),
                    previous.key.kid(),
                ));
            }
            if !eligibility.eligible && !force {
                return Err(RetireError::NotEligible(eligibility));
            }
            let mut retired = old.retired.clone();
            remember_retired(&mut retired, previous.key.kid_arc().clone());
            metrics.retired(trigger);
            tracing::info!(
                kid = previous.key.kid(),
                trigger = trigger.as_str(),
                forced = force && !eligibility.eligible,
                "retired previous key"
            );
            retired_kid = previous.key.kid().to_owned();
            Ok(Snapshot::new(
                reuse(&old.current),
                None,
                retired,
                old.file_keys.clone(),
            ))
        })?;
        Ok(retired_kid)
    }

    /// One round of auto retirement: forgets expired previous-key tokens
    /// (making room in the tracker), asks the fleet gate if the ring has
    /// one (its answer shows in the status), and, when the policy has auto
    /// retirement on and the previous key is eligible, retires it (trigger
    /// `auto`). Returns the retired kid. [`KeyRing::spawn_auto_retire`]
    /// calls this about every `check_interval`.
    pub async fn check_retirement(&self) -> Option<String> {
        let now = self.now();
        let (current, previous) = {
            let snapshot = self.load();
            let previous = snapshot.previous.as_ref().map(|previous| {
                if let Some(usage) = &previous.usage {
                    usage.tracker().sweep(now);
                }
                previous.key.kid().to_owned()
            });
            (snapshot.current.key.kid().to_owned(), previous)
        };
        let check = match &self.shared.fleet {
            Some(fleet) => Some(self.ask_fleet(fleet, current, previous.clone()).await),
            None => None,
        };
        let previous = previous?;
        if !self.shared.policy.auto() {
            return None;
        }
        self.retire_as(Some(&previous), false, RetireTrigger::Auto, check.as_ref())
            .ok()
    }

    /// Spawns the auto-retire task on the current tokio runtime: it calls
    /// [`KeyRing::check_retirement`] at once, then again after a random
    /// pause between half and all of `check_interval` (so that replicas do
    /// not all query a fleet gate in the same second), until the returned
    /// handle is dropped. Spawn it even with auto retirement off: its
    /// sweeps keep the live-token tracker from filling up, and its fleet
    /// checks keep the status's `fleet` section fresh.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_auto_retire(&self) -> AutoRetireTask {
        let ring = self.clone();
        let interval = self.shared.policy.check_interval();
        let task = tokio::spawn(async move {
            loop {
                ring.check_retirement().await;
                tokio::time::sleep(jittered(interval)).await;
            }
        });
        AutoRetireTask { task }
    }

    /// Is `kid` the current key on every replica? Without a fleet gate,
    /// this replica is the fleet. A signer waits on this before it signs
    /// with a new key, so that no replica rejects its tokens as `unknown_kid`.
    ///
    /// ```
    /// # use jwt_rollover::{KeyRing, KeySet, Metrics};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let keys = KeySet::from_secret(b"a-demo-secret-of-at-least-32-bytes")?;
    /// # let ring = KeyRing::new(keys, Metrics::new(&prometheus::Registry::new())?);
    /// let kid = ring.current_kid();
    /// assert!(ring.loaded_everywhere(&kid).await?);
    /// assert!(!ring.loaded_everywhere("some-other-kid").await?);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The gate's [`GateError`] when it could not decide (also counted in
    /// `jwt_retire_gate_errors_total`).
    pub async fn loaded_everywhere(&self, kid: &str) -> Result<bool, GateError> {
        let Some(fleet) = &self.shared.fleet else {
            return Ok(self.load().current.key.kid() == kid);
        };
        let answer = bounded(
            fleet
                .gate
                .loaded_everywhere(kid, self.shared.metrics.prefix()),
        )
        .await;
        match answer {
            Ok(view) => Ok(view.is_open() && fleet::is_loaded_everywhere(&view, kid)),
            Err(err) => {
                self.count_gate_error(&err);
                Err(err)
            }
        }
    }

    /// Asks the gate about retiring `previous` (or, with no previous key,
    /// whether `current` is loaded everywhere), then remembers the answer
    /// for the status. Never called with the writer lock held.
    async fn ask_fleet(
        &self,
        fleet: &FleetState,
        current: String,
        previous: Option<String>,
    ) -> FleetCheck {
        let prefix = self.shared.metrics.prefix();
        let answer = match &previous {
            Some(previous) => {
                let question = RetireQuestion {
                    current_kid: current.clone(),
                    previous_kid: previous.clone(),
                    quiet: self.shared.policy.quiet(),
                    metrics_prefix: prefix.to_owned(),
                };
                bounded(fleet.gate.may_retire(&question)).await
            }
            None => bounded(fleet.gate.loaded_everywhere(&current, prefix)).await,
        };
        if let Err(err) = &answer {
            self.count_gate_error(err);
        }
        let check = FleetCheck {
            checked_at: self.now(),
            current_kid: current,
            previous_kid: previous,
            answer,
        };
        *fleet.last() = Some(check.clone());
        check
    }

    fn count_gate_error(&self, err: &GateError) {
        self.shared.metrics.gate_error(err.reason.as_str());
        tracing::warn!(
            reason = err.reason.as_str(),
            detail = %err.detail,
            "fleet gate could not decide; the previous key stays"
        );
    }

    /// What the ring holds now, for the admin API and for logs.
    pub fn status(&self) -> KeyRingStatus {
        let now = self.now();
        let snapshot = self.load();
        let policy = &self.shared.policy;
        let key_status = |key: &SlottedKey| KeyStatus {
            kid: key.key.kid().to_owned(),
            alg: key.key.alg_name(),
            since: key.since,
            verified: key.verified.get(),
        };
        let fleet = self
            .shared
            .fleet
            .as_ref()
            .map(|fleet| (fleet, fleet.last().clone()));
        let previous = snapshot.previous.as_ref().map(|previous| {
            let facts = previous_facts(previous, now);
            let mut eligibility = retire::eligibility(&facts, policy, now);
            if let Some((_, last)) = &fleet {
                eligibility.add(FleetCheck::blockers_for(
                    last.as_ref(),
                    snapshot.current.key.kid(),
                    previous.key.kid(),
                ));
            }
            PreviousStatus {
                key: key_status(previous),
                last_used: facts.last_used,
                live_tokens: facts.live.count,
                live_tokens_overflowed: facts.live.overflowed,
                latest_exp: previous.usage.as_ref().and_then(|u| u.latest_exp()),
                eligibility,
            }
        });
        KeyRingStatus {
            now,
            current: key_status(&snapshot.current),
            previous,
            retired: snapshot.retired.iter().map(|kid| kid.to_string()).collect(),
            policy: PolicyStatus::from(policy),
            source: self.source_status(),
            fleet: fleet.map(|(fleet, last)| {
                FleetStatus::new(
                    fleet.gate.describe(),
                    last.as_ref(),
                    snapshot.current.key.kid(),
                )
            }),
            signer: self.signer_report().map(|signer| signer.signer_status()),
        }
    }

    /// Whether the ring has a fleet gate: a signer then also waits for
    /// [`KeyRing::loaded_everywhere`] before it signs with a new key.
    #[cfg(feature = "signer")]
    pub(crate) fn has_fleet_gate(&self) -> bool {
        self.shared.fleet.is_some()
    }

    /// Makes `signer` the one whose state the status reports.
    #[cfg(feature = "signer")]
    pub(crate) fn report_signer(&self, signer: Weak<dyn SignerReport>) {
        *self.signer_slot() = Some(signer);
    }

    fn signer_report(&self) -> Option<Arc<dyn SignerReport>> {
        self.signer_slot().as_ref()?.upgrade()
    }

    fn signer_slot(&self) -> std::sync::MutexGuard<'_, Option<Weak<dyn SignerReport>>> {
        // Only ever replaced whole, so a poisoned lock is safe to reuse.
        self.shared
            .signer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.shared.snapshot.load()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub(crate) fn now(&self) -> u64 {
        self.shared.clock.now_unix()
    }

    /// Records a match of the previous key: the usage gauges and the
    /// live-token tracker. `signature` identifies the token; `leeway` is
    /// how long after `exp` the layer still accepts it.
    pub(crate) fn previous_used(
        &self,
        key: &SlottedKey,
        now: u64,
        exp: Option<u64>,
        signature: &str,
        leeway: u64,
    ) {
        let Some(usage) = &key.usage else { return };
        // A plain load first: most uses change neither (same second, no
        // later exp), and a load is far cheaper than a locked read-modify-write.
        if usage.last_used.load(Ordering::Relaxed) < now {
            usage.last_used.fetch_max(now, Ordering::Relaxed);
        }
        if let Some(exp) = exp
            && usage.latest_exp.load(Ordering::Relaxed) < exp
        {
            usage.latest_exp.fetch_max(exp, Ordering::Relaxed);
        }
        let live_until = match exp {
            Some(exp) => exp.saturating_add(leeway),
            None => now.saturating_add(self.shared.policy.quiet().as_secs()),
        };
        usage.tracker().record(signature.as_bytes(), live_until);
    }

    pub(crate) fn source(&self) -> Option<&Source> {
        self.shared.source.as_ref()
    }

    /// Runs `decide` on the ring's keys and the key file's last good keys
    /// (the ring's own keys if it never had a file); publishes the plan it
    /// returns, with the new file keys, or nothing when it returns `None`.
    pub(crate) fn update_from_file(
        &self,
        decide: impl FnOnce(RingKeys<'_>, &KeySet) -> Option<(Plan, KeySet)>,
    ) {
        let _ = self.update(|old, metrics| {
            let ring_keys = old.ring_keys();
            let own_keys;
            let file_keys = match &old.file_keys {
                Some(file_keys) => file_keys,
                None => {
                    own_keys = KeySet::new(ring_keys.current.clone(), ring_keys.previous.cloned())
                        .unwrap_or_else(|_| KeySet::single(ring_keys.current.clone()));
                    &own_keys
                }
            };
            let (plan, new_file_keys) = decide(ring_keys, file_keys).ok_or(())?;
            Ok::<_, ()>(self.apply(old, metrics, plan, Some(new_file_keys)))
        });
    }

    /// Builds the next snapshot from the current one and publishes it whole.
    fn update<E>(
        &self,
        next: impl FnOnce(&Snapshot, &Metrics) -> Result<Snapshot, E>,
    ) -> Result<(), E> {
        // A panic while holding the lock cannot leave a half-built state:
        // the snapshot is only ever replaced whole. So a poisoned lock is safe to reuse.
        let _writer = self
            .shared
            .update
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.shared.snapshot.load_full();
        let mut new = next(&old, &self.shared.metrics)?;
        new.generation = old.generation.wrapping_add(1);
        publish_metrics(&self.shared.metrics, Some(&old), &new);
        self.shared.snapshot.store(Arc::new(new));
        Ok(())
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.shared.snapshot.load();
        f.debug_struct("KeyRing")
            .field("current", &snapshot.current.key)
            .field("previous", &snapshot.previous.as_ref().map(|p| &p.key))
            .finish_non_exhaustive()
    }
}

/// Stops the auto-retire task when dropped (or on [`AutoRetireTask::stop`]).
#[derive(Debug)]
#[must_use = "the auto-retire task stops when this handle is dropped"]
pub struct AutoRetireTask {
    task: tokio::task::JoinHandle<()>,
}

impl AutoRetireTask {
    /// Stops the task now.
    pub fn stop(self) {}
}

impl Drop for AutoRetireTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bounds a gate's answer by [`FLEET_CHECK_BOUND`].
async fn bounded(
    answer: fleet::GateFuture<'_, Result<fleet::FleetView, GateError>>,
) -> Result<fleet::FleetView, GateError> {
    tokio::time::timeout(FLEET_CHECK_BOUND, answer)
        .await
        .unwrap_or_else(|_| {
            Err(GateError::new(
                fleet::GateErrorReason::Timeout,
                format!(
                    "the fleet gate gave no answer in {}s",
                    FLEET_CHECK_BOUND.as_secs()
                ),
            ))
        })
}

/// A pause between half and all of `interval`, drawn at random (from the
/// standard library's per-process random hasher keys: no crate needed for
/// a jitter that only has to differ between replicas).
fn jittered(interval: std::time::Duration) -> std::time::Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    let fraction = (hasher.finish() % 1_000) as u32;
    interval / 2 + (interval / 2) * fraction / 1_000
}

fn slotted(
    metrics: &Metrics,
    key: Key,
    slot: Slot,
    now: u64,
    tracker_capacity: usize,
) -> SlottedKey {
    SlottedKey {
        verified: metrics.verified_counter(slot, key.kid()),
        usage: (slot == Slot::Previous).then(|| Arc::new(PreviousUsage::new(tracker_capacity))),
        since: now,
        key,
        slot,
    }
}

/// The same key in the same slot, keeping its counter, age and usage.
fn reuse(key: &SlottedKey) -> SlottedKey {
    SlottedKey {
        key: key.key.clone(),
        slot: key.slot,
        since: key.since,
        verified: key.verified.clone(),
        usage: key.usage.clone(),
    }
}

fn previous_facts(previous: &SlottedKey, now: u64) -> PreviousFacts {
    let usage = previous.usage.as_deref();
    PreviousFacts {
        since: previous.since,
        last_used: usage.and_then(PreviousUsage::last_used),
        live: usage.map_or(LiveTokens::default(), |usage| usage.live(now)),
    }
}

fn remember_retired(retired: &mut Vec<Arc<str>>, kid: Arc<str>) {
    retired.retain(|known| *known != kid);
    if retired.len() == RETIRED_KIDS_KEPT {
        retired.remove(0);
    }
    retired.push(kid);
}

/// Brings the key series in line with `new`: series of keys that left
/// their slot go, the new ones appear; the others are untouched.
fn publish_metrics(metrics: &Metrics, old: Option<&Snapshot>, new: &Snapshot) {
    // Series are named by slot and kid: a kid that keeps its slot (even
    // with new material) keeps its counter, which the new snapshot holds.
    for gone in old.into_iter().flat_map(Snapshot::keys) {
        match new
            .keys()
            .find(|k| k.slot == gone.slot && k.key.kid() == gone.key.kid())
        {
            None => metrics.key_unloaded(gone.slot, gone.key.kid(), gone.key.alg_name()),
            Some(stays) if stays.key.alg_name() != gone.key.alg_name() => {
                metrics.key_info_dropped(gone.slot, gone.key.kid(), gone.key.alg_name());
            }
            Some(_) => {}
        }
    }
    for key in new.keys() {
        metrics.key_loaded(key.slot, key.key.kid(), key.key.alg_name());
    }
}

impl PreviousUsageReader for Shared {
    fn previous_gauge_values(&self) -> PreviousGaugeValues {
        let snapshot = self.snapshot.load();
        let Some((previous, usage)) = snapshot
            .previous
            .as_ref()
            .and_then(|p| Some((p, p.usage.as_deref()?)))
        else {
            return PreviousGaugeValues::default();
        };
        PreviousGaugeValues {
            since: previous.since,
            last_used: usage.last_used().unwrap_or(0),
            tokens_expire: usage.latest_exp().unwrap_or(0),
            live_tokens: usage.live(self.clock.now_unix()).count,
        }
    }
}
