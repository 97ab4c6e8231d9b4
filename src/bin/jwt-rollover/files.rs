//! Reading inputs and writing key files: bounded reads, private files that
//! are never overwritten, and atomic replacement of the verifiers' JWKS.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_rollover::MAX_KEY_FILE_BYTES;

use crate::{Failure, is_stdio};

/// Reads `path` (or stdin for `-`), at most `MAX_KEY_FILE_BYTES`: key
/// files are small, and a wrong path to a large file should fail fast.
pub(crate) fn read_bounded(flag: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let limit = MAX_KEY_FILE_BYTES as u64 + 1;
    let read = if is_stdio(path) {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        File::open(path).and_then(|file| file.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|err| {
        Failure::usage(format!(
            "{flag} {}: cannot read it: {err}; check the path",
            path.display()
        ))
    })?;
    if bytes.len() > MAX_KEY_FILE_BYTES {
        return Err(Failure::usage(format!(
            "{flag} {}: more than {MAX_KEY_FILE_BYTES} bytes, far more than a key file: check the path",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Creates `path` with mode 0600 and writes `bytes`; never replaces an
/// existing file, so a typo cannot destroy a key that is in use.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(format!(
                "--out {}: the file exists, and keygen never overwrites a key; choose another --out (or move the old file away first)",
                path.display()
            ))
        } else {
            Failure::usage(format!(
                "--out {}: cannot create it: {err}; check the directory exists and is writable",
                path.display()
            ))
        }
    })?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(err) = written {
        // A half-written key is worse than none.
        let _ = fs::remove_file(path);
        return Err(Failure::usage(format!(
            "--out {}: cannot write it: {err}; nothing was kept",
            path.display()
        )));
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same
/// directory (so the rename stays on one filesystem), fsync, rename, so a
/// watcher or a crash never sees half a JWKS. The old file's mode is kept.
/// A symlink is followed: the file it points to is replaced, the link kept.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail = |what: &str, err: std::io::Error| {
        Failure::usage(format!(
            "--jwks {}: cannot {what}: {err}; the file is unchanged",
            path.display()
        ))
    };
    let target = fs::canonicalize(path).map_err(|err| fail("resolve it", err))?;
    let permissions = fs::metadata(&target)
        .map_err(|err| fail("read its mode", err))?
        .permissions();
    let temp = temp_path(&target);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|err| fail("create a temporary file beside it", err))?;
        file.set_permissions(permissions)
            .map_err(|err| fail("set the temporary file's mode", err))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|err| fail("write the temporary file", err))?;
        fs::rename(&temp, &target).map_err(|err| fail("rename the temporary file over it", err))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    // The rename is durable once the directory is synced; a filesystem
    // that cannot sync a directory still has the new file in place.
    if let Some(dir) = target.parent()
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Creates `path` with `bytes` whole or not at all, and never over an
/// existing file: a temporary file beside it, fsync, then a hard link to
/// the final name (which fails if the name exists). `private` files get
/// mode 0600 (an HMAC JWKS holds its secret), others 0644.
pub(crate) fn create_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), Failure> {
    let fail = |what: &str, err: std::io::Error| {
        Failure::usage(format!(
            "--jwks {}: cannot {what}: {err}; nothing was written",
            path.display()
        ))
    };
    let temp = temp_path(path);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = (|| {
        let mut file = options
            .open(&temp)
            .map_err(|err| fail("create a temporary file beside it", err))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|err| fail("write the temporary file", err))?;
        fs::hard_link(&temp, path).map_err(|err| fail("create it", err))
    })();
    // The temporary name goes either way: on success the file lives on
    // under its final name.
    let _ = fs::remove_file(&temp);
    result
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "jwks".into(), |name| name.to_string_lossy().into_owned());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    target.with_file_name(format!(
        ".{name}.jwt-rollover-{}-{nanos}.tmp",
        std::process::id()
    ))
}
