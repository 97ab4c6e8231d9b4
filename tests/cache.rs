//! The verified-token cache through the public API: a hit must behave
//! exactly like a fresh verification (same answer, same metrics, same
//! previous-key tracking), and must never outlive the token or the ring
//! state it was verified under.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use jwt_rollover::{
    JwtLayer, KeyRing, KeySet, ManualClock, RejectionReason, RetirePolicy, RetireRequest,
    TokenCacheConfig, Verifier,
};
use prometheus::Registry;
use serde_json::{Value, json};

use common::{NOW, TestRing, hmac, metric, mint};

const NEW: (&str, &[u8]) = ("kid-new", b"new-secret-new-secret-new-secret!");
const OLD: (&str, &[u8]) = ("kid-old", b"old-secret-old-secret-old-secret!");

struct Env {
    registry: Registry,
    clock: ManualClock,
    ring: KeyRing,
    verifier: Verifier<Value>,
}

impl Env {
    fn new(cache: Option<TokenCacheConfig>) -> Self {
        let keys = KeySet::new(hmac(NEW.0, NEW.1), Some(hmac(OLD.0, OLD.1))).unwrap();
        let TestRing {
            registry,
            clock,
            ring,
        } = TestRing::new(keys, RetirePolicy::default());
        let mut layer = JwtLayer::<Value>::new(ring.clone());
        if let Some(cache) = cache {
            layer = layer.with_token_cache(cache);
        }
        Self {
            registry,
            clock,
            ring,
            verifier: layer.verifier(),
        }
    }

    /// The value of the series, 0 when there is none.
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.registry, name, labels).unwrap_or(0.0)
    }

    fn hits(&self) -> f64 {
        self.metric("jwt_token_cache_hits_total", &[])
    }

    fn misses(&self) -> f64 {
        self.metric("jwt_token_cache_misses_total", &[])
    }
}

fn token((kid, secret): (&str, &[u8]), claims: &Value) -> String {
    mint(secret, Some(kid), claims)
}

#[test]
fn a_hit_answers_and_counts_exactly_like_a_miss() {
    let cached = Env::new(Some(TokenCacheConfig::default()));
    let uncached = Env::new(None);
    let old = token(OLD, &json!({"sub": "a", "exp": NOW + 600}));
    for env in [&cached, &uncached] {
        for _ in 0..3 {
            let verified = env.verifier.verify(&old).unwrap();
            assert_eq!(verified.claims["sub"], "a");
            assert_eq!(&*verified.key.kid, OLD.0);
        }
    }
    assert_eq!((cached.misses(), cached.hits()), (1.0, 2.0));
    assert_eq!((uncached.misses(), uncached.hits()), (0.0, 0.0));
    for env in [&cached, &uncached] {
        let by_key = env.metric(
            "jwt_verifications_total",
            &[("slot", "previous"), ("kid", OLD.0)],
        );
        assert_eq!(by_key, 3.0, "hits count toward the slot metrics");
        assert_eq!(env.metric("jwt_previous_key_live_tokens", &[]), 1.0);
        assert_eq!(
            env.metric("jwt_previous_key_last_used_timestamp_seconds", &[]),
            NOW as f64
        );
    }
    // A later hit still moves last-used, as a miss would.
    cached.clock.advance(30);
    cached.verifier.verify(&old).unwrap();
    assert_eq!(
        cached.metric("jwt_previous_key_last_used_timestamp_seconds", &[]),
        (NOW + 30) as f64
    );
    let status = cached.ring.status().previous.unwrap();
    assert_eq!(status.last_used, Some(NOW + 30));
    assert_eq!(status.live_tokens, 1);
}

#[test]
fn an_entry_never_outlives_exp_plus_leeway() {
    let env = Env::new(Some(TokenCacheConfig::default()));
    let short = token(NEW, &json!({"exp": NOW + 10}));
    env.verifier.verify(&short).unwrap();
    env.clock.set(NOW + 10 + 60);
    env.verifier
        .verify(&short)
        .expect("still within the leeway");
    assert_eq!(env.hits(), 1.0);
    env.clock.set(NOW + 10 + 61);
    let rejection = env.verifier.verify(&short).unwrap_err();
    assert_eq!(rejection.reason(), RejectionReason::Expired);
    assert_eq!(env.hits(), 1.0, "an expired entry is never a hit");
}

#[test]
fn tokens_without_exp_are_not_cached() {
    let env = Env::new(Some(TokenCacheConfig::default()));
    let verifier = JwtLayer::<Value>::new(env.ring.clone())
        .with_exp_required(false)
        .with_token_cache(TokenCacheConfig::default())
        .verifier();
    let forever = token(NEW, &json!({"sub": "x"}));
    verifier.verify(&forever).unwrap();
    verifier.verify(&forever).unwrap();
    assert_eq!((env.misses(), env.hits()), (2.0, 0.0));
}

#[tokio::test]
async fn a_retirement_invalidates_the_cached_tokens_of_the_key() {
    let env = Env::new(Some(TokenCacheConfig::default()));
    let old = token(OLD, &json!({"exp": NOW + 600}));
    env.verifier.verify(&old).unwrap();
    env.verifier.verify(&old).unwrap();
    assert_eq!(env.hits(), 1.0);
    env.ring
        .retire(RetireRequest::previous().force())
        .await
        .ok()
        .unwrap();
    let rejection = env.verifier.verify(&old).unwrap_err();
    assert_eq!(rejection.reason(), RejectionReason::RetiredKey);
    assert_eq!(env.hits(), 1.0);
}

#[test]
fn any_ring_change_invalidates_and_the_slot_follows_the_key() {
    let env = Env::new(Some(TokenCacheConfig::default()));
    let new = token(NEW, &json!({"exp": NOW + 600}));
    assert_eq!(
        env.verifier.verify(&new).unwrap().key.slot.as_str(),
        "current"
    );
    let newer = hmac("kid-newer", b"newer-secret-newer-secret-newer!!");
    env.ring.rotate(newer).unwrap();
    // Cached as current; after the rotation the same token is previous.
    assert_eq!(
        env.verifier.verify(&new).unwrap().key.slot.as_str(),
        "previous"
    );
    assert_eq!(env.hits(), 0.0);
    assert_eq!(
        env.verifier.verify(&new).unwrap().key.slot.as_str(),
        "previous"
    );
    assert_eq!(env.hits(), 1.0);
}

#[test]
fn a_token_that_differs_only_outside_the_signature_is_not_a_hit() {
    let env = Env::new(Some(TokenCacheConfig::default()));
    let good = token(NEW, &json!({"sub": "a", "exp": NOW + 600}));
    env.verifier.verify(&good).unwrap();
    // Same signature part, another payload: must be verified (and fail).
    let (_, signature) = good.rsplit_once('.').unwrap();
    let forged_payload = token(NEW, &json!({"sub": "admin", "exp": NOW + 600}));
    let (forged_head, _) = forged_payload.rsplit_once('.').unwrap();
    let forged = format!("{forged_head}.{signature}");
    let rejection = env.verifier.verify(&forged).unwrap_err();
    assert_eq!(rejection.reason(), RejectionReason::BadSignature);
    assert_eq!(env.hits(), 0.0);
    assert_eq!(env.verifier.verify(&good).unwrap().claims["sub"], "a");
}

#[test]
fn the_cache_stays_within_its_entry_bound_and_counts_evictions() {
    let env = Env::new(Some(TokenCacheConfig::default().with_max_entries(64)));
    for i in 0..1_000 {
        let t = token(NEW, &json!({"i": i, "exp": NOW + 600}));
        env.verifier.verify(&t).unwrap();
    }
    let evictions = env.metric("jwt_token_cache_evictions_total", &[]);
    // 16 shards of 4 entries: at most 64 kept, so at least 936 evicted.
    assert!(evictions >= 936.0, "{evictions} evictions");
    assert_eq!(env.misses(), 1_000.0);
}

/// A token verified again and again on one thread is served from that
/// thread's own copy after its second hit; it must still count, expire and
/// be invalidated exactly like any entry.
#[tokio::test]
async fn a_hot_token_counts_expires_and_is_invalidated_like_any_hit() {
    let env = Env::new(Some(TokenCacheConfig::default()));
    let old = token(OLD, &json!({"sub": "hot", "exp": NOW + 10}));
    let first = env.verifier.verify(&old).unwrap();
    for _ in 0..5 {
        let again = env.verifier.verify(&old).unwrap();
        assert_eq!(again.claims, first.claims);
        assert_eq!((&*again.key.kid, again.key.slot), (OLD.0, first.key.slot));
    }
    assert_eq!((env.misses(), env.hits()), (1.0, 5.0));
    let by_key = env.metric(
        "jwt_verifications_total",
        &[("slot", "previous"), ("kid", OLD.0)],
    );
    assert_eq!(by_key, 6.0, "every hit counts toward the slot metrics");
    assert_eq!(env.metric("jwt_previous_key_live_tokens", &[]), 1.0);

    // Past exp + leeway: no longer served, even from the thread's copy.
    env.clock.set(NOW + 10 + 61);
    let rejection = env.verifier.verify(&old).unwrap_err();
    assert_eq!(rejection.reason(), RejectionReason::Expired);
    assert_eq!(env.hits(), 5.0);

    // A retirement drops a hot token at once.
    env.clock.set(NOW);
    let fresh = token(OLD, &json!({"sub": "hot", "exp": NOW + 600}));
    for _ in 0..5 {
        env.verifier.verify(&fresh).unwrap();
    }
    env.ring
        .retire(RetireRequest::previous().force())
        .await
        .ok()
        .unwrap();
    let rejection = env.verifier.verify(&fresh).unwrap_err();
    assert_eq!(rejection.reason(), RejectionReason::RetiredKey);
}
