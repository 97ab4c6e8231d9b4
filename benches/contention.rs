//! What a verification costs when several threads verify at once, against
//! one thread alone: the shared state on the request path (counters, the
//! `kid`'s `Arc`, a cache shard's lock, a cached token's claims `Arc`) is
//! written by every verification, and a cache line written from two cores
//! moves between them on every write.
//!
//! ```text
//! cargo bench --bench contention              # ~1 min
//! CONTENTION_ROUNDS=9 cargo bench --bench contention
//! CONTENTION_THREADS=8 cargo bench --bench contention   # oversubscribed
//! ```
//!
//! For each case it times N verifications on 1 thread, then on T threads at
//! once (T = the machine's parallelism, at least 2, or
//! `CONTENTION_THREADS`), interleaved over
//! rounds, and prints the median per-thread cost of one operation and the
//! ratio T-thread / 1-thread (1.00: no contention; T threads each as fast
//! as one alone). Cases:
//!
//! - `hs256 current, cache off` / `previous, cache off`: each thread
//!   verifies the same token (the previous key also updates its tracker);
//! - `cache hit, one token`: every thread hits the same cached token, the
//!   hot service-account case (one shard and one claims `Arc` shared by all
//!   threads, until each thread keeps its own copy of the hot token);
//! - `cache hit, a token per thread`: distinct cached tokens (other shards);
//! - `quick_cache get`: the lookup alone in the well-kept crate the cache
//!   was measured against (the whole token as the key, the claims' `Arc`
//!   as the value), one shared token and a token per thread;
//! - the primitives behind them: an `Arc` clone and drop, a `Mutex`
//!   lock and unlock, a relaxed `fetch_add`, all on one shared object.
//!
//! Then previous-key traffic while Prometheus scrapes: every thread
//! verifies previous-key tokens (recording them in the live-token tracker,
//! which holds `SCRAPE_TRACKED` distinct tokens) while one more thread
//! either burns CPU (the baseline) or gathers the registry in a loop, as a
//! scrape does (the previous-key gauges read the tracker). The ratio
//! scraper / baseline is what a scrape costs the request path beyond the
//! CPU it takes: waiting on the tracker's lock.
//!
//! Ratios only: the machine is shared, and absolute times move.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use jwt_rollover::{
    Algorithm, JwtLayer, Key, KeyRing, KeySet, Metrics, TokenCacheConfig, Verifier,
};
use serde_json::{Value, json};

const CURRENT_SECRET: &[u8] = b"contention-bench-current-secret!";
/// Distinct previous-key tokens in the tracker while the scraper runs: the
/// default tracker capacity, a rotation's worst case.
const SCRAPE_TRACKED: usize = 100_000;
const PREVIOUS_SECRET: &[u8] = b"contention-bench-previous-secret";

fn token(kid: &str, secret: &[u8], sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({"sub": sub, "iat": now, "exp": now + 3600});
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
        .expect("jsonwebtoken signs")
}

/// Wall time per operation per thread: `threads` threads each run `op`
/// `iterations` times, all at once.
fn per_op_ns(threads: usize, iterations: u32, op: &(dyn Fn(usize) + Sync)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            scope.spawn(move || {
                for _ in 0..iterations {
                    op(thread);
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Case<'a> {
    name: &'static str,
    iterations: u32,
    op: Box<dyn Fn(usize) + Sync + 'a>,
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once
    // as a smoke test with tiny counts.
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let rounds: usize = std::env::var("CONTENTION_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(if smoke { 1 } else { 5 });
    // CONTENTION_THREADS=8 oversubscribes a small machine: what a
    // many-core server sees, roughly, with every core's work interleaved.
    let threads = std::env::var("CONTENTION_THREADS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get().max(2)));

    let keys = KeySet::new(
        Key::hmac(Some("cur"), Algorithm::HS256, CURRENT_SECRET).expect("a valid key"),
        Some(Key::hmac(Some("prev"), Algorithm::HS256, PREVIOUS_SECRET).expect("a valid key")),
    )
    .expect("two keys");
    let registry = prometheus::Registry::new();
    let metrics = Metrics::new(&registry).expect("fresh registry");
    let layer = JwtLayer::<Value>::new(KeyRing::new(keys, metrics));
    let off: Verifier<Value> = layer.verifier();
    let on: Verifier<Value> = layer
        .with_token_cache(TokenCacheConfig::default())
        .verifier();

    let current = token("cur", CURRENT_SECRET, "user-42");
    let previous = token("prev", PREVIOUS_SECRET, "user-42");
    let per_thread: Vec<String> = (0..threads)
        .map(|thread| token("cur", CURRENT_SECRET, &format!("user-{thread}")))
        .collect();
    for token in std::iter::once(&current).chain(&per_thread) {
        assert!(on.verify(token).is_ok(), "the cached tokens verify");
    }
    assert!(
        off.verify(&previous).is_ok(),
        "the previous-key token verifies"
    );

    // The well-kept alternative to the hand-written cache: quick_cache,
    // keyed by the whole token (exact match), valued by the verified
    // claims behind an `Arc`, weighted by bytes. Its lookup alone, without
    // the counting, expiry and generation checks a hit must also do.
    let quick: quick_cache::sync::Cache<String, Arc<Value>> = quick_cache::sync::Cache::new(10_000);
    for token in std::iter::once(&current).chain(&per_thread) {
        let claims = on.verify(token).expect("accepted").into_claims();
        quick.insert(token.clone(), Arc::new(claims));
    }
    let quick_get = |token: &str| {
        black_box(quick.get(black_box(token)).expect("cached"));
    };
    let shared_arc = Arc::new(String::from("a shared value"));
    let shared_mutex = Mutex::new(0_u64);
    let shared_counter = AtomicU64::new(0);
    let scale = |n: u32| if smoke { 100 } else { n };
    let verify = |verifier: &Verifier<Value>, token: &str| {
        black_box(verifier.verify(black_box(token)).expect("accepted"));
    };
    let cases = [
        Case {
            name: "hs256 current, cache off",
            iterations: scale(200_000),
            op: Box::new(|_| verify(&off, &current)),
        },
        Case {
            name: "hs256 previous, cache off",
            iterations: scale(200_000),
            op: Box::new(|_| verify(&off, &previous)),
        },
        Case {
            name: "cache hit, one token",
            iterations: scale(1_000_000),
            op: Box::new(|_| verify(&on, &current)),
        },
        Case {
            name: "cache hit, a token per thread",
            iterations: scale(1_000_000),
            op: Box::new(|thread| verify(&on, &per_thread[thread])),
        },
        Case {
            name: "quick_cache get, one token",
            iterations: scale(1_000_000),
            op: Box::new(|_| quick_get(&current)),
        },
        Case {
            name: "quick_cache get, token per thread",
            iterations: scale(1_000_000),
            op: Box::new(|thread| quick_get(&per_thread[thread])),
        },
        Case {
            name: "Arc clone + drop",
            iterations: scale(5_000_000),
            op: Box::new(|_| drop(black_box(Arc::clone(&shared_arc)))),
        },
        Case {
            name: "Mutex lock + unlock",
            iterations: scale(5_000_000),
            op: Box::new(|_| {
                *shared_mutex.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }),
        },
        Case {
            name: "AtomicU64 fetch_add",
            iterations: scale(5_000_000),
            op: Box::new(|_| {
                shared_counter.fetch_add(1, Ordering::Relaxed);
            }),
        },
    ];

    let mut alone = vec![Vec::new(); cases.len()];
    let mut together = vec![Vec::new(); cases.len()];
    let mut ratios = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (index, case) in cases.iter().enumerate() {
            let one = per_op_ns(1, case.iterations, &*case.op);
            let many = per_op_ns(threads, case.iterations, &*case.op);
            alone[index].push(one);
            together[index].push(many);
            ratios[index].push(many / one);
        }
    }

    println!(
        "per-thread cost of one operation, 1 thread vs {threads} threads at once \
         (median of {rounds} interleaved round(s))"
    );
    println!(
        "{:<32} {:>10} {:>12} {:>10}",
        "case",
        "1 thread",
        format!("{threads} threads"),
        "ratio"
    );
    for (index, case) in cases.iter().enumerate() {
        println!(
            "{:<32} {:>7.0} ns {:>9.0} ns {:>9.2}x",
            case.name,
            median(&mut alone[index]),
            median(&mut together[index]),
            median(&mut ratios[index]),
        );
    }
    println!(
        "ratio 1.00: no contention. Above it, threads wait on cache lines that \
         other cores write (see docs/performance.md, 'Contention')."
    );

    scrape_case(&off, &registry, threads, rounds, smoke);
}

/// Previous-key traffic on every thread, without and with a thread that
/// gathers the registry (a scrape) in a loop.
fn scrape_case(
    verifier: &Verifier<Value>,
    registry: &prometheus::Registry,
    threads: usize,
    rounds: usize,
    smoke: bool,
) {
    let tracked = if smoke { 1_000 } else { SCRAPE_TRACKED };
    for user in 0..tracked {
        let filler = token("prev", PREVIOUS_SECRET, &format!("tracked-{user}"));
        verifier
            .verify(&filler)
            .expect("a previous-key token verifies");
    }
    let traffic: Vec<String> = (0..64)
        .map(|user| token("prev", PREVIOUS_SECRET, &format!("traffic-{user}")))
        .collect();
    let iterations = if smoke { 100 } else { 100_000 };
    let op = |thread: usize| {
        let token = &traffic[(thread * 17 + black_box(0)) % traffic.len()];
        black_box(verifier.verify(black_box(token)).expect("accepted"));
    };
    // Beside the traffic, one more thread: a scraper, or (the baseline) a
    // thread that only burns CPU. On a machine with as many cores as
    // traffic threads, both take CPU from the traffic alike; only the
    // scraper can make a request wait on the tracker's lock.
    let beside = |scrape: bool| {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let loops = AtomicU64::new(0);
        let per_op = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if scrape {
                        black_box(registry.gather());
                    } else {
                        let mut spin = 0_u64;
                        for step in 0..20_000_u64 {
                            spin = black_box(spin.wrapping_mul(31).wrapping_add(step));
                        }
                    }
                    loops.fetch_add(1, Ordering::Relaxed);
                }
            });
            let per_op = per_op_ns(threads, iterations, &op);
            stop.store(true, Ordering::Relaxed);
            per_op
        });
        (per_op, loops.load(Ordering::Relaxed) as f64)
    };
    let (mut busy, mut with, mut ratios, mut scrapes) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (baseline, _) = beside(false);
        let (scraped, gathered) = beside(true);
        busy.push(baseline);
        with.push(scraped);
        ratios.push(scraped / baseline);
        scrapes.push(gathered);
    }
    println!();
    println!(
        "previous-key traffic on {threads} threads, {tracked} tokens tracked, beside \
         a thread that burns CPU / a thread gathering the registry in a loop \
         (median of {rounds} round(s); {:.0} scrapes per round)",
        median(&mut scrapes)
    );
    println!(
        "{:<32} {:>7.0} ns {:>9.0} ns {:>9.2}x",
        "previous key, while scraped",
        median(&mut busy),
        median(&mut with),
        median(&mut ratios),
    );
}
