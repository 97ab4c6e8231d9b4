//! Fuzz target: sequences of key file contents through `KeyRing::reload`,
//! checked against the transition table of `src/ring/transition.rs`.
//!
//! The input is a script. Its first byte picks the file the ring starts
//! from; every following pair of bytes (at most [`MAX_STEPS`]) is one new
//! content, renamed over the file as a deploy tool or the kubelet would,
//! then reloaded. A content is a JWKS listing 0 to 3 keys of a small pool
//! (four HMAC keys, and one of their kids again with other material), so
//! that rotations, demotions, rollbacks, retirements and revivals actually
//! happen, written compactly or reformatted (same keys, other bytes), or
//! content every reload must refuse: a weak key, PEM, a byte order mark,
//! an empty or missing file, one byte too many...
//!
//! After every step:
//!
//! - the ring has a current key, a previous key (if any) with another kid,
//!   and no retired kid is current or previous;
//! - refused content returned `Err` and left current, previous and retired
//!   exactly as they were;
//! - accepted content returned the outcome, and left the kids and retired
//!   list, the model of the transition table (written here from its docs,
//!   not from its code) predicts;
//! - a token of every pool key verifies, or is refused as `bad_signature`,
//!   `retired_key` or `unknown_kid`, exactly as the model's ring says: the
//!   ring holds the file's material, not only its kids.
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run reload corpus/reload seeds/reload -- -max_total_time=300
//! ```

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use jwt_rollover::MAX_KEY_FILE_BYTES;
use jwt_rollover::{
    JwtLayer, KeyFile, KeyRing, ManualClock, Metrics, RejectionReason, ReloadError, ReloadOutcome,
    Slot, Verifier,
};
use libfuzzer_sys::fuzz_target;

/// Steps per input: enough for a few rotations, short enough to stay fast.
const MAX_STEPS: usize = 16;

/// The ring's clock; pool tokens expire long after.
const NOW: u64 = 1_800_000_000;
const TOKEN_EXP: u64 = 4_000_000_000;

/// `(kid, secret)`. The last entry reuses the first kid with other
/// material: a file may list a kid with new material.
const POOL: [(&str, &[u8]); 5] = [
    ("k0", b"k0-secret-k0-secret-k0-secret-k0-!"),
    ("k1", b"k1-secret-k1-secret-k1-secret-k1-!"),
    ("k2", b"k2-secret-k2-secret-k2-secret-k2-!"),
    ("k3", b"k3-secret-k3-secret-k3-secret-k3-!"),
    ("k0", b"k0-rotated-material-for-the-same-kid"),
];

/// The files a ring starts from: pool indices, current first.
const INITIAL: [&[usize]; 6] = [&[0], &[1, 0], &[2], &[0, 3], &[4], &[4, 1]];

fuzz_target!(|data: &[u8]| {
    let Some((&initial, steps)) = data.split_first() else {
        return;
    };
    let initial = INITIAL[usize::from(initial) % INITIAL.len()];
    let path = dir().join("jwks.json");
    rename_over(&path, Some(&jwks(initial, false)));
    let file = KeyFile::jwks(&path);
    wait_for_readers();
    let keys = file.load().expect("the initial file loads");
    wait_for_readers();
    let metrics = Metrics::new(&prometheus::Registry::new()).expect("metrics register");
    let ring = KeyRing::builder(keys, metrics)
        .with_source(file)
        .with_clock(ManualClock::new(NOW))
        .build();
    let verifier = JwtLayer::<serde_json::Value>::new(ring.clone()).verifier();
    let mut model = Model {
        current: initial[0],
        previous: initial.get(1).copied(),
        retired: Vec::new(),
        file: initial.to_vec(),
    };
    check(&ring, &verifier, &model);

    for (number, step) in steps.chunks_exact(2).take(MAX_STEPS).enumerate() {
        let content = Content::decode(step[0], step[1]);
        rename_over(&path, content.bytes().as_deref());
        let before = observe(&ring);
        let result = ring.reload();
        wait_for_readers();
        if let Some(new) = content.listed() {
            let (next, expected) = model.reload(new);
            match result {
                Ok(outcome) => assert_eq!(
                    outcome, expected,
                    "step {number}: {content:?} from {model:?}"
                ),
                Err(err) => panic!("step {number}: {content:?} refused: {err}"),
            }
            model = next;
        } else {
            assert!(
                matches!(result, Err(ReloadError::Invalid(_))),
                "step {number}: {content:?} gave {result:?}, not refused"
            );
            assert_eq!(
                observe(&ring),
                before,
                "step {number}: refused {content:?} changed the ring"
            );
        }
        check(&ring, &verifier, &model);
    }
});

/// One temporary directory per process, made once: on tmpfs where there is
/// one, since renaming over a file on a disk-backed `/tmp` can cost a flush.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("jwt-rollover-fuzz-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        dir
    })
}

/// Key file reads run on a thread of their own (see `KeyFile`), which
/// exits a moment after the read returns. Waits until no such thread is
/// left, so that what it frees on exit is freed within the input: else
/// libFuzzer's leak check takes the thread's allocations for leaks (and
/// runs on nearly every input). Without `/proc`, does not wait.
fn wait_for_readers() {
    fn threads() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
    }
    // Counted before the first read; libFuzzer's own threads stay.
    static IDLE: OnceLock<usize> = OnceLock::new();
    let idle = *IDLE.get_or_init(threads);
    while threads() > idle {
        std::thread::yield_now();
    }
}

/// Writes `bytes` beside `path` and renames it over `path`; `None` removes
/// the file.
fn rename_over(path: &Path, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes).expect("write the temp file");
            std::fs::rename(&tmp, path).expect("rename over the key file");
        }
        None => match std::fs::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                panic!("remove the key file: {err}")
            }
            _ => {}
        },
    }
}

// ---------------------------------------------------------------------------
// Contents
// ---------------------------------------------------------------------------

/// One new file content.
#[derive(Debug)]
enum Content {
    /// A JWKS listing these pool keys; `reformatted` spells the same keys
    /// with other whitespace, member order and base64 padding.
    Jwks { keys: Vec<usize>, reformatted: bool },
    /// Content every reload refuses; see [`Content::bytes`].
    Bad(u8),
}

impl Content {
    /// `a`: bits 0-1 how many keys, bits 2-3 the spelling (3: bad content),
    /// bits 4-7 which bad content; `b`: the pool keys, in base 5.
    fn decode(a: u8, b: u8) -> Self {
        if (a >> 2) & 3 == 3 {
            return Self::Bad(a >> 4);
        }
        let b = usize::from(b);
        let picks = [b % POOL.len(), b / 5 % POOL.len(), b / 25 % POOL.len()];
        Self::Jwks {
            keys: picks[..usize::from(a & 3)].to_vec(),
            reformatted: (a >> 2) & 3 == 2,
        }
    }

    /// The pool keys the content lists, when it is valid: one or two keys
    /// with distinct kids.
    fn listed(&self) -> Option<&[usize]> {
        let Self::Jwks { keys, .. } = self else {
            return None;
        };
        match keys[..] {
            [_] => Some(keys),
            [a, b] if kid(a) != kid(b) => Some(keys),
            _ => None,
        }
    }

    /// The file's bytes; `None` for no file at all.
    fn bytes(&self) -> Option<Vec<u8>> {
        let (keys, reformatted) = match self {
            Self::Jwks { keys, reformatted } => (keys, *reformatted),
            Self::Bad(which) => return bad_content(*which),
        };
        Some(jwks(keys, reformatted))
    }
}

/// A JWKS document of pool keys.
fn jwks(keys: &[usize], reformatted: bool) -> Vec<u8> {
    let entries: Vec<String> = keys.iter().map(|&i| jwk(i, reformatted)).collect();
    if reformatted {
        format!("{{\n  \"keys\": [\n{}\n  ]\n}}\n", entries.join(",\n")).into_bytes()
    } else {
        format!(r#"{{"keys":[{}]}}"#, entries.join(",")).into_bytes()
    }
}

fn jwk(index: usize, reformatted: bool) -> String {
    let (kid, secret) = POOL[index];
    if reformatted {
        let k = URL_SAFE.encode(secret);
        format!(
            "    {{\n      \"k\": \"{k}\",\n      \"use\": \"sig\",\n      \"alg\": \"HS256\",\n      \"kid\": \"{kid}\",\n      \"kty\": \"oct\"\n    }}"
        )
    } else {
        let k = URL_SAFE_NO_PAD.encode(secret);
        format!(r#"{{"kty":"oct","kid":"{kid}","alg":"HS256","k":"{k}"}}"#)
    }
}

/// Sixteen contents the module docs say are refused whole; `None` is a
/// missing file.
fn bad_content(which: u8) -> Option<Vec<u8>> {
    let one = || String::from_utf8(jwks(&[1], false)).expect("ASCII");
    let text = |text: &str| Some(text.as_bytes().to_vec());
    match which % 16 {
        0 => None,
        1 => text(""),
        2 => text(" \n\t\n"),
        // A weak, 15-byte HMAC secret.
        3 => {
            text(r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"c2hvcnQtc2VjcmV0LTE2"}]}"#)
        }
        4 => text(
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAc8SsbO5pnwDnWeUn63EwN/dFsZm0JtaHU98927/U6g8=\n-----END PUBLIC KEY-----\n",
        ),
        5 => text(&format!("\u{FEFF}{}", one())),
        6 => text(&format!("[{}]", jwk(1, false))),
        7 => text(&jwk(1, false)),
        8 => text(&one()[..20]),
        9 => text(&format!("{}\n", String::from_utf8_lossy(POOL[1].1))),
        10 => text(&one().replace(r#""alg":"HS256""#, r#""alg":"HS256","use":"enc""#)),
        11 => text(&one().replace(r#""alg":"HS256","#, "")),
        12 => {
            let mut padded = one().into_bytes();
            padded.resize(MAX_KEY_FILE_BYTES + 1, b' ');
            Some(padded)
        }
        13 => text(&one().replace(r#""kid":"k1""#, r#""kid":"""#)),
        14 => text(r#"{"keys":{}}"#),
        _ => text(&one().replace("HS256", "RS256")),
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

fn kid(index: usize) -> &'static str {
    POOL[index].0
}

/// The ring by the transition table: pool indices, so that material counts.
#[derive(Debug, Clone)]
struct Model {
    current: usize,
    previous: Option<usize>,
    /// Oldest first. The pool has too few kids to reach the ring's bound.
    retired: Vec<&'static str>,
    /// The file's last good keys.
    file: Vec<usize>,
}

impl Model {
    /// The ring after a valid file listing `new`, and the outcome.
    fn reload(&self, new: &[usize]) -> (Self, ReloadOutcome) {
        // The same keys as the last good file (kid and material): nothing to do.
        if new == self.file {
            return (self.clone(), ReloadOutcome::Unchanged);
        }
        let current = new[0];
        let same_current = kid(current) == kid(self.current);
        let previous = match new.get(1) {
            // A retired kid never comes back as previous.
            Some(&listed) if self.retired.contains(&kid(listed)) => None,
            Some(&listed) => Some(listed),
            None if same_current => {
                let file_listed_previous = self.previous.is_some()
                    && self.file.get(1).map(|&f| kid(f)) == self.previous.map(kid);
                // The previous key left the file: retired. Otherwise it
                // was demoted in memory, and stays.
                if file_listed_previous {
                    None
                } else {
                    self.previous
                }
            }
            // A new single key: the old current is demoted.
            None => Some(self.current),
        };
        let stays = |index: usize| {
            kid(index) == kid(current) || previous.is_some_and(|p| kid(p) == kid(index))
        };
        let dropped: Vec<&'static str> = std::iter::once(self.current)
            .chain(self.previous)
            .filter(|&index| !stays(index))
            .map(kid)
            .collect();
        // Back as current: the retirement is cleared. Then the keys that
        // left are retired, most recent last.
        let mut retired = self.retired.clone();
        retired.retain(|&k| k != kid(current));
        for &gone in &dropped {
            retired.retain(|&k| k != gone);
            retired.push(gone);
        }
        let next = Self {
            current,
            previous,
            retired,
            file: new.to_vec(),
        };
        let outcome = ReloadOutcome::Applied {
            rotated: !same_current,
            retired: dropped.iter().map(|k| (*k).to_owned()).collect(),
        };
        (next, outcome)
    }

    fn observed(&self) -> Observed {
        Observed {
            current: kid(self.current).to_owned(),
            previous: self.previous.map(|p| kid(p).to_owned()),
            retired: self.retired.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// What a token of pool key `index` gets from this ring.
    fn verdict(&self, index: usize) -> Result<Slot, RejectionReason> {
        let holds = |slot_key: Option<usize>| slot_key.map(kid) == Some(kid(index));
        if self.current == index {
            Ok(Slot::Current)
        } else if self.previous == Some(index) {
            Ok(Slot::Previous)
        } else if holds(Some(self.current)) || holds(self.previous) {
            Err(RejectionReason::BadSignature)
        } else if self.retired.contains(&kid(index)) {
            Err(RejectionReason::RetiredKey)
        } else {
            Err(RejectionReason::UnknownKid)
        }
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// The kids the ring reports.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    current: String,
    previous: Option<String>,
    retired: Vec<String>,
}

fn observe(ring: &KeyRing) -> Observed {
    let status = ring.status();
    let observed = Observed {
        current: status.current.kid,
        previous: status.previous.map(|p| p.key.kid),
        retired: status.retired,
    };
    assert_eq!(
        ring.current_kid(),
        observed.current,
        "status and current_kid"
    );
    assert_eq!(
        ring.previous_kid(),
        observed.previous,
        "status and previous_kid"
    );
    observed
}

/// The ring's invariants, its kids against the model's, and every pool
/// key's token against the model's verdict.
fn check(ring: &KeyRing, verifier: &Verifier, model: &Model) {
    let observed = observe(ring);
    assert_ne!(
        observed.previous.as_deref(),
        Some(observed.current.as_str()),
        "previous has the current kid"
    );
    for retired in &observed.retired {
        assert_ne!(*retired, observed.current, "a retired kid is current");
        assert_ne!(
            Some(retired),
            observed.previous.as_ref(),
            "a retired kid is previous"
        );
    }
    assert_eq!(observed, model.observed(), "ring differs from the model");
    for (index, token) in tokens().iter().enumerate() {
        let got = verifier
            .verify(token)
            .map(|verified| {
                assert_eq!(&*verified.key.kid, kid(index));
                verified.key.slot
            })
            .map_err(|rejection| rejection.reason());
        assert_eq!(
            got,
            model.verdict(index),
            "token of pool key {index} against {model:?}"
        );
    }
}

/// An HS256 token of every pool key, naming its kid. Minted after the
/// first ring is built, which installs jsonwebtoken's crypto provider.
fn tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let claims = serde_json::json!({"sub": "fuzz", "exp": TOKEN_EXP});
        POOL.iter()
            .map(|(kid, secret)| {
                let header = Header {
                    kid: Some((*kid).to_owned()),
                    ..Header::default()
                };
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
                    .expect("an HS256 token")
            })
            .collect()
    })
}
