//! Hot reload against real files in temporary directories: Kubernetes
//! Secret-volume swaps (the kubelet AtomicWriter sequence), plain files
//! renamed over or written in place, bad content refused whole, the polling
//! fallback, the admin `POST /keys/reload`, and a rotation under load that
//! must not reject a single valid token.
//!
//! Every wait is a bounded poll loop (every 10 ms, failing after
//! [`BOUND`]); the only negative wait is the short one proving that a
//! dropped watcher reloads nothing.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use http::{Method, StatusCode};
use jwt_rollover::admin::{AdminAuth, admin_router};
use jwt_rollover::status::SourceStatus;
use jwt_rollover::{JwtLayer, KeyFile, KeyRing, KeySet, Metrics, ReloadError, ReloadOutcome};
use jwt_rollover::{KeyFileLayout, KeyWatcher, WatchError, WatchOptions};
use prometheus::Registry;
use serde_json::{Value, json};

use common::process::TempDir;
use common::{PASSWD, PEM_PUBLIC_KEY};
use common::{
    b64, bearer, metric_value, mint, rename_over, request, send, unix_now, whoami_router,
};

// ---------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------

/// The longest any positive wait may take before the test fails.
const BOUND: Duration = Duration::from_secs(5);
/// How often a wait re-checks its condition.
const TICK: Duration = Duration::from_millis(10);

/// Whether `done()` comes to hold, checking every [`TICK`] for at most [`BOUND`].
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + BOUND;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Waits until `done()` holds; panics after [`BOUND`].
async fn wait_until(what: impl Display, done: impl FnMut() -> bool) {
    assert!(eventually(done).await, "not within {BOUND:?}: {what}");
}

/// Events only (the poll is an hour away), short debounce.
fn event_options() -> WatchOptions {
    WatchOptions::default()
        .with_debounce(Duration::from_millis(30))
        .with_max_delay(Duration::from_millis(300))
        .with_poll_interval(Duration::from_secs(3600))
}

/// Polling every 200 ms, for the fallback tests.
fn poll_options() -> WatchOptions {
    event_options().with_poll_interval(Duration::from_millis(200))
}

// ---------------------------------------------------------------------------
// Temporary directories and the kubelet AtomicWriter
// ---------------------------------------------------------------------------

/// A Kubernetes Secret volume, updated the way the kubelet's AtomicWriter
/// does it: visible names are symlinks `name -> ..data/name`, `..data` is a
/// symlink to the newest `..<timestamp>` directory.
struct SecretVolume {
    dir: PathBuf,
    generation: u64,
    /// The visible names of the last payload.
    names: BTreeSet<String>,
    /// The `..<timestamp>` directory `..data` points at.
    data_dir: Option<String>,
}

impl SecretVolume {
    /// A volume in `dir` holding `files`.
    fn create(dir: &Path, files: &[(&str, &[u8])]) -> Self {
        let mut volume = Self {
            dir: dir.to_owned(),
            generation: 0,
            names: BTreeSet::new(),
            data_dir: None,
        };
        volume.swap(files);
        volume
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces the payload with `files`; returns the instant `..data` was
    /// renamed.
    fn swap(&mut self, files: &[(&str, &[u8])]) -> Instant {
        use std::os::unix::fs::symlink;

        self.generation += 1;
        let ts = format!(
            "..2026_11_28_06_{:02}_{:02}.{:09}",
            self.generation / 60 % 60,
            self.generation % 60,
            self.generation
        );
        // 1. The new version, complete, in its own directory.
        let ts_dir = self.dir.join(&ts);
        std::fs::create_dir(&ts_dir).expect("create ..<ts>");
        for (name, bytes) in files {
            std::fs::write(ts_dir.join(name), bytes).expect("write payload file");
        }
        // 2. Visible symlinks for names that are new.
        let names: BTreeSet<String> = files.iter().map(|(name, _)| (*name).to_owned()).collect();
        for name in names.difference(&self.names) {
            symlink(Path::new("..data").join(name), self.dir.join(name))
                .expect("create visible symlink");
        }
        // 3. ..data_tmp -> ..<ts>
        let tmp = self.dir.join("..data_tmp");
        symlink(&ts, &tmp).expect("create ..data_tmp");
        // 4. The atomic swap.
        std::fs::rename(&tmp, self.dir.join("..data")).expect("rename ..data_tmp over ..data");
        let renamed = Instant::now();
        // 5. Visible names that are gone.
        for name in self.names.difference(&names) {
            std::fs::remove_file(self.dir.join(name)).expect("remove visible symlink");
        }
        // 6. The old version.
        if let Some(old) = self.data_dir.replace(ts) {
            std::fs::remove_dir_all(self.dir.join(old)).expect("remove old ..<ts>");
        }
        self.names = names;
        renamed
    }

    /// Every entry of the volume directory, sorted.
    fn entries(&self) -> Vec<String> {
        let mut entries: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("read volume dir")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        entries
    }
}

/// Truncates `path` and writes `bytes` into the same inode.
fn write_in_place(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open key file for writing");
    file.write_all(bytes).expect("write key file");
    file.sync_all().expect("sync key file");
}

// ---------------------------------------------------------------------------
// Keys and tokens
// ---------------------------------------------------------------------------

/// Key number `i`: kid `k0000`, HS256, a 40-byte secret.
fn kid(i: usize) -> String {
    format!("k{i:04}")
}

fn secret(i: usize) -> Vec<u8> {
    format!("secret-number-{i:04}-padded-to-40-bytes!!").into_bytes()
}

fn jwk(i: usize) -> Value {
    json!({"kty": "oct", "kid": kid(i), "alg": "HS256", "k": b64(&secret(i))})
}

/// A JWKS file listing keys `indexes`, in order (current first).
fn jwks(indexes: &[usize]) -> Vec<u8> {
    let keys: Vec<Value> = indexes.iter().map(|&i| jwk(i)).collect();
    serde_json::to_vec_pretty(&json!({ "keys": keys })).unwrap()
}

/// A raw secret file holding secret `i` (with the usual trailing newline).
fn raw(i: usize) -> Vec<u8> {
    let mut bytes = secret(i);
    bytes.push(b'\n');
    bytes
}

/// The kid the crate derives for raw secret `i`.
fn raw_kid(i: usize) -> String {
    KeySet::from_secret(&raw(i))
        .unwrap()
        .current()
        .kid()
        .to_owned()
}

/// A token of `secret` naming `kid`, valid for an hour from now.
fn hour_token(secret: &[u8], kid: &str) -> String {
    let claims = json!({"sub": "alice", "exp": unix_now() + 3600});
    mint(secret, Some(kid), &claims)
}

/// A token of JWKS key `i`.
fn token(i: usize) -> String {
    hour_token(&secret(i), &kid(i))
}

/// A token of raw secret `i`.
fn raw_token(i: usize) -> String {
    hour_token(&secret(i), &raw_kid(i))
}

// ---------------------------------------------------------------------------
// SHA-256, to check the status' content hash independently of the crate
// ---------------------------------------------------------------------------

/// SHA-256 round constants (FIPS 180-4).
#[rustfmt::skip]
const SHA256_K: [u32; 64] = [
    0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
    0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
    0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
    0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
    0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
    0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
    0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
    0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
];

#[allow(clippy::many_single_char_names)]
fn sha256(data: &[u8]) -> [u8; 32] {
    let mut state: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes(bytes.try_into().unwrap());
        }
        for t in 16..64 {
            let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
            let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
        for (k, w) in SHA256_K.iter().zip(w) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(w);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (word, add) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *word = word.wrapping_add(add);
        }
    }
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// What the status should show as `content_hash` for `bytes`: the first 16
/// hex digits of their SHA-256.
fn expected_hash(bytes: &[u8]) -> String {
    sha256(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_test_sha256_matches_the_standard_vectors() {
    let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(sha256(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

// ---------------------------------------------------------------------------
// The ring behind a router
// ---------------------------------------------------------------------------

const ADMIN_TOKEN: &str = "admin-token-for-the-reload-tests";

struct Env {
    registry: Registry,
    ring: KeyRing,
    app: Router,
    admin: Router,
}

impl Env {
    /// A ring loaded from `file` (a bare path is JWKS), with it as its source.
    fn load(file: impl Into<KeyFile>) -> Self {
        let file = file.into();
        let keys = file.load().expect("initial key file is valid");
        Self::with_keys(file, keys)
    }

    /// A ring holding `keys`, with `file` as its source.
    fn with_keys(file: impl Into<KeyFile>, keys: KeySet) -> Self {
        let registry = Registry::new();
        let ring = KeyRing::builder(keys, Metrics::new(&registry).unwrap())
            .with_source(file)
            .build();
        Self::from_ring(registry, ring)
    }

    fn from_ring(registry: Registry, ring: KeyRing) -> Self {
        let app = whoami_router(JwtLayer::<Value>::new(ring.clone()));
        let admin = admin_router(ring.clone(), AdminAuth::bearer(ADMIN_TOKEN).unwrap());
        Self {
            registry,
            ring,
            app,
            admin,
        }
    }

    /// Starts the watcher and waits for its first reload (the immediate
    /// first poll), so that later counter deltas are the test's own.
    async fn watch(&self, options: WatchOptions) -> KeyWatcher {
        let before = self.all_reloads();
        let watcher = self.ring.watch(options).expect("watch starts");
        wait_until("the watcher's first reload", || self.all_reloads() > before).await;
        watcher
    }

    fn reloads(&self, result: &str) -> f64 {
        metric_value(
            &self.registry,
            "jwt_key_reloads_total",
            &[("result", result)],
        )
    }

    fn all_reloads(&self) -> f64 {
        ["success", "error", "unchanged"]
            .iter()
            .map(|result| self.reloads(result))
            .sum()
    }

    fn rotations(&self) -> f64 {
        metric_value(&self.registry, "jwt_key_rotations_total", &[])
    }

    fn source(&self) -> SourceStatus {
        self.ring
            .status()
            .source
            .expect("a ring with a key file reports its source")
    }

    fn kids(&self) -> (String, Option<String>) {
        (self.ring.current_kid(), self.ring.previous_kid())
    }

    /// Waits until the ring's current key is `current`, then checks the
    /// previous key.
    async fn wait_for_keys(&self, current: &str, previous: Option<&str>) {
        let ok = eventually(|| self.ring.current_kid() == current).await;
        assert!(
            ok,
            "current kid not {current} within {BOUND:?}: ring has {:?}, source {:?}",
            self.kids(),
            self.source()
        );
        assert_eq!(
            self.ring.previous_kid().as_deref(),
            previous,
            "previous kid once {current} is current"
        );
    }

    /// Waits until `jwt_key_reloads_total{result}` exceeds `before`.
    async fn wait_for_reload(&self, result: &str, before: f64) {
        wait_until(format!("a reload with result {result}"), || {
            self.reloads(result) > before
        })
        .await;
    }

    /// `GET /whoami` with `token`: status and, for a `200`, the JSON body.
    async fn call(&self, token: &str) -> (StatusCode, Value) {
        let reply = send(&self.app, bearer(token)).await;
        let body = if reply.status == StatusCode::OK {
            serde_json::from_slice(&reply.body).expect("whoami answers JSON")
        } else {
            Value::Null
        };
        (reply.status, body)
    }

    /// `token` verifies, matching key `kid` in `slot`.
    async fn assert_verifies(&self, token: &str, kid: &str, slot: &str) {
        let (status, body) = self.call(token).await;
        assert_eq!(status, StatusCode::OK, "token of {kid} should verify");
        assert_eq!(body["kid"], kid, "matched kid");
        assert_eq!(body["slot"], slot, "matched slot of {kid}");
    }

    /// The tokens of the keys of JWKS epoch `e`, `jwks(&[e, e - 1])`,
    /// verify: key `e` as current, key `e - 1` as previous.
    async fn assert_epoch_verifies(&self, e: usize) {
        self.assert_verifies(&token(e), &kid(e), "current").await;
        self.assert_verifies(&token(e - 1), &kid(e - 1), "previous")
            .await;
    }

    async fn assert_refused(&self, token: &str, what: &str) {
        let (status, _) = self.call(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} should be refused");
    }

    /// `POST /keys/reload` on the admin router: status and JSON body.
    async fn admin_reload(&self) -> (StatusCode, Value) {
        let authorization = [format!("Bearer {ADMIN_TOKEN}")];
        let reply = send(
            &self.admin,
            request(Method::POST, "/keys/reload", &authorization),
        )
        .await;
        let body = serde_json::from_slice(&reply.body).expect("admin answers JSON");
        (reply.status, body)
    }
}

/// The status shows a healthy source: this path, a success between
/// `since` and now, the hash of `content`, no error.
fn assert_source_ok(source: &SourceStatus, path: &Path, since: u64, content: &[u8]) {
    assert_eq!(source.path, path.display().to_string(), "source path");
    let success = source.last_success.expect("a last success");
    assert!(
        (since..=unix_now()).contains(&success),
        "last_success {success} not within [{since}, now]"
    );
    assert!(source.last_reload.is_some_and(|at| at >= success));
    assert_eq!(source.last_error, None, "no error after a good reload");
    assert_ne!(source.last_result, Some("error"));
    assert_eq!(
        source.content_hash.as_deref(),
        Some(expected_hash(content).as_str()),
        "content_hash is the first 16 hex digits of the SHA-256 of the file"
    );
}

// ---------------------------------------------------------------------------
// Kubernetes Secret volume swaps
// ---------------------------------------------------------------------------

#[tokio::test]
async fn kubelet_swaps_of_a_jwks_file_rotate_the_ring() {
    let dir = TempDir::new("jwks-volume");
    let mut volume = SecretVolume::create(dir.path(), &[("jwks.json", &jwks(&[1, 0]))]);
    let path = volume.path("jwks.json");
    let env = Env::load(&path);
    let watcher = env.watch(event_options()).await;
    assert_eq!(watcher.layout(), KeyFileLayout::SecretVolume);
    assert!(watcher.has_events());
    assert_eq!(env.kids(), (kid(1), Some(kid(0))));

    let swaps = 6;
    for e in 2..2 + swaps {
        let since = unix_now();
        let success = env.reloads("success");
        let content = jwks(&[e, e - 1]);
        volume.swap(&[("jwks.json", &content)]);
        env.wait_for_keys(&kid(e), Some(&kid(e - 1))).await;
        env.wait_for_reload("success", success).await;

        env.assert_epoch_verifies(e).await;
        env.assert_refused(&token(e - 2), "a token of the key the file dropped")
            .await;
        assert_source_ok(&env.source(), &path, since, &content);
        // The old ..<ts> directory is gone; the volume holds one version.
        let entries = volume.entries();
        assert_eq!(entries.len(), 3, "volume entries {entries:?}");
        assert!(
            entries.contains(&"..data".to_owned()) && entries.contains(&"jwks.json".to_owned())
        );
    }
    assert_eq!(env.reloads("success"), swaps as f64, "one success per swap");
    assert_eq!(env.rotations(), swaps as f64, "one rotation per swap");
    assert_eq!(env.reloads("error"), 0.0);
    drop(watcher);
}

#[tokio::test]
async fn kubelet_swaps_of_a_raw_secret_demote_the_old_current() {
    let dir = TempDir::new("secret-volume");
    let mut volume = SecretVolume::create(dir.path(), &[("secret", &raw(0))]);
    let path = volume.path("secret");
    let env = Env::load(KeyFile::secret(&path));
    let watcher = env.watch(event_options()).await;
    assert_eq!(watcher.layout(), KeyFileLayout::SecretVolume);
    assert_eq!(env.kids(), (raw_kid(0), None));

    let swaps = 6;
    for e in 1..=swaps {
        let since = unix_now();
        let success = env.reloads("success");
        volume.swap(&[("secret", &raw(e))]);
        // One key in the file: the old current stays usable as previous.
        env.wait_for_keys(&raw_kid(e), Some(&raw_kid(e - 1))).await;
        env.wait_for_reload("success", success).await;

        env.assert_verifies(&raw_token(e), &raw_kid(e), "current")
            .await;
        env.assert_verifies(&raw_token(e - 1), &raw_kid(e - 1), "previous")
            .await;
        if e >= 2 {
            env.assert_refused(&raw_token(e - 2), "a token of the pushed-out key")
                .await;
        }
        assert_source_ok(&env.source(), &path, since, &raw(e));
        assert_eq!(volume.entries().len(), 3, "{:?}", volume.entries());
    }
    assert_eq!(env.reloads("success"), swaps as f64);
    assert_eq!(env.rotations(), swaps as f64);
    drop(watcher);
}

// ---------------------------------------------------------------------------
// Plain files
// ---------------------------------------------------------------------------

/// Rewrites the plain key file at `path` with `write`, three times: each
/// new content must rotate the ring and settle in the source status.
async fn assert_rewrites_are_picked_up(env: &Env, path: &Path, write: fn(&Path, &[u8])) {
    for e in 2..5 {
        let since = unix_now();
        let content = jwks(&[e, e - 1]);
        write(path, &content);
        env.wait_for_keys(&kid(e), Some(&kid(e - 1))).await;
        env.assert_epoch_verifies(e).await;
        // After an in-place write, a read between truncate and write may
        // have seen an empty file; the write's own event clears that.
        wait_until("source status settles on the new content", || {
            env.source().last_error.is_none()
                && env.source().content_hash == Some(expected_hash(&content))
        })
        .await;
        assert_source_ok(&env.source(), path, since, &content);
    }
    assert_eq!(env.rotations(), 3.0);
}

#[tokio::test]
async fn a_rename_over_a_plain_file_is_picked_up() {
    let dir = TempDir::new("plain-rename");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1, 0])).unwrap();
    let env = Env::load(&path);
    let watcher = env.watch(event_options()).await;
    assert_eq!(watcher.layout(), KeyFileLayout::PlainFile);
    assert!(watcher.has_events());
    assert_rewrites_are_picked_up(&env, &path, rename_over).await;
    drop(watcher);
}

#[tokio::test]
async fn an_in_place_write_of_a_plain_file_is_picked_up() {
    let dir = TempDir::new("plain-in-place");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1, 0])).unwrap();
    let env = Env::load(&path);
    let watcher = env.watch(event_options()).await;
    assert_rewrites_are_picked_up(&env, &path, write_in_place).await;
    drop(watcher);
}

// ---------------------------------------------------------------------------
// Bad content
// ---------------------------------------------------------------------------

/// One kind of bad content.
struct BadCase {
    name: &'static str,
    /// `None`: the file is missing.
    content: Option<Vec<u8>>,
    /// What the error must mention.
    reason: &'static str,
    /// Key material that must never appear in the error.
    material: Vec<String>,
}

fn material_of(secrets: &[&[u8]]) -> Vec<String> {
    secrets
        .iter()
        .flat_map(|s| [String::from_utf8_lossy(s).into_owned(), b64(s)])
        .collect()
}

const WEAK_SECRET: &[u8] = b"weak-16-byte-key";

/// Bad contents of a JWKS file.
fn bad_jwks_cases() -> Vec<BadCase> {
    // A JWKS cut short in the middle of a key's material.
    let truncated = format!(
        r#"{{"keys": [{{"kty": "oct", "kid": "k0090", "alg": "HS256", "k": "{}"#,
        b64(&secret(90))
    );
    let weak =
        json!({"keys": [{"kty": "oct", "kid": "weak", "alg": "HS256", "k": b64(WEAK_SECRET)}]});
    vec![
        BadCase {
            name: "parse error",
            content: Some(truncated.into_bytes()),
            reason: "not a JWKS document",
            material: material_of(&[&secret(90)]),
        },
        BadCase {
            name: "empty file",
            content: Some(Vec::new()),
            reason: "empty",
            material: Vec::new(),
        },
        BadCase {
            name: "weak key",
            content: Some(serde_json::to_vec(&weak).unwrap()),
            reason: "at least 32 bytes",
            material: material_of(&[WEAK_SECRET]),
        },
        BadCase {
            name: "three keys",
            content: Some(jwks(&[93, 92, 91])),
            reason: "at most two",
            material: material_of(&[&secret(93), &secret(92), &secret(91)]),
        },
        BadCase {
            name: "file missing",
            content: None,
            reason: "cannot read key file",
            material: Vec::new(),
        },
        // Each of these once loaded as an HS256 secret, demoting the real
        // current key: the format was guessed from the first byte.
        BadCase {
            name: "a PEM public key",
            content: Some(PEM_PUBLIC_KEY.to_vec()),
            reason: "this looks like a PEM public key",
            material: Vec::new(),
        },
        BadCase {
            name: "a JWKS behind a UTF-8 BOM",
            content: Some([b"\xEF\xBB\xBF".as_slice(), &jwks(&[94])].concat()),
            reason: "byte order mark",
            material: material_of(&[&secret(94)]),
        },
        BadCase {
            name: "a JSON array of keys",
            content: Some(
                serde_json::to_vec(&json!([
                    {"kty": "oct", "kid": "k0095", "alg": "HS256", "k": b64(&secret(95))}
                ]))
                .unwrap(),
            ),
            reason: "this looks like a JSON array",
            material: material_of(&[&secret(95)]),
        },
        BadCase {
            name: "/etc/passwd",
            content: Some(PASSWD.to_vec()),
            reason: "text that is not JSON",
            material: Vec::new(),
        },
    ]
}

/// Bad contents of a raw secret file: too short or empty, or printable
/// text shaped like a key or a document.
fn bad_raw_cases() -> Vec<BadCase> {
    let mut weak = WEAK_SECRET.to_vec();
    weak.push(b'\n');
    vec![
        BadCase {
            name: "raw: weak secret",
            content: Some(weak),
            reason: "at least 32 bytes",
            material: material_of(&[WEAK_SECRET]),
        },
        BadCase {
            name: "raw: empty file",
            content: Some(Vec::new()),
            reason: "empty",
            material: Vec::new(),
        },
        BadCase {
            name: "raw: only a newline",
            content: Some(b"\n".to_vec()),
            reason: "empty",
            material: Vec::new(),
        },
        BadCase {
            name: "raw: file missing",
            content: None,
            reason: "cannot read key file",
            material: Vec::new(),
        },
        BadCase {
            name: "raw: a PEM public key",
            content: Some(PEM_PUBLIC_KEY.to_vec()),
            reason: "not a raw secret: this looks like a PEM public key",
            material: Vec::new(),
        },
        BadCase {
            name: "raw: a JWKS document",
            content: Some(jwks(&[96])),
            reason: "not a raw secret: this looks like a JSON object",
            material: material_of(&[&secret(96)]),
        },
        BadCase {
            name: "raw: /etc/passwd",
            content: Some(PASSWD.to_vec()),
            reason: "several lines of text",
            material: Vec::new(),
        },
    ]
}

/// `message` mentions the reason and none of the key material.
fn assert_safe_message(case: &BadCase, message: &str) {
    assert!(
        message.contains(case.reason),
        "{}: error {message:?} does not mention {:?}",
        case.name,
        case.reason
    );
    for material in &case.material {
        assert!(
            !message.contains(material.as_str()),
            "{}: error {message:?} quotes key material",
            case.name
        );
    }
}

fn write_plain(path: &Path, content: Option<&[u8]>) {
    match content {
        Some(bytes) => rename_over(path, bytes),
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test]
async fn bad_content_is_refused_whole_by_reload() {
    for (format, cases) in [("jwks", bad_jwks_cases()), ("raw", bad_raw_cases())] {
        let dir = TempDir::new("bad-reload");
        let path = dir.join("keys");
        let good = |e: usize| {
            if format == "jwks" {
                jwks(&[e, e - 1])
            } else {
                raw(e)
            }
        };
        let good_kids = |e: usize| {
            if format == "jwks" {
                (kid(e), Some(kid(e - 1)))
            } else {
                (raw_kid(e), Some(raw_kid(e - 1)))
            }
        };
        let good_tokens = |e: usize| {
            if format == "jwks" {
                (token(e), token(e - 1))
            } else {
                (raw_token(e), raw_token(e - 1))
            }
        };
        let env = if format == "jwks" {
            std::fs::write(&path, good(1)).unwrap();
            Env::load(&path)
        } else {
            // One raw secret, then a second: the ring holds two keys too.
            std::fs::write(&path, raw(0)).unwrap();
            let env = Env::load(KeyFile::secret(&path));
            rename_over(&path, &good(1));
            assert!(matches!(
                env.ring.reload(),
                Ok(ReloadOutcome::Applied { rotated: true, .. })
            ));
            env
        };

        let mut e = 1;
        for case in &cases {
            let kids = env.kids();
            assert_eq!(kids, good_kids(e), "{}: ring before", case.name);
            let errors = env.reloads("error");
            let success = env.reloads("success");
            let last_success = env.source().last_success;

            write_plain(&path, case.content.as_deref());
            let err = env.ring.reload().expect_err(case.name);
            assert!(
                matches!(err, ReloadError::Invalid(_)),
                "{}: {err:?}",
                case.name
            );
            assert_safe_message(case, &err.to_string());
            let debug = format!("{err:?}");
            for material in &case.material {
                assert!(!debug.contains(material.as_str()), "{}: {debug}", case.name);
            }
            assert_eq!(env.kids(), kids, "{}: keys unchanged", case.name);
            let (current, previous) = good_tokens(e);
            env.assert_verifies(&current, &kids.0, "current").await;
            env.assert_verifies(&previous, kids.1.as_deref().unwrap(), "previous")
                .await;
            assert_eq!(env.reloads("error"), errors + 1.0, "{}", case.name);
            assert_eq!(env.reloads("success"), success, "{}", case.name);
            let source = env.source();
            assert_eq!(source.last_result, Some("error"));
            assert_eq!(source.last_success, last_success, "{}", case.name);
            let last_error = source.last_error.expect("last_error set");
            assert_safe_message(case, &last_error);
            let status_json = serde_json::to_string(&env.ring.status()).unwrap();
            for material in &case.material {
                assert!(!status_json.contains(material.as_str()), "{}", case.name);
            }

            // The same bad content again is an error again, not "unchanged".
            assert!(env.ring.reload().is_err(), "{}: second reload", case.name);
            assert_eq!(env.reloads("error"), errors + 2.0, "{}", case.name);

            // Fixed: new keys apply and the error clears.
            e += 1;
            let since = unix_now();
            write_plain(&path, Some(&good(e)));
            let outcome = env.ring.reload().expect("fixed content reloads");
            assert!(
                matches!(outcome, ReloadOutcome::Applied { rotated: true, .. }),
                "{}: {outcome:?}",
                case.name
            );
            assert_eq!(env.kids(), good_kids(e), "{}: after the fix", case.name);
            assert_source_ok(&env.source(), &path, since, &good(e));
            assert_eq!(env.source().last_result, Some("success"));
        }
    }
}

#[tokio::test]
async fn bad_content_is_refused_whole_by_the_watcher() {
    let dir = TempDir::new("bad-watch");
    let mut volume = SecretVolume::create(dir.path(), &[("jwks.json", &jwks(&[1, 0]))]);
    let path = volume.path("jwks.json");
    let env = Env::load(&path);
    let watcher = env.watch(event_options()).await;

    let mut e = 1;
    for case in bad_jwks_cases() {
        let kids = env.kids();
        assert_eq!(
            kids,
            (kid(e), Some(kid(e - 1))),
            "{}: ring before",
            case.name
        );
        let errors = env.reloads("error");
        match &case.content {
            Some(bytes) => volume.swap(&[("jwks.json", bytes)]),
            // The Secret lost the key: the kubelet removes the visible name.
            None => volume.swap(&[]),
        };
        wait_until(format!("{}: an error reload", case.name), || {
            env.reloads("error") > errors && env.source().last_error.is_some()
        })
        .await;
        assert_eq!(env.kids(), kids, "{}: keys unchanged", case.name);
        env.assert_epoch_verifies(e).await;
        assert_safe_message(&case, &env.source().last_error.unwrap());

        e += 1;
        let since = unix_now();
        let content = jwks(&[e, e - 1]);
        volume.swap(&[("jwks.json", &content)]);
        env.wait_for_keys(&kid(e), Some(&kid(e - 1))).await;
        wait_until(format!("{}: error cleared", case.name), || {
            env.source().last_error.is_none()
        })
        .await;
        assert_source_ok(&env.source(), &path, since, &content);
        env.assert_verifies(&token(e), &kid(e), "current").await;
    }
    drop(watcher);
}

#[tokio::test]
async fn admin_reload_answers_422_for_bad_content_and_200_otherwise() {
    let dir = TempDir::new("admin");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1, 0])).unwrap();
    let env = Env::load(&path);

    let mut e = 1;
    for case in bad_jwks_cases() {
        let errors = env.reloads("error");
        write_plain(&path, case.content.as_deref());
        let (status, body) = env.admin_reload().await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {body}",
            case.name
        );
        assert_eq!(body["error"], "bad_key_content", "{}", case.name);
        assert_safe_message(&case, body["message"].as_str().expect("a message"));
        assert_eq!(env.reloads("error"), errors + 1.0);
        assert_eq!(env.kids(), (kid(e), Some(kid(e - 1))), "{}", case.name);
        env.assert_verifies(&token(e), &kid(e), "current").await;

        e += 1;
        write_plain(&path, Some(&jwks(&[e, e - 1])));
        let (status, body) = env.admin_reload().await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", case.name);
        assert_eq!(body["current"]["kid"], kid(e));
        assert_eq!(body["previous"]["kid"], kid(e - 1));
        assert_eq!(body["source"]["path"], path.display().to_string());
        assert_eq!(body["source"]["last_error"], Value::Null);
        assert_eq!(body["source"]["last_result"], "success");
        assert_eq!(
            body["source"]["content_hash"],
            expected_hash(&jwks(&[e, e - 1]))
        );
    }

    // Unchanged content: 200, nothing moves.
    let (status, body) = env.admin_reload().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["source"]["last_result"], "unchanged");
    assert_eq!(body["current"]["kid"], kid(e));
}

#[tokio::test]
async fn admin_reload_without_a_source_is_404() {
    let registry = Registry::new();
    let ring = KeyRing::new(
        KeySet::from_jwks(&jwks(&[1])).unwrap(),
        Metrics::new(&registry).unwrap(),
    );
    assert!(matches!(ring.reload(), Err(ReloadError::NoSource)));
    assert!(ring.status().source.is_none());
    let env = Env::from_ring(registry, ring);
    let (status, body) = env.admin_reload().await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "no_source");
    assert_eq!(env.all_reloads(), 0.0);
}

// ---------------------------------------------------------------------------
// Unchanged content
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unchanged_content_counts_unchanged_and_changes_nothing() {
    let dir = TempDir::new("unchanged");
    let path = dir.join("jwks.json");
    let content = jwks(&[1, 0]);
    std::fs::write(&path, &content).unwrap();
    let env = Env::load(&path);
    env.assert_epoch_verifies(1).await;
    let watcher = env.watch(event_options()).await;

    let before = env.ring.status();
    let source_before = env.source();
    let rotations = env.rotations();
    let success = env.reloads("success");
    let assert_nothing_changed = |what: &str| {
        let now = env.ring.status();
        assert_eq!(env.kids(), (kid(1), Some(kid(0))), "{what}");
        assert_eq!(now.current.since, before.current.since, "{what}");
        assert_eq!(now.current.verified, 1, "{what}: counters kept");
        let (p_now, p_before) = (now.previous.unwrap(), before.previous.clone().unwrap());
        assert_eq!(p_now.key.since, p_before.key.since, "{what}");
        assert_eq!(p_now.key.verified, 1, "{what}: counters kept");
        assert_eq!(p_now.last_used, p_before.last_used, "{what}");
        assert_eq!(env.rotations(), rotations, "{what}");
        assert_eq!(env.reloads("success"), success, "{what}");
        assert_eq!(env.reloads("error"), 0.0, "{what}");
        let source = env.source();
        assert_eq!(source.last_success, source_before.last_success, "{what}");
        assert_eq!(source.last_error, None, "{what}");
        assert_eq!(source.last_result, Some("unchanged"), "{what}");
    };

    // reload() by hand.
    let unchanged = env.reloads("unchanged");
    assert_eq!(env.ring.reload().unwrap(), ReloadOutcome::Unchanged);
    assert_eq!(env.reloads("unchanged"), unchanged + 1.0);
    assert_nothing_changed("reload()");

    // A touch (mtime only).
    let unchanged = env.reloads("unchanged");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    env.wait_for_reload("unchanged", unchanged).await;
    assert_nothing_changed("touch");

    // The same bytes written in place.
    let unchanged = env.reloads("unchanged");
    write_in_place(&path, &content);
    env.wait_for_reload("unchanged", unchanged).await;
    assert_nothing_changed("same bytes in place");

    // The same bytes renamed over.
    let unchanged = env.reloads("unchanged");
    rename_over(&path, &content);
    env.wait_for_reload("unchanged", unchanged).await;
    assert_nothing_changed("same bytes renamed over");

    // Other bytes, same keys (reformatted JSON): still nothing new.
    let unchanged = env.reloads("unchanged");
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&content).unwrap()).unwrap();
    assert_ne!(compact, content);
    rename_over(&path, &compact);
    env.wait_for_reload("unchanged", unchanged).await;
    assert_nothing_changed("reformatted JSON");
    wait_until("hash of the reformatted file", || {
        env.source().content_hash == Some(expected_hash(&compact))
    })
    .await;
    drop(watcher);
}

#[tokio::test]
async fn an_unchanged_kubelet_swap_counts_unchanged() {
    let dir = TempDir::new("unchanged-volume");
    let content = jwks(&[1, 0]);
    let mut volume = SecretVolume::create(dir.path(), &[("jwks.json", &content)]);
    let env = Env::load(volume.path("jwks.json"));
    let watcher = env.watch(event_options()).await;
    for _ in 0..3 {
        let unchanged = env.reloads("unchanged");
        volume.swap(&[("jwks.json", &content)]);
        env.wait_for_reload("unchanged", unchanged).await;
    }
    assert_eq!(env.kids(), (kid(1), Some(kid(0))));
    assert_eq!(env.reloads("success"), 0.0);
    assert_eq!(env.rotations(), 0.0);
    assert_eq!(env.source().last_success, None, "nothing was ever applied");
    drop(watcher);
}

// ---------------------------------------------------------------------------
// Storms, deletion
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_50_swaps_settles_on_the_last_content() {
    let dir = TempDir::new("storm");
    let mut volume = SecretVolume::create(dir.path(), &[("jwks.json", &jwks(&[0]))]);
    let env = Env::load(volume.path("jwks.json"));
    let watcher = env.watch(event_options()).await;

    let last = 50;
    for i in 1..=last {
        volume.swap(&[("jwks.json", &jwks(&[i, i - 1]))]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    env.wait_for_keys(&kid(last), Some(&kid(last - 1))).await;
    wait_until("the error of a mid-swap read (if any) clears", || {
        env.source().last_error.is_none()
    })
    .await;
    assert_eq!(
        env.source().content_hash,
        Some(expected_hash(&jwks(&[last, last - 1])))
    );
    env.assert_epoch_verifies(last).await;
    let rotations = env.rotations();
    assert!(
        (1.0..=last as f64).contains(&rotations),
        "{rotations} rotations for {last} swaps"
    );
    drop(watcher);
}

#[tokio::test]
async fn a_deleted_file_keeps_the_last_keys_until_restored() {
    let dir = TempDir::new("deleted");
    let path = dir.join("jwks.json");
    let content = jwks(&[1, 0]);
    std::fs::write(&path, &content).unwrap();
    let env = Env::load(&path);
    let watcher = env.watch(event_options()).await;

    let errors = env.reloads("error");
    std::fs::remove_file(&path).unwrap();
    wait_until("an error reload for the missing file", || {
        env.reloads("error") > errors
    })
    .await;
    let last_error = env.source().last_error.expect("last_error while missing");
    assert!(last_error.contains("cannot read key file"), "{last_error}");
    assert_eq!(env.kids(), (kid(1), Some(kid(0))));
    env.assert_epoch_verifies(1).await;

    // Restored with the same content: unchanged, error cleared.
    let unchanged = env.reloads("unchanged");
    std::fs::write(&path, &content).unwrap();
    env.wait_for_reload("unchanged", unchanged).await;
    wait_until("error cleared", || env.source().last_error.is_none()).await;
    assert_eq!(env.kids(), (kid(1), Some(kid(0))));
    assert_eq!(env.reloads("success"), 0.0);

    // Deleted again, restored with new keys: success.
    let errors = env.reloads("error");
    std::fs::remove_file(&path).unwrap();
    wait_until("an error reload", || env.reloads("error") > errors).await;
    std::fs::write(&path, jwks(&[2, 1])).unwrap();
    env.wait_for_keys(&kid(2), Some(&kid(1))).await;
    wait_until("error cleared", || env.source().last_error.is_none()).await;
    assert_eq!(env.reloads("success"), 1.0);
    env.assert_verifies(&token(2), &kid(2), "current").await;
    drop(watcher);
}

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

/// The watched path is a symlink into another directory; rewriting the
/// target there makes no event in the watched directory (inotify reports a
/// directory's own entries only), so only the poll can see the change.
#[tokio::test]
async fn polling_picks_up_a_change_no_directory_event_reports() {
    let watched = TempDir::new("poll-watched");
    let elsewhere = TempDir::new("poll-elsewhere");
    let target = elsewhere.join("jwks.json");
    std::fs::write(&target, jwks(&[1, 0])).unwrap();
    let path = watched.join("jwks.json");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let env = Env::load(&path);
    let watcher = env.watch(poll_options()).await;
    assert!(watcher.has_events(), "the directory watch is set up");

    // Polls happen with no change at all: unchanged reloads keep coming.
    let unchanged = env.reloads("unchanged");
    wait_until("two polls", || env.reloads("unchanged") >= unchanged + 2.0).await;

    for e in 2..4 {
        write_in_place(&target, &jwks(&[e, e - 1]));
        env.wait_for_keys(&kid(e), Some(&kid(e - 1))).await;
        env.assert_verifies(&token(e), &kid(e), "current").await;
    }
    drop(watcher);
}

/// A watch that cannot be set up (the directory does not exist yet) is
/// not an error: the watcher polls.
#[tokio::test]
async fn without_a_directory_watch_polling_still_reloads() {
    let root = TempDir::new("poll-no-dir");
    let dir = root.join("not-yet");
    let path = dir.join("jwks.json");
    let env = Env::with_keys(&path, KeySet::from_jwks(&jwks(&[1, 0])).unwrap());
    let errors = env.reloads("error");
    let watcher = env.ring.watch(poll_options()).expect("watch starts");
    assert!(!watcher.has_events(), "no directory to watch");
    assert_eq!(watcher.layout(), KeyFileLayout::PlainFile);
    wait_until("the first poll fails on the missing file", || {
        env.reloads("error") > errors
    })
    .await;
    assert_eq!(env.kids(), (kid(1), Some(kid(0))));

    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&path, jwks(&[2, 1])).unwrap();
    env.wait_for_keys(&kid(2), Some(&kid(1))).await;
    wait_until("error cleared", || env.source().last_error.is_none()).await;

    rename_over(&path, &jwks(&[3, 2]));
    env.wait_for_keys(&kid(3), Some(&kid(2))).await;
    env.assert_verifies(&token(3), &kid(3), "current").await;
    drop(watcher);
}

/// The mount directory itself is replaced: the directory watch follows the
/// old inode, and later changes arrive through polling.
#[tokio::test]
async fn a_replaced_directory_is_still_followed_by_polling() {
    let root = TempDir::new("poll-replaced");
    let dir = root.join("mount");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1, 0])).unwrap();
    let env = Env::load(&path);
    let watcher = env.watch(poll_options()).await;

    std::fs::rename(&dir, root.join("mount-old")).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&path, jwks(&[2, 1])).unwrap();
    env.wait_for_keys(&kid(2), Some(&kid(1))).await;
    std::fs::remove_dir_all(root.join("mount-old")).unwrap();

    for e in 3..5 {
        rename_over(&path, &jwks(&[e, e - 1]));
        env.wait_for_keys(&kid(e), Some(&kid(e - 1))).await;
    }
    env.assert_verifies(&token(4), &kid(4), "current").await;
    drop(watcher);
}

// ---------------------------------------------------------------------------
// The watcher's life
// ---------------------------------------------------------------------------

/// Waits (bounded) until no reload has happened for `window`; returns the
/// total reload count then.
async fn wait_for_quiet(env: &Env, window: Duration) -> f64 {
    let start = env.all_reloads();
    let mut last = start;
    let mut since = Instant::now();
    let quiet = eventually(|| {
        let now = env.all_reloads();
        if now != last {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= window
    })
    .await;
    assert!(
        quiet,
        "reloads never stopped for {window:?} within {BOUND:?}: {} more reloads \
         (unchanged {}, success {}, error {})",
        env.all_reloads() - start,
        env.reloads("unchanged"),
        env.reloads("success"),
        env.reloads("error")
    );
    last
}

#[tokio::test]
async fn dropping_the_watcher_stops_reloads() {
    let dir = TempDir::new("drop");
    let mut volume = SecretVolume::create(dir.path(), &[("jwks.json", &jwks(&[1, 0]))]);
    let env = Env::load(volume.path("jwks.json"));
    let watcher = env.watch(event_options()).await;
    volume.swap(&[("jwks.json", &jwks(&[2, 1]))]);
    env.wait_for_keys(&kid(2), Some(&kid(1))).await;
    // Let the reloads of that swap finish, so none is in flight at the drop.
    wait_for_quiet(&env, Duration::from_millis(150)).await;
    drop(watcher);

    let reloads = env.all_reloads();
    volume.swap(&[("jwks.json", &jwks(&[3, 2]))]);
    // The one negative wait: nothing may happen, so it is kept short.
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        assert_eq!(env.kids(), (kid(2), Some(kid(1))), "reloaded after drop");
        tokio::time::sleep(TICK).await;
    }
    assert_eq!(env.all_reloads(), reloads, "no reload after drop");

    // The file was fine all along: a manual reload applies it.
    assert!(matches!(
        env.ring.reload(),
        Ok(ReloadOutcome::Applied { .. })
    ));
    assert_eq!(env.kids(), (kid(3), Some(kid(2))));
}

/// An idle plain file must not be re-read over and over. notify 8's inotify
/// backend watches `IN_OPEN`, so each reload's own `open()` of a file in
/// the watched directory is an `Access(Open)` event, which schedules the
/// next reload: before the watcher ignored access events, about ten
/// `unchanged` reloads a second, forever. (A Secret volume is spared: the
/// file opened is in `..<timestamp>/`, which is not watched.)
#[tokio::test]
async fn an_idle_plain_file_is_not_reloaded_over_and_over() {
    let dir = TempDir::new("idle");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1, 0])).unwrap();
    let env = Env::load(&path);
    let watcher = env
        .watch(WatchOptions::default().with_poll_interval(Duration::from_secs(3600)))
        .await;
    // The debounce is 100 ms and no poll is due: half a second without a
    // reload must come, and soon.
    wait_for_quiet(&env, Duration::from_millis(500)).await;
    drop(watcher);
}

#[test]
fn watch_outside_a_runtime_is_no_runtime() {
    let dir = TempDir::new("no-runtime");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1])).unwrap();
    let env = Env::load(&path);
    assert!(matches!(
        env.ring.watch(event_options()),
        Err(WatchError::NoRuntime)
    ));
    // reload works without a runtime.
    assert_eq!(env.ring.reload().unwrap(), ReloadOutcome::Unchanged);
}

#[test]
fn watch_without_a_source_is_no_source() {
    let ring = KeyRing::new(
        KeySet::from_jwks(&jwks(&[1])).unwrap(),
        Metrics::new(&Registry::new()).unwrap(),
    );
    assert!(matches!(
        ring.watch(event_options()),
        Err(WatchError::NoSource)
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert!(matches!(
            ring.watch(event_options()),
            Err(WatchError::NoSource)
        ));
    });
}

// ---------------------------------------------------------------------------
// Rotation under load
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct ClientStats {
    requests: u64,
    must_succeed: u64,
    optional: u64,
    optional_refused: u64,
    server_errors: u64,
    /// Must-succeed requests that did not get a 200: (j, done, begun, status).
    failures: Vec<(usize, usize, usize, StatusCode)>,
}

/// Clients keep sending valid tokens while the key file rotates through a
/// Secret volume; not one token that every file the ring could hold during
/// the request listed may be refused.
///
/// File epoch `e` is `[K_e, K_{e-1}]`. `begun` is set to `e` before file
/// `e` is written, `done` to `e` once the ring's current kid is `K_e`. A
/// request with `K_j` must succeed iff `done >= j` when it starts and
/// `begun <= j + 1` when it ends: the ring then held file `j` or `j + 1`,
/// and both list `K_j`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_refuses_no_valid_token() {
    const ROTATIONS: usize = 12;
    const CLIENTS: usize = 6;
    let dir = TempDir::new("load");
    let mut volume = SecretVolume::create(dir.path(), &[("jwks.json", &jwks(&[1, 0]))]);
    let env = Arc::new(Env::load(volume.path("jwks.json")));
    let watcher = env.watch(event_options()).await;
    assert_eq!(watcher.layout(), KeyFileLayout::SecretVolume);

    let tokens: Arc<Vec<String>> = Arc::new((0..=ROTATIONS + 1).map(token).collect());
    let begun = Arc::new(AtomicUsize::new(1));
    let done = Arc::new(AtomicUsize::new(1));
    let stop = Arc::new(AtomicBool::new(false));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (env, tokens) = (env.clone(), tokens.clone());
            let (begun, done, stop) = (begun.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let mut stats = ClientStats::default();
                let mut n = client;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let done_at_start = done.load(Ordering::SeqCst);
                    let j = if n % 2 == 0 {
                        done_at_start
                    } else {
                        done_at_start.saturating_sub(1)
                    };
                    let (status, _) = env.call(&tokens[j]).await;
                    let begun_at_end = begun.load(Ordering::SeqCst);
                    stats.requests += 1;
                    if status.is_server_error() {
                        stats.server_errors += 1;
                    }
                    if done_at_start >= j && begun_at_end <= j + 1 {
                        stats.must_succeed += 1;
                        if status != StatusCode::OK {
                            stats
                                .failures
                                .push((j, done_at_start, begun_at_end, status));
                        }
                    } else {
                        stats.optional += 1;
                        if status != StatusCode::OK {
                            stats.optional_refused += 1;
                        }
                    }
                    // In-process calls never yield on their own.
                    tokio::task::yield_now().await;
                }
                stats
            })
        })
        .collect();

    let dwell = Duration::from_millis(100);
    tokio::time::sleep(dwell).await;
    for e in 2..=ROTATIONS + 1 {
        begun.store(e, Ordering::SeqCst);
        volume.swap(&[("jwks.json", &jwks(&[e, e - 1]))]);
        let want = kid(e);
        wait_until(format!("rotation to {want}"), || {
            env.ring.current_kid() == want
        })
        .await;
        done.store(e, Ordering::SeqCst);
        tokio::time::sleep(dwell).await;
    }
    stop.store(true, Ordering::SeqCst);

    let mut total = ClientStats::default();
    for client in clients {
        let stats = client.await.expect("client task");
        total.requests += stats.requests;
        total.must_succeed += stats.must_succeed;
        total.optional += stats.optional;
        total.optional_refused += stats.optional_refused;
        total.server_errors += stats.server_errors;
        total.failures.extend(stats.failures);
    }
    println!(
        "rotation under load: {ROTATIONS} rotations, {CLIENTS} clients, {} requests, \
         {} must succeed, {} optional ({} of them refused), {} 5xx, {} failures; \
         reloads success={} unchanged={} error={}, rotations={}",
        total.requests,
        total.must_succeed,
        total.optional,
        total.optional_refused,
        total.server_errors,
        total.failures.len(),
        env.reloads("success"),
        env.reloads("unchanged"),
        env.reloads("error"),
        env.rotations()
    );
    assert!(
        total.failures.is_empty(),
        "{} must-succeed requests refused, first: {:?}",
        total.failures.len(),
        &total.failures[..total.failures.len().min(10)]
    );
    assert!(
        total.must_succeed > 500,
        "only {} must-succeed requests",
        total.must_succeed
    );
    assert_eq!(total.server_errors, 0, "5xx answers");
    assert_eq!(env.rotations(), ROTATIONS as f64, "jwt_key_rotations_total");
    assert!(env.reloads("success") >= ROTATIONS as f64);
    drop(watcher);
}

/// Regression: reading a key path that was a FIFO blocked until a writer
/// came, holding the lock the admin status takes, so two admin calls (the
/// worker count on two cores) stalled every request. A FIFO is now
/// refused by type, at once, and the last good keys stay.
#[tokio::test]
async fn a_fifo_at_the_key_path_is_refused_at_once_and_the_keys_stay() {
    let dir = TempDir::new("fifo");
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks(&[1, 0])).unwrap();
    let env = Env::load(&path);
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());

    let started = Instant::now();
    let (status, body) = env.admin_reload().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused by type, not by a timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("it is a FIFO"), "{message}");
    assert_eq!(env.kids(), (kid(1), Some(kid(0))), "last good keys kept");
    env.assert_epoch_verifies(1).await;

    let source = env.source();
    assert!(source.last_error.unwrap().contains("it is a FIFO"));
    assert!(source.read_in_progress.is_none(), "nothing left hanging");
    assert_eq!(source.format, "jwks");
    assert_eq!(env.reloads("error"), 1.0);
}
