//! A counter that cores can increment at once without queuing on one
//! cache line.
//!
//! Every verification increments a counter (`verifications_total` for its
//! key, a cache hit or miss, a rejection reason). A plain `AtomicU64`
//! lives on one cache line, which every incrementing core must own in
//! turn, so it costs more with every core that increments it at once
//! (`benches/contention.rs`; figures in docs/performance.md). [`ShardedU64`]
//! spreads the count over [`SHARDS`] lines, one picked per thread, and
//! adds them up only when read (a Prometheus scrape).
//!
//! It implements `prometheus::core::Atomic`, so [`HotCounter`] and
//! [`HotCounterVec`] are ordinary prometheus counters with another
//! storage: registration, labels and exposition are unchanged.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus::core::{Atomic, GenericCounter, GenericCounterVec};

/// Lines per counter, and slots per thread-indexed structure. Threads
/// beyond this share (and contend again, SHARDS times less). 16 x 128
/// bytes = 2 KiB per counter series.
pub(crate) const SHARDS: usize = 16;

/// A counter on the request path.
pub(crate) type HotCounter = GenericCounter<ShardedU64>;
/// Labelled counters on the request path.
pub(crate) type HotCounterVec = GenericCounterVec<ShardedU64>;

/// A counter line on cache lines of its own (128 bytes on x86-64, which
/// prefetches lines in pairs), so that one core's writes do not slow down
/// the cores using its neighbours (false sharing).
type Line = CachePadded<AtomicU64>;

/// A `u64` split over [`SHARDS`] cache lines.
#[derive(Debug)]
pub(crate) struct ShardedU64 {
    lines: Box<[Line; SHARDS]>,
}

/// This thread's slot in `0..SHARDS`, the same for every counter (and for
/// the token cache's per-thread copies): threads are numbered in the order
/// they first ask.
pub(crate) fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|index| *index)
}

impl Atomic for ShardedU64 {
    type T = u64;

    fn new(value: u64) -> Self {
        let lines: Box<[Line; SHARDS]> = Box::default();
        lines[0].store(value, Ordering::Relaxed);
        Self { lines }
    }

    /// Not atomic across the lines: a concurrent increment may land
    /// before or after. Counters are only set when they are reset.
    fn set(&self, value: u64) {
        for line in &self.lines[1..] {
            line.store(0, Ordering::Relaxed);
        }
        self.lines[0].store(value, Ordering::Relaxed);
    }

    /// The sum of the lines. Each line only grows, so successive reads
    /// never go down.
    fn get(&self) -> u64 {
        self.lines
            .iter()
            .map(|line| line.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    fn inc_by(&self, delta: u64) {
        self.lines[thread_slot()].fetch_add(delta, Ordering::Relaxed);
    }

    fn dec_by(&self, delta: u64) {
        self.lines[thread_slot()].fetch_sub(delta, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_increment_from_every_thread() {
        let counter = HotCounter::new("t_total", "test").unwrap();
        std::thread::scope(|scope| {
            for _ in 0..(SHARDS + 3) {
                scope.spawn(|| {
                    for _ in 0..1_000 {
                        counter.inc();
                    }
                });
            }
        });
        counter.inc_by(7);
        assert_eq!(counter.get(), (SHARDS as u64 + 3) * 1_000 + 7);
    }

    #[test]
    fn a_thread_keeps_its_line() {
        let here = thread_slot();
        assert!(here < SHARDS);
        assert_eq!(thread_slot(), here);
        let there = std::thread::spawn(|| (thread_slot(), thread_slot()))
            .join()
            .unwrap();
        assert_eq!(there.0, there.1);
    }

    #[test]
    fn reset_and_exposition_see_the_sum() {
        let counter = HotCounter::new("t_total", "test").unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| counter.inc_by(5));
        });
        counter.inc_by(2);
        assert_eq!(counter.get(), 7);

        let registry = prometheus::Registry::new();
        registry.register(Box::new(counter.clone())).unwrap();
        let families = registry.gather();
        let value = families[0].get_metric()[0].get_counter().get_value();
        assert!((value - 7.0).abs() < f64::EPSILON, "exposed {value}");

        counter.reset();
        assert_eq!(counter.get(), 0);
    }

    #[test]
    fn a_line_is_a_cache_line_pair() {
        assert_eq!(std::mem::align_of::<Line>(), 128);
        assert!(std::mem::size_of::<CachePadded<u8>>() >= 64);
        assert_eq!(std::mem::size_of::<[Line; SHARDS]>(), 128 * SHARDS);
    }
}
