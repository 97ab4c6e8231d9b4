//! Hot reload: watch the key file and reload the ring when it changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ring::KeyRing;

/// How the watcher waits and polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    poll_interval: Duration,
    debounce: Duration,
    max_delay: Duration,
}

impl Default for WatchOptions {
    /// Poll every 60 s; reload 100 ms after events stop, at most 1 s after
    /// the first one.
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(60),
            debounce: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl WatchOptions {
    /// How often the file is re-read whatever the events say (at least 100 ms).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// How long events must stop before the file is re-read.
    #[must_use]
    pub fn with_debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// The longest a storm of events may delay a reload.
    #[must_use]
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The ring was built without [`KeyRingBuilder::with_source`](crate::KeyRingBuilder::with_source).
    #[error("the key ring has no key file to watch")]
    NoSource,
    /// Not called from within a tokio runtime.
    #[error("watching needs a tokio runtime; without one, call KeyRing::reload yourself")]
    NoRuntime,
}

/// How the key file is mounted, as detected at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileLayout {
    /// A Kubernetes Secret or ConfigMap volume: `..data` beside the file.
    SecretVolume,
    /// Any other file.
    PlainFile,
}

impl KeyFileLayout {
    /// Looks for `..data` beside `path`.
    fn detect(path: &Path) -> Self {
        if parent_dir(path).join("..data").exists() {
            Self::SecretVolume
        } else {
            Self::PlainFile
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The running watcher. Dropping it stops the task and the file watch.
#[derive(Debug)]
#[must_use = "the watcher stops when this handle is dropped"]
pub struct KeyWatcher {
    task: tokio::task::JoinHandle<()>,
    layout: KeyFileLayout,
    // Kept alive for its events; dropping it removes the watch.
    events: Option<notify::RecommendedWatcher>,
}

impl KeyWatcher {
    /// The layout detected at start.
    pub fn layout(&self) -> KeyFileLayout {
        self.layout
    }

    /// Whether file events are watched (`false`: polling only).
    pub fn has_events(&self) -> bool {
        self.events.is_some()
    }
}

impl Drop for KeyWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeyRing {
    /// Starts watching the ring's key file, and reloads it when it changes.
    ///
    /// Kubernetes updates a Secret volume with its AtomicWriter: it writes a new
    /// `..<timestamp>` directory, points a new `..data_tmp` symlink at it,
    /// renames that over `..data` (atomic), and deletes the old directory. The
    /// visible `jwks.json` is a symlink `jwks.json -> ..data/jwks.json`. So file
    /// mtimes never change, a watch on the file itself dies with the old
    /// directory, and the swap arrives as create/rename events on the mount
    /// directory (kubernetes/kubernetes#111947, notify-rs/notify#381).
    ///
    /// Hence the watcher:
    ///
    /// - watches the file's **parent directory** (the mount root, which
    ///   survives every swap) with `notify`, non-recursively;
    /// - treats every event there only as a hint: it waits until events stop for
    ///   `debounce` (at most `max_delay` in a storm), then re-reads the file
    ///   through its path, which resolves `..data` to the newest version;
    /// - hashes the content, so an event that changed nothing is an
    ///   `unchanged` reload;
    /// - also reloads every `poll_interval` (default 60 s), for filesystems
    ///   whose events go missing (NFS, some FUSE mounts), or when the watch
    ///   cannot be set up at all;
    /// - keeps the last good keys when the content is bad, mid-swap or not
    ///   (see [`KeyRing::reload`]).
    ///
    /// At start it logs one line naming the layout it found: a Secret volume
    /// (`..data` beside the file) or a plain file, reloaded on rename or on an
    /// in-place write.
    ///
    /// The watcher needs a tokio runtime: [`KeyRing::watch`] spawns its task on
    /// the current one, and returns [`WatchError::NoRuntime`] outside one
    /// instead of panicking. Without tokio, call [`KeyRing::reload`] yourself
    /// (for example from a timer or a signal handler).
    ///
    /// ```no_run
    /// use jwt_rollover::{KeyRing, Metrics};
    /// use jwt_rollover::WatchOptions;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use jwt_rollover::KeyFile;
    ///
    /// let file = KeyFile::jwks("/etc/jwt/jwks.json");
    /// let ring = KeyRing::builder(file.load()?, Metrics::new(&prometheus::Registry::new())?)
    ///     .with_source(file)
    ///     .build();
    /// let _watcher = ring.watch(WatchOptions::default())?; // stops when dropped
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`WatchError::NoSource`] when the ring has no key file,
    /// [`WatchError::NoRuntime`] outside a tokio runtime. A file watch that
    /// cannot be set up is not an error: it is logged, and polling goes on.
    pub fn watch(&self, options: WatchOptions) -> Result<KeyWatcher, WatchError> {
        let path = self.source().ok_or(WatchError::NoSource)?.path().to_owned();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WatchError::NoRuntime)?;
        let layout = KeyFileLayout::detect(&path);
        let dir = parent_dir(&path);
        match layout {
            KeyFileLayout::SecretVolume => tracing::info!(
                path = %path.display(),
                poll = ?options.poll_interval,
                "watching a Kubernetes Secret volume (..data beside the file): reloading on ..data swaps"
            ),
            KeyFileLayout::PlainFile => tracing::info!(
                path = %path.display(),
                poll = ?options.poll_interval,
                "watching a plain file: reloading on rename or in-place write"
            ),
        }

        let hints = Arc::new(Notify::new());
        let events = watch_dir(&dir, hints.clone(), &options);
        let ring = self.clone();
        let task = runtime.spawn(async move {
            let mut poll = tokio::time::interval(options.poll_interval);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = hints.notified() => settle(&hints, &options).await,
                    _ = poll.tick() => {}
                }
                let ring = ring.clone();
                // File I/O stays off the async worker threads. Errors are
                // counted, logged and shown by reload itself.
                let _ = tokio::task::spawn_blocking(move || ring.reload()).await;
            }
        });
        Ok(KeyWatcher {
            task,
            layout,
            events,
        })
    }
}

/// Sets up the directory watch; `None` (polling only) when that fails.
fn watch_dir(
    dir: &Path,
    hints: Arc<Notify>,
    options: &WatchOptions,
) -> Option<notify::RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Any event, even an error, is only a reason to look again; except
        // accesses: our own reload opens the file, and on a plain file in
        // the watched directory that open would schedule the next reload.
        if !matches!(&event, Ok(event) if event.kind.is_access()) {
            hints.notify_one();
        }
    });
    let result = watcher.and_then(|mut watcher| {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    });
    match result {
        Ok(watcher) => Some(watcher),
        Err(err) => {
            tracing::warn!(
                dir = %dir.display(),
                error = %err,
                poll = ?options.poll_interval,
                "cannot watch the key file's directory; relying on polling"
            );
            None
        }
    }
}

/// Waits until hints stop for `debounce`, or `max_delay` after the first.
async fn settle(hints: &Notify, options: &WatchOptions) {
    let deadline = Instant::now() + options.max_delay;
    loop {
        tokio::select! {
            () = hints.notified() => {}
            () = tokio::time::sleep(options.debounce) => return,
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}
