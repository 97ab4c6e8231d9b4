//! Heap allocations per verified request, counted by a global allocator.
//!
//! The goal is "no allocation beyond the claims' own": what the
//! application's claims type allocates while it is deserialized is the
//! application's business, and so is the `Arc` the claims live in (one
//! allocation, shared by the request, the handler and the token cache, so
//! that neither a cache hit nor the extractor copies them); everything else
//! on the request path should not touch the heap. So each row measures:
//!
//! - **total**: allocations during one `Verifier::verify` call, in steady
//!   state (after warm-up; every sample must allocate exactly the same);
//! - **claims**: the claims' own allocations, measured alone with the very
//!   calls `verify` makes: `Arc::new(serde_json::from_slice::<C>(payload))`
//!   (cache off, and cache miss: the cache shares that `Arc`), `Arc::clone`
//!   (cache hit: nothing);
//! - **ours** = total - claims: the crate's own.
//!
//! Four claims types separate the two: `serde_json::Value`, a small struct
//! of three `String`s and two `u64`s, `Box<RawValue>` (the example server's:
//! the claims as the token carries them, read by two passes instead of
//! one), and `IgnoreAll`, which reads any claims object and keeps nothing,
//! so that its total *is* the crate's own.
//!
//! Where the crate's own allocations come from (src/verify/token.rs):
//!
//! - none for a typical token: header and payload decode on the stack, the
//!   kid and the claim names are borrowed (through `Text`: serde's own
//!   `Cow<str>` impl always copies, which this test caught: it cost 1
//!   allocation for the kid and 1 per top-level claim name);
//! - **payload > 2 KiB**: decoded into a heap `Vec` instead of the stack
//!   buffer (`decode_b64`), 1 allocation; by design.
//! - **cache miss**: the cache keeps the token (`Box<str>`, 1) and a copy
//!   of the kid (`Arc<str>`, 1: hits on different tokens then share no
//!   reference count across cores), and shares the claims' `Arc`; the
//!   first entry of a shard allocates its table (1).
//!
//! The bounds asserted below are exactly these counts, so that a
//! regression fails.
//!
//! Only allocations through Rust's global allocator are counted, on the
//! measuring thread: aws-lc (the crypto backend, C code) calls `malloc`
//! itself, which no Rust allocator sees. Counted with valgrind instead (all
//! `malloc`s over 1000 verifications with `IgnoreAll`, aws-lc-sys 0.47):
//! HS256 makes none per request; ES256 makes 30, all inside aws-lc's ECDSA
//! verification (jsonwebtoken::decode: 10 and 45).
//!
//! Run with `cargo test --test allocations -- --nocapture` to see the table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_rollover::{
    JwtLayer, KeyRing, KeySet, Metrics, Rejection, RejectionReason, Slot, TokenCacheConfig,
    Verified, Verifier,
};
use jwt_simple::prelude::{
    Claims, Duration, ECDSAP256KeyPairLike as _, ECDSAP256PublicKeyLike as _, ES256KeyPair,
    HS256Key, JWTClaims, MACLike as _,
};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------

/// Forwards to the system allocator and counts, on the current thread and
/// only while [`measure`] runs, every allocation and reallocation.
struct CountingAllocator;

const MAX_SIZES: usize = 16;

thread_local! {
    // `const` initializers and `Drop`-free types: reading these never
    // allocates, so the allocator itself can use them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static REALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    /// Sizes of the first allocations, which tell them apart.
    static SIZES: Cell<[u32; MAX_SIZES]> = const { Cell::new([0; MAX_SIZES]) };
}

/// Counts an allocation (`realloc: false`) or a reallocation of `bytes`.
fn record(realloc: bool, bytes: usize) {
    // `try_with`: a thread being torn down may still allocate.
    let _ = COUNTING.try_with(|counting| {
        if !counting.get() {
            return;
        }
        let _ = BYTES.try_with(|total| total.set(total.get() + bytes as u64));
        if realloc {
            let _ = REALLOCS.try_with(|count| count.set(count.get() + 1));
            return;
        }
        let _ = ALLOCS.try_with(|count| {
            let index = count.get() as usize;
            count.set(count.get() + 1);
            if index < MAX_SIZES {
                let _ = SIZES.try_with(|sizes| {
                    let mut all = sizes.get();
                    all[index] = u32::try_from(bytes).unwrap_or(u32::MAX);
                    sizes.set(all);
                });
            }
        });
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counting only touches thread-local `Cell`s.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(false, layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(false, layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(true, new_size.saturating_sub(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Heap activity of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Count {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
    /// Sizes of the first [`MAX_SIZES`] allocations, in order.
    sizes: [u32; MAX_SIZES],
}

impl Count {
    fn sizes(&self) -> String {
        let shown = usize::try_from(self.allocs).map_or(MAX_SIZES, |n| n.min(MAX_SIZES));
        let mut text = self.sizes[..shown]
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        if self.allocs > MAX_SIZES as u64 {
            text.push_str(",...");
        }
        text
    }
}

impl std::ops::Add for Count {
    type Output = Count;
    /// Sums the counts; the sizes of a sum are not kept.
    fn add(self, other: Count) -> Count {
        Count {
            allocs: self.allocs + other.allocs,
            reallocs: self.reallocs + other.reallocs,
            bytes: self.bytes + other.bytes,
            sizes: [0; MAX_SIZES],
        }
    }
}

/// Runs `f` and counts its allocations. The result is returned, so that
/// dropping it (which frees, never allocates) happens outside.
fn measure<R>(f: impl FnOnce() -> R) -> (R, Count) {
    for counter in [&ALLOCS, &REALLOCS, &BYTES] {
        counter.with(|c| c.set(0));
    }
    SIZES.with(|sizes| sizes.set([0; MAX_SIZES]));
    COUNTING.with(|c| c.set(true));
    let result = std::hint::black_box(f());
    COUNTING.with(|c| c.set(false));
    let count = Count {
        allocs: ALLOCS.with(Cell::get),
        reallocs: REALLOCS.with(Cell::get),
        bytes: BYTES.with(Cell::get),
        sizes: SIZES.with(Cell::get),
    };
    (result, count)
}

const WARMUP: usize = 5;
const SAMPLES: usize = 20;

/// Steady-state allocations of `f`: after warm-up (arc-swap's per-thread
/// state, the previous-key tracker's entry for the token...), every sample
/// must allocate exactly the same.
fn per_call<R>(what: &str, mut f: impl FnMut() -> R) -> Count {
    for _ in 0..WARMUP {
        drop(f());
    }
    let mut samples = [Count::default(); SAMPLES];
    for sample in &mut samples {
        let (result, count) = measure(&mut f);
        drop(result);
        *sample = count;
    }
    assert!(
        samples.iter().all(|s| *s == samples[0]),
        "{what}: allocations differ between samples: {samples:?}"
    );
    samples[0]
}

// ---------------------------------------------------------------------------
// Claims types
// ---------------------------------------------------------------------------

/// The typical application claims.
#[derive(Debug, Clone, Deserialize)]
struct SmallClaims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
}

/// Reads any claims object and keeps nothing: it allocates nothing itself,
/// so whatever a request with it allocates is the crate's.
#[derive(Debug, Clone, Copy)]
struct IgnoreAll;

impl<'de> Deserialize<'de> for IgnoreAll {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnyMap;
        impl<'de> Visitor<'de> for AnyMap {
            type Value = IgnoreAll;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claims object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IgnoreAll, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IgnoreAll)
            }
        }
        deserializer.deserialize_map(AnyMap)
    }
}

// ---------------------------------------------------------------------------
// Keys, ring and tokens
// ---------------------------------------------------------------------------

const CURRENT_KID: &str = "2026-11";
const PREVIOUS_KID: &str = "2026-10";
const UNKNOWN_KID: &str = "2025-01";

type SignFn = Box<dyn Fn(Option<&str>, JWTClaims<Value>) -> String>;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A public JWK (with `alg` and `kid`) and a signer, from jwt-simple.
fn test_key(alg: &str, kid: &str) -> (Value, SignFn) {
    let mut jwk = Map::new();
    let sign: SignFn = match alg {
        "HS256" => {
            let secret = HS256Key::generate().to_bytes();
            jwk.insert("kty".into(), "oct".into());
            jwk.insert("k".into(), b64(&secret).into());
            Box::new(move |kid, claims| {
                let key = HS256Key::from_bytes(&secret);
                let key = match kid {
                    Some(kid) => key.with_key_id(kid),
                    None => key,
                };
                key.authenticate(claims).expect("jwt-simple signs")
            })
        }
        "ES256" => {
            let pair = ES256KeyPair::generate();
            let point = pair.public_key().public_key().to_bytes_uncompressed();
            let private = pair.to_bytes();
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), "P-256".into());
            jwk.insert("x".into(), b64(&point[1..33]).into());
            jwk.insert("y".into(), b64(&point[33..]).into());
            Box::new(move |kid, claims| {
                let key = ES256KeyPair::from_bytes(&private).expect("jwt-simple reads its key");
                let key = match kid {
                    Some(kid) => key.with_key_id(kid),
                    None => key,
                };
                key.sign(claims).expect("jwt-simple signs")
            })
        }
        other => panic!("no test key for {other}"),
    };
    jwk.insert("alg".into(), alg.into());
    jwk.insert("kid".into(), kid.into());
    (Value::Object(jwk), sign)
}

/// `sub`, `iss`, `aud`, `iat`, `nbf`, `exp` (an hour from now), and `extra`.
fn claims(extra: Value) -> JWTClaims<Value> {
    Claims::with_custom_claims(extra, Duration::from_hours(1))
        .with_subject("user-42")
        .with_issuer("https://auth.example.com")
        .with_audience("api.example.com")
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

struct Fixture {
    alg: &'static str,
    ring: KeyRing,
    current_kid: String,
    previous_kid: String,
    previous_no_kid: String,
    unknown_kid: String,
    bad_signature: String,
    expired: String,
    /// Three application claims on top of the six registered ones.
    extra_claims: String,
    /// Its payload decodes to more than the 2 KiB stack buffer.
    large_payload: String,
}

impl Fixture {
    fn new(alg: &'static str) -> Self {
        let (current_jwk, sign_current) = test_key(alg, CURRENT_KID);
        let (previous_jwk, sign_previous) = test_key(alg, PREVIOUS_KID);
        let jwks = json!({ "keys": [current_jwk, previous_jwk] });
        let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).expect("the JWKS loads");
        let ring = KeyRing::new(
            keys,
            Metrics::new(&prometheus::Registry::new()).expect("fresh registry"),
        );

        let mut expired = claims(json!({}));
        let now = now_unix();
        expired.issued_at = Some(Duration::from_secs(now - 7_200));
        expired.invalid_before = Some(Duration::from_secs(now - 7_200));
        expired.expires_at = Some(Duration::from_secs(now - 3_600));

        let current_kid = sign_current(Some(CURRENT_KID), claims(json!({})));
        let dot = current_kid.rfind('.').expect("dots");
        let mut bad_signature = current_kid.clone().into_bytes();
        bad_signature[dot + 1] = if bad_signature[dot + 1] == b'A' {
            b'B'
        } else {
            b'A'
        };
        Self {
            alg,
            ring,
            previous_kid: sign_previous(Some(PREVIOUS_KID), claims(json!({}))),
            previous_no_kid: sign_previous(None, claims(json!({}))),
            unknown_kid: sign_previous(Some(UNKNOWN_KID), claims(json!({}))),
            bad_signature: String::from_utf8(bad_signature).expect("ASCII"),
            expired: sign_current(Some(CURRENT_KID), expired),
            extra_claims: sign_current(
                Some(CURRENT_KID),
                claims(json!({ "role": "admin", "scopes": ["read", "write"], "n": 42 })),
            ),
            large_payload: sign_current(
                Some(CURRENT_KID),
                claims(json!({ "blob": "x".repeat(2_100) })),
            ),
            current_kid,
        }
    }

    fn verifier<C: DeserializeOwned + Clone>(&self, cache: bool) -> Verifier<C> {
        let layer = JwtLayer::<C>::new(self.ring.clone());
        if cache {
            layer
                .with_token_cache(TokenCacheConfig::default())
                .verifier()
        } else {
            layer.verifier()
        }
    }
}

/// A part of the token (0 header, 1 payload), decoded.
fn part(token: &str, index: usize) -> Vec<u8> {
    let b64 = token.split('.').nth(index).expect("three parts");
    URL_SAFE_NO_PAD.decode(b64).expect("base64url")
}

/// The token's payload, decoded as `verify` decodes it.
fn payload(token: &str) -> Vec<u8> {
    part(token, 1)
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// What the crate allocates on a path, by source (see the module docs);
/// the test asserts the measured count never exceeds it.
#[derive(Clone, Copy, Default)]
struct Expected {
    /// The heap fallback for a payload beyond the stack buffer.
    heap_payload: u64,
    /// On a miss into an empty shard: the shard's table, allocated by
    /// `HashMap::entry` (it reserves room) in `TokenCache::get`, and the
    /// cache's copy of the token in `TokenCache::insert`.
    cache: u64,
}

impl Expected {
    fn total(&self) -> u64 {
        self.heap_payload + self.cache
    }

    fn explain(&self) -> String {
        let parts = [
            (self.heap_payload, "payload Vec"),
            (self.cache, "cache table+token+kid"),
        ];
        let text: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if text.is_empty() {
            "none".to_owned()
        } else {
            text.join(" + ")
        }
    }
}

struct Row {
    alg: &'static str,
    claims: &'static str,
    case: &'static str,
    total: Count,
    claims_own: Count,
    expected: Expected,
}

impl Row {
    fn ours(&self) -> u64 {
        self.total
            .allocs
            .checked_sub(self.claims_own.allocs)
            .unwrap_or_else(|| {
                panic!(
                    "{} {} {}: fewer allocations than the claims' own",
                    self.alg, self.claims, self.case
                )
            })
    }
}

/// The request must come out as `expected`; returns it for `per_call`.
fn checked<C>(
    case: &str,
    result: Result<Verified<C>, Rejection>,
    expected: Result<Slot, RejectionReason>,
) -> Result<Verified<C>, Rejection> {
    let outcome = result
        .as_ref()
        .map(|verified| verified.key.slot)
        .map_err(|rejection| rejection.reason());
    assert_eq!(outcome, expected, "{case}");
    result
}

const CACHE_OFF: &str = "current_kid, cache off";
const CACHE_HIT: &str = "current_kid, cache hit";
const CACHE_MISS: &str = "current_kid, cache miss, empty shard";

/// Cache off, hit and miss, for one claims type.
fn matrix_rows<C: DeserializeOwned + Clone>(fixture: &Fixture, name: &'static str) -> Vec<Row> {
    let token = fixture.current_kid.as_str();
    let label = |case: &str| format!("{} {name} {case}", fixture.alg);
    let (off_label, hit_label, miss_label) =
        (label(CACHE_OFF), label(CACHE_HIT), label(CACHE_MISS));

    let payload = payload(token);
    let deserialize = per_call(&label("from_slice"), || {
        Arc::new(serde_json::from_slice::<C>(&payload).expect("the claims fit"))
    });

    let plain = fixture.verifier::<C>(false);
    let cache_off = per_call(&off_label, || {
        checked(&off_label, plain.verify(token), Ok(Slot::Current))
    });

    let cached = fixture.verifier::<C>(true);
    let claims = cached.verify(token).expect("warms the cache").claims;
    let share = per_call(&label("share"), || Arc::clone(&claims));
    let hit = per_call(&hit_label, || {
        checked(&hit_label, cached.verify(token), Ok(Slot::Current))
    });

    // A miss stores the token and shares the claims. Each sample gets a
    // fresh cache, so the token lands in an empty shard.
    let mut misses = [Count::default(); SAMPLES];
    for miss in &mut misses {
        let fresh = fixture.verifier::<C>(true);
        let (result, count) = measure(|| fresh.verify(token));
        checked(&miss_label, result, Ok(Slot::Current)).expect("accepted");
        *miss = count;
    }
    assert!(
        misses.iter().all(|m| *m == misses[0]),
        "{miss_label}: {misses:?}"
    );

    let off = Expected::default();
    let row = |case, total, claims_own, expected| Row {
        alg: fixture.alg,
        claims: name,
        case,
        total,
        claims_own,
        expected,
    };
    vec![
        row(CACHE_OFF, cache_off, deserialize, off),
        row(CACHE_HIT, hit, share, Expected::default()),
        row(
            CACHE_MISS,
            misses[0],
            deserialize,
            Expected { cache: 3, ..off },
        ),
    ]
}

/// The other paths, with `IgnoreAll` so that every allocation is ours.
fn path_rows(fixture: &Fixture) -> Vec<Row> {
    let verifier = fixture.verifier::<IgnoreAll>(false);
    let large = Expected {
        heap_payload: 1,
        ..Expected::default()
    };
    let cases: [(&'static str, &str, Result<Slot, RejectionReason>, Expected); 7] = [
        (
            "previous_kid",
            &fixture.previous_kid,
            Ok(Slot::Previous),
            Expected::default(),
        ),
        (
            "previous_no_kid (current first)",
            &fixture.previous_no_kid,
            Ok(Slot::Previous),
            Expected::default(),
        ),
        (
            "unknown_kid",
            &fixture.unknown_kid,
            Err(RejectionReason::UnknownKid),
            Expected::default(),
        ),
        (
            "bad_signature",
            &fixture.bad_signature,
            Err(RejectionReason::BadSignature),
            Expected::default(),
        ),
        (
            "expired",
            &fixture.expired,
            Err(RejectionReason::Expired),
            Expected::default(),
        ),
        (
            "current_kid, 3 more claims",
            &fixture.extra_claims,
            Ok(Slot::Current),
            Expected::default(),
        ),
        (
            "current_kid, payload > 2 KiB",
            &fixture.large_payload,
            Ok(Slot::Current),
            large,
        ),
    ];
    // An accepted token's claims live in an `Arc`, even claims that keep nothing.
    let arc = per_call("IgnoreAll in its Arc", || Arc::new(IgnoreAll));
    cases
        .into_iter()
        .map(|(case, token, outcome, expected)| {
            let what = format!("{} IgnoreAll {case}", fixture.alg);
            Row {
                alg: fixture.alg,
                claims: "IgnoreAll",
                case,
                total: per_call(&what, || checked(&what, verifier.verify(token), outcome)),
                claims_own: if outcome.is_ok() {
                    arc
                } else {
                    Count::default()
                },
                expected,
            }
        })
        .collect()
}

fn print(rows: &[Row]) {
    println!();
    println!(
        "{:<6} {:<11} {:<36} {:>5} {:>6} {:>4} {:>7} {:>5}  {:<38} sizes",
        "alg", "claims", "case", "total", "claims", "ours", "reallocs", "bytes", "ours, by source",
    );
    println!("{}", "-".repeat(150));
    for row in rows {
        println!(
            "{:<6} {:<11} {:<36} {:>5} {:>6} {:>4} {:>7} {:>5}  {:<38} {}",
            row.alg,
            row.claims,
            row.case,
            row.total.allocs,
            row.claims_own.allocs,
            row.ours(),
            row.total.reallocs,
            row.total.bytes,
            row.expected.explain(),
            row.total.sizes(),
        );
    }
    println!();
    println!(
        "claims = the claims' own (from_slice into their Arc; nothing on a hit); ours = total - claims"
    );
    println!(
        "Only Rust-heap allocations are counted: aws-lc's own C mallocs (ECDSA) are invisible here"
    );
    println!("(valgrind, all mallocs: ES256 makes 30 per verification inside aws-lc; HS256 none).");
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn allocations_per_verified_request() {
    if !cfg!(feature = "aws-lc-rs") {
        println!(
            "skipped: without the aws-lc-rs feature, signatures are checked through \
             jsonwebtoken's per-call verifier, which allocates (a boxed verifier and \
             the decoded signature); the zero-allocation path is the aws-lc-rs one"
        );
        return;
    }
    let mut rows = Vec::new();
    for alg in ["HS256", "ES256"] {
        let fixture = Fixture::new(alg);
        let small = fixture
            .verifier::<SmallClaims>(false)
            .verify(&fixture.current_kid)
            .expect("accepted")
            .claims;
        assert_eq!(
            (small.sub.as_str(), small.iss.as_str(), small.aud.as_str()),
            ("user-42", "https://auth.example.com", "api.example.com")
        );
        assert!(small.iat <= now_unix() && now_unix() < small.exp);
        rows.extend(matrix_rows::<Value>(&fixture, "Value"));
        rows.extend(matrix_rows::<SmallClaims>(&fixture, "SmallClaims"));
        rows.extend(matrix_rows::<Box<RawValue>>(&fixture, "RawValue"));
        rows.extend(matrix_rows::<IgnoreAll>(&fixture, "IgnoreAll"));
        rows.extend(path_rows(&fixture));
    }
    print(&rows);

    let find = |alg: &str, claims: &str, case: &str| {
        rows.iter()
            .find(|r| r.alg == alg && r.claims == claims && r.case == case)
            .unwrap_or_else(|| panic!("no row {alg} {claims} {case}"))
    };
    for row in &rows {
        let what = format!("{} {} {}", row.alg, row.claims, row.case);
        // Nothing beyond the known sources; fewer is progress.
        assert!(
            row.ours() <= row.expected.total(),
            "{what}: {} allocations of our own, expected at most {} ({})",
            row.ours(),
            row.expected.total(),
            row.expected.explain()
        );
        // None of our allocations grows: each is made at its final size.
        assert_eq!(
            row.total.reallocs, row.claims_own.reallocs,
            "{what}: reallocs"
        );
        if row.claims == "IgnoreAll" {
            continue;
        }
        // What the crate allocates does not depend on the claims type.
        assert_eq!(
            row.ours(),
            find(row.alg, "IgnoreAll", row.case).ours(),
            "{what}: ours differs from IgnoreAll's"
        );
    }
    for alg in ["HS256", "ES256"] {
        // A cache hit allocates nothing: the claims are shared.
        assert_eq!(
            find(alg, "IgnoreAll", CACHE_HIT).total,
            Count::default(),
            "{alg}: a cache hit with IgnoreAll allocates nothing"
        );
        // The claims types allocate what they should on their own.
        assert_eq!(
            find(alg, "IgnoreAll", CACHE_OFF).claims_own.allocs,
            1,
            "IgnoreAll: only the Arc"
        );
        assert_eq!(
            find(alg, "SmallClaims", CACHE_OFF).claims_own.allocs,
            4,
            "SmallClaims allocates its three Strings, plus the Arc"
        );
        // Verified, a typical token allocates only the claims' Arc; refused, nothing.
        for case in [CACHE_OFF, "previous_kid"] {
            assert_eq!(find(alg, "IgnoreAll", case).total.allocs, 1, "{alg} {case}");
        }
        for case in ["unknown_kid", "bad_signature", "expired"] {
            assert_eq!(find(alg, "IgnoreAll", case).total.allocs, 0, "{alg} {case}");
        }
    }
}
