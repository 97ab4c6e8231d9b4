//! A key file on disk: where it is, which format it holds, and how it is
//! read so that a bad or hanging file can never stall the caller.
//!
//! The format is **configured, never guessed**: [`KeyFile::jwks`] (the
//! default when a bare path is given) or [`KeyFile::secret`]. Guessing from
//! the content once turned a public PEM key, saved where the JWKS was
//! expected, into an HMAC secret anyone could sign with.
//!
//! Reading is defensive:
//!
//! - only a regular file (or a symlink to one) is read: a FIFO, a device, a
//!   socket or a directory is refused by its type, checked on the opened
//!   file (opened non-blocking, so opening a FIFO does not wait for a
//!   writer);
//! - at most [`MAX_KEY_FILE_BYTES`] + 1 bytes are read;
//! - the read runs on a thread of its own and is given up after the read
//!   timeout (default 5 s), for a network or FUSE mount that stops
//!   answering. While such a read has not returned, further reads of the
//!   same `KeyFile` fail at once instead of piling up threads.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{KeyError, KeySet, MAX_KEY_FILE_BYTES};
use crate::clock::{Clock as _, SystemClock};

/// How long a key file read may take before it is given up.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The format of a key file. [`KeySet`] describes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyFormat {
    /// A JWKS document (RFC 7517): `{"keys": [current, previous?]}`.
    #[default]
    Jwks,
    /// The whole file is one raw HS256 secret.
    Secret,
}

impl KeyFormat {
    /// The name used on command lines: `jwks` or `secret`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Jwks => "jwks",
            Self::Secret => "secret",
        }
    }
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyFormat {
    type Err = String;

    /// `jwks` or `secret`, as `--key-format` takes them.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "jwks" => Ok(Self::Jwks),
            "secret" => Ok(Self::Secret),
            other => Err(format!(
                "unknown key format {other:?}: expected jwks or secret"
            )),
        }
    }
}

/// A key file: its path, its configured format and how long a read may
/// take. A ring built [with it](crate::KeyRingBuilder::with_source) reloads
/// it in the same format.
///
/// ```no_run
/// use jwt_rollover::KeyFile;
///
/// let file = KeyFile::jwks("/etc/jwt/jwks.json");
/// let keys = file.load()?; // refused whole unless it is a valid JWKS
/// # Ok::<(), jwt_rollover::KeyError>(())
/// ```
#[derive(Clone)]
pub struct KeyFile {
    path: PathBuf,
    format: KeyFormat,
    read_timeout: Duration,
    /// Unix second a read started that has not returned yet; 0 for none.
    /// Shared by clones: the ring's reloads and its status see one value.
    reading_since: Arc<AtomicU64>,
    /// [`read_regular_file`]; tests put a read that hangs in its place.
    read_file: fn(&Path) -> Result<Vec<u8>, KeyError>,
}

impl KeyFile {
    /// A key file in `format`.
    pub fn new(path: impl Into<PathBuf>, format: KeyFormat) -> Self {
        Self {
            path: path.into(),
            format,
            read_timeout: DEFAULT_READ_TIMEOUT,
            reading_since: Arc::new(AtomicU64::new(0)),
            read_file: read_regular_file,
        }
    }

    /// A JWKS document.
    pub fn jwks(path: impl Into<PathBuf>) -> Self {
        Self::new(path, KeyFormat::Jwks)
    }

    /// A raw HS256 secret file.
    pub fn secret(path: impl Into<PathBuf>) -> Self {
        Self::new(path, KeyFormat::Secret)
    }

    /// How long a read may take before it is given up (default
    /// [`DEFAULT_READ_TIMEOUT`]).
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured format.
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// Reads and parses the file. Blocks the calling thread for at most the
    /// read timeout: from async code, call it before serving or in
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// When the file cannot be read in time, is not a regular file, or its
    /// content is not valid for the configured format.
    pub fn load(&self) -> Result<KeySet, KeyError> {
        let bytes = self.read(SystemClock.now_unix())?;
        KeySet::parse(&bytes, self.format)
    }

    /// Reads the raw content within the read timeout. `now` marks when the
    /// read started, for [`KeyFile::reading_since`].
    pub(crate) fn read(&self, now: u64) -> Result<Vec<u8>, KeyError> {
        // `max(1)`: a clock at 0 must still mark the read as in flight.
        let started = now.max(1);
        if let Err(since) =
            self.reading_since
                .compare_exchange(0, started, Ordering::AcqRel, Ordering::Acquire)
        {
            return Err(KeyError::ReadStuck {
                path: self.path.clone(),
                seconds: now.saturating_sub(since),
            });
        }
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let path = self.path.clone();
        let in_flight = Arc::clone(&self.reading_since);
        let read_file = self.read_file;
        let spawned = std::thread::Builder::new()
            .name("jwt-key-file-read".to_owned())
            .spawn(move || {
                let bytes = read_file(&path);
                in_flight.store(0, Ordering::Release);
                // The caller may have given up waiting; nothing to do then.
                let _ = done.send(bytes);
            });
        if let Err(source) = spawned {
            self.reading_since.store(0, Ordering::Release);
            return Err(KeyError::Io {
                path: self.path.clone(),
                source,
            });
        }
        result.recv_timeout(self.read_timeout).unwrap_or_else(|_| {
            Err(KeyError::ReadTimeout {
                path: self.path.clone(),
                timeout: self.read_timeout,
            })
        })
    }

    /// Unix second a read started that has not returned yet.
    pub(crate) fn reading_since(&self) -> Option<u64> {
        Some(self.reading_since.load(Ordering::Acquire)).filter(|&since| since > 0)
    }

    /// Reads through `read_file` instead of the file system.
    #[cfg(test)]
    pub(crate) fn with_reader(mut self, read_file: fn(&Path) -> Result<Vec<u8>, KeyError>) -> Self {
        self.read_file = read_file;
        self
    }
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

/// A bare path (`&str`, `String`, `&Path`, `PathBuf`...) is a JWKS file,
/// the default format.
impl<P: Into<PathBuf>> From<P> for KeyFile {
    fn from(path: P) -> Self {
        Self::jwks(path)
    }
}

/// Opens `path` (following symlinks) without blocking, refuses anything but
/// a regular file, and reads at most one byte more than a key file may
/// have, so that a huge file is refused without reading it all.
fn read_regular_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Opening a FIFO for reading would wait for a writer.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    // The type of what was opened, not of what the path named a moment
    // before: a swap in between cannot slip a FIFO past the check.
    let file_type = file.metadata().map_err(io)?.file_type();
    if !file_type.is_file() {
        return Err(KeyError::NotRegularFile {
            path: path.to_owned(),
            kind: describe_file_type(file_type),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

fn describe_file_type(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    "not a regular file"
}

#[cfg(all(test, unix))]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Instant;

    use super::*;

    /// A temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "jwt-rollover-file-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const JWKS: &[u8] = br#"{"keys":[{"kty":"oct","kid":"a","alg":"HS256","k":"YS1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXMtLS0"}]}"#;

    #[test]
    fn only_regular_files_are_read() {
        let dir = TempDir::new("types");
        let file = dir.0.join("jwks.json");
        std::fs::write(&file, JWKS).unwrap();
        let link = dir.0.join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(KeyFile::jwks(&file).load().unwrap().current().kid(), "a");
        assert_eq!(KeyFile::jwks(&link).load().unwrap().current().kid(), "a");

        let fifo = dir.0.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let cases = [
            (dir.0.clone(), "a directory"),
            (fifo, "a FIFO"),
            (PathBuf::from("/dev/null"), "a device"),
        ];
        for (path, kind) in cases {
            let started = Instant::now();
            let err = KeyFile::jwks(&path).load().unwrap_err();
            assert!(
                matches!(&err, KeyError::NotRegularFile { kind: got, .. } if *got == kind),
                "{}: {err:?}",
                path.display()
            );
            assert!(err.to_string().contains(&format!("it is {kind}")), "{err}");
            // Refused by type, not by a timeout.
            assert!(started.elapsed() < Duration::from_secs(1), "{kind}");
        }
    }

    #[test]
    fn a_file_over_the_bound_is_refused_without_reading_it_all() {
        let dir = TempDir::new("large");
        let path = dir.0.join("big");
        std::fs::write(&path, vec![b' '; 10 * MAX_KEY_FILE_BYTES]).unwrap();
        let bytes = KeyFile::jwks(&path).read(1).unwrap();
        assert_eq!(bytes.len(), MAX_KEY_FILE_BYTES + 1);
        assert!(matches!(
            KeyFile::jwks(&path).load(),
            Err(KeyError::TooLarge { .. })
        ));
    }

    /// Opened by [`hanging_read`]'s test to let the read return.
    static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    /// A read on a mount that stops answering, until the gate opens.
    fn hanging_read(_: &Path) -> Result<Vec<u8>, KeyError> {
        let (open, opened) = &GATE;
        let mut open = open.lock().unwrap();
        while !*open {
            open = opened.wait(open).unwrap();
        }
        Ok(JWKS.to_vec())
    }

    #[test]
    fn a_hanging_read_is_given_up_and_not_started_twice() {
        let file = KeyFile::jwks("/mnt/stuck/jwks.json")
            .with_read_timeout(Duration::from_millis(200))
            .with_reader(hanging_read);
        let started = Instant::now();
        let err = file.read(1_000).unwrap_err();
        assert!(matches!(err, KeyError::ReadTimeout { .. }), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(file.reading_since(), Some(1_000));

        // While it hangs, a clone (the ring's status, a second reload)
        // sees it, and no second read thread is started.
        let clone = file.clone();
        assert_eq!(clone.reading_since(), Some(1_000));
        let started = Instant::now();
        let err = clone.read(1_030).unwrap_err();
        assert!(
            matches!(err, KeyError::ReadStuck { seconds: 30, .. }),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(100));

        // The mount answers again: the stuck read ends, the next one works.
        let (open, opened) = &GATE;
        *open.lock().unwrap() = true;
        opened.notify_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        while file.reading_since().is_some() {
            assert!(Instant::now() < deadline, "the read never returned");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(file.read(1_060).unwrap(), JWKS);
        assert_eq!(file.reading_since(), None);
    }

    #[test]
    fn format_names_round_trip() {
        for format in [KeyFormat::Jwks, KeyFormat::Secret] {
            assert_eq!(format.as_str().parse::<KeyFormat>(), Ok(format));
        }
        let err = "pem".parse::<KeyFormat>().unwrap_err();
        assert!(err.contains("expected jwks or secret"), "{err}");
        assert_eq!(KeyFormat::default(), KeyFormat::Jwks);
    }
}
