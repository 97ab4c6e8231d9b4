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

/// The format of a key file. See the [module docs](crate::keys) for both.
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
/// use jwt_rollover::keys::KeyFile;
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
}

impl KeyFile {
    /// A key file in `format`.
    pub fn new(path: impl Into<PathBuf>, format: KeyFormat) -> Self {
        Self {
            path: path.into(),
            format,
            read_timeout: DEFAULT_READ_TIMEOUT,
            reading_since: Arc::new(AtomicU64::new(0)),
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
        let spawned = std::thread::Builder::new()
            .name("jwt-key-file-read".to_owned())
            .spawn(move || {
                let bytes = read_regular_file(&path);
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

/// A bare path is a JWKS file, the default format.
impl From<PathBuf> for KeyFile {
    fn from(path: PathBuf) -> Self {
        Self::jwks(path)
    }
}

/// A bare path is a JWKS file, the default format.
impl From<&PathBuf> for KeyFile {
    fn from(path: &PathBuf) -> Self {
        Self::jwks(path.clone())
    }
}

/// A bare path is a JWKS file, the default format.
impl From<&Path> for KeyFile {
    fn from(path: &Path) -> Self {
        Self::jwks(path)
    }
}

/// A bare path is a JWKS file, the default format.
impl From<&str> for KeyFile {
    fn from(path: &str) -> Self {
        Self::jwks(path)
    }
}

/// A bare path is a JWKS file, the default format.
impl From<String> for KeyFile {
    fn from(path: String) -> Self {
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
