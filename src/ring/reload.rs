//! The key file behind a ring: reloading it, refusing bad content whole,

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use crate::keys::crypto;
use crate::keys::{KeyError, KeyFile, KeySet};
use crate::ring::KeyRing;
use crate::ring::transition;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadOutcome {
    /// The file holds the keys the ring already has.
    Unchanged,
    /// New keys were applied.
    Applied {
        /// Whether the current key changed.
        rotated: bool,
        /// Kids that left the ring (retired, trigger `source`).
        retired: Vec<String>,
    },
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The ring was built without [`KeyRingBuilder::with_source`](crate::KeyRingBuilder::with_source).
    #[error("the key ring has no key file to reload")]
    NoSource,
    /// The file's content was refused; the last good keys stay active.
    #[error("key file refused, last good keys kept: {0}")]
    Invalid(#[from] KeyError),
}

/// The result label of `jwt_key_reloads_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReloadResult {
    /// New keys applied.
    Success,
    /// Content refused.
    Error,
    /// Nothing new.
    Unchanged,
}

impl ReloadResult {
    /// The label value.
    const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Unchanged => "unchanged",
        }
    }
}

/// The key file's reload history, as the admin status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// The file's path.
    pub path: String,
    /// Unix second of the last reload attempt.
    pub last_reload: Option<u64>,
    /// Unix second of the last reload that applied new keys.
    pub last_success: Option<u64>,
    /// The last attempt's result: `success`, `error` or `unchanged`, as
    /// the `result` label of `jwt_key_reloads_total`.
    pub last_result: Option<&'static str>,
    /// Why the current content is refused, while it is.
    pub last_error: Option<String>,
    /// First 16 hex digits of the SHA-256 of the content last read.
    pub content_hash: Option<String>,
    /// The configured format, `jwks` or `secret`.
    pub format: &'static str,
    /// A read of the file that has not returned yet (a hanging mount):
    /// reloads fail fast until it does.
    pub read_in_progress: Option<ReadInProgress>,
}

/// A key file read that has not returned.
#[derive(Debug, Clone, Serialize)]
pub struct ReadInProgress {
    /// Unix second it started.
    pub since: u64,
    /// How long it has been waiting.
    pub seconds: u64,
}

/// A ring's key file, its reload history, and the lock that serializes
/// reloads. The status only ever takes `state`, briefly, and never while
/// the file is read: a read that hangs cannot stall the admin API.
#[derive(Debug)]
pub(crate) struct Source {
    file: KeyFile,
    /// Held for a whole reload, so a watcher and an admin call never
    /// interleave.
    reloads: Mutex<()>,
    state: Mutex<SourceState>,
}

#[derive(Debug, Default)]
struct SourceState {
    last_reload: Option<u64>,
    last_success: Option<u64>,
    last_result: Option<ReloadResult>,
    last_error: Option<String>,
    content_hash: Option<String>,
}

impl Source {
    pub(crate) fn new(file: KeyFile) -> Self {
        Self {
            file,
            reloads: Mutex::new(()),
            state: Mutex::new(SourceState::default()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    fn state(&self) -> MutexGuard<'_, SourceState> {
        // Every field is written whole, so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn status(&self, now: u64) -> SourceStatus {
        let state = self.state();
        SourceStatus {
            path: self.file.path().display().to_string(),
            format: self.file.format().as_str(),
            last_reload: state.last_reload,
            last_success: state.last_success,
            last_result: state.last_result.map(ReloadResult::as_str),
            last_error: state.last_error.clone(),
            content_hash: state.content_hash.clone(),
            read_in_progress: self.file.reading_since().map(|since| ReadInProgress {
                since,
                seconds: now.saturating_sub(since),
            }),
        }
    }
}

fn content_hash(bytes: &[u8]) -> Option<String> {
    let digest = crypto::sha256(bytes).ok()?;
    Some(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn same_keys(a: &KeySet, b: &KeySet) -> bool {
    a.current().same_key_as(b.current())
        && match (a.previous(), b.previous()) {
            (Some(a), Some(b)) => a.same_key_as(b),
            (None, None) => true,
            _ => false,
        }
}

impl KeyRing {
    /// Re-reads the key file and applies what changed.
    ///
    /// [`KeyRing::reload`] reads the file through its path (which, on a
    /// Kubernetes Secret volume, resolves the `..data` symlink to the newest
    /// version), and then:
    ///
    /// - **unchanged** content (same SHA-256 as the last attempt, or the same
    ///   keys) changes nothing: `jwt_key_reloads_total{result="unchanged"}`;
    /// - **bad** content (unreadable or missing, empty, not parseable, a weak
    ///   key, more than two keys...) is refused whole and the last good ring
    ///   stays: `jwt_key_reloads_total{result="error"}`, one log line per
    ///   distinct failure (never the key material), and the error in the status;
    /// - **new** keys are applied by the transition rules below and
    ///   published as one snapshot: `jwt_key_reloads_total{result="success"}`.
    ///
    /// The file is read in its configured [format](crate::keys::KeyFormat),
    /// regular files only, on a thread of its own with a time bound
    /// ([`KeyFile`]); no lock that requests or the status
    /// need is held meanwhile.
    ///
    /// The status reports the path and format, the last attempt and success,
    /// the last error, a short content hash (the first 16 hex digits of
    /// SHA-256), and a read that has not returned yet.
    ///
    /// # Transition rules
    ///
    /// Let N be the new file's keys, in order:
    ///
    /// | situation | current | previous |
    /// |---|---|---|
    /// | N has two keys | N\[0\] | N\[1\] |
    /// | N has one key, different from the old current | N\[0\] | the old current (demoted in memory) |
    /// | N has one key, same as current, the old file listed the previous key | N\[0\] | none (retired, trigger `source`) |
    /// | N has one key, same as current, previous was demoted in memory | N\[0\] | unchanged |
    ///
    /// And across all rows:
    ///
    /// - a key that leaves the ring is retired (trigger `source`): its kid is
    ///   remembered, so its late tokens get `retired_key`;
    /// - a retired kid never comes back as previous (a file listing it second
    ///   gets no previous key, and a warning); it may come back as current, a
    ///   rollback, which clears its retirement;
    /// - "same" means the same kid; a kid listed with new material takes the new
    ///   material (the file is the source of truth).
    ///
    /// # Errors
    ///
    /// [`ReloadError::NoSource`] without a key file;
    /// [`ReloadError::Invalid`] when the content is refused (the ring is unchanged).
    pub fn reload(&self) -> Result<ReloadOutcome, ReloadError> {
        let source = self.source().ok_or(ReloadError::NoSource)?;
        let _one_at_a_time = source
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        source.state().last_reload = Some(now);
        // No lock the status needs is held across the read.
        let read = source.file.read(now);
        let mut state = source.state();
        let outcome = read.and_then(|bytes| {
            let hash = content_hash(&bytes);
            let same_content = hash.is_some() && hash == state.content_hash;
            state.content_hash = hash;
            if same_content && state.last_error.is_none() {
                return Ok(None);
            }
            KeySet::parse(&bytes, source.file.format()).map(Some)
        });
        let result = match outcome {
            Ok(None) => Ok(ReloadOutcome::Unchanged),
            Ok(Some(keys)) => Ok(self.apply_file_keys(keys)),
            Err(err) => Err(err),
        };
        let path = source.path().display();
        match &result {
            Ok(outcome) => {
                if state.last_error.take().is_some() {
                    tracing::info!(%path, "key file is valid again");
                }
                let label = match outcome {
                    ReloadOutcome::Unchanged => ReloadResult::Unchanged,
                    ReloadOutcome::Applied { .. } => {
                        state.last_success = Some(now);
                        ReloadResult::Success
                    }
                };
                state.last_result = Some(label);
                self.metrics().reloaded(label.as_str());
            }
            Err(err) => {
                let message = err.to_string();
                if state.last_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!(%path, error = %message, "key file refused; the last good keys stay active");
                }
                state.last_error = Some(message);
                state.last_result = Some(ReloadResult::Error);
                self.metrics().reloaded(ReloadResult::Error.as_str());
            }
        }
        result.map_err(ReloadError::Invalid)
    }

    /// Applies parsed file keys by the transition rules, in one snapshot.
    fn apply_file_keys(&self, keys: KeySet) -> ReloadOutcome {
        let mut outcome = ReloadOutcome::Unchanged;
        self.update_from_file(|old, file_keys| {
            if same_keys(file_keys, &keys) {
                return None;
            }
            let plan = transition::transition(old, file_keys, &keys);
            outcome = ReloadOutcome::Applied {
                rotated: plan.rotated,
                retired: plan.dropped.iter().map(|k| k.kid().to_owned()).collect(),
            };
            Some((plan, keys))
        });
        outcome
    }

    /// The key file's status, when the ring has one.
    pub fn source_status(&self) -> Option<SourceStatus> {
        Some(self.source()?.status(self.now()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    use crate::clock::ManualClock;
    use crate::keys::{Key, KeyError, KeyFile, KeySet};
    use crate::metrics::Metrics;
    use crate::ring::KeyRing;

    static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    /// A key file on a mount that stops answering, until the gate opens.
    fn hanging_read(_: &Path) -> Result<Vec<u8>, KeyError> {
        let (open, opened) = &GATE;
        let mut open = open.lock().unwrap();
        while !*open {
            open = opened.wait(open).unwrap();
        }
        Err(KeyError::Empty)
    }

    /// Regression: a reload used to hold the lock the status takes while it
    /// read the file, so a read that hung stalled `GET /admin/keys`.
    #[test]
    fn the_status_answers_while_a_reload_hangs_on_its_read() {
        let key = Key::hmac(Some("a"), jsonwebtoken::Algorithm::HS256, &[b'a'; 32]).unwrap();
        let clock = ManualClock::new(1_000);
        let file = KeyFile::jwks("/mnt/stuck/jwks.json")
            .with_read_timeout(Duration::from_secs(2))
            .with_reader(hanging_read);
        let ring = KeyRing::builder(
            KeySet::single(key),
            Metrics::new(&prometheus::Registry::new()).unwrap(),
        )
        .with_clock(clock.clone())
        .with_source(file)
        .build();

        let reloading = std::thread::spawn({
            let ring = ring.clone();
            move || ring.reload()
        });
        let deadline = Instant::now() + Duration::from_secs(1);
        let in_progress = loop {
            let started = Instant::now();
            let status = ring.status();
            assert!(
                started.elapsed() < Duration::from_millis(100),
                "status waited"
            );
            if let Some(read) = status.source.and_then(|source| source.read_in_progress) {
                break read;
            }
            assert!(
                Instant::now() < deadline,
                "the read never showed as in progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(in_progress.since, 1_000);
        clock.advance(7);
        let status = ring.status().source.unwrap();
        assert_eq!(status.read_in_progress.unwrap().seconds, 7);

        let err = reloading.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("no answer within 2s"), "{err}");
        assert_eq!(ring.current_kid(), "a", "the last good keys stay");
        let status = ring.status().source.unwrap();
        assert!(status.last_error.unwrap().contains("no answer within"));
        assert!(status.read_in_progress.is_some(), "still hanging");

        let (open, opened) = &GATE;
        *open.lock().unwrap() = true;
        opened.notify_all();
    }
}
