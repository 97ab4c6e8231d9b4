//! The fleet gate against a real Prometheus: two example-server replicas on
//! loopback, both scraped by one Prometheus every second, with short policy
//! periods and the gate on (`--fleet-prometheus`, `--fleet-selector`).
//!
//! 1. Previous-key traffic goes to replica B only: A's local blockers clear
//!    but A does not retire, and its status names the fleet blocker.
//! 2. The traffic stops and the tokens expire: both retire, within the
//!    documented bound.
//! 3. Prometheus is stopped: no replica retires; the gate error is counted
//!    and shown.
//! 4. One replica loads the new key file late: "loaded everywhere" stays
//!    false, and the gate closed, until it has.
//! 5. An admin retire on A while the gate is closed is a `409` naming the
//!    fleet blocker; with `force=true` it retires.
//!
//! Each test prints its timeline in seconds. They need `prometheus` on
//! `PATH`, so they are ignored by a plain `cargo test` with that reason;
//! `.ci/run` installs it and runs them with `--include-ignored`.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use jwt_rollover::{KeyFormat, KeySet};
use serde_json::{Value, json};

use common::process::{Proc, TempDir, build_example_server, free_addr, http, path_str};
use common::prom_server::{query, require_tools, results, start_prometheus};
use common::{hs256_jwks, mint, rename_over, unix_now};

const JOB: &str = "jwt-fleet";
const ADMIN_TOKEN: &str = "fleet-test-admin-token-0123456789";
const NEW_KID: &str = "fleet-new";
const OLD_KID: &str = "fleet-old";
const NEW_SECRET: &[u8] = b"fleet-test-secret-new-0123456789abcdef";
const OLD_SECRET: &[u8] = b"fleet-test-secret-old-0123456789abcdef";

/// The policy every replica runs with, in seconds.
const MIN_AGE: u64 = 3;
const QUIET: u64 = 4;
const CHECK_INTERVAL: u64 = 1;
const LEEWAY: u64 = 1;
/// Lifetime of the previous-key tokens the clients send.
const TOKEN_TTL: u64 = 3;
/// What the gate assumes of Prometheus (which scrapes every second): a
/// replica whose data is older than twice this is stale.
const SCRAPE_INTERVAL: u64 = 2;

/// A token of `kid` valid for `ttl` seconds.
fn token(kid: &str, secret: &[u8], ttl: u64) -> String {
    mint(
        secret,
        Some(kid),
        &json!({"sub": "fleet-test", "exp": unix_now() + ttl}),
    )
}

/// One replica: the example server on its own key file.
struct Replica {
    name: &'static str,
    app: SocketAddr,
    admin: SocketAddr,
    keys: PathBuf,
    _proc: Proc,
}

impl Replica {
    fn start(
        name: &'static str,
        bin: &PathBuf,
        dir: &TempDir,
        prom: SocketAddr,
        keys: &[u8],
    ) -> Self {
        let path = dir.join(&format!("{name}-jwks.json"));
        rename_over(&path, keys);
        let (app, admin) = (free_addr(), free_addr());
        let proc = Proc::spawn(
            name,
            Command::new(bin).env("NO_COLOR", "1").args([
                "--keys",
                path_str(&path),
                "--listen",
                &app.to_string(),
                "--admin-listen",
                &admin.to_string(),
                "--admin-token",
                ADMIN_TOKEN,
                "--min-age",
                &format!("{MIN_AGE}s"),
                "--quiet",
                &format!("{QUIET}s"),
                "--check-interval",
                &format!("{CHECK_INTERVAL}s"),
                "--leeway",
                &format!("{LEEWAY}s"),
                "--poll",
                "1s",
                "--fleet-prometheus",
                &format!("http://{prom}"),
                "--fleet-selector",
                &format!("job=\"{JOB}\""),
                "--fleet-scrape-interval",
                &format!("{SCRAPE_INTERVAL}s"),
            ]),
            &dir.join(&format!("{name}.log")),
        );
        let replica = Self {
            name,
            app,
            admin,
            keys: path,
            _proc: proc,
        };
        wait_for(
            &format!("{name} to answer"),
            Duration::from_secs(20),
            || http(replica.app, "GET", "/healthz", &[]).is_ok_and(|r| r.status == 200),
        );
        replica
    }

    fn status(&self) -> Value {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let response = http(
            self.admin,
            "GET",
            "/admin/keys",
            &[("Authorization", &auth)],
        )
        .unwrap_or_else(|e| panic!("{}: GET /admin/keys: {e}", self.name));
        assert_eq!(response.status, 200, "{}: {}", self.name, response.body);
        serde_json::from_str(&response.body).expect("status JSON")
    }

    fn retire(&self, query: &str) -> (u16, Value) {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let path = format!("/admin/keys/previous/retire{query}");
        let response = http(self.admin, "POST", &path, &[("Authorization", &auth)])
            .unwrap_or_else(|e| panic!("{}: POST {path}: {e}", self.name));
        let body = serde_json::from_str(&response.body).expect("retire JSON");
        (response.status, body)
    }

    fn previous_kid(&self) -> Option<String> {
        self.status()["previous"]["kid"].as_str().map(str::to_owned)
    }

    /// `Ok(slot)` or `Err(401 body)`.
    fn whoami(&self, token: &str) -> Result<String, String> {
        let auth = format!("Bearer {token}");
        let response = http(self.app, "GET", "/whoami", &[("Authorization", &auth)])
            .unwrap_or_else(|e| panic!("{}: GET /whoami: {e}", self.name));
        if response.status == 200 {
            let body: Value = serde_json::from_str(&response.body).expect("whoami JSON");
            Ok(body["slot"].as_str().unwrap_or_default().to_owned())
        } else {
            Err(response
                .header("www-authenticate")
                .unwrap_or_default()
                .to_owned())
        }
    }

    fn metric(&self, series: &str) -> f64 {
        let response = http(self.admin, "GET", "/metrics", &[]).expect("GET /metrics");
        response
            .body
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// The blocker kinds in a status's previous-key eligibility.
fn blocker_kinds(status: &Value) -> Vec<String> {
    status["previous"]["eligibility"]["blockers"]
        .as_array()
        .map(|blockers| {
            blockers
                .iter()
                .filter_map(|b| b["blocker"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn local_blockers(status: &Value) -> Vec<String> {
    blocker_kinds(status)
        .into_iter()
        .filter(|kind| !kind.starts_with("fleet_"))
        .collect()
}

fn fleet_blockers(status: &Value) -> Vec<String> {
    blocker_kinds(status)
        .into_iter()
        .filter(|kind| kind.starts_with("fleet_"))
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Seconds since `start`, for the timelines.
struct Timeline {
    start: Instant,
    events: Vec<(f64, String)>,
}

impl Timeline {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            events: Vec::new(),
        }
    }

    fn at(&mut self, event: impl Into<String>) -> f64 {
        let at = self.start.elapsed().as_secs_f64();
        let event = event.into();
        println!("t={at:6.1}s  {event}");
        self.events.push((at, event));
        at
    }
}

/// Prometheus scraping both replicas' admin listeners, and the two replicas
/// (started on `a_keys` and `b_keys`), once Prometheus sees both up.
struct Fleet {
    // Kept for the life of the fleet: the key files and logs live there.
    _dir: TempDir,
    prom: SocketAddr,
    prometheus: Option<Proc>,
    a: Replica,
    b: Replica,
}

impl Fleet {
    fn start(name: &str, a_keys: &[u8], b_keys: &[u8]) -> Self {
        require_tools();
        // Parsing the key files here checks them, and installs the crypto
        // provider that this process's `mint` needs.
        for keys in [a_keys, b_keys] {
            KeySet::parse(keys, KeyFormat::Jwks).expect("a valid JWKS");
        }
        let bin = build_example_server();
        let dir = TempDir::new(name);
        let prom = free_addr();
        // Ports first: Prometheus is configured with the replicas' admin
        // addresses, the replicas with Prometheus's.
        let a = Replica::start("replica-a", &bin, &dir, prom, a_keys);
        let b = Replica::start("replica-b", &bin, &dir, prom, b_keys);
        let prometheus = start_prometheus(&dir, JOB, &[a.admin, b.admin], None, prom);
        wait_for(
            "Prometheus to scrape both replicas",
            Duration::from_secs(30),
            || {
                http(prom, "GET", "/-/ready", &[]).is_ok_and(|r| r.status == 200)
                    && results(&query(prom, &format!("up{{job=\"{JOB}\"}} == 1"), None)).len() == 2
            },
        );
        Self {
            _dir: dir,
            prom,
            prometheus: Some(prometheus),
            a,
            b,
        }
    }
}

#[test]
#[ignore = "needs prometheus and promtool on PATH (apt-get install prometheus)"]
fn thin_traffic_on_one_replica_holds_every_replica_until_the_fleet_is_quiet() {
    let old_only = hs256_jwks(&[(OLD_KID, OLD_SECRET)]);
    let rotated = hs256_jwks(&[(NEW_KID, NEW_SECRET), (OLD_KID, OLD_SECRET)]);
    let fleet = Fleet::start("fleet-quiet", &old_only, &old_only);
    let mut timeline = Timeline::new();
    timeline.at("both replicas up with [old], Prometheus scraping both every 1s");
    // The rotation, with the old key's client already active: the gate
    // sees each replica as of its last scrape, so usage that begins only
    // after the key could be retired is not what this test is about.
    for replica in [&fleet.a, &fleet.b] {
        rename_over(&replica.keys, &rotated);
    }
    wait_for(
        "both replicas to load [new, old]",
        Duration::from_secs(10),
        || {
            [&fleet.a, &fleet.b]
                .iter()
                .all(|replica| replica.status()["current"]["kid"] == NEW_KID)
        },
    );
    timeline.at("both replicas rotated to [new, old]");

    // Case 1: previous-key traffic to B only, for three times min_age.
    let traffic_until = Instant::now() + Duration::from_secs(3 * MIN_AGE + QUIET);
    let mut a_held_by_fleet = false;
    let mut last_token_exp = 0;
    while Instant::now() < traffic_until {
        let old = token(OLD_KID, OLD_SECRET, TOKEN_TTL);
        last_token_exp = unix_now() + TOKEN_TTL;
        assert_eq!(fleet.b.whoami(&old), Ok("previous".to_owned()));
        let new = token(NEW_KID, NEW_SECRET, TOKEN_TTL);
        assert_eq!(fleet.a.whoami(&new), Ok("current".to_owned()));
        let a = fleet.a.status();
        assert_eq!(
            a["previous"]["kid"], OLD_KID,
            "A retired while B still served previous-key traffic: {a}"
        );
        let usage_blocks = fleet_blockers(&a)
            .iter()
            .any(|kind| kind == "fleet_quiet" || kind == "fleet_live_tokens");
        if local_blockers(&a).is_empty() && usage_blocks {
            if !a_held_by_fleet {
                timeline.at(format!(
                    "A: local blockers clear, held by B's usage through the fleet gate: {:?}",
                    fleet_blockers(&a)
                ));
            }
            a_held_by_fleet = true;
            assert_eq!(a["fleet"]["state"], "closed", "{a}");
        }
        thread::sleep(Duration::from_millis(500));
    }
    assert!(
        a_held_by_fleet,
        "A's local blockers never cleared on their own"
    );
    let stopped = timeline.at("previous-key traffic to B stops");

    // Case 2: both retire once the fleet is quiet and the tokens expired.
    let bound =
        QUIET.max(last_token_exp + LEEWAY - unix_now()) + SCRAPE_INTERVAL + CHECK_INTERVAL + 5;
    let mut retired = [None, None];
    wait_for(
        "both replicas to retire",
        Duration::from_secs(bound),
        || {
            for (at, replica) in retired.iter_mut().zip([&fleet.a, &fleet.b]) {
                if at.is_none() && replica.previous_kid().is_none() {
                    *at = Some(timeline.at(format!("{} retired {OLD_KID}", replica.name)));
                }
            }
            retired.iter().all(Option::is_some)
        },
    );
    for replica in [&fleet.a, &fleet.b] {
        let status = replica.status();
        assert_eq!(status["retired"], json!([OLD_KID]), "{status}");
        assert_eq!(
            replica.metric("jwt_key_retirements_total{trigger=\"auto\"}"),
            1.0,
            "{}",
            replica.name
        );
        let old = token(OLD_KID, OLD_SECRET, 60);
        let refused = replica
            .whoami(&old)
            .expect_err("an old token after retirement");
        assert!(refused.contains("retired_key"), "{refused}");
    }
    let spread = (retired[0].unwrap() - retired[1].unwrap()).abs();
    println!(
        "retired {:.1}s and {:.1}s after the traffic stopped; {spread:.1}s apart (bound {bound}s)",
        retired[0].unwrap() - stopped,
        retired[1].unwrap() - stopped
    );
}

#[test]
#[ignore = "needs prometheus and promtool on PATH (apt-get install prometheus)"]
fn without_prometheus_no_replica_retires_unless_forced() {
    let both = hs256_jwks(&[(NEW_KID, NEW_SECRET), (OLD_KID, OLD_SECRET)]);
    let mut fleet = Fleet::start("fleet-down", &both, &both);
    let mut timeline = Timeline::new();
    timeline.at("both replicas up with [new, old], no traffic");

    // Case 3: Prometheus goes away before the local blockers clear.
    drop(fleet.prometheus.take());
    timeline.at("Prometheus stopped");
    let local_clear = Instant::now() + Duration::from_secs(MIN_AGE + 3 * CHECK_INTERVAL + 2);
    while Instant::now() < local_clear {
        for replica in [&fleet.a, &fleet.b] {
            assert_eq!(
                replica.previous_kid().as_deref(),
                Some(OLD_KID),
                "{}",
                replica.name
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
    for replica in [&fleet.a, &fleet.b] {
        let status = replica.status();
        assert_eq!(local_blockers(&status), Vec::<String>::new(), "{status}");
        assert_eq!(fleet_blockers(&status), ["fleet_undecided"], "{status}");
        assert_eq!(status["fleet"]["state"], "undecided", "{status}");
        assert_eq!(
            status["fleet"]["error"]["reason"], "unreachable",
            "{status}"
        );
        let errors = replica.metric("jwt_retire_gate_errors_total{reason=\"unreachable\"}");
        assert!(
            errors >= 2.0,
            "{}: {errors} gate errors counted",
            replica.name
        );
        timeline.at(format!(
            "{}: still holds {OLD_KID}; {errors} unreachable gate errors counted",
            replica.name
        ));
    }

    // Case 5: an admin retire is refused with the fleet blocker, unless forced.
    let (status, body) = fleet.a.retire(&format!("?kid={OLD_KID}"));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "not_eligible");
    let kinds: Vec<&str> = body["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .filter_map(|b| b["blocker"].as_str())
        .collect();
    assert_eq!(kinds, ["fleet_undecided"], "{body}");
    let detail = body["blockers"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("unreachable"), "{detail}");
    timeline.at("A: POST retire -> 409 fleet_undecided");
    let (status, body) = fleet.a.retire(&format!("?kid={OLD_KID}&force=true"));
    assert_eq!(status, 200, "{body}");
    assert!(body["previous"].is_null(), "{body}");
    timeline.at("A: POST retire?force=true -> 200, retired");
    assert_eq!(fleet.b.previous_kid().as_deref(), Some(OLD_KID));
}

#[test]
#[ignore = "needs prometheus and promtool on PATH (apt-get install prometheus)"]
fn a_replica_that_has_not_loaded_the_new_key_holds_the_fleet() {
    let old_only = hs256_jwks(&[(OLD_KID, OLD_SECRET)]);
    let rotated = hs256_jwks(&[(NEW_KID, NEW_SECRET), (OLD_KID, OLD_SECRET)]);
    let fleet = Fleet::start("fleet-lag", &old_only, &old_only);
    let mut timeline = Timeline::new();
    timeline.at("both replicas up with [old]");

    // Case 4: the Secret reaches A; B's kubelet is late.
    rename_over(&fleet.a.keys, &rotated);
    timeline.at("A's key file swapped to [new, old]");
    wait_for("A to load the new key", Duration::from_secs(10), || {
        fleet.a.status()["current"]["kid"] == NEW_KID
    });
    timeline.at("A: new key current");
    let lag_until = Instant::now() + Duration::from_secs(MIN_AGE + QUIET + 3);
    let mut saw_lagging_replica = false;
    while Instant::now() < lag_until {
        let a = fleet.a.status();
        assert_eq!(a["previous"]["kid"], OLD_KID, "A retired while B lags: {a}");
        assert_eq!(a["fleet"]["loaded_everywhere"], false, "{a}");
        if a["fleet"]["replicas"]["current_kids"] == json!({NEW_KID: 1, OLD_KID: 1}) {
            saw_lagging_replica = true;
            assert!(
                fleet_blockers(&a).contains(&"fleet_current_kid".to_owned()),
                "{a}"
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
    assert!(
        saw_lagging_replica,
        "A's fleet section never showed B on the old key"
    );
    let a = fleet.a.status();
    assert_eq!(local_blockers(&a), Vec::<String>::new(), "{a}");
    timeline.at(format!(
        "A: local blockers clear, held by {:?}; loaded_everywhere false",
        fleet_blockers(&a)
    ));

    rename_over(&fleet.b.keys, &rotated);
    timeline.at("B's key file swapped to [new, old] (the late kubelet)");
    wait_for(
        "A to see the new key loaded everywhere",
        Duration::from_secs(15),
        || fleet.a.status()["fleet"]["loaded_everywhere"] == true,
    );
    timeline.at("A: fleet.loaded_everywhere = true");
    let bound = MIN_AGE + SCRAPE_INTERVAL + CHECK_INTERVAL + 10;
    let mut retired = [false, false];
    wait_for(
        "both replicas to retire",
        Duration::from_secs(bound),
        || {
            for (done, replica) in retired.iter_mut().zip([&fleet.a, &fleet.b]) {
                if !*done && replica.previous_kid().is_none() {
                    *done = true;
                    timeline.at(format!("{} retired {OLD_KID}", replica.name));
                }
            }
            retired.iter().all(|done| *done)
        },
    );
    let ready = query(
        fleet.prom,
        &format!("count by (kid) (jwt_key_info{{job=\"{JOB}\",slot=\"current\"}})"),
        None,
    );
    let kids: Vec<String> = results(&ready)
        .iter()
        .filter_map(|r| r["metric"]["kid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(kids, [NEW_KID], "Prometheus sees one current kid");
}
