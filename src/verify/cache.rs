//! A cache of verified tokens, so that a client presenting the same token

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use crate::keys::Slot;
use crossbeam_utils::CachePadded;

use crate::metrics::sharded;
use crate::prehashed::PrehashedMap;

/// Sizing of the verified-token cache.
///
/// ```
/// use jwt_rollover::TokenCacheConfig;
///
/// let config = TokenCacheConfig::default() // 10 000 entries, 16 MiB
///     .with_max_entries(50_000)
///     .with_max_bytes(64 << 20);
/// assert_eq!(config.max_entries(), 50_000);
/// ```
///
/// A cache of verified tokens, so that a client presenting the same token
/// again skips base64, JSON and, above all, the signature check.
///
/// It is **off by default**: an HS256 verification already costs about a
/// microsecond, and a cache trades memory for that. Turn it on with
/// [`JwtLayer::with_token_cache`](crate::JwtLayer::with_token_cache) when
/// clients reuse tokens and verification shows up in profiles, above all
/// with RSA, ECDSA or EdDSA keys (tens of microseconds per check).
///
/// What it guarantees:
///
/// - **Exact match.** An entry is found by a hash of the end of the token
///   (its signature), then compared byte for byte with the whole token; a
///   hash never decides alone.
/// - **Bounded.** At most `max_entries` entries and about `max_bytes` of
///   memory (each entry counts its token, its claims' JSON size and a fixed
///   overhead). When full, an entry is evicted to make room.
/// - **Never past `exp`.** An entry is used only while the token itself
///   would still be accepted (`exp` + leeway, and after `nbf` - leeway).
///   Tokens without `exp` are not cached.
/// - **Invalidated by any ring change.** Each entry remembers the ring's
///   generation; a rotation, retirement or reload makes every older entry
///   stale, so a retired key's tokens are refused at once.
/// - **Counted like a miss.** A hit still counts
///   `jwt_verifications_total{slot,kid}` and feeds the previous-key
///   tracker, so metrics and retirement see every request.
/// - **Hot tokens are copied per thread.** A token one thread finds in
///   the shared shards twice in a row (by hash slot) is verified once more
///   on that thread and kept in the thread's own slots, with claims of its
///   own: one hot token served by every core would otherwise have every
///   core take the same shard lock and count on the same claims `Arc`
///   (measured by `benches/contention.rs`; see docs/performance.md). A
///   copy obeys the same rules (exact token, generation, `exp`); there are
///   at most four per thread slot (16 slots), each within a shard's byte
///   bound.
///
/// Metrics: `jwt_token_cache_hits_total`, `jwt_token_cache_misses_total`,
/// `jwt_token_cache_evictions_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheConfig {
    max_entries: usize,
    max_bytes: usize,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 16 << 20,
        }
    }
}

impl TokenCacheConfig {
    /// Most tokens kept (at least one per shard).
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Most bytes kept, counted as token + kid + claims JSON + overhead per
    /// entry.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// See [`TokenCacheConfig::with_max_entries`].
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// See [`TokenCacheConfig::with_max_bytes`].
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// Shards keep lock contention low on many cores.
const SHARDS: usize = 16;
/// How much of the token's end the cache key hashes.
const HASHED_TAIL_BYTES: usize = 32;
/// Fixed cost counted per entry: map slot, entry struct, allocations.
const ENTRY_OVERHEAD_BYTES: usize = 128;
/// Per-thread copies of hot tokens, per thread slot (direct-mapped by hash).
const HOT_SLOTS: usize = 4;

/// What a hit gives back: enough to finish the request as a miss would.
pub(crate) struct Hit<C> {
    pub(crate) claims: Arc<C>,
    pub(crate) kid: Arc<str>,
    pub(crate) slot: Slot,
    pub(crate) exp: Option<u64>,
}

/// What a successful verification leaves behind.
pub(crate) struct CachedToken<C> {
    /// Shared with every request that hits, so a hit copies no claims.
    pub(crate) claims: Arc<C>,
    pub(crate) kid: Arc<str>,
    pub(crate) slot: Slot,
    pub(crate) generation: u64,
    pub(crate) exp: u64,
    /// First second at which the token is accepted (`nbf` - leeway), 0 without `nbf`.
    pub(crate) valid_from: u64,
    /// Last second at which the token is accepted (`exp` + leeway).
    pub(crate) valid_until: u64,
    /// Bytes of the claims' JSON, a proxy for the claims' memory.
    pub(crate) claims_bytes: usize,
}

struct Entry<C> {
    token: Box<str>,
    verified: CachedToken<C>,
    cost: usize,
}

impl<C> Entry<C> {
    /// Whether the entry may answer under ring `generation` at `now`.
    fn usable(&self, generation: u64, now: u64) -> bool {
        let verified = &self.verified;
        verified.generation == generation
            && now <= verified.valid_until
            && now >= verified.valid_from
    }

    fn hit(&self) -> Hit<C> {
        self.verified.hit()
    }
}

impl<C> CachedToken<C> {
    fn hit(&self) -> Hit<C> {
        Hit {
            claims: self.claims.clone(),
            kid: self.kid.clone(),
            slot: self.slot,
            exp: Some(self.exp),
        }
    }
}

struct Shard<C> {
    entries: PrehashedMap<Entry<C>>,
    bytes: usize,
}

/// One thread slot's copies of hot tokens. Only its own thread locks it
/// (unless more threads than [`sharded::SHARDS`] share the slot), so the
/// lock and the copies' reference counts stay in that core's cache.
struct Hot<C> {
    /// By hash slot: the token's hash and its copy.
    entries: [Option<(u64, Entry<C>)>; HOT_SLOTS],
    /// By hash slot: the last token hash this thread found in the shards.
    seen: [u64; HOT_SLOTS],
}

impl<C> Default for Hot<C> {
    fn default() -> Self {
        Self {
            entries: std::array::from_fn(|_| None),
            seen: [0; HOT_SLOTS],
        }
    }
}

/// The cache. Cheap to share: the layer holds it in an `Arc`.
pub(crate) struct TokenCache<C> {
    /// Padded: two shards' locks on one cache line would make threads
    /// hitting different shards wait on each other.
    shards: Box<[CachePadded<Mutex<Shard<C>>>]>,
    /// Per thread slot: copies of hot tokens.
    hot: Box<[CachePadded<Mutex<Hot<C>>>]>,
    hasher: RandomState,
    max_entries_per_shard: usize,
    max_bytes_per_shard: usize,
}

/// A token's slot among a thread's hot copies (the shards use the high bits).
fn hot_slot(hash: u64) -> usize {
    hash as usize % HOT_SLOTS
}

impl<C> TokenCache<C> {
    pub(crate) fn new(config: TokenCacheConfig) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        entries: PrehashedMap::default(),
                        bytes: 0,
                    }))
                })
                .collect(),
            hot: (0..sharded::SHARDS)
                .map(|_| CachePadded::new(Mutex::new(Hot::default())))
                .collect(),
            hasher: RandomState::new(),
            max_entries_per_shard: config.max_entries.div_ceil(SHARDS).max(1),
            max_bytes_per_shard: config.max_bytes.div_ceil(SHARDS),
        }
    }

    /// The signature part is the last, most random part of a token:
    /// hashing its last 32 characters (192 bits of it) is cheap whatever
    /// the algorithm, and the full comparison keeps the match exact.
    fn hash(&self, token: &str) -> u64 {
        let tail = token.len().saturating_sub(HASHED_TAIL_BYTES);
        // Tokens are ASCII once verified; the fallback only guards a
        // non-ASCII string, which can never be a cached token.
        self.hasher.hash_one(token.get(tail..).unwrap_or(token))
    }

    /// This thread's copies of hot tokens.
    fn hot(&self) -> std::sync::MutexGuard<'_, Hot<C>> {
        self.hot[sharded::thread_slot()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard<C>> {
        // High bits pick the shard; the map hashes the full value again.
        let index = (hash >> 56) as usize % SHARDS;
        // A shard is consistent after every operation; a panic elsewhere
        // while holding it leaves nothing half done.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Finds `token` if it was verified under ring `generation` and is
    /// still acceptable at `now`. A stale entry is dropped on the way.
    ///
    /// A token this thread finds in the shared shards a second time in a
    /// row is hot: `verify_again` verifies it once more (the same answer,
    /// the ring has not changed), and the thread keeps that result as a copy
    /// of its own, with claims that share nothing with the shared entry's.
    /// One hot token served by every core would otherwise have them all take
    /// the same shard lock and count on the same claims `Arc`.
    pub(crate) fn get(
        &self,
        token: &str,
        generation: u64,
        now: u64,
        verify_again: impl FnOnce() -> Option<CachedToken<C>>,
    ) -> Option<Hit<C>> {
        let hash = self.hash(token);
        let slot = hot_slot(hash);
        let (shared, promote) = {
            // This thread's slot stays locked through the shard lookup, so a
            // shared hit records itself without locking the slot again.
            // Always slot then shard: nothing takes them the other way round.
            let mut hot = self.hot();
            if let Some((hot_hash, copy)) = &hot.entries[slot]
                && *hot_hash == hash
                && *copy.token == *token
            {
                if copy.usable(generation, now) {
                    return Some(copy.hit());
                }
                hot.entries[slot] = None;
            }
            let mut shard = self.shard(hash);
            // A plain lookup: `entry` would reserve room in an empty shard.
            let cached = shard.entries.get(&hash)?;
            if *cached.token != *token {
                return None;
            }
            if !cached.usable(generation, now) {
                if let Some(removed) = shard.entries.remove(&hash) {
                    shard.bytes -= removed.cost;
                }
                return None;
            }
            let promote = hot.seen[slot] == hash;
            hot.seen[slot] = hash;
            (cached.hit(), promote)
        };
        // Verified again with no lock held.
        if promote && let Some(own) = verify_again() {
            let hit = own.hit();
            self.keep_hot(token, own);
            return Some(hit);
        }
        Some(shared)
    }

    /// Keeps this thread's own copy of a hot token.
    fn keep_hot(&self, token: &str, verified: CachedToken<C>) {
        let cost = token.len() + verified.kid.len() + verified.claims_bytes + ENTRY_OVERHEAD_BYTES;
        if cost > self.max_bytes_per_shard {
            return;
        }
        let hash = self.hash(token);
        let mut hot = self.hot();
        let slot = hot_slot(hash);
        hot.seen[slot] = 0;
        hot.entries[slot] = Some((
            hash,
            Entry {
                token: token.into(),
                verified,
                cost,
            },
        ));
    }

    /// Remembers a verified token. Returns how many entries were evicted
    /// to make room.
    pub(crate) fn insert(&self, token: &str, verified: CachedToken<C>) -> u64 {
        let cost = token.len() + verified.kid.len() + verified.claims_bytes + ENTRY_OVERHEAD_BYTES;
        if cost > self.max_bytes_per_shard {
            return 0;
        }
        let hash = self.hash(token);
        let mut shard = self.shard(hash);
        let mut evicted = 0;
        if let Some(replaced) = shard.entries.remove(&hash) {
            shard.bytes -= replaced.cost;
        }
        while shard.entries.len() >= self.max_entries_per_shard
            || shard.bytes + cost > self.max_bytes_per_shard
        {
            // Any entry will do: the map's order is random, so this is a
            // random eviction, which needs no bookkeeping on the hit path.
            let Some(&victim) = shard.entries.keys().next() else {
                break;
            };
            if let Some(removed) = shard.entries.remove(&victim) {
                shard.bytes -= removed.cost;
                evicted += 1;
            }
        }
        shard.bytes += cost;
        shard.entries.insert(
            hash,
            Entry {
                token: token.into(),
                verified,
                cost,
            },
        );
        evicted
    }

    #[cfg(test)]
    fn hot_len(&self) -> usize {
        self.hot
            .iter()
            .map(|hot| hot.lock().map_or(0, |h| h.entries.iter().flatten().count()))
            .sum()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().map_or(0, |s| s.entries.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(generation: u64, valid_until: u64) -> CachedToken<String> {
        CachedToken {
            claims: Arc::new("claims".to_owned()),
            kid: Arc::from("k1"),
            slot: Slot::Current,
            generation,
            exp: valid_until - 60,
            valid_from: 0,
            valid_until,
            claims_bytes: 20,
        }
    }

    /// A lookup that is never asked to verify again.
    fn get(
        cache: &TokenCache<String>,
        token: &str,
        generation: u64,
        now: u64,
    ) -> Option<Hit<String>> {
        cache.get(token, generation, now, || panic!("not a second find"))
    }

    fn hit(lookup: Option<Hit<String>>) -> bool {
        lookup.is_some()
    }

    #[test]
    fn hits_only_the_exact_token_in_the_same_generation_before_expiry() {
        let cache = TokenCache::new(TokenCacheConfig::default());
        cache.insert("h.p.sig", verified(7, 1_000));
        assert!(
            hit(get(&cache, "h.p.sig", 7, 1_000)),
            "valid through its last second"
        );
        assert!(
            !hit(get(&cache, "h.other.sig", 7, 10)),
            "same signature, other token"
        );
        assert!(!hit(get(&cache, "h.p.sig", 8, 10)), "the ring changed");
        assert!(
            !hit(get(&cache, "h.p.sig", 7, 10)),
            "a stale entry is dropped"
        );
        cache.insert("h.p.sig2", verified(7, 1_000));
        assert!(!hit(get(&cache, "h.p.sig2", 7, 1_001)), "past exp + leeway");
    }

    #[test]
    fn is_bounded_in_entries_and_bytes() {
        let cache = TokenCache::new(TokenCacheConfig::default().with_max_entries(32));
        let mut evicted = 0;
        for i in 0..1_000 {
            evicted += cache.insert(&format!("h.p.sig{i}"), verified(1, 1_000));
        }
        assert!(cache.len() <= 32, "{} entries", cache.len());
        assert_eq!(evicted as usize + cache.len(), 1_000);

        let small = TokenCache::new(
            TokenCacheConfig::default()
                .with_max_entries(1_000_000)
                .with_max_bytes(SHARDS * 1_000),
        );
        for i in 0..1_000 {
            small.insert(&format!("h.p.sig{i}"), verified(1, 1_000));
        }
        // 1000 bytes per shard, about 160 bytes per entry.
        assert!(small.len() <= SHARDS * 6, "{} entries", small.len());
    }

    fn claims_of(lookup: Option<Hit<String>>) -> Arc<String> {
        lookup.expect("a hit").claims
    }

    #[test]
    fn a_token_found_twice_by_a_thread_is_verified_again_and_kept_once() {
        let cache = TokenCache::new(TokenCacheConfig::default());
        cache.insert("h.p.sig", verified(7, 1_000));
        assert!(hit(get(&cache, "h.p.sig", 7, 10)), "first find");
        let own = verified(7, 1_000);
        let own_claims = own.claims.clone();
        let mut asked = 0;
        let served = cache.get("h.p.sig", 7, 10, || {
            asked += 1;
            Some(own)
        });
        assert_eq!(asked, 1, "the second find verifies again");
        assert!(
            Arc::ptr_eq(&claims_of(served), &own_claims),
            "the fresh result"
        );
        assert_eq!(cache.hot_len(), 1);
        let served = claims_of(get(&cache, "h.p.sig", 7, 10));
        assert!(Arc::ptr_eq(&served, &own_claims), "served from the copy");

        // Another thread has no copy: it finds the shared entry.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let there = claims_of(get(&cache, "h.p.sig", 7, 10));
                assert!(!Arc::ptr_eq(&there, &own_claims), "not this thread's copy");
            });
        });
    }

    /// Finds `token` twice, so the second find keeps `own` as this thread's copy.
    fn promote(cache: &TokenCache<String>, token: &str, own: CachedToken<String>) {
        assert!(hit(get(cache, token, own.generation, 10)));
        assert!(hit(cache.get(token, own.generation, 10, || Some(own))));
        assert_eq!(cache.hot_len(), 1, "kept");
    }

    /// A second find whose verification fails again (it cannot, the ring
    /// being the same, but say it did) keeps no copy and serves the entry.
    #[test]
    fn a_failed_second_verification_keeps_no_copy() {
        let cache = TokenCache::new(TokenCacheConfig::default());
        cache.insert("h.p.sig", verified(7, 1_000));
        assert!(hit(get(&cache, "h.p.sig", 7, 10)));
        assert!(hit(cache.get("h.p.sig", 7, 10, || None)));
        assert_eq!(cache.hot_len(), 0);
    }

    #[test]
    fn a_hot_copy_obeys_the_same_rules() {
        let cache = TokenCache::new(TokenCacheConfig::default());
        cache.insert("h.p.sig", verified(7, 1_000));
        promote(&cache, "h.p.sig", verified(7, 1_000));
        assert!(
            hit(get(&cache, "h.p.sig", 7, 1_000)),
            "through its last second"
        );
        assert!(!hit(get(&cache, "h.other.sig", 7, 10)), "exact token only");
        assert!(!hit(get(&cache, "h.p.sig", 7, 1_001)), "past exp + leeway");
        assert_eq!(cache.hot_len(), 0, "a stale copy is dropped");

        cache.insert("h.p.sig", verified(7, 1_000));
        promote(&cache, "h.p.sig", verified(7, 1_000));
        assert!(!hit(get(&cache, "h.p.sig", 8, 10)), "the ring changed");
        assert_eq!(cache.hot_len(), 0);

        // A copy is bounded like an entry.
        let small = TokenCache::new(TokenCacheConfig::default().with_max_bytes(SHARDS * 100));
        small.keep_hot("h.p.sig", verified(1, 1_000));
        assert!(!hit(get(&small, "h.p.sig", 1, 10)));
        assert_eq!(small.hot_len(), 0);
    }

    #[test]
    fn an_entry_larger_than_a_shard_is_not_kept() {
        let cache = TokenCache::new(TokenCacheConfig::default().with_max_bytes(SHARDS * 100));
        cache.insert("h.p.sig", verified(1, 1_000));
        assert!(!hit(get(&cache, "h.p.sig", 1, 10)));
    }
}
