//! When the previous key may be dropped: the policy, and eligibility as a

use std::time::Duration;

use serde::Serialize;

use crate::ring::tracker::{DEFAULT_TRACKER_CAPACITY, LiveTokens};

/// When the previous key may be retired, and whether that happens by itself.
///
/// ```
/// use jwt_rollover::RetirePolicy;
/// use std::time::Duration;
///
/// // Tokens live 15 minutes; leeway is 60 s.
/// let policy = RetirePolicy::default()
///     .with_min_age(Duration::from_secs(16 * 60))
///     .with_quiet(Duration::from_secs(5 * 60));
/// assert!(policy.auto());
/// ```
///
/// The previous key is **eligible** for retirement when all of these hold:
///
/// 1. **`min_age`** (default 1 h): it has been previous for at least this
///    long. Set it to *at least the longest token lifetime plus the leeway*:
///    a token signed just before the rotation may not be presented for a
///    while, and until it expires nobody has seen it, so no usage count can
///    protect it. With 1 h tokens and the default 60 s leeway, use 61 min or more.
/// 2. **`quiet`** (default 10 min): no token matched it for this long.
/// 3. **live tokens = 0**: every distinct previous-key token seen has
///    expired (`exp` + leeway passed; a token without `exp` counts as live
///    until `quiet` has passed since its last use). The tokens are counted by
///    a bounded tracker ([`RetirePolicy::with_tracker_capacity`]).
///
/// With auto retirement on (the default), [`KeyRing::spawn_auto_retire`](crate::KeyRing::spawn_auto_retire)
/// checks every `check_interval` and retires an eligible key (trigger `auto`).
/// An operator can retire earlier through the admin API, which refuses with
/// the blockers below unless forced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirePolicy {
    min_age: Duration,
    quiet: Duration,
    auto: bool,
    check_interval: Duration,
    tracker_capacity: usize,
}

impl Default for RetirePolicy {
    /// `min_age` 1 h, `quiet` 10 min, auto retirement on, checked every 10 s,
    /// tracking up to 100 000 distinct previous-key tokens.
    fn default() -> Self {
        Self {
            min_age: Duration::from_secs(60 * 60),
            quiet: Duration::from_secs(10 * 60),
            auto: true,
            check_interval: Duration::from_secs(10),
            tracker_capacity: DEFAULT_TRACKER_CAPACITY,
        }
    }
}

impl RetirePolicy {
    /// Least time a key stays previous: at least the longest token lifetime
    /// plus the leeway.
    #[must_use]
    pub fn with_min_age(mut self, min_age: Duration) -> Self {
        self.min_age = min_age;
        self
    }

    /// How long no token may have matched the previous key.
    #[must_use]
    pub fn with_quiet(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }

    /// Whether the auto-retire task drops an eligible key by itself.
    #[must_use]
    pub fn with_auto(mut self, auto: bool) -> Self {
        self.auto = auto;
        self
    }

    /// How often the auto-retire task checks eligibility (at least 1 s).
    #[must_use]
    pub fn with_check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How many distinct previous-key tokens are tracked one by one
    /// (at least 1); beyond that only the latest expiry is kept.
    #[must_use]
    pub fn with_tracker_capacity(mut self, capacity: usize) -> Self {
        self.tracker_capacity = capacity.max(1);
        self
    }

    /// See [`RetirePolicy::with_min_age`].
    pub fn min_age(&self) -> Duration {
        self.min_age
    }

    /// See [`RetirePolicy::with_quiet`].
    pub fn quiet(&self) -> Duration {
        self.quiet
    }

    /// See [`RetirePolicy::with_auto`].
    pub fn auto(&self) -> bool {
        self.auto
    }

    /// See [`RetirePolicy::with_check_interval`].
    pub fn check_interval(&self) -> Duration {
        self.check_interval
    }

    /// See [`RetirePolicy::with_tracker_capacity`].
    pub fn tracker_capacity(&self) -> usize {
        self.tracker_capacity
    }
}

/// One condition that keeps the previous key from being retired: this
/// replica's own (`min_age`, `quiet`, `live_tokens`) or the fleet gate's
/// (`fleet_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BlockerKind {
    /// It has not been previous for `min_age` yet.
    MinAge,
    /// A token matched it less than `quiet` ago.
    Quiet,
    /// Some previous-key token seen has not expired.
    LiveTokens,
    /// A replica is down (or not scraped): its view is unknown.
    FleetReplicaDown,
    /// Not every replica reports this replica's current kid as current
    /// (one has not loaded the new key yet).
    FleetCurrentKid,
    /// A replica reports another previous kid.
    FleetPreviousKid,
    /// The previous key verified tokens somewhere in the fleet within `quiet`.
    FleetQuiet,
    /// Previous-key tokens seen somewhere in the fleet have not expired.
    FleetLiveTokens,
    /// The fleet gate could not decide (or has not checked yet).
    FleetUndecided,
}

/// A blocker, and when it clears if nothing else happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// Which condition.
    pub blocker: BlockerKind,
    /// Unix time at which it clears (later uses of the key push it back);
    /// `None` when nobody can tell (a replica that has not reloaded).
    pub clears_at: Option<u64>,
    /// A sentence for operators.
    pub detail: String,
    /// For a fleet blocker: the query that blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// For a fleet blocker: the value that blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Blocker {
    fn local(blocker: BlockerKind, clears_at: u64, detail: String) -> Self {
        Self {
            blocker,
            clears_at: Some(clears_at),
            detail,
            query: None,
            value: None,
        }
    }

    /// A fleet blocker explained by `detail`; set `clears_at`, `query` and
    /// `value` on it when known.
    pub fn fleet(blocker: BlockerKind, detail: impl Into<String>) -> Self {
        Self {
            blocker,
            clears_at: None,
            detail: detail.into(),
            query: None,
            value: None,
        }
    }

    /// `true` for the fleet gate's blockers.
    pub fn is_fleet(&self) -> bool {
        !matches!(
            self.blocker,
            BlockerKind::MinAge | BlockerKind::Quiet | BlockerKind::LiveTokens
        )
    }
}

/// Whether the previous key may be retired now, and what stands in the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    /// `true` when there is no blocker.
    pub eligible: bool,
    /// Every condition not met yet, in the order of the policy.
    pub blockers: Vec<Blocker>,
}

impl Eligibility {
    /// Adds blockers found elsewhere (the fleet gate's).
    pub(crate) fn add(&mut self, blockers: Vec<Blocker>) {
        self.blockers.extend(blockers);
        self.eligible = self.blockers.is_empty();
    }
}

/// The facts about the previous key that eligibility depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PreviousFacts {
    /// Unix second it became previous.
    pub(crate) since: u64,
    /// Unix second of its last match, if any.
    pub(crate) last_used: Option<u64>,
    pub(crate) live: LiveTokens,
}

/// Decides eligibility. Pure: the same facts, policy and `now` always give
/// the same answer.
pub(crate) fn eligibility(facts: &PreviousFacts, policy: &RetirePolicy, now: u64) -> Eligibility {
    let mut blockers = Vec::new();
    let min_age_clears = facts.since.saturating_add(policy.min_age.as_secs());
    if now < min_age_clears {
        blockers.push(Blocker::local(
            BlockerKind::MinAge,
            min_age_clears,
            format!(
                "previous for {}s of the {}s min_age",
                now.saturating_sub(facts.since),
                policy.min_age.as_secs()
            ),
        ));
    }
    if let Some(last_used) = facts.last_used {
        let quiet_clears = last_used.saturating_add(policy.quiet.as_secs());
        if now < quiet_clears {
            blockers.push(Blocker::local(
                BlockerKind::Quiet,
                quiet_clears,
                format!(
                    "last used {}s ago; quiet needs {}s",
                    now.saturating_sub(last_used),
                    policy.quiet.as_secs()
                ),
            ));
        }
    }
    if let Some(live_until) = facts.live.live_until.filter(|until| *until >= now) {
        let lower_bound = if facts.live.overflowed {
            "at least "
        } else {
            ""
        };
        blockers.push(Blocker::local(
            BlockerKind::LiveTokens,
            live_until.saturating_add(1),
            format!(
                "{lower_bound}{} previous-key token(s) not expired yet",
                facts.live.count
            ),
        ));
    }
    Eligibility {
        eligible: blockers.is_empty(),
        blockers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn policy() -> RetirePolicy {
        RetirePolicy::default()
            .with_min_age(Duration::from_secs(3600))
            .with_quiet(Duration::from_secs(600))
    }

    fn facts(since: u64, last_used: Option<u64>, live: Option<(u64, u64)>) -> PreviousFacts {
        PreviousFacts {
            since,
            last_used,
            live: live.map_or(LiveTokens::default(), |(count, until)| LiveTokens {
                count,
                live_until: Some(until),
                overflowed: false,
            }),
        }
    }

    #[test]
    fn each_blocker_on_its_own() {
        let old = NOW - 7200;
        type Case<'a> = (&'a str, PreviousFacts, &'a [(BlockerKind, u64)]);
        let cases: &[Case<'_>] = &[
            ("all clear, never used", facts(old, None, None), &[]),
            (
                "all clear, used long ago",
                facts(old, Some(NOW - 601), Some((0, NOW - 1))),
                &[],
            ),
            (
                "min_age",
                facts(NOW - 10, None, None),
                &[(BlockerKind::MinAge, NOW - 10 + 3600)],
            ),
            ("min_age boundary", facts(NOW - 3600, None, None), &[]),
            (
                "quiet",
                facts(old, Some(NOW - 5), None),
                &[(BlockerKind::Quiet, NOW - 5 + 600)],
            ),
            ("quiet boundary", facts(old, Some(NOW - 600), None), &[]),
            (
                "live tokens",
                facts(old, None, Some((3, NOW + 50))),
                &[(BlockerKind::LiveTokens, NOW + 51)],
            ),
            (
                "live through its last second",
                facts(old, None, Some((1, NOW))),
                &[(BlockerKind::LiveTokens, NOW + 1)],
            ),
            (
                "all three",
                facts(NOW - 1, Some(NOW - 1), Some((1, NOW + 9))),
                &[
                    (BlockerKind::MinAge, NOW - 1 + 3600),
                    (BlockerKind::Quiet, NOW - 1 + 600),
                    (BlockerKind::LiveTokens, NOW + 10),
                ],
            ),
        ];
        for (name, facts, expected) in cases {
            let got = eligibility(facts, &policy(), NOW);
            let kinds: Vec<_> = got
                .blockers
                .iter()
                .map(|b| {
                    (
                        b.blocker,
                        b.clears_at.expect("local blockers know when they clear"),
                    )
                })
                .collect();
            assert_eq!(kinds, *expected, "case {name:?}");
            assert_eq!(got.eligible, expected.is_empty(), "case {name:?}");
        }
    }

    #[test]
    fn an_overflowed_tracker_says_the_count_is_a_lower_bound() {
        let mut facts = facts(NOW - 7200, None, Some((1, NOW + 5)));
        facts.live.overflowed = true;
        let got = eligibility(&facts, &policy(), NOW);
        assert!(got.blockers[0].detail.starts_with("at least 1 "));
    }

    #[test]
    fn policy_builders_keep_sane_minimums() {
        let policy = RetirePolicy::default()
            .with_check_interval(Duration::ZERO)
            .with_tracker_capacity(0);
        assert_eq!(policy.check_interval(), Duration::from_secs(1));
        assert_eq!(policy.tracker_capacity(), 1);
    }
}
