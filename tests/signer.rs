//! The `Signer` (feature `signer`): which key it signs with across a
//! rotation (the activation delay on a `ManualClock`, the fleet gate), the
//! metric and the status that follow it, the keys it refuses, and the
//! private JWKS of an asymmetric ring with its last-good reloads.
#![cfg(feature = "signer")]

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jwt_rollover::fleet::{FleetGate, FleetView, GateError, GateFuture, RetireQuestion};
use jwt_rollover::status::{BlockerKind, SignerStatus, SignerWait};
use jwt_rollover::{
    Algorithm, JwtLayer, KeyFile, KeyRing, KeySet, ManualClock, Metrics, RetireRequest, SignError,
    Signer, SignerError, SigningKey, Slot, Verifier,
};
use prometheus::Registry;
use serde_json::{Value, json};

use common::process::TempDir;
use common::{NEW_KID, NEW_SECRET, NOW, OLD_KID, OLD_SECRET, hmac, metric, policy};

const DELAY: u64 = 120;

fn claims() -> Value {
    json!({"sub": "alice", "exp": NOW + 900})
}

/// The kid and slot the verifier matched.
fn verified_by(verifier: &Verifier<Value>, token: &str) -> (String, Slot) {
    let verified = verifier
        .verify(token)
        .expect("the verifier accepts the token");
    (verified.key.kid.to_string(), verified.key.slot)
}

fn header(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).expect("a JWS header")
}

/// The kids on `jwt_signer_key_info` (each must be 1).
fn signer_key_info(registry: &Registry) -> Vec<String> {
    common::series(registry, "jwt_signer_key_info")
        .into_iter()
        .map(|(labels, value)| {
            assert_eq!(value, 1.0);
            labels["kid"].clone()
        })
        .collect()
}

struct Env {
    registry: Registry,
    clock: ManualClock,
    ring: KeyRing,
    verifier: Verifier<Value>,
}

impl Env {
    fn new(keys: KeySet) -> Self {
        Self::build(|ring| ring, keys)
    }

    fn build(
        configure: impl FnOnce(jwt_rollover::KeyRingBuilder) -> jwt_rollover::KeyRingBuilder,
        keys: KeySet,
    ) -> Self {
        let registry = Registry::new();
        let clock = ManualClock::new(NOW);
        let ring = configure(
            KeyRing::builder(keys, Metrics::new(&registry).unwrap())
                .with_clock(clock.clone())
                .with_policy(policy()),
        )
        .build();
        Self {
            verifier: JwtLayer::<Value>::new(ring.clone()).verifier(),
            registry,
            clock,
            ring,
        }
    }

    fn signer(&self) -> Signer {
        Signer::builder(self.ring.clone())
            .with_activation_delay(Duration::from_secs(DELAY))
            .build()
            .unwrap()
    }

    fn signer_status(&self) -> SignerStatus {
        self.ring.status().signer.expect("a signer section")
    }
}

#[tokio::test]
async fn after_a_rotation_the_previous_key_signs_until_the_activation_delay_passes() {
    let env = Env::new(KeySet::single(hmac(OLD_KID, OLD_SECRET)));
    let signer = env.signer();
    assert_eq!(signer.signing_kid().as_deref(), Some(OLD_KID));
    assert_eq!(signer_key_info(&env.registry), [OLD_KID]);
    let status = env.signer_status();
    assert_eq!(status.kid.as_deref(), Some(OLD_KID));
    assert_eq!(status.since, Some(NOW));
    assert_eq!(
        status.pending, None,
        "a ring of one key has nothing pending"
    );

    env.clock.advance(30);
    env.ring.rotate(hmac(NEW_KID, NEW_SECRET)).unwrap();
    let token = signer.sign(&claims()).unwrap();
    let header = header(&token);
    assert_eq!(header.kid.as_deref(), Some(OLD_KID));
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(
        verified_by(&env.verifier, &token),
        (OLD_KID.to_owned(), Slot::Previous)
    );
    let status = env.signer_status();
    assert_eq!(status.kid.as_deref(), Some(OLD_KID));
    let pending = status.pending.expect("the new key is pending");
    assert_eq!(pending.kid, NEW_KID);
    assert_eq!(pending.waiting_for, [SignerWait::ActivationDelay]);
    assert_eq!(pending.active_at, NOW + 30 + DELAY);
    // The JSON the admin API serves.
    let json = serde_json::to_value(env.ring.status()).unwrap();
    assert_eq!(
        json["signer"]["pending"],
        json!({"kid": NEW_KID, "waiting_for": ["activation_delay"], "active_at": NOW + 30 + DELAY})
    );
    assert_eq!(json["signer"]["kid"], OLD_KID);

    env.clock.advance(DELAY - 1);
    assert_eq!(signer.signing_kid().as_deref(), Some(OLD_KID));
    assert_eq!(signer_key_info(&env.registry), [OLD_KID]);

    env.clock.advance(1);
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(
        verified_by(&env.verifier, &token),
        (NEW_KID.to_owned(), Slot::Current)
    );
    assert_eq!(signer_key_info(&env.registry), [NEW_KID]);
    let status = env.signer_status();
    assert_eq!(status.kid.as_deref(), Some(NEW_KID));
    assert_eq!(status.since, Some(NOW + 30 + DELAY));
    assert_eq!(status.pending, None);
    let json = serde_json::to_value(env.ring.status()).unwrap();
    assert_eq!(json["signer"]["pending"], Value::Null);
}

#[tokio::test]
async fn a_reload_that_rotates_waits_for_the_delay_too() {
    let dir = TempDir::new("signer-reload");
    let path = dir.join("jwks.json");
    let jwk = |kid: &str, secret: &[u8]| json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": common::b64(secret)});
    std::fs::write(
        &path,
        json!({"keys": [jwk(OLD_KID, OLD_SECRET)]}).to_string(),
    )
    .unwrap();
    let keys = KeyFile::jwks(&path).load().unwrap();
    let env = Env::build(|ring| ring.with_source(KeyFile::jwks(&path)), keys);
    let signer = env.signer();

    std::fs::write(
        &path,
        json!({"keys": [jwk(NEW_KID, NEW_SECRET), jwk(OLD_KID, OLD_SECRET)]}).to_string(),
    )
    .unwrap();
    env.ring.reload().unwrap();
    assert_eq!(env.ring.current_kid(), NEW_KID);
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verified_by(&env.verifier, &token).0, OLD_KID);

    env.clock.advance(DELAY);
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verified_by(&env.verifier, &token).0, NEW_KID);
    assert_eq!(signer_key_info(&env.registry), [NEW_KID]);
}

/// A gate that reports every replica on this replica's kid, or one
/// replica still on the old kid.
#[derive(Debug, Default)]
struct Fleet {
    lagging: AtomicBool,
}

impl Fleet {
    fn view(&self, kid: &str) -> Result<FleetView, GateError> {
        let mut view = FleetView::single(kid);
        if self.lagging.load(Ordering::SeqCst) {
            view.replicas = 2;
            view.current_kids = BTreeMap::from([(kid.to_owned(), 1), (OLD_KID.to_owned(), 1)]);
            view.blockers.push(jwt_rollover::status::Blocker::fleet(
                BlockerKind::FleetCurrentKid,
                "a replica has not loaded the key",
            ));
        }
        Ok(view)
    }
}

impl FleetGate for Fleet {
    fn may_retire<'a>(
        &'a self,
        question: &'a RetireQuestion,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        Box::pin(async move { self.view(&question.current_kid) })
    }

    fn loaded_everywhere<'a>(
        &'a self,
        kid: &'a str,
        _metrics_prefix: &'a str,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        Box::pin(async move { self.view(kid) })
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

#[tokio::test]
async fn with_a_fleet_gate_it_waits_for_every_replica_to_load_the_key() {
    let fleet = Arc::new(Fleet::default());
    let env = Env::build(
        |ring| ring.with_fleet_gate(fleet.clone()),
        KeySet::single(hmac(OLD_KID, OLD_SECRET)),
    );
    let signer = Signer::builder(env.ring.clone())
        .with_activation_delay(Duration::from_secs(DELAY))
        .with_fleet_poll(Duration::from_secs(3600))
        .build()
        .unwrap();
    fleet.lagging.store(true, Ordering::SeqCst);
    env.ring.rotate(hmac(NEW_KID, NEW_SECRET)).unwrap();
    env.clock.advance(DELAY);

    assert_eq!(signer.check_activation().await.as_deref(), Some(OLD_KID));
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verified_by(&env.verifier, &token).0, OLD_KID);
    let pending = env.signer_status().pending.expect("pending on the fleet");
    assert_eq!(pending.waiting_for, [SignerWait::Fleet]);
    assert_eq!(signer_key_info(&env.registry), [OLD_KID]);

    fleet.lagging.store(false, Ordering::SeqCst);
    assert_eq!(signer.check_activation().await.as_deref(), Some(NEW_KID));
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verified_by(&env.verifier, &token).0, NEW_KID);
    assert_eq!(env.signer_status().pending, None);
    assert_eq!(signer_key_info(&env.registry), [NEW_KID]);

    // The answer is sticky for the kid: a replica lagging again later (a
    // new pod starting) does not make it switch back.
    fleet.lagging.store(true, Ordering::SeqCst);
    assert_eq!(signer.check_activation().await.as_deref(), Some(NEW_KID));
}

/// A previous key retired before the new key is active (a forced
/// retirement: a leaked key) never signs again; the current key, the only
/// one any replica still accepts, signs at once.
#[tokio::test]
async fn a_retired_previous_key_never_signs_again() {
    let env = Env::new(KeySet::single(hmac(OLD_KID, OLD_SECRET)));
    let signer = env.signer();
    env.ring.rotate(hmac(NEW_KID, NEW_SECRET)).unwrap();
    assert_eq!(signer.signing_kid().as_deref(), Some(OLD_KID));

    env.ring
        .retire(RetireRequest::kid(OLD_KID).force())
        .await
        .unwrap();
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(header(&token).kid.as_deref(), Some(NEW_KID));
    assert_eq!(verified_by(&env.verifier, &token).0, NEW_KID);
    assert_eq!(signer_key_info(&env.registry), [NEW_KID]);
    let status = env.signer_status();
    assert_eq!(status.kid.as_deref(), Some(NEW_KID));
    assert_eq!(status.pending, None);
}

fn es256(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256, Some(kid.to_owned())).unwrap()
}

fn public_set(current: &SigningKey, previous: Option<&SigningKey>) -> KeySet {
    KeySet::new(
        current.verification_key().clone(),
        previous.map(|key| key.verification_key().clone()),
    )
    .unwrap()
}

fn private_jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.to_private_jwk()).collect::<Vec<_>>()}).to_string()
}

#[tokio::test]
async fn an_asymmetric_ring_without_its_private_keys_cannot_build_a_signer() {
    let key = SigningKey::generate(Algorithm::RS256, Some("rsa-1".into())).unwrap();
    let env = Env::new(public_set(&key, None));
    let err = Signer::builder(env.ring.clone()).build().unwrap_err();
    assert!(
        matches!(&err, SignerError::NoSigningKey(SignError::NoPrivateKey { kid }) if kid == "rsa-1"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"rsa-1\""), "{err}");
}

#[tokio::test]
async fn it_refuses_to_sign_with_a_key_whose_private_part_it_lacks() {
    let dir = TempDir::new("signer-no-private");
    let private = dir.join("private.json");
    let old = es256("ec-old");
    let new = es256("ec-new");
    std::fs::write(&private, private_jwks(&[&old])).unwrap();
    let env = Env::new(public_set(&old, None));
    let signer = Signer::builder(env.ring.clone())
        .with_activation_delay(Duration::from_secs(DELAY))
        .with_private_keys(KeyFile::jwks(&private))
        .build()
        .unwrap();

    env.ring.rotate(new.verification_key().clone()).unwrap();
    // Past the delay, but without the new key's private part: the old key
    // still signs, and the status says what the new one waits for.
    env.clock.advance(DELAY);
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verified_by(&env.verifier, &token).0, "ec-old");
    let pending = env.signer_status().pending.unwrap();
    assert_eq!(pending.waiting_for, [SignerWait::PrivateKey]);

    env.ring
        .retire(RetireRequest::kid("ec-old").force())
        .await
        .unwrap();
    let err = signer.sign(&claims()).unwrap_err();
    assert!(
        matches!(&err, SignError::NoPrivateKey { kid } if kid == "ec-new"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"ec-new\""), "{err}");
    assert_eq!(signer.signing_kid(), None);
    assert_eq!(env.signer_status().kid, None);

    // The private JWKS catches up: it signs again.
    std::fs::write(&private, private_jwks(&[&new])).unwrap();
    signer.reload_private_keys().unwrap();
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(verified_by(&env.verifier, &token).0, "ec-new");
    assert_eq!(signer_key_info(&env.registry), ["ec-new"]);
}

#[tokio::test]
async fn an_asymmetric_rotation_with_a_private_jwks_and_a_bad_reload() {
    let dir = TempDir::new("signer-es256");
    let public = dir.join("jwks.json");
    let private = dir.join("private.json");
    let old = es256("ec-old");
    let new = es256("ec-new");
    let public_jwks = |keys: &[&SigningKey]| {
        json!({"keys": keys.iter().map(|key| key.public_jwk()).collect::<Vec<_>>()}).to_string()
    };
    std::fs::write(&public, public_jwks(&[&old])).unwrap();
    std::fs::write(&private, private_jwks(&[&old])).unwrap();
    let keys = KeyFile::jwks(&public).load().unwrap();
    let env = Env::build(|ring| ring.with_source(KeyFile::jwks(&public)), keys);
    let signer = Signer::builder(env.ring.clone())
        .with_activation_delay(Duration::from_secs(DELAY))
        .with_private_keys(KeyFile::jwks(&private))
        .build()
        .unwrap();
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(header(&token).alg, Algorithm::ES256);
    assert_eq!(verified_by(&env.verifier, &token).0, "ec-old");

    // One Secret change: both files at once.
    std::fs::write(&public, public_jwks(&[&new, &old])).unwrap();
    std::fs::write(&private, private_jwks(&[&new, &old])).unwrap();
    env.ring.reload().unwrap();
    signer.reload_private_keys().unwrap();
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(
        verified_by(&env.verifier, &token),
        ("ec-old".to_owned(), Slot::Previous)
    );

    // A bad private file is refused; the last good private keys stay.
    std::fs::write(&private, br#"{"keys": [{"kty": "EC", "crv": "P-256"}]}"#).unwrap();
    let err = signer.reload_private_keys().unwrap_err();
    assert!(
        err.to_string().contains("last good private keys kept"),
        "{err}"
    );
    let status = env.signer_status();
    let files = status.private_keys.expect("the private JWKS status");
    assert_eq!(files.kids, ["ec-new", "ec-old"]);
    assert!(files.last_error.is_some());

    env.clock.advance(DELAY);
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(
        verified_by(&env.verifier, &token),
        ("ec-new".to_owned(), Slot::Current)
    );
    // Key material is never in the status.
    let json = serde_json::to_string(&env.ring.status()).unwrap();
    let d = new.to_private_jwk()["d"].as_str().unwrap().to_owned();
    assert!(!json.contains(&d));
    assert!(metric(&env.registry, "jwt_signer_key_info", &[("kid", "ec-new")]).is_some());
}

#[tokio::test]
async fn the_activation_task_stops_with_the_last_signer() {
    let env = Env::new(KeySet::single(hmac(OLD_KID, OLD_SECRET)));
    let signer = env.signer();
    let clone = signer.clone();
    drop(signer);
    assert!(env.ring.status().signer.is_some(), "a clone still reports");
    drop(clone);
    assert!(
        env.ring.status().signer.is_none(),
        "a dropped signer leaves the status"
    );
}

#[test]
fn building_needs_a_runtime() {
    let env = Env::new(KeySet::single(hmac(OLD_KID, OLD_SECRET)));
    let err = Signer::builder(env.ring.clone()).build().unwrap_err();
    assert!(matches!(err, SignerError::NoRuntime), "{err:?}");
}
