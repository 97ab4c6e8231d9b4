//! Time, behind a trait, so that expiry and (later) retirement can be tested
//! by moving a clock instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now", in whole seconds since the Unix epoch: the unit of the
/// JWT `exp`, `nbf` and `iat` claims.
///
/// The crate reads time only through this trait. Production code uses
/// [`SystemClock`]; tests use [`ManualClock`].
///
/// ```
/// use jwt_rollover::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_700_000_000);
/// clock.advance(90);
/// assert_eq!(clock.now_unix(), 1_700_000_090);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> u64;
}

/// A shared clock is a clock.
impl Clock for std::sync::Arc<dyn Clock> {
    fn now_unix(&self) -> u64 {
        (**self).now_unix()
    }
}

/// The wall clock. A system clock set before 1970 reads as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// A clock that only moves when told to. Clones share the same time, so a
/// test can keep one handle and give the other to a [`KeyRing`](crate::KeyRing).
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock stopped at `now_unix` seconds since the epoch.
    pub fn new(now_unix: u64) -> Self {
        Self {
            now: Arc::new(AtomicU64::new(now_unix)),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `now_unix`, forwards or backwards.
    pub fn set(&self, now_unix: u64) {
        self.now.store(now_unix, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now_unix", &self.now_unix())
            .finish()
    }
}
