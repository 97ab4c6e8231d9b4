//! Live previous-key tokens: which distinct tokens signed by the previous key
//! have been seen and could still be presented.
//!
//! "Drop the previous key when its usage reaches zero" needs more than a
//! quiet period: a client may hold a valid token and simply not have called
//! for a while. So the tracker remembers each distinct previous-key token
//! (by a hash of its signature part) until it stops being acceptable:
//!
//! - a token with `exp` is live until `exp + leeway`;
//! - a token without `exp` is live until `quiet` has passed since its last use.
//!
//! It is bounded ([`DEFAULT_TRACKER_CAPACITY`] entries, about 24 bytes each).
//! When full, further tokens are not stored one by one; the tracker keeps
//! only the latest time any of them is live until (the overflow watermark),
//! so the answer to "is any previous-key token still live?" stays right. The
//! count is then a lower bound, reported as such in the admin status, and
//! counts the untracked tokens as one until the watermark passes.
//!
//! Only requests verified by the previous key reach the tracker: current-key
//! requests never touch it.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::prehashed::PrehashedMap;

/// Default number of distinct previous-key tokens tracked individually.
pub(crate) const DEFAULT_TRACKER_CAPACITY: usize = 100_000;

/// How much of a token's (base64url) signature identifies it: 16
/// characters, 96 bits.
const SIGNATURE_TAIL_BYTES: usize = 16;

/// The distinct previous-key tokens seen and when each stops being live.
///
/// Nothing here scans every token: the request path records in O(1) (a
/// new token also lands in its expiry second's bucket), and a scrape or a
/// status call only visits the tokens that expired since the last look.
/// So a request never waits behind a walk over 100k entries.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Signature hash -> unix second until which the token is live.
    live_until: PrehashedMap<u64>,
    /// Each tracked token's hash, once, under the second it was live until
    /// when it was filed. A token whose `live_until` grew since (a token
    /// without `exp`, used again) is filed again when that second passes.
    by_expiry: BTreeMap<u64, Vec<u64>>,
    /// The latest `live_until` of any tracked token.
    latest_tracked: u64,
    /// Randomly keyed per tracker, so clients cannot aim for collisions.
    hasher: RandomState,
    capacity: usize,
    /// Latest `live_until` among tokens that did not fit; 0 when none.
    overflow_until: u64,
    overflowed: bool,
}

/// A summary of the tracker at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LiveTokens {
    /// Live tokens, counting untracked overflow tokens as one while any may be live.
    pub(crate) count: u64,
    /// The last second at which some seen token is still live; `None` when none is.
    pub(crate) live_until: Option<u64>,
    /// Whether tokens ever went untracked because the tracker was full.
    pub(crate) overflowed: bool,
}

impl Tracker {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            live_until: PrehashedMap::default(),
            by_expiry: BTreeMap::new(),
            latest_tracked: 0,
            hasher: RandomState::new(),
            capacity,
            overflow_until: 0,
            overflowed: false,
        }
    }

    /// Records a use of the token with this signature, live until
    /// `live_until`. Returns whether it is a token not tracked before.
    ///
    /// Only the signature's last [`SIGNATURE_TAIL_BYTES`] characters are
    /// hashed: the signatures of distinct valid tokens (HMAC outputs,
    /// randomized ECDSA, ...) differ all along, and only validly signed
    /// tokens get here, so 96 bits identify a token as well as all of them,
    /// for less than half the hashing on the previous-key path.
    pub(crate) fn record(&mut self, signature: &[u8], live_until: u64) -> bool {
        let tail = &signature[signature.len().saturating_sub(SIGNATURE_TAIL_BYTES)..];
        let hash = self.hasher.hash_one(tail);
        if let Some(known) = self.live_until.get_mut(&hash) {
            // Filed under its old second; `sweep` files it again then.
            *known = (*known).max(live_until);
            self.latest_tracked = self.latest_tracked.max(live_until);
            return false;
        }
        if self.live_until.len() < self.capacity {
            self.live_until.insert(hash, live_until);
            self.latest_tracked = self.latest_tracked.max(live_until);
            self.by_expiry.entry(live_until).or_default().push(hash);
            true
        } else {
            self.overflowed = true;
            self.overflow_until = self.overflow_until.max(live_until);
            false
        }
    }

    /// Forgets tokens no longer live at `now`, making room for new ones.
    /// Visits only the seconds that passed since the last sweep.
    pub(crate) fn sweep(&mut self, now: u64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() >= now {
                break;
            }
            for hash in entry.remove() {
                match self.live_until.get(&hash) {
                    Some(&until) if until >= now => {
                        self.by_expiry.entry(until).or_default().push(hash);
                    }
                    Some(_) => {
                        self.live_until.remove(&hash);
                    }
                    None => {}
                }
            }
        }
    }

    /// The live tokens at `now`. Sweeps first, so the count is exact and
    /// costs only the tokens that expired since the last look.
    pub(crate) fn live(&mut self, now: u64) -> LiveTokens {
        self.sweep(now);
        let tracked = self.live_until.len() as u64;
        let overflow_live = self.overflow_until >= now && self.overflow_until > 0;
        let latest = [
            (tracked > 0).then_some(self.latest_tracked),
            overflow_live.then_some(self.overflow_until),
        ]
        .into_iter()
        .flatten()
        .max();
        LiveTokens {
            count: tracked + u64::from(overflow_live),
            live_until: latest,
            overflowed: self.overflowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_tokens_until_they_stop_being_live() {
        let mut tracker = Tracker::new(10);
        tracker.record(b"sig-a", 100);
        tracker.record(b"sig-a", 100);
        tracker.record(b"sig-b", 200);
        assert_eq!(
            tracker.live(50),
            LiveTokens {
                count: 2,
                live_until: Some(200),
                overflowed: false
            }
        );
        assert_eq!(tracker.live(100).count, 2, "live through its last second");
        assert_eq!(tracker.live(101).count, 1);
        assert_eq!(tracker.live(201), LiveTokens::default());
    }

    #[test]
    fn a_token_is_identified_by_its_signature_tail() {
        let mut tracker = Tracker::new(10);
        let first = "A".repeat(27) + "0123456789abcdef";
        let same_tail = "B".repeat(27) + "0123456789abcdef";
        let other_tail = "A".repeat(27) + "0123456789abcdeX";
        assert!(tracker.record(first.as_bytes(), 100));
        assert!(!tracker.record(same_tail.as_bytes(), 100), "same last 16");
        assert!(tracker.record(other_tail.as_bytes(), 100));
        assert_eq!(tracker.live(50).count, 2);
    }

    #[test]
    fn a_later_use_extends_a_token_without_exp() {
        let mut tracker = Tracker::new(10);
        tracker.record(b"no-exp", 160);
        tracker.record(b"no-exp", 700);
        assert_eq!(tracker.live(500).count, 1);
        assert_eq!(tracker.live(500).live_until, Some(700));
    }

    #[test]
    fn at_capacity_it_keeps_the_latest_expiry_of_untracked_tokens() {
        let mut tracker = Tracker::new(2);
        tracker.record(b"a", 100);
        tracker.record(b"b", 110);
        tracker.record(b"c", 500);
        tracker.record(b"d", 300);
        let live = tracker.live(50);
        assert!(live.overflowed);
        assert_eq!(
            live.count, 3,
            "two tracked, the untracked ones count as one"
        );
        assert_eq!(live.live_until, Some(500));
        // Long after the tracked ones expired, untracked ones still block.
        assert_eq!(tracker.live(400).count, 1);
        assert_eq!(tracker.live(400).live_until, Some(500));
        assert_eq!(tracker.live(501).count, 0);
        assert!(tracker.live(501).overflowed, "the overflow stays reported");
    }

    /// The incremental index against the plain definition (count the
    /// entries still live), over uses that extend tokens without `exp` and
    /// a clock that moves in steps.
    #[test]
    fn the_incremental_count_matches_a_full_count() {
        let mut tracker = Tracker::new(1_000);
        let mut truth: std::collections::HashMap<Vec<u8>, u64> = Default::default();
        let mut now = 1_000;
        for step in 0_u64..2_000 {
            let token = format!("token-{:04}", (step * 7919) % 97).into_bytes();
            let until = now + (step * 31) % 300;
            tracker.record(&token, until);
            let known = truth.entry(token).or_insert(0);
            *known = (*known).max(until);
            if step % 13 == 0 {
                now += step % 50;
                let expected = truth.values().filter(|&&u| u >= now).count() as u64;
                let latest = truth.values().copied().filter(|&u| u >= now).max();
                let live = tracker.live(now);
                assert_eq!(live.count, expected, "step {step}, now {now}");
                assert_eq!(live.live_until, latest, "step {step}, now {now}");
                truth.retain(|_, &mut u| u >= now);
                assert_eq!(tracker.live_until.len(), truth.len(), "swept exactly");
            }
        }
        let filed: usize = tracker.by_expiry.values().map(Vec::len).sum();
        assert_eq!(filed, tracker.live_until.len(), "each token filed once");
    }

    #[test]
    fn sweeping_makes_room_again() {
        let mut tracker = Tracker::new(1);
        tracker.record(b"a", 100);
        tracker.sweep(101);
        tracker.record(b"b", 300);
        assert_eq!(
            tracker.live(200),
            LiveTokens {
                count: 1,
                live_until: Some(300),
                overflowed: false
            }
        );
    }
}
