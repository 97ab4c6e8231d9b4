//! The [`Signer`]: signs tokens from the same ring the verifiers use, and
//! switches to a new current key only once every replica accepts it.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

use super::{SigningKey, SigningKeyError, SigningKeySet};
use crate::keys::{Key, KeyError, KeyFile};
use crate::ring::status::{PendingKey, PrivateKeysStatus, SignerReport, SignerStatus, SignerWait};
use crate::ring::{KeyRing, Snapshot};

/// How long a new current key must have been current on this replica
/// before a [`Signer`] signs with it: longer than a kubelet sync (60-90 s),
/// so that the other replicas have loaded the Secret too.
pub const DEFAULT_ACTIVATION_DELAY: Duration = Duration::from_secs(120);

/// How often a [`Signer`] asks the fleet gate whether a new current key is
/// loaded on every replica (and looks for a changed ring).
pub const DEFAULT_FLEET_POLL: Duration = Duration::from_secs(5);

/// How often a [`Signer`] re-reads its private JWKS when the ring's keys
/// did not change, for a private file that changes on its own.
pub const DEFAULT_PRIVATE_KEYS_POLL: Duration = Duration::from_secs(60);

/// Why a token was not signed. No message quotes key material or claims.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No key in the ring can sign: the current key's private part is
    /// missing, and no previous key (one the verifiers have not retired)
    /// has one either.
    #[error(
        "no private key for kid {kid:?}, the ring's current key, and no previous key to sign with instead: put its private JWK in the signer's private JWKS"
    )]
    NoPrivateKey {
        /// The ring's current kid.
        kid: String,
    },
    /// jsonwebtoken could not encode the token (claims that do not
    /// serialize to JSON).
    #[error("cannot encode the token: {0}")]
    Encode(#[source] jsonwebtoken::errors::Error),
}

/// Why the private JWKS was not (re)loaded. The last good private keys
/// stay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateKeysError {
    /// The signer was built without a private JWKS file.
    #[error("the signer has no private JWKS file to reload")]
    NoFile,
    /// The file could not be read (in time).
    #[error("private JWKS refused, last good private keys kept: {0}")]
    Read(#[source] KeyError),
    /// The content is not a valid private JWKS.
    #[error("private JWKS {path} refused, last good private keys kept: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: SigningKeyError,
    },
}

/// Why [`SignerBuilder::build`] failed. Nothing was started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// Not called from within a tokio runtime.
    #[error("Signer::build needs a tokio runtime (its activation task runs on it)")]
    NoRuntime,
    /// The private JWKS could not be loaded.
    #[error(transparent)]
    PrivateKeys(#[from] PrivateKeysError),
    /// No key of the ring can be signed with (an asymmetric ring without
    /// the private JWKS that holds its keys).
    #[error("the signer has no key to sign with: {0}")]
    NoSigningKey(#[source] SignError),
}

/// Signs tokens with the keys of a [`KeyRing`], the ring the verifiers use,
/// switching to a new current key only once it is **active**.
///
/// A key is active once it has been the ring's current key on this replica
/// for the [activation delay](SignerBuilder::with_activation_delay) (default
/// 2 minutes, longer than a kubelet sync) and, when the ring has a
/// [fleet gate](crate::fleet), once the gate says every replica has loaded
/// it ([`KeyRing::loaded_everywhere`]). Until then the signer keeps signing
/// with the previous key, which every replica still accepts, so that no
/// replica rejects a fresh token as `unknown_kid`.
///
/// Which key signs, in order:
///
/// 1. the current key, once it is active and its private part is known;
/// 2. else the previous key, while the ring has one (the verifiers have
///    not retired it) and its private part is known;
/// 3. else the current key, active or not, if its private part is known:
///    a ring of one key has nothing better, and a previous key that was
///    retired early (a forced retirement, usually a leaked key) must never
///    sign again, so the current key is the only one any replica accepts;
/// 4. else [`SignError::NoPrivateKey`], naming the current kid.
///
/// A retired key is never signed with: it is not in the ring.
///
/// HMAC keys sign with the secret the ring holds. Asymmetric keys need the
/// private JWKS ([`SignerBuilder::with_private_keys`], `{"keys": [current,
/// previous]}`), whose kids and public parts must match the verifiers'
/// JWKS. It is re-read whenever the ring's keys change and every
/// [private keys poll](SignerBuilder::with_private_keys_poll); bad content
/// is refused and the last good private keys stay.
///
/// [`Signer::sign`] is synchronous, for request paths: the fleet gate is
/// asked by a background task that the signer spawns on the tokio runtime
/// and that stops when the last clone of the signer is dropped. The
/// signer's state is in the ring's status (`signer`, see
/// [`status::SignerStatus`](crate::status::SignerStatus)) and in the
/// `jwt_signer_key_info{kid}` gauge.
///
/// ```
/// use jwt_rollover::{Algorithm, JwtLayer, Key, KeyRing, KeySet, ManualClock, Metrics, Signer};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = |kid, secret: &[u8]| Key::hmac(Some(kid), Algorithm::HS256, secret);
/// let clock = ManualClock::new(1_800_000_000);
/// let ring = KeyRing::builder(
///     KeySet::single(key("2026-10", b"old-secret-old-secret-old-secret")?),
///     Metrics::new(&prometheus::Registry::new())?,
/// )
/// .with_clock(clock.clone())
/// .build();
/// let signer = Signer::builder(ring.clone())
///     .with_activation_delay(Duration::from_secs(120))
///     .build()?;
/// let verifier = JwtLayer::<serde_json::Value>::new(ring.clone()).verifier();
/// let claims = serde_json::json!({"sub": "alice", "exp": 1_800_000_900_u64});
///
/// ring.rotate(key("2026-11", b"new-secret-new-secret-new-secret")?)?;
/// // The new key is not active yet: the previous one still signs.
/// let token = signer.sign(&claims)?;
/// assert_eq!(verifier.verify(&token)?.key.kid.as_ref(), "2026-10");
///
/// clock.advance(120);
/// let token = signer.sign(&claims)?;
/// assert_eq!(verifier.verify(&token)?.key.kid.as_ref(), "2026-11");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Signer {
    inner: Arc<Inner>,
}

/// Configures a [`Signer`]; made by [`Signer::builder`].
#[must_use]
pub struct SignerBuilder {
    ring: KeyRing,
    activation_delay: Duration,
    fleet_poll: Duration,
    private_keys_poll: Duration,
    private_keys: Option<KeyFile>,
}

struct Inner {
    ring: KeyRing,
    activation_delay: Duration,
    private: Option<PrivateKeys>,
    state: Mutex<State>,
    /// The activation task, stopped when the last signer is dropped.
    task: OnceLock<tokio::task::AbortHandle>,
}

#[derive(Default)]
struct State {
    /// The kid signed with now, and the Unix second it started.
    signing: Option<(Arc<str>, u64)>,
    /// The kid on `jwt_signer_key_info`.
    published: Option<Arc<str>>,
    /// The last kid the fleet gate said every replica has loaded.
    fleet_loaded: Option<Arc<str>>,
}

/// The private JWKS: its file and its last good keys.
struct PrivateKeys {
    file: KeyFile,
    keys: ArcSwapOption<SigningKeySet>,
    last_error: Mutex<Option<String>>,
    /// One reload at a time: the task's and a caller's never interleave.
    reloads: Mutex<()>,
}

impl Signer {
    /// A builder for a signer of `ring`'s keys.
    pub fn builder(ring: KeyRing) -> SignerBuilder {
        SignerBuilder {
            ring,
            activation_delay: DEFAULT_ACTIVATION_DELAY,
            fleet_poll: DEFAULT_FLEET_POLL,
            private_keys_poll: DEFAULT_PRIVATE_KEYS_POLL,
            private_keys: None,
        }
    }

    /// Signs `claims` with the key the rules of [`Signer`] pick; the header
    /// has that key's `kid` and `alg`, and `typ: JWT`. The claims are signed
    /// as given: set `exp` (and `iat`, `iss`, `aud`) yourself.
    ///
    /// # Errors
    ///
    /// [`SignError::NoPrivateKey`] when no key of the ring can be signed
    /// with; [`SignError::Encode`] when the claims do not serialize.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, SignError> {
        let decision = self.inner.decide();
        self.inner.record(&decision);
        let key = decision.key().ok_or_else(|| decision.no_private_key())?;
        let mut header = Header::new(key.algorithm());
        header.kid = Some(key.kid().to_owned());
        let encoded = match key.hmac_secret() {
            Some(secret) => {
                jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
            }
            None => {
                let private = private_for(decision.private.as_deref(), key)
                    .ok_or_else(|| decision.no_private_key())?;
                jsonwebtoken::encode(&header, claims, private.encoding_key())
            }
        };
        encoded.map_err(SignError::Encode)
    }

    /// The kid [`Signer::sign`] signs with now; `None` when it cannot sign.
    pub fn signing_kid(&self) -> Option<String> {
        let decision = self.inner.decide();
        self.inner.record(&decision);
        decision.key().map(|key| key.kid().to_owned())
    }

    /// The signer's state, as the ring's status shows it.
    pub fn status(&self) -> SignerStatus {
        self.inner.signer_status()
    }

    /// One round of what the background task does every fleet poll: when
    /// the ring has a fleet gate and has not said so yet, asks it whether
    /// the current key is loaded on every replica; then updates the signing
    /// key (and `jwt_signer_key_info`). Returns the kid it signs with.
    pub async fn check_activation(&self) -> Option<String> {
        self.inner.check_activation().await
    }

    /// Re-reads the private JWKS now. Blocks for at most the file's read
    /// timeout: from async code, call it in `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`PrivateKeysError`] when there is no file, or it cannot be read or
    /// is refused; the last good private keys stay.
    pub fn reload_private_keys(&self) -> Result<(), PrivateKeysError> {
        let private = self
            .inner
            .private
            .as_ref()
            .ok_or(PrivateKeysError::NoFile)?;
        private.reload(self.inner.ring.now())
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state();
        f.debug_struct("Signer")
            .field("signing", &state.signing.as_ref().map(|(kid, _)| kid))
            .field("activation_delay", &self.inner.activation_delay)
            .finish_non_exhaustive()
    }
}

impl SignerBuilder {
    /// How long a new current key must have been current on this replica
    /// before it signs (default [`DEFAULT_ACTIVATION_DELAY`]). Counted from
    /// when the ring made the key current, so a replica that starts with a
    /// fresh key file waits too: it cannot tell how long the key has been
    /// current elsewhere.
    pub fn with_activation_delay(mut self, delay: Duration) -> Self {
        self.activation_delay = delay;
        self
    }

    /// How often the background task asks the fleet gate (default
    /// [`DEFAULT_FLEET_POLL`]).
    pub fn with_fleet_poll(mut self, interval: Duration) -> Self {
        self.fleet_poll = interval;
        self
    }

    /// The private JWKS for asymmetric keys: `{"keys": [current,
    /// previous]}` of private JWKs, read with
    /// [`SigningKeySet::from_jwks_bytes`] whatever the file's configured
    /// format. Its kids and public parts must match the verifiers' JWKS;
    /// a key that does not match is not signed with.
    pub fn with_private_keys(mut self, file: impl Into<KeyFile>) -> Self {
        self.private_keys = Some(file.into());
        self
    }

    /// How often the private JWKS is re-read when the ring's keys did not
    /// change (default [`DEFAULT_PRIVATE_KEYS_POLL`]); it is always re-read
    /// when they do.
    pub fn with_private_keys_poll(mut self, interval: Duration) -> Self {
        self.private_keys_poll = interval;
        self
    }

    /// Loads the private JWKS (blocking for at most its read timeout), makes
    /// the signer report into the ring's status, and spawns its activation
    /// task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`SignerError::NoRuntime`] outside a tokio runtime;
    /// [`SignerError::PrivateKeys`] when the private JWKS cannot be read
    /// or is refused; [`SignerError::NoSigningKey`] when no key of the ring
    /// can be signed with.
    pub fn build(self) -> Result<Signer, SignerError> {
        tokio::runtime::Handle::try_current().map_err(|_| SignerError::NoRuntime)?;
        let private = self.private_keys.map(PrivateKeys::new);
        if let Some(private) = &private {
            private.reload(self.ring.now())?;
        }
        let generation = self.ring.load().generation;
        let inner = Arc::new(Inner {
            ring: self.ring,
            activation_delay: self.activation_delay,
            private,
            state: Mutex::new(State::default()),
            task: OnceLock::new(),
        });
        let decision = inner.decide();
        if decision.key().is_none() {
            return Err(SignerError::NoSigningKey(decision.no_private_key()));
        }
        inner.record(&decision);
        drop(decision);
        let report: Weak<dyn SignerReport> = Arc::downgrade(&inner) as Weak<Inner>;
        inner.ring.report_signer(report);
        let task = tokio::spawn(run(
            Arc::downgrade(&inner),
            self.fleet_poll,
            self.private_keys_poll,
            generation,
        ));
        let _ = inner.task.set(task.abort_handle());
        Ok(Signer { inner })
    }
}

impl std::fmt::Debug for SignerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerBuilder")
            .field("activation_delay", &self.activation_delay)
            .field("fleet_poll", &self.fleet_poll)
            .field("private_keys", &self.private_keys)
            .finish_non_exhaustive()
    }
}

/// The activation task: re-reads the private JWKS when the ring changed
/// (or every `private_poll`), asks the fleet gate, updates the signing key.
/// Holds the signer weakly, so that dropping the last signer ends it.
async fn run(signer: Weak<Inner>, fleet_poll: Duration, private_poll: Duration, read_at: u64) {
    let mut read_generation = read_at;
    let mut last_read = Instant::now();
    loop {
        let Some(inner) = signer.upgrade() else {
            return;
        };
        let generation = inner.ring.load().generation;
        if inner.private.is_some()
            && (generation != read_generation || last_read.elapsed() >= private_poll)
        {
            read_generation = generation;
            last_read = Instant::now();
            let reader = Arc::clone(&inner);
            // The read blocks (bounded by the file's read timeout); errors
            // are logged and shown in the status by `reload`.
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(private) = &reader.private {
                    let _ = private.reload(reader.ring.now());
                }
            })
            .await;
        }
        inner.check_activation().await;
        drop(inner);
        tokio::time::sleep(fleet_poll).await;
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// What [`Inner::decide`] found: the ring and private keys it looked at,
/// which key signs, and why the current key is not active.
struct Decision {
    snapshot: arc_swap::Guard<Arc<Snapshot>>,
    private: Option<Arc<SigningKeySet>>,
    now: u64,
    choice: Option<Choice>,
    activation: Activation,
    current_signable: bool,
}

impl Decision {
    fn key(&self) -> Option<&Key> {
        match self.choice? {
            Choice::Current => Some(&self.snapshot.current.key),
            Choice::Previous => self.snapshot.previous.as_ref().map(|p| &p.key),
        }
    }

    fn no_private_key(&self) -> SignError {
        SignError::NoPrivateKey {
            kid: self.snapshot.current.key.kid().to_owned(),
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every field is written whole, so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn decide(&self) -> Decision {
        let now = self.ring.now();
        let snapshot = self.ring.load();
        let private = self
            .private
            .as_ref()
            .and_then(|private| private.keys.load_full());
        let signable = |key: &Key| {
            key.hmac_secret().is_some() || private_for(private.as_deref(), key).is_some()
        };
        let current = &snapshot.current;
        let fleet = self
            .ring
            .has_fleet_gate()
            .then(|| self.state().fleet_loaded.as_deref() == Some(current.key.kid()));
        let activation = activation(now, current.since, self.activation_delay.as_secs(), fleet);
        let current_signable = signable(&current.key);
        let choice = choose(Facts {
            current_active: activation.waiting_for.is_empty(),
            current_signable,
            previous_signable: snapshot.previous.as_ref().map(|p| signable(&p.key)),
        });
        Decision {
            now,
            choice,
            activation,
            current_signable,
            private,
            snapshot,
        }
    }

    /// Remembers which kid signs now: when it changes, moves
    /// `jwt_signer_key_info` and logs the switch (the kid only).
    fn record(&self, decision: &Decision) {
        let kid = decision.key().map(Key::kid);
        let mut state = self.state();
        if state.signing.as_ref().map(|(kid, _)| &**kid) == kid {
            return;
        }
        let Some(kid) = kid else {
            state.signing = None;
            tracing::warn!(
                kid = decision.snapshot.current.key.kid(),
                "signer has no key to sign with: the current key's private part is missing"
            );
            return;
        };
        let previous = state.signing.take().map(|(kid, _)| kid);
        state.signing = Some((Arc::from(kid), decision.now));
        self.ring
            .metrics()
            .signer_key(state.published.as_deref(), kid);
        state.published = Some(Arc::from(kid));
        let early =
            decision.choice == Some(Choice::Current) && !decision.activation.waiting_for.is_empty();
        if early && previous.is_none() {
            // The signer's first key, in a ring with no other key that can
            // sign (a service's first start): nothing better exists, and
            // nothing went wrong.
            tracing::info!(
                kid,
                "signer signs with the only key it can (not active yet)"
            );
        } else if early {
            // It signed with another key before: that key left the ring
            // (a forced retirement) before the new one became active.
            tracing::warn!(
                kid,
                previous = previous.as_deref(),
                "signer signs with a current key that is not active yet: no previous key can sign"
            );
        } else {
            tracing::info!(
                kid,
                previous = previous.as_deref(),
                "signer now signs with this key"
            );
        }
    }

    async fn check_activation(&self) -> Option<String> {
        if self.ring.has_fleet_gate() {
            let current = self.ring.current_kid();
            let known = self.state().fleet_loaded.as_deref() == Some(current.as_str());
            // A gate that cannot decide keeps the previous key: the ring
            // counts and logs its error.
            if !known && matches!(self.ring.loaded_everywhere(&current).await, Ok(true)) {
                self.state().fleet_loaded = Some(Arc::from(current));
            }
        }
        let decision = self.decide();
        self.record(&decision);
        decision.key().map(|key| key.kid().to_owned())
    }
}

impl SignerReport for Inner {
    fn signer_status(&self) -> SignerStatus {
        let decision = self.decide();
        self.record(&decision);
        let current = decision.snapshot.current.key.kid();
        let kid = decision.key().map(Key::kid);
        let pending = (kid != Some(current)).then(|| {
            let mut waiting_for = decision.activation.waiting_for.clone();
            if !decision.current_signable {
                waiting_for.push(SignerWait::PrivateKey);
            }
            PendingKey {
                kid: current.to_owned(),
                waiting_for,
                active_at: decision.activation.active_at,
            }
        });
        let since = self.state().signing.as_ref().map(|(_, since)| *since);
        SignerStatus {
            kid: kid.map(str::to_owned),
            since,
            activation_delay_seconds: self.activation_delay.as_secs(),
            pending,
            private_keys: self.private.as_ref().map(PrivateKeys::status),
        }
    }
}

impl PrivateKeys {
    fn new(file: KeyFile) -> Self {
        Self {
            file,
            keys: ArcSwapOption::empty(),
            last_error: Mutex::new(None),
            reloads: Mutex::new(()),
        }
    }

    fn last_error(&self) -> MutexGuard<'_, Option<String>> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads and parses the file; stores the keys when they are valid,
    /// keeps the last good ones otherwise. Logs only kids, paths and
    /// errors, which never quote key material.
    fn reload(&self, now: u64) -> Result<(), PrivateKeysError> {
        let _one_at_a_time = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.file.path().display().to_string();
        let parsed = self
            .file
            .read(now)
            .map_err(PrivateKeysError::Read)
            .and_then(|bytes| {
                SigningKeySet::from_jwks_bytes(&bytes).map_err(|source| PrivateKeysError::Invalid {
                    path: path.clone(),
                    source,
                })
            });
        match parsed {
            Ok(keys) => {
                if self.last_error().take().is_some() {
                    tracing::info!(%path, "private JWKS is valid again");
                }
                let old = self.keys.load();
                if !old.as_deref().is_some_and(|old| same_keys(old, &keys)) {
                    tracing::info!(
                        %path,
                        current = keys.current().kid(),
                        previous = keys.previous().map(SigningKey::kid),
                        "private JWKS loaded"
                    );
                }
                self.keys.store(Some(Arc::new(keys)));
                Ok(())
            }
            Err(err) => {
                let message = err.to_string();
                let mut last = self.last_error();
                if last.as_deref() != Some(message.as_str()) {
                    tracing::warn!(error = %message, "private JWKS refused; the last good private keys stay");
                }
                *last = Some(message);
                Err(err)
            }
        }
    }

    fn status(&self) -> PrivateKeysStatus {
        let keys = self.keys.load();
        PrivateKeysStatus {
            path: self.file.path().display().to_string(),
            kids: keys.as_deref().map_or_else(Vec::new, |keys| {
                std::iter::once(keys.current())
                    .chain(keys.previous())
                    .map(|key| key.kid().to_owned())
                    .collect()
            }),
            last_error: self.last_error().clone(),
        }
    }
}

fn same_keys(a: &SigningKeySet, b: &SigningKeySet) -> bool {
    let same =
        |a: &SigningKey, b: &SigningKey| a.verification_key().same_key_as(b.verification_key());
    same(a.current(), b.current())
        && match (a.previous(), b.previous()) {
            (Some(a), Some(b)) => same(a, b),
            (None, None) => true,
            _ => false,
        }
}

/// The private key of `key`: same kid, algorithm and public part. A
/// private key whose public part differs would sign tokens the verifiers
/// refuse, so it does not count.
fn private_for<'a>(keys: Option<&'a SigningKeySet>, key: &Key) -> Option<&'a SigningKey> {
    let keys = keys?;
    std::iter::once(keys.current())
        .chain(keys.previous())
        .find(|private| private.verification_key().same_key_as(key))
}

/// Which ring key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Current,
    Previous,
}

/// What [`choose`] decides on.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// The current key is active: current for the activation delay, and
    /// loaded everywhere when the ring has a fleet gate.
    current_active: bool,
    /// The signer has the current key's private part.
    current_signable: bool,
    /// `None` without a previous key; else whether its private part is known.
    previous_signable: Option<bool>,
}

/// The rules of [`Signer`]: the active current key, else the previous key,
/// else the current key anyway (nothing better exists), else nothing.
fn choose(facts: Facts) -> Option<Choice> {
    if facts.current_active && facts.current_signable {
        Some(Choice::Current)
    } else if facts.previous_signable == Some(true) {
        Some(Choice::Previous)
    } else if facts.current_signable {
        Some(Choice::Current)
    } else {
        None
    }
}

/// Whether the current key is active, and if not, what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Activation {
    waiting_for: Vec<SignerWait>,
    /// Unix second the activation delay passes.
    active_at: u64,
}

/// `since`: when the key became current; `fleet`: `None` without a fleet
/// gate, else whether the gate said every replica has loaded it.
fn activation(now: u64, since: u64, delay: u64, fleet: Option<bool>) -> Activation {
    let active_at = since.saturating_add(delay);
    let mut waiting_for = Vec::new();
    if now < active_at {
        waiting_for.push(SignerWait::ActivationDelay);
    }
    if fleet == Some(false) {
        waiting_for.push(SignerWait::Fleet);
    }
    Activation {
        waiting_for,
        active_at,
    }
}

#[cfg(test)]
mod tests {
    use super::{Activation, Choice, Facts, activation, choose};
    use crate::ring::status::SignerWait::{ActivationDelay, Fleet};

    #[test]
    fn the_key_that_signs() {
        let (yes, no) = (true, false);
        // (current active, current signable, previous signable) -> choice
        let table = [
            ((yes, yes, Some(yes)), Some(Choice::Current)),
            ((yes, yes, None), Some(Choice::Current)),
            ((no, yes, Some(yes)), Some(Choice::Previous)),
            // The current key has no private part yet: the previous one
            // signs even though the current is active.
            ((yes, no, Some(yes)), Some(Choice::Previous)),
            // A ring of one key, or a previous key retired early.
            ((no, yes, None), Some(Choice::Current)),
            // A previous key without its private part cannot sign.
            ((no, yes, Some(no)), Some(Choice::Current)),
            ((no, no, Some(no)), None),
            ((yes, no, None), None),
            ((no, no, None), None),
        ];
        for ((current_active, current_signable, previous_signable), expected) in table {
            let facts = Facts {
                current_active,
                current_signable,
                previous_signable,
            };
            assert_eq!(choose(facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn activation_waits_for_the_delay_and_the_fleet() {
        let at = |waiting_for| Activation {
            waiting_for,
            active_at: 1_120,
        };
        // (now, fleet) -> what it waits for; the key became current at 1000
        // with a delay of 120.
        let table = [
            ((1_000, None), at(vec![ActivationDelay])),
            ((1_119, None), at(vec![ActivationDelay])),
            ((1_120, None), at(vec![])),
            ((1_000, Some(true)), at(vec![ActivationDelay])),
            ((1_000, Some(false)), at(vec![ActivationDelay, Fleet])),
            ((5_000, Some(false)), at(vec![Fleet])),
            ((5_000, Some(true)), at(vec![])),
        ];
        for ((now, fleet), expected) in table {
            assert_eq!(
                activation(now, 1_000, 120, fleet),
                expected,
                "{now} {fleet:?}"
            );
        }
        assert!(activation(0, u64::MAX, 120, None).waiting_for == vec![ActivationDelay]);
    }
}
