//! Safe retirement of the previous key, driven through the ring and the
//! layer: each eligibility blocker, auto retirement, forced and checked
//! retirement, rollback, the live-token tracker, metrics and races.
//!
//! All policy time is driven by a `ManualClock`; no test sleeps for a
//! policy period.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use axum::Router;
use http::StatusCode;
use http::header::WWW_AUTHENTICATE;
use jwt_rollover::status::{BlockerKind, Eligibility, KeyRingStatus};
use jwt_rollover::{
    JwtLayer, KeyRing, KeySet, ManualClock, RetireError, RetirePolicy, RetireRequest,
};
use prometheus::Registry;
use serde_json::{Value, json};

use common::{
    CHECK_INTERVAL, LEEWAY, MIN_AGE, NEW_KID, NEW_SECRET, NOW, OLD_KID, OLD_SECRET, QUIET,
    TestRing, bearer, hmac, info, key_info, metric_value, mint, new_and_old_keys, policy, send,
    series, whoami_router,
};

// ---------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------

const NEWER_KID: &str = "kid-newer";
const NEWER_SECRET: &[u8] = b"newer-secret-newer-secret-newer-!!";

const RETIRED_KEY_CHALLENGE: &str = "Bearer error=\"invalid_token\", \
     error_description=\"retired_key: the key of this kid was retired\"";

const LIVE_GAUGE: &str = "jwt_previous_key_live_tokens";
const LAST_USED_GAUGE: &str = "jwt_previous_key_last_used_timestamp_seconds";
const EXPIRE_GAUGE: &str = "jwt_previous_key_tokens_expire_timestamp_seconds";

struct Env {
    registry: Registry,
    ring: KeyRing,
    clock: ManualClock,
    app: Router,
}

impl Env {
    /// current = `kid-new`, previous = `kid-old` (previous since `NOW`),
    /// the clock at `NOW`, the default layer.
    fn new(policy: RetirePolicy) -> Self {
        Self::with_layer(policy, |layer| layer)
    }

    fn with_layer(
        policy: RetirePolicy,
        layer: impl FnOnce(JwtLayer<Value>) -> JwtLayer<Value>,
    ) -> Self {
        Self::from_keys(new_and_old_keys(), policy, layer)
    }

    fn from_keys(
        keys: KeySet,
        policy: RetirePolicy,
        layer: impl FnOnce(JwtLayer<Value>) -> JwtLayer<Value>,
    ) -> Self {
        let TestRing {
            registry,
            clock,
            ring,
        } = TestRing::new(keys, policy);
        let app = whoami_router(layer(JwtLayer::<Value>::new(ring.clone())));
        Self {
            registry,
            ring,
            clock,
            app,
        }
    }

    fn now(&self) -> u64 {
        self.ring.status().now
    }

    fn set(&self, now: u64) {
        self.clock.set(now);
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.registry, name, labels)
    }

    fn gauge(&self, name: &str) -> f64 {
        self.metric(name, &[])
    }

    fn retirements(&self, trigger: &str) -> f64 {
        self.metric("jwt_key_retirements_total", &[("trigger", trigger)])
    }

    fn rejections(&self, reason: &str) -> f64 {
        self.metric("jwt_rejections_total", &[("reason", reason)])
    }

    fn verifications(&self) -> BTreeMap<(String, String), f64> {
        series(&self.registry, "jwt_verifications_total")
            .into_iter()
            .map(|(labels, value)| ((labels["slot"].clone(), labels["kid"].clone()), value))
            .collect()
    }

    /// Sends `token`; asserts a `200` from the slot `slot` with key `kid`.
    async fn accepted(&self, token: &str, slot: &str, kid: &str) {
        let reply = send(&self.app, bearer(token)).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "expected 200 from {slot} {kid}, got {:?}",
            reply.headers.get(WWW_AUTHENTICATE)
        );
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["slot"], slot, "{body}");
        assert_eq!(body["kid"], kid, "{body}");
    }

    /// Sends `token`; asserts a `401 retired_key`, counted as such.
    async fn retired(&self, token: &str) {
        let before = self.rejections("retired_key");
        let reply = send(&self.app, bearer(token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.headers[WWW_AUTHENTICATE], RETIRED_KEY_CHALLENGE);
        assert_eq!(self.rejections("retired_key"), before + 1.0);
    }
}

fn old_token(exp: u64) -> String {
    mint(
        OLD_SECRET,
        Some(OLD_KID),
        &json!({"sub": "alice", "exp": exp}),
    )
}

// ---------------------------------------------------------------------------
// Status and metrics readers
// ---------------------------------------------------------------------------

/// The previous key's blockers, as `(kind, clears_at)`.
fn blockers(status: &KeyRingStatus) -> Vec<(BlockerKind, u64)> {
    let previous = status.previous.as_ref().expect("a previous key");
    previous
        .eligibility
        .blockers
        .iter()
        .map(|b| (b.blocker, local(b.clears_at)))
        .collect()
}

/// A local blocker's `clears_at`: always known.
fn local(clears_at: Option<u64>) -> u64 {
    clears_at.expect("local blockers know when they clear")
}

/// Runs a retirement from a plain thread: without a fleet gate it
/// completes at its first poll.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

fn eligibility(status: &KeyRingStatus) -> &Eligibility {
    &status
        .previous
        .as_ref()
        .expect("a previous key")
        .eligibility
}

/// Asserts the blockers, their eligibility flag and their details.
fn assert_blockers(env: &Env, expected: &[(BlockerKind, u64, &str)]) {
    let status = env.ring.status();
    let got: Vec<_> = eligibility(&status)
        .blockers
        .iter()
        .map(|b| (b.blocker, local(b.clears_at), b.detail.as_str()))
        .collect();
    assert_eq!(got, expected, "at now={}", status.now);
    assert_eq!(eligibility(&status).eligible, expected.is_empty());
}

/// Asserts that a checked retirement is refused with exactly the blockers
/// the status shows, and changes nothing.
async fn assert_not_eligible(env: &Env) {
    let status = env.ring.status();
    let before = env.retirements("admin");
    match env.ring.retire(RetireRequest::previous()).await {
        Err(RetireError::NotEligible(refused)) => {
            assert_eq!(&refused, eligibility(&status));
            assert!(!refused.eligible);
        }
        other => panic!("expected NotEligible at {}, got {other:?}", status.now),
    }
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.retirements("admin"), before);
}

fn slot_kid(slot: &str, kid: &str) -> (String, String) {
    (slot.to_owned(), kid.to_owned())
}

// ---------------------------------------------------------------------------
// Each blocker on its own
// ---------------------------------------------------------------------------

#[tokio::test]
async fn min_age_blocks_on_its_own() {
    let env = Env::new(policy());
    for (now, detail) in [
        (NOW, "previous for 0s of the 3600s min_age"),
        (NOW + MIN_AGE - 1, "previous for 3599s of the 3600s min_age"),
    ] {
        env.set(now);
        assert_blockers(&env, &[(BlockerKind::MinAge, NOW + MIN_AGE, detail)]);
        assert_not_eligible(&env).await;
    }
    // Auto retirement does not fire either.
    assert_eq!(env.ring.check_retirement().await, None);

    env.set(NOW + MIN_AGE);
    assert_blockers(&env, &[]);
    let previous = env.ring.status().previous.unwrap();
    assert_eq!(previous.last_used, None);
    assert_eq!(previous.live_tokens, 0);
    assert_eq!(
        env.ring.retire(RetireRequest::previous()).await,
        Ok(OLD_KID.to_owned())
    );
    assert_eq!(env.retirements("admin"), 1.0);
}

#[tokio::test]
async fn quiet_blocks_on_its_own() {
    let env = Env::new(policy());
    // Used once, after min_age, with a token that expires right away.
    let used_at = NOW + MIN_AGE;
    env.set(used_at);
    env.accepted(&old_token(used_at), "previous", OLD_KID).await;

    // The token stays live through exp + leeway; one second later only
    // quiet holds.
    env.set(used_at + LEEWAY);
    assert_eq!(
        blockers(&env.ring.status()),
        [
            (BlockerKind::Quiet, used_at + QUIET),
            (BlockerKind::LiveTokens, used_at + LEEWAY + 1),
        ]
    );
    env.set(used_at + LEEWAY + 1);
    assert_blockers(
        &env,
        &[(
            BlockerKind::Quiet,
            used_at + QUIET,
            "last used 61s ago; quiet needs 600s",
        )],
    );
    let previous = env.ring.status().previous.unwrap();
    assert_eq!(previous.last_used, Some(used_at));
    assert_eq!(previous.live_tokens, 0);
    assert_eq!(previous.latest_exp, Some(used_at));
    assert_not_eligible(&env).await;

    env.set(used_at + QUIET - 1);
    assert_blockers(
        &env,
        &[(
            BlockerKind::Quiet,
            used_at + QUIET,
            "last used 599s ago; quiet needs 600s",
        )],
    );
    assert_not_eligible(&env).await;
    assert_eq!(env.ring.check_retirement().await, None);

    env.set(used_at + QUIET);
    assert_blockers(&env, &[]);
    assert_eq!(
        env.ring.retire(RetireRequest::previous()).await,
        Ok(OLD_KID.to_owned())
    );
}

#[tokio::test]
async fn live_tokens_block_on_their_own() {
    let env = Env::new(policy());
    let exp = NOW + 2 * MIN_AGE;
    env.accepted(&old_token(exp), "previous", OLD_KID).await;
    let status = env.ring.status();
    let previous = status.previous.as_ref().unwrap();
    assert_eq!(previous.live_tokens, 1);
    assert!(!previous.live_tokens_overflowed);
    assert_eq!(previous.latest_exp, Some(exp));
    assert_eq!(previous.last_used, Some(NOW));

    // Past min_age and quiet, but not exp + leeway. The layer still
    // accepts the token through exp + leeway, so it is live through that
    // second...
    for now in [NOW + MIN_AGE, exp + LEEWAY] {
        env.set(now);
        assert_blockers(
            &env,
            &[(
                BlockerKind::LiveTokens,
                exp + LEEWAY + 1,
                "1 previous-key token(s) not expired yet",
            )],
        );
        assert_not_eligible(&env).await;
    }
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 1);

    // ...and not a second longer.
    env.set(exp + LEEWAY + 1);
    assert_blockers(&env, &[]);
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 0);
    assert_eq!(
        env.ring.retire(RetireRequest::previous()).await,
        Ok(OLD_KID.to_owned())
    );
}

#[tokio::test]
async fn all_three_blockers_at_once_in_policy_order() {
    let env = Env::new(policy());
    env.set(NOW + 5);
    env.accepted(&old_token(NOW + 100), "previous", OLD_KID)
        .await;
    env.set(NOW + 10);
    assert_blockers(
        &env,
        &[
            (
                BlockerKind::MinAge,
                NOW + MIN_AGE,
                "previous for 10s of the 3600s min_age",
            ),
            (
                BlockerKind::Quiet,
                NOW + 5 + QUIET,
                "last used 5s ago; quiet needs 600s",
            ),
            (
                BlockerKind::LiveTokens,
                NOW + 100 + LEEWAY + 1,
                "1 previous-key token(s) not expired yet",
            ),
        ],
    );
    assert_not_eligible(&env).await;
}

// ---------------------------------------------------------------------------
// Auto retirement
// ---------------------------------------------------------------------------

#[tokio::test]
async fn auto_retirement_fires_exactly_once_when_live_tokens_reach_zero() {
    let env = Env::new(policy());
    let used_at = NOW + 100;
    let exp = NOW + 5000;
    let token = old_token(exp);
    env.set(used_at);
    env.accepted(&token, "previous", OLD_KID).await;
    let first_eligible = exp + LEEWAY + 1;
    assert!(first_eligible > NOW + MIN_AGE && first_eligible > used_at + QUIET);

    let mut retired_at = None;
    for now in used_at..=first_eligible + 100 {
        env.set(now);
        let blocked = env
            .ring
            .status()
            .previous
            .map(|previous| !previous.eligibility.eligible);
        let result = env.ring.check_retirement().await;
        match (now.cmp(&first_eligible), result) {
            (std::cmp::Ordering::Less, None) => {
                assert_eq!(blocked, Some(true), "at {now}");
                // The live gauge is refreshed by every check.
                assert_eq!(env.gauge(LIVE_GAUGE), 1.0, "at {now}");
            }
            (std::cmp::Ordering::Equal, Some(kid)) => {
                assert_eq!(blocked, Some(false), "at {now}");
                assert_eq!(kid, OLD_KID);
                retired_at = Some(now);
            }
            (std::cmp::Ordering::Greater, None) => assert_eq!(blocked, None, "at {now}"),
            (_, result) => {
                panic!("check_retirement at {now} (first eligible {first_eligible}): {result:?}")
            }
        }
    }
    assert_eq!(retired_at, Some(first_eligible));
    assert_eq!(env.retirements("auto"), 1.0);
    assert_eq!(env.retirements("admin"), 0.0);
    assert_eq!(env.retirements("source"), 0.0);
    assert_eq!(env.ring.status().retired, [OLD_KID]);
    assert_eq!(env.gauge(LIVE_GAUGE), 0.0);

    // A late token signed by the old key is refused as retired.
    assert_eq!(env.rejections("retired_key"), 0.0);
    env.retired(&old_token(env.now() + 3600)).await;
    assert_eq!(env.rejections("retired_key"), 1.0);
}

#[tokio::test]
async fn a_new_use_pushes_auto_retirement_back() {
    let env = Env::new(policy());
    let first = NOW + MIN_AGE - 1;
    env.set(first);
    env.accepted(&old_token(first + 10), "previous", OLD_KID)
        .await;
    env.set(NOW + MIN_AGE);
    assert_eq!(env.ring.check_retirement().await, None);
    // Used again (another token) one second before quiet would clear.
    let second = first + QUIET - 1;
    env.set(second);
    env.accepted(&old_token(second + 10), "previous", OLD_KID)
        .await;
    env.set(first + QUIET);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(
        blockers(&env.ring.status()),
        [
            (BlockerKind::Quiet, second + QUIET),
            (BlockerKind::LiveTokens, second + 10 + LEEWAY + 1),
        ]
    );
    env.set(second + QUIET - 1);
    assert_eq!(env.ring.check_retirement().await, None);
    env.set(second + QUIET);
    assert_eq!(env.ring.check_retirement().await.as_deref(), Some(OLD_KID));
    assert_eq!(env.retirements("auto"), 1.0);
}

/// Yields (with 1 ms timer waits, the timer's resolution) until `done`
/// holds, for at most 5 s of real time. Never waits for a policy period:
/// only for a tick that is due already.
async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..5000 {
        if done() {
            return true;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    done()
}

/// Waits about 20 ms: several times what a due tick takes to run.
async fn let_due_ticks_run() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The auto-retire interval's first tick is due at once, so a task spawned
/// on an eligible ring retires without any policy time passing.
///
/// The brief asked for `#[tokio::test(start_paused = true)]` and
/// `tokio::time::advance`: see `paused_spawned_task_retires_once_and_stops_on_drop`
/// for the ticks after the first.
#[tokio::test]
async fn spawned_task_retires_an_eligible_key_once() {
    let env = Env::new(policy());
    env.set(NOW + MIN_AGE);
    assert!(env.ring.status().previous.unwrap().eligibility.eligible);
    let task = env.ring.spawn_auto_retire();
    assert!(
        wait_until(|| env.ring.previous_kid().is_none()).await,
        "the task did not retire the eligible key"
    );
    let_due_ticks_run().await;
    assert_eq!(env.retirements("auto"), 1.0);
    assert_eq!(env.retirements("admin"), 0.0);
    assert_eq!(env.ring.status().retired, [OLD_KID]);
    drop(task);
}

#[tokio::test]
async fn spawned_task_waits_for_eligibility() {
    let env = Env::new(policy());
    env.accepted(&old_token(NOW + 100), "previous", OLD_KID)
        .await;
    assert_eq!(env.gauge(LIVE_GAUGE), 1.0);
    env.set(NOW + 100 + LEEWAY + 1);
    // The gauge is computed at scrape time: no lag behind expiry.
    assert_eq!(env.gauge(LIVE_GAUGE), 0.0);
    let task = env.ring.spawn_auto_retire();
    let_due_ticks_run().await;
    // min_age still blocks: the first check ran and did not retire.
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.retirements("auto"), 0.0);
    task.stop();
}

#[tokio::test]
async fn dropping_the_task_handle_stops_it() {
    let env = Env::new(policy());
    env.set(NOW + MIN_AGE);
    assert!(env.ring.status().previous.unwrap().eligibility.eligible);
    // Dropped before its first tick could run: it never runs, although
    // that tick would be due at once.
    drop(env.ring.spawn_auto_retire());
    let_due_ticks_run().await;
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.retirements("auto"), 0.0);

    // `stop` is the same as dropping.
    env.ring.spawn_auto_retire().stop();
    let_due_ticks_run().await;
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.retirements("auto"), 0.0);

    // The key was eligible all along: a check does retire it.
    assert_eq!(env.ring.check_retirement().await.as_deref(), Some(OLD_KID));
    assert_eq!(env.retirements("auto"), 1.0);
}

#[tokio::test]
async fn with_auto_off_checks_never_retire() {
    let env = Env::new(policy().with_auto(false));
    assert!(!env.ring.status().policy.auto);
    env.accepted(&old_token(NOW + 100), "previous", OLD_KID)
        .await;
    env.accepted(&old_token(NOW + 200), "previous", OLD_KID)
        .await;
    assert_eq!(env.gauge(LIVE_GAUGE), 2.0);

    env.set(NOW + 100 + LEEWAY + 1);
    // Computed at scrape time: one token expired, no check needed.
    assert_eq!(env.gauge(LIVE_GAUGE), 1.0);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(env.gauge(LIVE_GAUGE), 1.0);

    for now in [NOW + MIN_AGE, NOW + MIN_AGE + 1, NOW + 10 * MIN_AGE] {
        env.set(now);
        assert!(env.ring.status().previous.unwrap().eligibility.eligible);
        assert_eq!(env.ring.check_retirement().await, None, "at {now}");
        assert_eq!(env.gauge(LIVE_GAUGE), 0.0);
        assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    }
    assert_eq!(env.retirements("auto"), 0.0);
    // An operator can still retire it.
    assert_eq!(
        env.ring.retire(RetireRequest::previous()).await,
        Ok(OLD_KID.to_owned())
    );
}

// ---------------------------------------------------------------------------
// Forced and checked retirement
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forced_retirement_ignores_the_blockers() {
    let env = Env::new(policy());
    env.accepted(&old_token(NOW + 7200), "previous", OLD_KID)
        .await;
    assert_eq!(blockers(&env.ring.status()).len(), 3);
    assert_not_eligible(&env).await;
    assert_eq!(
        env.ring.retire(RetireRequest::previous().force()).await,
        Ok(OLD_KID.to_owned())
    );
    assert_eq!(env.retirements("admin"), 1.0);
    assert_eq!(env.retirements("auto"), 0.0);
    let status = env.ring.status();
    assert!(status.previous.is_none());
    assert_eq!(status.retired, [OLD_KID]);
    env.retired(&old_token(NOW + 7200)).await;
    // Nothing left to retire.
    assert_eq!(
        env.ring.retire(RetireRequest::previous().force()).await,
        Err(RetireError::NoPrevious)
    );
    assert_eq!(
        env.ring
            .retire(RetireRequest::previous().force())
            .await
            .ok(),
        None
    );
    assert_eq!(env.retirements("admin"), 1.0);
}

#[tokio::test]
async fn a_kid_mismatch_is_refused_even_when_forced() {
    let env = Env::new(policy());
    env.set(NOW + MIN_AGE);
    let mismatch = Err(RetireError::KidMismatch {
        requested: "other".to_owned(),
        previous: OLD_KID.to_owned(),
    });
    assert_eq!(
        env.ring.retire(RetireRequest::kid("other").force()).await,
        mismatch
    );
    assert_eq!(env.ring.retire(RetireRequest::kid("other")).await, mismatch);
    // The current key's kid is not the previous key either.
    assert!(matches!(
        env.ring.retire(RetireRequest::kid(NEW_KID).force()).await,
        Err(RetireError::KidMismatch { .. })
    ));
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.ring.current_kid(), NEW_KID);
    assert!(env.ring.status().retired.is_empty());
    assert_eq!(env.retirements("admin"), 0.0);

    assert_eq!(
        env.ring.retire(RetireRequest::kid(OLD_KID)).await,
        Ok(OLD_KID.to_owned())
    );
    // With no previous key, a named kid gets NoPrevious.
    assert_eq!(
        env.ring.retire(RetireRequest::kid(OLD_KID).force()).await,
        Err(RetireError::NoPrevious)
    );
}

// ---------------------------------------------------------------------------
// Rollback and tombstones
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_retired_key_can_come_back_as_current() {
    let env = Env::new(policy());
    let old = old_token(NOW + 7200);
    let new = mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW + 7200}));
    assert_eq!(
        env.ring
            .retire(RetireRequest::previous().force())
            .await
            .ok()
            .as_deref(),
        Some(OLD_KID)
    );
    assert_eq!(env.ring.status().retired, [OLD_KID]);
    env.retired(&old).await;

    // Rollback: the retired key becomes current again.
    env.set(NOW + 50);
    env.ring.rotate(hmac(OLD_KID, OLD_SECRET)).unwrap();
    let status = env.ring.status();
    assert_eq!(status.current.kid, OLD_KID);
    assert_eq!(status.current.since, NOW + 50);
    let previous = status.previous.as_ref().unwrap();
    assert_eq!(previous.key.kid, NEW_KID);
    assert_eq!(previous.key.since, NOW + 50);
    assert!(
        status.retired.is_empty(),
        "the tombstone stays: {:?}",
        status.retired
    );
    env.accepted(&old, "current", OLD_KID).await;
    env.accepted(&new, "previous", NEW_KID).await;
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", OLD_KID), info("previous", NEW_KID)])
    );
    assert_eq!(env.metric("jwt_key_rotations_total", &[]), 1.0);
    assert_eq!(env.retirements("source"), 0.0);
    assert_eq!(env.retirements("admin"), 1.0);
}

/// `rotate(X)` makes X current and puts the *old current* into previous:
/// a retired kid is never what lands in previous.
#[tokio::test]
async fn a_retired_kid_never_comes_back_as_previous() {
    let env = Env::new(policy());
    let old = old_token(NOW + 7200);
    env.ring
        .retire(RetireRequest::previous().force())
        .await
        .ok()
        .unwrap();

    env.ring.rotate(hmac(NEWER_KID, NEWER_SECRET)).unwrap();
    let status = env.ring.status();
    assert_eq!(status.current.kid, NEWER_KID);
    assert_eq!(status.previous.as_ref().unwrap().key.kid, NEW_KID);
    assert_eq!(status.retired, [OLD_KID]);
    assert_eq!(env.retirements("source"), 0.0, "nothing was pushed out");
    env.retired(&old).await;
    env.accepted(
        &mint(NEW_SECRET, Some(NEW_KID), &json!({"exp": NOW + 7200})),
        "previous",
        NEW_KID,
    )
    .await;

    // Another rotation pushes kid-new out: it joins the tombstones, and
    // kid-old is still not back.
    env.ring
        .rotate(hmac("kid-newest", b"newest-secret-newest-secret-newest!"))
        .unwrap();
    let status = env.ring.status();
    assert_eq!(status.previous.as_ref().unwrap().key.kid, NEWER_KID);
    assert_eq!(status.retired, [OLD_KID, NEW_KID]);
    assert_eq!(env.retirements("source"), 1.0);
    env.retired(&old).await;
    env.retired(&mint(
        NEW_SECRET,
        Some(NEW_KID),
        &json!({"exp": NOW + 7200}),
    ))
    .await;
    // A kid-less old token finds no key at all.
    let reply = send(
        &env.app,
        bearer(&mint(OLD_SECRET, None, &json!({"exp": NOW + 7200}))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------
// The live-token tracker
// ---------------------------------------------------------------------------

#[tokio::test]
async fn at_capacity_the_latest_untracked_exp_still_blocks() {
    let env = Env::new(policy().with_tracker_capacity(3));
    // Five distinct tokens, latest exp last: the last two go untracked.
    let exps = [1000, 2000, 3000, 4000, 5000].map(|offset| NOW + offset);
    for exp in exps {
        env.accepted(&old_token(exp), "previous", OLD_KID).await;
    }
    let previous = env.ring.status().previous.unwrap();
    assert!(previous.live_tokens_overflowed);
    assert_eq!(previous.live_tokens, 4, "three tracked, the rest as one");
    assert_eq!(previous.latest_exp, Some(NOW + 5000));

    // Every tracked token has expired; the untracked ones still count.
    env.set(NOW + 3000 + LEEWAY + 1);
    assert_eq!(env.ring.check_retirement().await, None);
    let previous = env.ring.status().previous.unwrap();
    assert_eq!(previous.live_tokens, 1);
    assert!(previous.live_tokens_overflowed);
    assert_eq!(env.gauge(LIVE_GAUGE), 1.0);

    env.set(NOW + MIN_AGE);
    assert_blockers(
        &env,
        &[(
            BlockerKind::LiveTokens,
            NOW + 5000 + LEEWAY + 1,
            "at least 1 previous-key token(s) not expired yet",
        )],
    );
    env.set(NOW + 5000 + LEEWAY);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(
        blockers(&env.ring.status()),
        [(BlockerKind::LiveTokens, NOW + 5000 + LEEWAY + 1)]
    );

    env.set(NOW + 5000 + LEEWAY + 1);
    let previous = env.ring.status().previous.unwrap();
    assert_eq!(previous.live_tokens, 0);
    assert!(
        previous.live_tokens_overflowed,
        "the overflow stays reported"
    );
    assert!(previous.eligibility.eligible);
    assert_eq!(env.ring.check_retirement().await.as_deref(), Some(OLD_KID));
}

#[tokio::test]
async fn repeated_uses_of_one_token_count_once() {
    let env = Env::new(policy());
    let token = old_token(NOW + 500);
    for _ in 0..10 {
        env.accepted(&token, "previous", OLD_KID).await;
    }
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 1);
    assert_eq!(env.gauge(LIVE_GAUGE), 1.0);
    assert_eq!(env.ring.status().previous.unwrap().key.verified, 10);
    // The same claims under another header (no kid) are another token.
    env.accepted(
        &mint(OLD_SECRET, None, &json!({"sub": "alice", "exp": NOW + 500})),
        "previous",
        OLD_KID,
    )
    .await;
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 2);
    assert_eq!(env.gauge(LIVE_GAUGE), 2.0);
}

#[tokio::test]
async fn tokens_without_exp_are_live_until_quiet_has_passed_since_their_last_use() {
    let env = Env::with_layer(policy(), |layer| layer.with_exp_required(false));
    let start = NOW + MIN_AGE;
    env.set(start);
    let alice = mint(OLD_SECRET, Some(OLD_KID), &json!({"sub": "alice"}));
    let bob = mint(OLD_SECRET, Some(OLD_KID), &json!({"sub": "bob"}));
    env.accepted(&alice, "previous", OLD_KID).await;
    let previous = env.ring.status().previous.unwrap();
    assert_eq!(previous.live_tokens, 1);
    assert_eq!(previous.latest_exp, None);
    assert_eq!(env.gauge(EXPIRE_GAUGE), 0.0);
    assert_eq!(
        blockers(&env.ring.status()),
        [
            (BlockerKind::Quiet, start + QUIET),
            (BlockerKind::LiveTokens, start + QUIET + 1),
        ]
    );

    // Bob later; alice again even later: each use extends that token.
    env.set(start + 100);
    env.accepted(&bob, "previous", OLD_KID).await;
    env.set(start + 300);
    env.accepted(&alice, "previous", OLD_KID).await;
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 2);

    // Bob's token has stopped being live, alice's has not.
    env.set(start + 100 + QUIET + 1);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 1);
    assert_eq!(env.gauge(LIVE_GAUGE), 1.0);

    // Alice's token lives through last use + quiet (the same
    // "through its last second" rule as exp + leeway), so retirement waits
    // one second more than quiet alone.
    env.set(start + 300 + QUIET);
    assert_blockers(
        &env,
        &[(
            BlockerKind::LiveTokens,
            start + 300 + QUIET + 1,
            "1 previous-key token(s) not expired yet",
        )],
    );
    assert_eq!(env.ring.check_retirement().await, None);
    env.set(start + 300 + QUIET + 1);
    assert_eq!(env.ring.status().previous.unwrap().live_tokens, 0);
    assert_eq!(env.ring.check_retirement().await.as_deref(), Some(OLD_KID));
}

#[tokio::test]
async fn current_key_traffic_never_touches_the_tracker() {
    let env = Env::new(policy());
    for i in 0..100 {
        let claims = json!({"sub": format!("user-{i}"), "exp": NOW + 3600});
        // With kid, and without (current is tried first).
        let kid = if i % 2 == 0 { Some(NEW_KID) } else { None };
        env.accepted(&mint(NEW_SECRET, kid, &claims), "current", NEW_KID)
            .await;
    }
    let status = env.ring.status();
    assert_eq!(status.current.verified, 100);
    let previous = status.previous.unwrap();
    assert_eq!(previous.key.verified, 0);
    assert_eq!(previous.live_tokens, 0);
    assert_eq!(previous.last_used, None);
    assert_eq!(previous.latest_exp, None);
    assert!(!previous.live_tokens_overflowed);
    assert_eq!(env.ring.check_retirement().await, None);
    for gauge in [LIVE_GAUGE, LAST_USED_GAUGE, EXPIRE_GAUGE] {
        assert_eq!(env.gauge(gauge), 0.0, "{gauge}");
    }
    // Only min_age blocks: the traffic did not count as previous-key use.
    assert_eq!(
        blockers(&env.ring.status()),
        [(BlockerKind::MinAge, NOW + MIN_AGE)]
    );
}

// ---------------------------------------------------------------------------
// Metrics through a full rotation story
// ---------------------------------------------------------------------------

#[tokio::test]
async fn metrics_through_a_full_rotation_story() {
    let (k1, k2, k3, k4) = (
        ("k1", b"k1-secret-k1-secret-k1-secret-k1!!".as_slice()),
        ("k2", b"k2-secret-k2-secret-k2-secret-k2!!".as_slice()),
        ("k3", b"k3-secret-k3-secret-k3-secret-k3!!".as_slice()),
        ("k4", b"k4-secret-k4-secret-k4-secret-k4!!".as_slice()),
    );
    let token = |(kid, secret): (&str, &[u8]), sub: &str, exp: u64| {
        mint(secret, Some(kid), &json!({"sub": sub, "exp": exp}))
    };
    let env = Env::from_keys(
        KeySet::new(hmac(k1.0, k1.1), None).unwrap(),
        policy(),
        |layer| layer,
    );
    let rotations = || env.metric("jwt_key_rotations_total", &[]);
    let retirements = || ["auto", "admin", "source"].map(|trigger| env.retirements(trigger));
    let gauges = || [LAST_USED_GAUGE, EXPIRE_GAUGE, LIVE_GAUGE].map(|name| env.gauge(name));
    let verifications = |entries: &[(&str, &str, f64)]| -> BTreeMap<(String, String), f64> {
        entries
            .iter()
            .map(|(slot, kid, value)| (slot_kid(slot, kid), *value))
            .collect()
    };

    // 0. One key.
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", "k1")])
    );
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k1", 0.0)])
    );
    assert_eq!(rotations(), 0.0);
    assert_eq!(retirements(), [0.0; 3]);
    assert_eq!(gauges(), [0.0; 3]);
    assert_eq!(env.ring.check_retirement().await, None, "no previous key");

    // 1. Traffic on it.
    env.accepted(&token(k1, "a", NOW + 3600), "current", "k1")
        .await;
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k1", 1.0)])
    );
    assert_eq!(gauges(), [0.0; 3]);

    // 2. Rotate to k2: k1 becomes previous with fresh usage.
    env.set(NOW + 10);
    env.ring.rotate(hmac(k2.0, k2.1)).unwrap();
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", "k2"), info("previous", "k1")])
    );
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k2", 0.0), ("previous", "k1", 0.0)])
    );
    assert_eq!(rotations(), 1.0);
    assert_eq!(retirements(), [0.0; 3]);
    assert_eq!(gauges(), [0.0; 3]);

    // 3. Old tokens keep coming for a while, new ones too.
    env.set(NOW + 20);
    let early = token(k1, "a", NOW + 1000);
    env.accepted(&early, "previous", "k1").await;
    assert_eq!(gauges(), [(NOW + 20) as f64, (NOW + 1000) as f64, 1.0]);
    env.set(NOW + 30);
    env.accepted(&early, "previous", "k1").await;
    assert_eq!(gauges(), [(NOW + 30) as f64, (NOW + 1000) as f64, 1.0]);
    let late = token(k1, "b", NOW + 2000);
    env.accepted(&late, "previous", "k1").await;
    assert_eq!(gauges(), [(NOW + 30) as f64, (NOW + 2000) as f64, 2.0]);
    env.accepted(&token(k2, "a", NOW + 3600), "current", "k2")
        .await;
    assert_eq!(gauges(), [(NOW + 30) as f64, (NOW + 2000) as f64, 2.0]);
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k2", 1.0), ("previous", "k1", 3.0)])
    );

    // 4. The early token expires: the next check brings the gauge down.
    env.set(NOW + 1000 + LEEWAY + 1);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(gauges(), [(NOW + 30) as f64, (NOW + 2000) as f64, 1.0]);

    // 5. Every token expired and quiet passed, but k1 has been previous
    // for less than min_age; then everything is clear: auto retirement.
    env.set(NOW + 2000 + LEEWAY + 1);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(gauges(), [(NOW + 30) as f64, (NOW + 2000) as f64, 0.0]);
    assert_eq!(
        blockers(&env.ring.status()),
        [(BlockerKind::MinAge, NOW + 10 + MIN_AGE)]
    );
    env.set(NOW + 10 + MIN_AGE);
    assert_eq!(env.ring.check_retirement().await.as_deref(), Some("k1"));
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", "k2")])
    );
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k2", 1.0)])
    );
    assert_eq!(retirements(), [1.0, 0.0, 0.0]);
    assert_eq!(rotations(), 1.0);
    assert_eq!(gauges(), [0.0; 3]);

    // 6. A straggler gets retired_key; nothing else moves.
    env.retired(&token(k1, "c", NOW + 9000)).await;
    assert_eq!(gauges(), [0.0; 3]);
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k2", 1.0)])
    );

    // 7. Rotate to k3: nothing to push out.
    env.ring.rotate(hmac(k3.0, k3.1)).unwrap();
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", "k3"), info("previous", "k2")])
    );
    assert_eq!(rotations(), 2.0);
    assert_eq!(retirements(), [1.0, 0.0, 0.0]);

    // 8. Rotate to k4 before k2 was retired: k2 is pushed out (source).
    env.accepted(&token(k2, "d", env.now() + 100), "previous", "k2")
        .await;
    assert_eq!(gauges()[2], 1.0);
    env.ring.rotate(hmac(k4.0, k4.1)).unwrap();
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", "k4"), info("previous", "k3")])
    );
    assert_eq!(
        env.verifications(),
        verifications(&[("current", "k4", 0.0), ("previous", "k3", 0.0)])
    );
    assert_eq!(rotations(), 3.0);
    assert_eq!(retirements(), [1.0, 0.0, 1.0]);
    assert_eq!(gauges(), [0.0; 3], "k3 starts with fresh usage");

    // 9. An operator retires k3.
    assert_eq!(
        env.ring
            .retire(RetireRequest::previous().force())
            .await
            .ok()
            .as_deref(),
        Some("k3")
    );
    assert_eq!(
        key_info(&env.registry),
        BTreeSet::from([info("current", "k4")])
    );
    assert_eq!(retirements(), [1.0, 1.0, 1.0]);
    assert_eq!(rotations(), 3.0);
    assert_eq!(env.ring.status().retired, ["k1", "k2", "k3"]);
}

// ---------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_forced_retirements_retire_once() {
    for round in 0..200 {
        let env = Env::new(policy());
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let ring = env.ring.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    block_on(ring.retire(RetireRequest::previous().force()))
                })
            })
            .collect();
        let mut results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        results.sort_by_key(Result::is_err);
        assert_eq!(
            results,
            [Ok(OLD_KID.to_owned()), Err(RetireError::NoPrevious)],
            "round {round}"
        );
        assert_eq!(env.retirements("admin"), 1.0, "round {round}");
        assert_eq!(env.ring.status().retired, [OLD_KID], "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verifications_racing_a_retirement_see_the_key_or_its_tombstone() {
    const TASKS: usize = 8;
    const BEFORE: u64 = 200;
    const AFTER: usize = 20;
    let env = Env::new(policy());
    let done = Arc::new(AtomicU64::new(0));
    let retired = Arc::new(AtomicBool::new(false));

    // The retirer is an OS thread of its own, so that it runs while the
    // client tasks are mid-request.
    let retirer = {
        let ring = env.ring.clone();
        let (done, retired) = (done.clone(), retired.clone());
        std::thread::spawn(move || {
            while done.load(Ordering::SeqCst) < BEFORE {
                std::thread::yield_now();
            }
            let kid = block_on(ring.retire(RetireRequest::previous().force()));
            retired.store(true, Ordering::SeqCst);
            kid
        })
    };

    let clients: Vec<_> = (0..TASKS)
        .map(|task| {
            let app = env.app.clone();
            let (done, retired) = (done.clone(), retired.clone());
            tokio::spawn(async move {
                let (mut ok, mut refused, mut after) = (0_usize, 0_usize, 0_usize);
                let mut i = 0_u64;
                while after < AFTER {
                    let started_after_retirement = retired.load(Ordering::SeqCst);
                    let token = mint(
                        OLD_SECRET,
                        Some(OLD_KID),
                        &json!({"sub": format!("{task}-{i}"), "exp": NOW + 3600}),
                    );
                    let reply = send(&app, bearer(&token)).await;
                    match reply.status {
                        StatusCode::OK => {
                            assert!(
                                !started_after_retirement,
                                "task {task} request {i}: accepted after the retirement"
                            );
                            assert_eq!(refused, 0, "task {task} request {i}: 200 after a 401");
                            let body: Value = serde_json::from_slice(&reply.body).unwrap();
                            assert_eq!(body, json!({"kid": OLD_KID, "slot": "previous"}));
                            ok += 1;
                        }
                        StatusCode::UNAUTHORIZED => {
                            assert_eq!(
                                reply.headers[WWW_AUTHENTICATE], RETIRED_KEY_CHALLENGE,
                                "task {task} request {i}"
                            );
                            refused += 1;
                        }
                        other => panic!("task {task} request {i}: {other}"),
                    }
                    if started_after_retirement {
                        after += 1;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                    tokio::task::yield_now().await;
                }
                (ok, refused)
            })
        })
        .collect();

    let (mut ok, mut refused) = (0, 0);
    for client in clients {
        let (o, r) = client.await.expect("client task");
        ok += o;
        refused += r;
    }
    assert_eq!(retirer.join().unwrap(), Ok(OLD_KID.to_owned()));
    eprintln!("{ok} accepted by the previous key, {refused} refused as retired_key");
    assert!(ok as u64 >= BEFORE);
    assert!(refused >= TASKS * AFTER);
    assert_eq!(env.rejections("retired_key"), refused as f64);
    for reason in ["unknown_kid", "bad_signature", "malformed", "expired"] {
        assert_eq!(env.rejections(reason), 0.0, "{reason}");
    }
    // Afterwards, every old token is refused as retired.
    env.retired(&old_token(NOW + 3600)).await;
    assert_eq!(env.retirements("admin"), 1.0);
}

// ---------------------------------------------------------------------------
// Regressions: metrics that once disagreed with the ring
// ---------------------------------------------------------------------------

/// The live-token gauge once went up by one per newly *tracked* token while
/// the status counted the untracked overflow tokens as one more; the gauges
/// are now computed from the ring at scrape time, so they must agree.
#[tokio::test]
async fn live_gauge_agrees_with_the_status_when_the_tracker_overflows() {
    let env = Env::new(policy().with_tracker_capacity(3));
    for offset in [1000, 2000, 3000, 4000, 5000] {
        env.accepted(&old_token(NOW + offset), "previous", OLD_KID)
            .await;
    }
    let status_count = env.ring.status().previous.unwrap().live_tokens;
    assert_eq!(status_count, 4);
    let gauge_before_check = env.gauge(LIVE_GAUGE);
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(env.gauge(LIVE_GAUGE), 4.0, "after a check");
    assert_eq!(
        gauge_before_check, 4.0,
        "jwt_previous_key_live_tokens before any check (status says {status_count})"
    );
}

/// A previous-key verification that loaded the snapshot before a retirement
/// once wrote the previous-key gauges after the retirement reset them, so
/// they stayed non-zero with no previous key. They must read zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn previous_key_gauges_read_zero_after_a_retirement_under_load() {
    const ROUNDS: usize = 50;
    let mut stale = Vec::new();
    for round in 0..ROUNDS {
        let env = Env::new(policy());
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let retirer = {
            let ring = env.ring.clone();
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || {
                while done.load(Ordering::SeqCst) < 50 {
                    std::thread::yield_now();
                }
                let kid = block_on(ring.retire(RetireRequest::previous().force()));
                while done.load(Ordering::SeqCst) < 150 {
                    std::thread::yield_now();
                }
                stop.store(true, Ordering::SeqCst);
                kid
            })
        };
        let clients: Vec<_> = (0..8)
            .map(|task| {
                let app = env.app.clone();
                let (done, stop) = (done.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let token = mint(
                            OLD_SECRET,
                            Some(OLD_KID),
                            &json!({"sub": format!("{task}-{i}"), "exp": NOW + 3600}),
                        );
                        send(&app, bearer(&token)).await;
                        done.fetch_add(1, Ordering::SeqCst);
                        i += 1;
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        assert_eq!(retirer.join().unwrap(), Ok(OLD_KID.to_owned()));
        assert!(env.ring.status().previous.is_none());
        // A later auto-retire round does not repair them either.
        assert_eq!(env.ring.check_retirement().await, None);
        let gauges = [LIVE_GAUGE, LAST_USED_GAUGE, EXPIRE_GAUGE].map(|name| env.gauge(name));
        if gauges != [0.0; 3] {
            stale.push((round, gauges));
        }
    }
    assert!(
        stale.is_empty(),
        "{} of {ROUNDS} rounds left [live, last_used, expire] gauges non-zero with no \
         previous key: {stale:?}",
        stale.len()
    );
}

#[tokio::test(start_paused = true)]
async fn paused_spawned_task_retires_once_and_stops_on_drop() {
    let interval = Duration::from_secs(CHECK_INTERVAL);
    let env = Env::new(policy());
    env.set(NOW + MIN_AGE);
    let task = env.ring.spawn_auto_retire();
    for _ in 0..3 {
        tokio::time::advance(interval).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(env.ring.previous_kid(), None);
    assert_eq!(env.retirements("auto"), 1.0);

    // Ticks keep coming and find nothing to do until a new previous key is eligible.
    env.ring.rotate(hmac(NEWER_KID, NEWER_SECRET)).unwrap();
    for _ in 0..3 {
        tokio::time::advance(interval).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(
        env.ring.previous_kid().as_deref(),
        Some(NEW_KID),
        "min_age blocks"
    );
    env.clock.advance(MIN_AGE);
    tokio::time::advance(interval).await;
    tokio::task::yield_now().await;
    assert_eq!(env.ring.previous_kid(), None, "a later tick retires it");
    assert_eq!(env.retirements("auto"), 2.0);

    // Dropped: an eligible previous key stays however long time runs.
    drop(task);
    env.ring
        .rotate(hmac("kid-newest", b"newest-secret-newest-secret-newest!"))
        .unwrap();
    env.clock.advance(MIN_AGE);
    assert!(env.ring.status().previous.unwrap().eligibility.eligible);
    for _ in 0..5 {
        tokio::time::advance(interval).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(env.ring.previous_kid().as_deref(), Some(NEWER_KID));
    assert_eq!(env.retirements("auto"), 2.0);
}

/// `retired_key` means "retired while clients still use it": an expired
/// token of a retired key is `expired`, so the page-worthy alert on
/// `retired_key` does not fire for clients retrying stale tokens.
#[tokio::test]
async fn an_expired_token_of_a_retired_key_is_expired_not_retired_key() {
    let env = Env::new(policy());
    env.ring
        .retire(RetireRequest::previous().force())
        .await
        .ok()
        .unwrap();
    env.retired(&old_token(NOW + 3600)).await;

    let expired_before = env.rejections("expired");
    let retired_before = env.rejections("retired_key");
    let reply = send(&env.app, bearer(&old_token(NOW - LEEWAY - 1))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let challenge = reply.headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("error_description=\"expired:"),
        "{challenge}"
    );
    assert_eq!(env.rejections("expired"), expired_before + 1.0);
    assert_eq!(env.rejections("retired_key"), retired_before);
    // Within the leeway it still names the retirement.
    env.retired(&old_token(NOW - LEEWAY)).await;
}
