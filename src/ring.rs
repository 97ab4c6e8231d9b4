//! The key ring: one current key, at most one previous key, and the kids
//! retired so far, as an immutable snapshot behind `arc-swap`.
//!
//! A request loads the snapshot once and sees one consistent state for its
//! whole verification. Every change (rotation, retirement, reload) builds a
//! new snapshot from the old one and publishes it whole; changes are
//! serialized by a mutex so that two of them never interleave. Readers never
//! wait for it.
//!
//! ```
//! use jwt_rollover::{Algorithm, Key, KeyRing, KeySet, Metrics, Slot};
//!
//! let registry = prometheus::Registry::new();
//! let old = Key::hmac(Some("2026-10"), Algorithm::HS256, b"old-secret-old-secret-old-secret")?;
//! let ring = KeyRing::new(KeySet::new(old, None)?, Metrics::new(&registry)?);
//!
//! let new = Key::hmac(Some("2026-11"), Algorithm::HS256, b"new-secret-new-secret-new-secret")?;
//! ring.rotate(new)?;
//! assert_eq!(ring.current_kid(), "2026-11");
//! assert_eq!(ring.previous_kid().as_deref(), Some("2026-10"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use prometheus::IntCounter;
use serde::Serialize;

use crate::clock::{Clock, SystemClock};
use crate::crypto;
use crate::keys::{Key, KeySet};
use crate::metrics::{Metrics, RetireTrigger};

/// How many retired kids the ring remembers, so that late tokens signed
/// with them get `retired_key` instead of `unknown_kid`. Bounded so that
/// years of rotations cannot grow memory.
pub const RETIRED_KIDS_KEPT: usize = 32;

/// Which place in the ring a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// The key tokens are signed with now.
    Current,
    /// The key being rotated out.
    Previous,
}

impl Slot {
    /// The label value, `current` or `previous`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a ring change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// The new current key has the `kid` of the key that is current already.
    #[error("kid {0:?} is already the current key")]
    AlreadyCurrent(String),
}

/// A key in its slot, with its hot-path counter resolved.
pub(crate) struct SlottedKey {
    pub(crate) key: Key,
    pub(crate) slot: Slot,
    pub(crate) verified: IntCounter,
    /// Only the previous key's usage is tracked: that is what retirement
    /// decides on, and current-key requests should not pay for it.
    pub(crate) usage: Option<Arc<PreviousUsage>>,
}

/// When the previous key was last used, and the latest `exp` it was used
/// with. Starts at 0 each time a key becomes previous.
#[derive(Default)]
pub(crate) struct PreviousUsage {
    last_used: AtomicU64,
    latest_exp: AtomicU64,
}

/// One immutable state of the ring.
pub(crate) struct Snapshot {
    pub(crate) current: SlottedKey,
    pub(crate) previous: Option<SlottedKey>,
    retired: VecDeque<Arc<str>>,
}

/// What a token's `kid` points at.
pub(crate) enum KidLookup<'a> {
    Found(&'a SlottedKey),
    Retired,
    Unknown,
}

impl Snapshot {
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

    /// Current first, then previous: the order kid-less tokens try them.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &SlottedKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

/// A handle on the key ring. Clones share the same ring: give one to each
/// [`JwtLayer`](crate::JwtLayer) and keep one to rotate or retire keys.
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
}

impl KeyRing {
    /// A ring holding `keys` (current, and previous if the set has one),
    /// reading time from the system clock.
    pub fn new(keys: KeySet, metrics: Metrics) -> Self {
        Self::with_clock(keys, metrics, SystemClock)
    }

    /// Like [`KeyRing::new`], reading time from `clock`: tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn with_clock(keys: KeySet, metrics: Metrics, clock: impl Clock) -> Self {
        crypto::ensure_provider();
        let (current, previous) = keys.into_parts();
        let snapshot = Snapshot {
            current: slotted(&metrics, current, Slot::Current),
            previous: previous.map(|key| slotted(&metrics, key, Slot::Previous)),
            retired: VecDeque::new(),
        };
        publish_metrics(&metrics, None, &snapshot);
        Self {
            shared: Arc::new(Shared {
                snapshot: ArcSwap::from_pointee(snapshot),
                update: Mutex::new(()),
                metrics,
                clock: Arc::new(clock),
            }),
        }
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
            let mut retired = old.retired.clone();
            retired.retain(|kid| **kid != *key.kid());
            if let Some(pushed_out) = &old.previous
                && pushed_out.key.kid() != key.kid()
            {
                remember_retired(&mut retired, pushed_out.key.kid_arc().clone());
                metrics.retired(RetireTrigger::Source);
            }
            metrics.rotated();
            Ok(Snapshot {
                current: slotted(metrics, key, Slot::Current),
                previous: Some(slotted(metrics, old.current.key.clone(), Slot::Previous)),
                retired,
            })
        })
    }

    /// Drops the previous key, whatever its usage, and returns its kid
    /// (`None` when there was no previous key). Tokens signed with it get
    /// `retired_key` from then on.
    pub fn retire_previous(&self, trigger: RetireTrigger) -> Option<String> {
        let mut retired_kid = None;
        let result = self.update(|old, metrics| {
            let Some(previous) = &old.previous else {
                return Err(());
            };
            let mut retired = old.retired.clone();
            remember_retired(&mut retired, previous.key.kid_arc().clone());
            metrics.retired(trigger);
            retired_kid = Some(previous.key.kid().to_owned());
            Ok(Snapshot {
                current: reuse(&old.current),
                previous: None,
                retired,
            })
        });
        result.ok().and(retired_kid)
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

    /// Records a match of the previous key, for the usage gauges.
    pub(crate) fn previous_used(&self, key: &SlottedKey, now: u64, exp: Option<u64>) {
        let Some(usage) = &key.usage else { return };
        usage.last_used.fetch_max(now, Ordering::Relaxed);
        self.shared.metrics.previous_used_at(now);
        if let Some(exp) = exp
            && usage.latest_exp.fetch_max(exp, Ordering::Relaxed) < exp
        {
            self.shared.metrics.previous_tokens_expire_at(exp);
        }
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
        let new = next(&old, &self.shared.metrics)?;
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

fn slotted(metrics: &Metrics, key: Key, slot: Slot) -> SlottedKey {
    SlottedKey {
        verified: metrics.verified_counter(slot, key.kid()),
        usage: (slot == Slot::Previous).then(Arc::default),
        key,
        slot,
    }
}

/// The same key in the same slot, keeping its counter and usage.
fn reuse(key: &SlottedKey) -> SlottedKey {
    SlottedKey {
        key: key.key.clone(),
        slot: key.slot,
        verified: key.verified.clone(),
        usage: key.usage.clone(),
    }
}

fn remember_retired(retired: &mut VecDeque<Arc<str>>, kid: Arc<str>) {
    retired.retain(|known| *known != kid);
    if retired.len() == RETIRED_KIDS_KEPT {
        retired.pop_front();
    }
    retired.push_back(kid);
}

/// Brings the key gauges in line with `new` and drops the verification
/// series of keys that left their slot.
fn publish_metrics(metrics: &Metrics, old: Option<&Snapshot>, new: &Snapshot) {
    if let Some(old) = old {
        for gone in old.keys() {
            let still_there = new
                .keys()
                .any(|k| k.slot == gone.slot && k.key.kid() == gone.key.kid());
            if !still_there {
                metrics.forget_verified(gone.slot, gone.key.kid());
            }
        }
    }
    metrics.set_key_info(new.keys().map(|k| (k.slot, k.key.kid(), k.key.alg_name())));
    let (last_used, latest_exp) =
        new.previous
            .as_ref()
            .and_then(|p| p.usage.as_ref())
            .map_or((0, 0), |usage| {
                (
                    usage.last_used.load(Ordering::Relaxed),
                    usage.latest_exp.load(Ordering::Relaxed),
                )
            });
    metrics.set_previous_usage(last_used, latest_exp);
}
