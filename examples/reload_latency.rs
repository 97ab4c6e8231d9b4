//! How long a Kubernetes Secret swap takes to reach the key ring.
//!
//! ```text
//! cargo run --release --example reload_latency
//! ```
//!
//! Sets up a Secret-volume layout in a temporary directory (`jwks.json ->
//! ..data/jwks.json`, `..data -> ..<timestamp>`), watches it with the
//! default [`WatchOptions`], then performs 100 swaps the way the kubelet's
//! AtomicWriter does, each rotating to a new key. For each swap it measures
//! the time from the rename of `..data` to the ring's current kid being the
//! new key (checked every millisecond), and prints the median, p90 and max.
//! Exits non-zero if the slowest pickup took a second or more.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_rollover::{KeyFile, KeyRing, Metrics};
use jwt_rollover::{KeyFileLayout, WatchOptions};
use serde_json::json;

const SWAPS: usize = 100;
/// A pickup slower than this fails the run.
const LIMIT: Duration = Duration::from_secs(1);
/// Give up on one swap after this long.
const GIVE_UP: Duration = Duration::from_secs(10);

/// A Secret volume updated like the kubelet's AtomicWriter does it.
struct SecretVolume {
    dir: PathBuf,
    generation: u64,
    names: BTreeSet<String>,
    data_dir: Option<String>,
}

impl SecretVolume {
    fn create(dir: &Path, files: &[(&str, &[u8])]) -> std::io::Result<Self> {
        let mut volume = Self {
            dir: dir.to_owned(),
            generation: 0,
            names: BTreeSet::new(),
            data_dir: None,
        };
        volume.swap(files)?;
        Ok(volume)
    }

    /// Replaces the payload; returns the instant `..data` was renamed.
    fn swap(&mut self, files: &[(&str, &[u8])]) -> std::io::Result<Instant> {
        use std::os::unix::fs::symlink;

        self.generation += 1;
        let ts = format!(
            "..2026_11_28_06_{:02}_{:02}.{:09}",
            self.generation / 60 % 60,
            self.generation % 60,
            self.generation
        );
        // 1. The new version in its own directory.
        let ts_dir = self.dir.join(&ts);
        std::fs::create_dir(&ts_dir)?;
        for (name, bytes) in files {
            std::fs::write(ts_dir.join(name), bytes)?;
        }
        // 2. Visible symlinks for new names.
        let names: BTreeSet<String> = files.iter().map(|(name, _)| (*name).to_owned()).collect();
        for name in names.difference(&self.names) {
            symlink(Path::new("..data").join(name), self.dir.join(name))?;
        }
        // 3. and 4. ..data_tmp -> ..<ts>, renamed over ..data.
        let tmp = self.dir.join("..data_tmp");
        symlink(&ts, &tmp)?;
        std::fs::rename(&tmp, self.dir.join("..data"))?;
        let renamed = Instant::now();
        // 5. Names that are gone.
        for name in self.names.difference(&names) {
            std::fs::remove_file(self.dir.join(name))?;
        }
        // 6. The old version.
        if let Some(old) = self.data_dir.replace(ts) {
            std::fs::remove_dir_all(self.dir.join(old))?;
        }
        self.names = names;
        Ok(renamed)
    }
}

/// Removes the temporary directory however the run ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kid(i: usize) -> String {
    format!("latency-{i:04}")
}

/// A JWKS file with key `i` current and key `i - 1` previous.
fn jwks(i: usize) -> Vec<u8> {
    let key = |i: usize| {
        let secret = format!("latency-secret-{i:04}-padded-to-40-bytes!");
        json!({"kty": "oct", "kid": kid(i), "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(secret)})
    };
    serde_json::to_vec(&json!({"keys": [key(i), key(i.saturating_sub(1))]}))
        .expect("JSON serializes")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let dir = TempDir(std::env::temp_dir().join(format!(
        "jwt-rollover-reload-latency-{}-{nanos}",
        std::process::id()
    )));
    std::fs::create_dir_all(&dir.0)?;

    let mut volume = SecretVolume::create(&dir.0, &[("jwks.json", &jwks(1))])?;
    let path = dir.0.join("jwks.json");
    let registry = prometheus::Registry::new();
    let file = KeyFile::jwks(&path);
    let ring = KeyRing::builder(file.load()?, Metrics::new(&registry)?)
        .with_source(file)
        .build();
    let options = WatchOptions::default();
    let watcher = ring.watch(options.clone())?;
    if watcher.layout() != KeyFileLayout::SecretVolume || !watcher.has_events() {
        return Err(format!(
            "expected a watched Secret volume, got {:?} (events: {})",
            watcher.layout(),
            watcher.has_events()
        )
        .into());
    }
    println!("watch options: {options:?}");
    println!(
        "swaps: {SWAPS} (kubelet AtomicWriter sequence, Secret volume in {})",
        dir.0.display()
    );
    // Let the watcher's first read (its immediate first poll) pass.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut latencies = Vec::with_capacity(SWAPS);
    for i in 2..SWAPS + 2 {
        let want = kid(i);
        let renamed = volume.swap(&[("jwks.json", &jwks(i))])?;
        loop {
            if ring.current_kid() == want {
                latencies.push(renamed.elapsed());
                break;
            }
            if renamed.elapsed() >= GIVE_UP {
                eprintln!("swap to {want}: not picked up within {GIVE_UP:?}");
                return Ok(ExitCode::FAILURE);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    drop(watcher);

    latencies.sort();
    let median = percentile(&latencies, 50.0);
    let p90 = percentile(&latencies, 90.0);
    let max = *latencies.last().expect("samples");
    println!(
        "rename of ..data -> new current kid: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(median),
        ms(p90),
        ms(max)
    );
    if max >= LIMIT {
        eprintln!("FAIL: max {:.1} ms >= {} ms", ms(max), LIMIT.as_millis());
        return Ok(ExitCode::FAILURE);
    }
    println!("OK: max below {} ms", LIMIT.as_millis());
    Ok(ExitCode::SUCCESS)
}
