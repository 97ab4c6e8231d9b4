//! The ring with a fleet gate, against a scripted gate (no Prometheus):
//! what auto retirement, the admin retire and the status do with each
//! answer, the error counter, the re-check under the writer lock, and the
//! bound on a gate that never answers.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jwt_rollover::fleet::{
    FleetGate, FleetView, GateError, GateErrorReason, GateFuture, RetireQuestion,
};
use jwt_rollover::status::{Blocker, BlockerKind};
use jwt_rollover::{KeyRing, Metrics, RetireError, RetireRequest};
use prometheus::Registry;

use common::{MIN_AGE, NEW_KID, NOW, OLD_KID, QUIET, hmac, metric_value, new_and_old_keys, policy};

/// What the scripted gate answers next.
#[derive(Debug, Clone)]
enum Answer {
    Open,
    Blocked(BlockerKind),
    Fails(GateErrorReason),
    Never,
}

#[derive(Debug)]
struct Scripted {
    answer: Mutex<Answer>,
    asked: AtomicUsize,
    /// Rotates this ring while answering, to race the retirement.
    rotate_while_answering: Mutex<Option<KeyRing>>,
}

impl Scripted {
    fn new(answer: Answer) -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(answer),
            asked: AtomicUsize::new(0),
            rotate_while_answering: Mutex::new(None),
        })
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }

    async fn answer(&self, kid: &str) -> Result<FleetView, GateError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if let Some(ring) = self.rotate_while_answering.lock().unwrap().take() {
            ring.rotate(hmac("kid-newer", b"newer-secret-newer-secret-newer-!!"))
                .unwrap();
        }
        let answer = self.answer.lock().unwrap().clone();
        match answer {
            Answer::Open => Ok(FleetView::single(kid)),
            Answer::Blocked(kind) => {
                let mut view = FleetView::single(kid);
                let mut blocker = Blocker::fleet(kind, "scripted");
                blocker.query = Some("up{job=\"t\"}".into());
                blocker.value = Some("0".into());
                view.blockers.push(blocker);
                Ok(view)
            }
            Answer::Fails(reason) => Err(GateError::new(reason, "scripted failure")),
            Answer::Never => std::future::pending().await,
        }
    }
}

impl FleetGate for Scripted {
    fn may_retire<'a>(
        &'a self,
        question: &'a RetireQuestion,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        Box::pin(self.answer(&question.current_kid))
    }

    fn loaded_everywhere<'a>(
        &'a self,
        kid: &'a str,
        _metrics_prefix: &'a str,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        Box::pin(self.answer(kid))
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

struct Env {
    registry: Registry,
    clock: jwt_rollover::ManualClock,
    ring: KeyRing,
    gate: Arc<Scripted>,
}

impl Env {
    fn new(answer: Answer) -> Self {
        let registry = Registry::new();
        let clock = jwt_rollover::ManualClock::new(NOW);
        let gate = Scripted::new(answer);
        let ring = KeyRing::builder(new_and_old_keys(), Metrics::new(&registry).unwrap())
            .with_clock(clock.clone())
            .with_policy(policy())
            .with_fleet_gate(gate.clone())
            .build();
        Self {
            registry,
            clock,
            ring,
            gate,
        }
    }

    /// Past every local blocker (nothing used the previous key).
    fn locally_eligible(self) -> Self {
        self.clock.advance(MIN_AGE.max(QUIET));
        self
    }

    fn blockers(&self) -> Vec<BlockerKind> {
        let status = self.ring.status();
        let previous = status.previous.expect("a previous key");
        previous
            .eligibility
            .blockers
            .iter()
            .map(|b| b.blocker)
            .collect()
    }

    fn gate_errors(&self, reason: &str) -> f64 {
        metric_value(
            &self.registry,
            "jwt_retire_gate_errors_total",
            &[("reason", reason)],
        )
    }
}

#[tokio::test]
async fn before_the_first_check_the_gate_blocks_and_says_so() {
    let env = Env::new(Answer::Open).locally_eligible();
    assert_eq!(env.blockers(), [BlockerKind::FleetUndecided]);
    let fleet = env.ring.status().fleet.expect("a fleet section");
    assert_eq!((fleet.state, fleet.checked_at), ("unchecked", None));
    assert_eq!(env.gate.asked(), 0, "the status never queries the gate");
}

#[tokio::test]
async fn auto_retirement_waits_for_the_gate_then_retires() {
    let env = Env::new(Answer::Blocked(BlockerKind::FleetQuiet)).locally_eligible();
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.blockers(), [BlockerKind::FleetQuiet]);
    let status = env.ring.status();
    let fleet = status.fleet.expect("a fleet section");
    assert_eq!(fleet.state, "closed");
    assert_eq!(fleet.previous_kid.as_deref(), Some(OLD_KID));
    assert!(fleet.loaded_everywhere);
    let blocker = &status.previous.unwrap().eligibility.blockers[0];
    assert_eq!(
        (
            blocker.query.as_deref(),
            blocker.value.as_deref(),
            blocker.clears_at
        ),
        (Some("up{job=\"t\"}"), Some("0"), None)
    );

    env.gate.set(Answer::Open);
    assert_eq!(env.ring.check_retirement().await.as_deref(), Some(OLD_KID));
    assert_eq!(env.ring.previous_kid(), None);
    assert_eq!(env.gate.asked(), 2);
    let auto = metric_value(
        &env.registry,
        "jwt_key_retirements_total",
        &[("trigger", "auto")],
    );
    assert_eq!(auto, 1.0);
}

#[tokio::test]
async fn local_blockers_and_fleet_blockers_show_together() {
    let env = Env::new(Answer::Blocked(BlockerKind::FleetCurrentKid));
    env.ring.check_retirement().await;
    assert_eq!(
        env.blockers(),
        [BlockerKind::MinAge, BlockerKind::FleetCurrentKid]
    );
}

#[tokio::test]
async fn a_gate_that_cannot_decide_blocks_counts_and_shows_why() {
    let env = Env::new(Answer::Fails(GateErrorReason::Unreachable)).locally_eligible();
    for _ in 0..3 {
        assert_eq!(env.ring.check_retirement().await, None);
    }
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
    assert_eq!(env.gate_errors("unreachable"), 3.0);
    assert_eq!(env.gate_errors("timeout"), 0.0);
    assert_eq!(env.blockers(), [BlockerKind::FleetUndecided]);
    let fleet = env.ring.status().fleet.unwrap();
    assert_eq!(fleet.state, "undecided");
    let error = fleet.error.expect("the gate's error");
    assert_eq!(error.reason, GateErrorReason::Unreachable);
    assert_eq!(error.detail, "scripted failure");
}

#[tokio::test]
async fn the_admin_retire_asks_the_gate_afresh_unless_forced() {
    let env = Env::new(Answer::Blocked(BlockerKind::FleetLiveTokens)).locally_eligible();
    let refused = env.ring.retire(RetireRequest::kid(OLD_KID)).await;
    let Err(RetireError::NotEligible(eligibility)) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    let kinds: Vec<_> = eligibility.blockers.iter().map(|b| b.blocker).collect();
    assert_eq!(kinds, [BlockerKind::FleetLiveTokens]);
    assert_eq!(env.gate.asked(), 1);

    env.gate.set(Answer::Open);
    let retired = env.ring.retire(RetireRequest::kid(OLD_KID)).await;
    assert_eq!(retired.as_deref(), Ok(OLD_KID));
    assert_eq!(env.gate.asked(), 2);

    let forced = Env::new(Answer::Fails(GateErrorReason::Timeout));
    let retired = forced
        .ring
        .retire(RetireRequest::kid(OLD_KID).force())
        .await;
    assert_eq!(retired.as_deref(), Ok(OLD_KID));
    assert_eq!(forced.gate.asked(), 0, "a forced retirement asks nobody");
}

#[tokio::test]
async fn a_rotation_while_the_gate_answers_retires_nothing() {
    let env = Env::new(Answer::Open).locally_eligible();
    *env.gate.rotate_while_answering.lock().unwrap() = Some(env.ring.clone());
    assert_eq!(env.ring.check_retirement().await, None);
    // The gate said yes about (kid-new, kid-old); the ring is now
    // (kid-newer, kid-new): that answer is not about these keys.
    assert_eq!(env.ring.current_kid(), "kid-newer");
    assert_eq!(env.ring.previous_kid().as_deref(), Some(NEW_KID));
    assert!(env.blockers().contains(&BlockerKind::FleetUndecided));
}

#[tokio::test(start_paused = true)]
async fn a_gate_that_never_answers_times_out() {
    let env = Env::new(Answer::Never).locally_eligible();
    assert_eq!(env.ring.check_retirement().await, None);
    assert_eq!(env.gate_errors("timeout"), 1.0);
    assert_eq!(env.ring.previous_kid().as_deref(), Some(OLD_KID));
}

#[tokio::test]
async fn loaded_everywhere_asks_the_gate_or_this_replica() {
    let env = Env::new(Answer::Open);
    assert_eq!(env.ring.loaded_everywhere(NEW_KID).await, Ok(true));
    env.gate.set(Answer::Blocked(BlockerKind::FleetCurrentKid));
    assert_eq!(env.ring.loaded_everywhere(NEW_KID).await, Ok(false));
    env.gate.set(Answer::Fails(GateErrorReason::Stale));
    let err = env.ring.loaded_everywhere(NEW_KID).await.unwrap_err();
    assert_eq!(err.reason, GateErrorReason::Stale);
    assert_eq!(env.gate_errors("stale"), 1.0);

    let alone = KeyRing::new(new_and_old_keys(), Metrics::new(&Registry::new()).unwrap());
    assert_eq!(alone.loaded_everywhere(NEW_KID).await, Ok(true));
    assert_eq!(alone.loaded_everywhere(OLD_KID).await, Ok(false));
    assert!(alone.status().fleet.is_none());
}

#[tokio::test]
async fn after_a_rotation_the_new_kid_is_not_loaded_everywhere_until_checked() {
    let env = Env::new(Answer::Open);
    env.ring.check_retirement().await;
    assert!(env.ring.status().fleet.unwrap().loaded_everywhere);
    env.ring
        .rotate(hmac("kid-newer", b"newer-secret-newer-secret-newer-!!"))
        .unwrap();
    let fleet = env.ring.status().fleet.unwrap();
    assert_eq!(
        fleet.current_kid.as_deref(),
        Some(NEW_KID),
        "the last check's kid"
    );
    assert!(
        !fleet.loaded_everywhere,
        "a check about another kid says nothing of kid-newer"
    );
    env.ring.check_retirement().await;
    assert!(env.ring.status().fleet.unwrap().loaded_everywhere);
}
