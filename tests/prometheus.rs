//! The operator's kit against a real Prometheus.
//!
//! - `promtool` checks `deploy/prometheus/alerts.yml` and runs its unit tests;
//! - the example server runs on a temporary JWKS, a real Prometheus scrapes
//!   its `/metrics` every second with the alert rules loaded, and the test
//!   drives a whole rotation through it: traffic on both keys and bad
//!   tokens, a refused key file, a rotation written to the file, a forced
//!   retirement through the admin API;
//! - then every PromQL expression of `dashboards/jwt-rollover.json` and of
//!   the alert rules runs through the Prometheus HTTP API, at an instant
//!   just after the rotation and one just after the retirement, and the
//!   panels that matter must show data.
//!
//! Both need `prometheus` and `promtool` on `PATH`, so they are
//! marked `ignore` with that reason: `cargo test` lists them as ignored, and
//! `.ci/run` installs Debian's `prometheus` package and runs them with
//! `--include-ignored`, where a missing tool is a failure, never a skip.

// Each test binary compiles `common` on its own and uses only part of it.
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwt_simple::prelude::{Claims, HS256Key, MACLike as _};
use serde_json::Value;

use common::process::{
    Proc, Response, TempDir, build_example_server, free_addr, http, path_str, wait_until,
};
use common::prom_server::{
    api, percent_encode, query, require_tools, results, sample, start_prometheus,
};
use common::{hs256_jwks, rename_over, unix_now};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const DASHBOARD: &str = "dashboards/jwt-rollover.json";
const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";

const JOB: &str = "jwt-rollover";
const ADMIN_TOKEN: &str = "prometheus-test-admin-token-0123456789";

/// The keys of the scenario: B is previous at start, A current; the
/// rotation writes `[C, A]`, which makes A previous and pushes B out.
const KID_A: &str = "prom-2026-02";
const KID_B: &str = "prom-2026-01";
const KID_C: &str = "prom-2026-03";
const SECRET_A: &[u8] = b"prometheus-test-secret-A-0123456789abcdef";
const SECRET_B: &[u8] = b"prometheus-test-secret-B-0123456789abcdef";
const SECRET_C: &[u8] = b"prometheus-test-secret-C-0123456789abcdef";
/// Signs tokens that name a loaded kid: `bad_signature`.
const FOREIGN_SECRET: &[u8] = b"prometheus-test-foreign-secret-0123456789";

/// Grafana variables, as substituted here. `$__rate_interval` is Grafana's
/// floor of four scrape intervals (1 s apart here) with one to spare.
const RATE_INTERVAL: &str = "5s";
const INTERVAL: &str = "1s";
const RANGE: &str = "1m";
/// The dashboard's `$quiet` (seconds), at its default: the crate's default
/// quiet of 10 min, not the scenario's `--quiet 2s`, so that the fleet
/// panels are checked as Grafana shows them out of the box.
const QUIET: &str = "600";

/// Dashboard queries that must return data just after the rotation
/// (panel title or annotation name, refId or "" for annotations).
///
/// The "Fleet" row is listed although the server runs without a fleet
/// gate: its panels read the replicas' own metrics, as the gate does, and
/// "Gate errors" reads the counters registered at 0 for every reason.
/// Not "Signing key": the example server has no `Signer`, so there is no
/// `jwt_signer_key_info` series to show.
const MUST_SHOW_DATA_AFTER_ROTATION: [(&str, &str); 26] = [
    ("Verifications by slot and kid", "A"),
    ("Previous-key share of verifications", "A"),
    ("Previous-key live tokens", "A"),
    ("Time since the previous key was last used", "A"),
    ("Time until the previous key's latest token expires", "A"),
    ("How long the previous key has been previous", "A"),
    ("Token cache hit ratio", "A"),
    ("Rejections by reason", "A"),
    ("Distinct current kids", "A"),
    ("Keys loaded, per replica", "A"),
    ("Key reloads, rotations and retirements", "A"),
    ("Key reloads, rotations and retirements", "B"),
    ("Replicas per current kid", "A"),
    ("Replicas that agree", "A"),
    ("Fleet previous-key usage", "A"),
    ("Fleet previous-key usage", "B"),
    ("Fleet previous-key usage", "C"),
    ("Gate errors", "A"),
    ("Fleet gate state", "A"),
    ("Fleet gate state", "B"),
    ("Fleet gate state", "C"),
    ("Fleet gate state", "D"),
    ("Fleet gate state", "E"),
    ("Fleet gate state", "F"),
    ("Fleet gate state", "G"),
    ("Key rotations", ""),
];

/// The "Fleet gate state" conditions (refId, name) and whether each passes
/// (1) just after the rotation and just after the retirement: A, B and C
/// hold throughout (one replica, one previous kid at most); after the
/// rotation A's tokens keep the quiet and token conditions failing; after
/// the retirement there is no previous key (the gauges read 0), but A's
/// verifications are still within the 10 min quiet window.
const GATE_CONDITIONS: [(&str, &str, [f64; 2]); 7] = [
    ("A", "all replicas up", [1.0, 1.0]),
    ("B", "one current kid", [1.0, 1.0]),
    ("C", "one previous kid", [1.0, 1.0]),
    ("D", "no previous-key verifications over quiet", [0.0, 0.0]),
    ("E", "last previous-key match older than quiet", [0.0, 1.0]),
    ("F", "no live previous-key tokens", [0.0, 1.0]),
    ("G", "latest previous-key token expired", [0.0, 1.0]),
];

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs prometheus and promtool on PATH (apt-get install prometheus)"]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    require_tools();
    run_promtool(&["check", "rules", ALERTS]);
    run_promtool(&["test", "rules", ALERT_TESTS]);
}

#[test]
#[ignore = "needs prometheus and promtool on PATH (apt-get install prometheus)"]
fn dashboard_and_alert_queries_run_on_a_live_rotation() {
    require_tools();
    let started = Instant::now();
    let server_bin = build_example_server();
    println!("example server built in {:.1?}", started.elapsed());

    let dir = TempDir::new("prometheus");
    let keys_path = dir.path().join("jwks.json");
    rename_over(
        &keys_path,
        &hs256_jwks(&[(KID_A, SECRET_A), (KID_B, SECRET_B)]),
    );
    let app = free_addr();
    let admin = free_addr();
    let prom = free_addr();

    let server = Proc::spawn(
        "example server",
        Command::new(&server_bin).env("NO_COLOR", "1").args([
            "--keys",
            path_str(&keys_path),
            "--listen",
            &app.to_string(),
            "--admin-listen",
            &admin.to_string(),
            "--admin-token",
            ADMIN_TOKEN,
            "--min-age",
            "2s",
            "--quiet",
            "2s",
            "--poll",
            "1s",
            "--token-cache",
            "1000",
        ]),
        &dir.path().join("server.log"),
    );
    let rules = Path::new(MANIFEST_DIR).join(ALERTS);
    let prometheus = start_prometheus(&dir, JOB, &[admin], Some(&rules), prom);
    let procs = [&server, &prometheus];
    let tokens = Tokens::mint();
    let client = Client { app };

    wait_until(&procs, "the example server answers /healthz", || {
        http(app, "GET", "/healthz", &[]).is_ok_and(|r| r.status == 200)
    });
    // A live token of B right away: with --min-age 2s --quiet 2s, an unused
    // B would be retired by the first auto-retire check, before phase 1.
    client.expect(Some(&tokens.b), Ok(("previous", KID_B)));
    wait_until(&procs, "Prometheus is ready", || {
        http(prom, "GET", "/-/ready", &[]).is_ok_and(|r| r.status == 200)
    });
    wait_until(&procs, "Prometheus scraped the example server", || {
        let up = query(prom, &format!("up{{job=\"{JOB}\"}}"), None);
        results(&up).first().is_some_and(|r| sample(r) > 0.5)
    });
    println!("server and Prometheus up after {:.1?}", started.elapsed());

    let (rotated_at, retired_at) = drive_rotation(&client, &tokens, admin, &keys_path, &procs);
    println!(
        "rotation and retirement done after {:.1?}",
        started.elapsed()
    );

    // Evaluate at two instants, rotation + 3 s and retirement + 3 s, once
    // Prometheus has scraped past both.
    let instants = [
        ("after rotation", rotated_at + 3.0),
        ("after retirement", retired_at + 3.0),
    ];
    wait_until(&procs, "Prometheus scraped past the last instant", || {
        let at = query(prom, "timestamp(jwt_key_rotations_total)", None);
        results(&at)
            .first()
            .is_some_and(|r| sample(r) >= retired_at + 4.5)
    });

    let dashboard = load_dashboard();
    let admin_instance = admin.to_string();
    let (job_values, instance_values) = variable_values(&dashboard, prom);
    assert!(
        job_values.iter().any(|j| j == JOB),
        "$job offers {job_values:?}"
    );
    assert!(
        instance_values.contains(&admin_instance),
        "$instance offers {instance_values:?}"
    );

    let dashboard_queries = dashboard_queries(&dashboard, JOB, &admin_instance);
    let alert_queries = alert_rule_queries(prom);
    let mut report = Vec::new();
    for (label, expr) in dashboard_queries.iter().chain(&alert_queries) {
        let counts: Vec<(usize, Value)> = instants
            .iter()
            .map(|&(_, at)| {
                let answer = query(prom, expr, Some(at));
                (results(&answer).len(), answer)
            })
            .collect();
        report.push((label.clone(), expr.clone(), counts));
    }
    print_report(&instants, &report);

    check_dashboard_results(&report);
    check_alert_states(prom);
    println!("whole test: {:.1?}", started.elapsed());
}

/// Traffic on both keys and bad tokens, a refused key file, the rotation
/// `[C, A]` through the file, a forced retirement of A. Returns the unix
/// times at which the rotation was seen and the retirement answered.
fn drive_rotation(
    client: &Client,
    tokens: &Tokens,
    admin: SocketAddr,
    keys_path: &Path,
    procs: &[&Proc],
) -> (f64, f64) {
    // Phase 1: A current, B previous, and every kind of bad token.
    run_for(Duration::from_secs(3), || {
        for _ in 0..4 {
            client.expect(Some(&tokens.a), Ok(("current", KID_A)));
        }
        client.expect(Some(&tokens.b), Ok(("previous", KID_B)));
        client.expect(Some(&tokens.b), Ok(("previous", KID_B)));
        client.expect(None, Err("missing"));
        client.expect(Some("abc"), Err("malformed"));
        client.expect(Some(&tokens.forged_a), Err("bad_signature"));
        client.expect(Some(&tokens.unknown_kid), Err("unknown_kid"));
        client.expect(Some(&tokens.expired_a), Err("expired"));
    });

    // A bad key file is refused; the keys stay.
    rename_over(keys_path, b"{\"keys\": []}");
    wait_until(procs, "the server refused the bad key file", || {
        server_metric(admin, "jwt_key_reloads_total{result=\"error\"}") >= 1.0
    });
    client.expect(Some(&tokens.a), Ok(("current", KID_A)));

    // The rotation: [C, A]. A keeps working throughout, as current then previous.
    rename_over(
        keys_path,
        &hs256_jwks(&[(KID_C, SECRET_C), (KID_A, SECRET_A)]),
    );
    wait_until(procs, "the server rotated to the new key", || {
        client.whoami(Some(&tokens.a));
        server_metric(admin, "jwt_key_rotations_total") >= 1.0
    });
    let rotated_at = unix_now_f64();

    // Phase 2: C current, A previous, B retired (it left the file), bad tokens.
    run_for(Duration::from_secs(4), || {
        for _ in 0..3 {
            client.expect(Some(&tokens.c), Ok(("current", KID_C)));
        }
        client.expect(Some(&tokens.a), Ok(("previous", KID_A)));
        client.expect(Some(&tokens.a), Ok(("previous", KID_A)));
        client.expect(Some(&tokens.b), Err("retired_key"));
        client.expect(Some(&tokens.forged_a), Err("bad_signature"));
        client.expect(Some(&tokens.unknown_kid), Err("unknown_kid"));
    });

    // Retire A now: its tokens live for an hour, so only force does it.
    let retire = http(
        admin,
        "POST",
        "/admin/keys/previous/retire?force=true",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    )
    .expect("POST /admin/keys/previous/retire");
    assert_eq!(retire.status, 200, "forced retirement: {}", retire.body);
    let retired_at = unix_now_f64();

    // Phase 3: A's tokens are refused as retired_key.
    run_for(Duration::from_secs(3), || {
        for _ in 0..3 {
            client.expect(Some(&tokens.c), Ok(("current", KID_C)));
        }
        client.expect(Some(&tokens.a), Err("retired_key"));
    });
    (rotated_at, retired_at)
}

// ---------------------------------------------------------------------------
// Assertions on the results
// ---------------------------------------------------------------------------

type Report = Vec<(String, String, Vec<(usize, Value)>)>;

fn find<'a>(report: &'a Report, label: &str) -> &'a [(usize, Value)] {
    report
        .iter()
        .find(|(l, ..)| l == label)
        .map(|(.., counts)| counts.as_slice())
        .unwrap_or_else(|| panic!("no query labelled {label:?}: was a panel renamed?"))
}

fn check_dashboard_results(report: &Report) {
    for (title, ref_id) in MUST_SHOW_DATA_AFTER_ROTATION {
        let label = dashboard_label(title, ref_id);
        let (count, answer) = &find(report, &label)[0];
        assert!(
            *count > 0,
            "{label} shows no data after the rotation: {answer}"
        );
    }

    let keys = &find(report, &dashboard_label("Keys loaded, per replica", "A"));
    assert_eq!(
        key_rows(&keys[0].1),
        vec![
            ("current".to_owned(), KID_C.to_owned()),
            ("previous".to_owned(), KID_A.to_owned())
        ],
        "key table after the rotation"
    );
    assert_eq!(
        key_rows(&keys[1].1),
        vec![("current".to_owned(), KID_C.to_owned())],
        "key table after the retirement"
    );

    let distinct = &find(report, &dashboard_label("Distinct current kids", "A"))[0].1;
    let distinct = sample(&results(distinct)[0]);
    assert!((distinct - 1.0).abs() < 1e-9, "{distinct} current kids");

    check_fleet_results(report);

    let share = &find(
        report,
        &dashboard_label("Previous-key share of verifications", "A"),
    )[0]
    .1;
    let share = sample(&results(share)[0]);
    assert!(share > 0.0 && share < 100.0, "previous-key share {share}%");

    let reasons = &find(report, &dashboard_label("Rejections by reason", "A"))[0].1;
    for reason in ["bad_signature", "unknown_kid", "retired_key"] {
        let rate = results(reasons)
            .iter()
            .find(|r| r["metric"]["reason"] == reason)
            .map_or(0.0, sample);
        assert!(rate > 0.0, "{reason} rate after the rotation: {reasons}");
    }

    let retirements = find(report, &dashboard_label("Previous key retirements", ""));
    assert_eq!(
        triggers(&retirements[0].1),
        ["source"],
        "the rotation pushed B out"
    );
    assert_eq!(
        triggers(&retirements[1].1),
        ["admin"],
        "A was retired by the admin API"
    );

    let retired_too_early = find(report, "alert JwtKeyRetiredTooEarly");
    assert!(
        retired_too_early[1].0 > 0,
        "retired_key rejections must trip JwtKeyRetiredTooEarly: {}",
        retired_too_early[1].1
    );
    for quiet in [
        "alert JwtReplicasDisagreeOnCurrentKid",
        "alert JwtPreviousKeyStillInUse",
    ] {
        let counts = find(report, quiet);
        assert!(
            counts.iter().all(|(n, _)| *n == 0),
            "{quiet} must not match a single replica whose keys are seconds old"
        );
    }
}

/// The "Fleet" row: the single replica is the whole fleet.
fn check_fleet_results(report: &Report) {
    let per_kid = &find(report, &dashboard_label("Replicas per current kid", "A"))[0].1;
    let per_kid: Vec<(String, f64)> = results(per_kid)
        .iter()
        .map(|r| {
            let kid = r["metric"]["kid"].as_str().unwrap_or_default().to_owned();
            (kid, sample(r))
        })
        .collect();
    assert_eq!(
        per_kid,
        [(KID_C.to_owned(), 1.0)],
        "replicas per current kid after the rotation"
    );

    let agree = &find(report, &dashboard_label("Replicas that agree", "A"))[0].1;
    let agree = sample(&results(agree)[0]);
    assert!((agree - 1.0).abs() < 1e-9, "replicas that agree: {agree}");

    let answer = &find(report, &dashboard_label("Gate errors", "A"))[0].1;
    let errors = results(answer);
    let mut reasons: Vec<&str> = errors
        .iter()
        .map(|r| r["metric"]["reason"].as_str().unwrap_or_default())
        .collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        [
            "missing_data",
            "query_error",
            "stale",
            "timeout",
            "unreachable"
        ],
        "one series per gate error reason, registered up front: {answer}"
    );
    assert!(
        errors.iter().all(|r| sample(r) == 0.0),
        "no fleet gate, no gate errors: {answer}"
    );

    for (ref_id, name, expected) in GATE_CONDITIONS {
        let label = dashboard_label("Fleet gate state", ref_id);
        for (at, (expected, (_, answer))) in expected.iter().zip(find(report, &label)).enumerate() {
            let instant = ["after the rotation", "after the retirement"][at];
            let values: Vec<f64> = results(answer).iter().map(sample).collect();
            assert_eq!(
                values,
                [*expected],
                "gate condition {name:?} ({label}) {instant}: {answer}"
            );
        }
    }
}

/// `(slot, kid)` rows of the key table, sorted.
fn key_rows(answer: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = results(answer)
        .iter()
        .map(|r| {
            let label = |name: &str| r["metric"][name].as_str().unwrap_or_default().to_owned();
            assert_eq!(label("alg"), "HS256");
            assert_eq!(label("job"), JOB);
            (label("slot"), label("kid"))
        })
        .collect();
    rows.sort();
    rows
}

fn triggers(answer: &Value) -> Vec<String> {
    results(answer)
        .iter()
        .map(|r| {
            r["metric"]["trigger"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The alerts Prometheus itself evaluated on the scraped data.
fn check_alert_states(prom: SocketAddr) {
    let answer = api(prom, "/api/v1/alerts");
    let states: BTreeMap<String, String> = answer["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                a["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    println!("alerts in Prometheus now: {states:?}");
    let state = |name: &str| states.get(name).map(String::as_str);
    assert_eq!(
        state("JwtKeyRetiredTooEarly"),
        Some("firing"),
        "retired_key rejections page at once"
    );
    assert_eq!(
        state("JwtKeyReloadErrors"),
        Some("pending"),
        "one refused key file is pending (for: 10m)"
    );
    assert_eq!(
        state("JwtRejectionSpikeAfterRotation"),
        Some("pending"),
        "key rejections right after the rotation are pending (for: 2m)"
    );
    assert_eq!(state("JwtReplicasDisagreeOnCurrentKid"), None);
    assert_eq!(state("JwtPreviousKeyStillInUse"), None);
}

fn print_report(instants: &[(&str, f64)], report: &Report) {
    let width = report.iter().map(|(l, ..)| l.len()).max().unwrap_or(0);
    println!();
    println!(
        "{:width$}  {:>15}  {:>17}  query",
        "panel / rule", instants[0].0, instants[1].0
    );
    for (label, expr, counts) in report {
        println!(
            "{label:width$}  {:>15}  {:>17}  {}",
            counts[0].0,
            counts[1].0,
            expr.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    println!("({} queries, all with status success)", report.len());
    println!();
}

// ---------------------------------------------------------------------------
// The dashboard and the rules
// ---------------------------------------------------------------------------

fn dashboard_label(title: &str, ref_id: &str) -> String {
    if ref_id.is_empty() {
        format!("annotation {title}")
    } else {
        format!("panel {title} [{ref_id}]")
    }
}

fn load_dashboard() -> Value {
    let text = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(DASHBOARD))
        .expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "jwt-rollover");
    assert_eq!(dashboard["title"], "jwt-rollover: key rotation");
    let quiet = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .find(|v| v["name"] == "quiet")
        .expect("a $quiet variable");
    assert_eq!(
        quiet["current"]["value"], QUIET,
        "$quiet defaults to the crate's quiet, in seconds"
    );
    dashboard
}

/// Every PromQL expression of the dashboard, variables substituted, labelled
/// by panel title and refId, or by annotation name.
fn dashboard_queries(dashboard: &Value, job: &str, instance: &str) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested);
        }
        let title = panel["title"].as_str().expect("every panel has a title");
        if panel["type"] != "row" {
            assert!(
                panel["description"].as_str().is_some_and(|d| !d.is_empty()),
                "panel {title:?} has no description"
            );
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            let ref_id = target["refId"].as_str().expect("every target has a refId");
            queries.push((
                dashboard_label(title, ref_id),
                substitute(expr, job, instance),
            ));
        }
    }
    for annotation in dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations")
    {
        if let Some(expr) = annotation["expr"].as_str() {
            let name = annotation["name"].as_str().expect("annotation name");
            queries.push((dashboard_label(name, ""), substitute(expr, job, instance)));
        }
    }
    queries.sort();
    assert!(queries.len() >= 10, "only {} queries found", queries.len());
    queries
}

/// Substitutes the Grafana variables a query may use; any other `$` is an error.
fn substitute(expr: &str, job: &str, instance: &str) -> String {
    let out = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", INTERVAL)
        .replace("$__range", RANGE)
        .replace("${quiet}", QUIET)
        .replace("$instance", instance)
        .replace("$job", job);
    assert!(
        !out.contains('$'),
        "{expr} uses a variable other than $job, $instance, ${{quiet}}, $__rate_interval, $__interval, $__range"
    );
    out
}

/// The values the dashboard's `$job` and `$instance` variables offer, by
/// running their `label_values(selector, label)` definitions.
fn variable_values(dashboard: &Value, prom: SocketAddr) -> (Vec<String>, Vec<String>) {
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let definition = |name: &str| {
        let variable = variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"));
        assert_eq!(variable["includeAll"], true, "${name} includes All");
        assert_eq!(variable["multi"], true, "${name} is multi-value");
        variable["definition"]
            .as_str()
            .expect("definition")
            .to_owned()
    };
    let label_values = |definition: &str| -> Vec<String> {
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not label_values(..): {definition}"));
        let (selector, label) = inner.rsplit_once(',').expect("selector, label");
        let selector = substitute(selector.trim(), JOB, ".*");
        let path = format!(
            "/api/v1/label/{}/values?match[]={}",
            label.trim(),
            percent_encode(&selector)
        );
        api(prom, &path)["data"]
            .as_array()
            .expect("label values")
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    (
        label_values(&definition("job")),
        label_values(&definition("instance")),
    )
}

/// Every rule of alerts.yml as Prometheus loaded it (its own parse of each
/// `expr`), after checking that all of them loaded and evaluate cleanly.
fn alert_rule_queries(prom: SocketAddr) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(ALERTS)).expect("alerts.yml");
    let mut in_file: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect();
    in_file.sort();

    let answer = api(prom, "/api/v1/rules");
    let mut loaded = Vec::new();
    for group in answer["data"]["groups"].as_array().expect("rule groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["name"].as_str().expect("rule name").to_owned();
            assert_eq!(rule["health"], "ok", "rule {name}: {rule}");
            for key in ["summary", "description", "runbook_url"] {
                assert!(
                    rule["annotations"][key].is_string(),
                    "rule {name} has no {key} annotation"
                );
            }
            let runbook = rule["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_default();
            assert!(
                runbook.starts_with("docs/rotation.md#"),
                "rule {name}: runbook_url {runbook}"
            );
            let expr = rule["query"].as_str().expect("rule query").to_owned();
            loaded.push((format!("alert {name}"), expr));
        }
    }
    loaded.sort();
    let names: Vec<String> = loaded
        .iter()
        .map(|(label, _)| label.trim_start_matches("alert ").to_owned())
        .collect();
    assert_eq!(names, in_file, "Prometheus loaded every alert of {ALERTS}");
    loaded
}

// ---------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------

fn run_promtool(args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(MANIFEST_DIR)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    println!("promtool {}: {}", args.join(" "), text.trim());
}

// ---------------------------------------------------------------------------
// The example server and its traffic
// ---------------------------------------------------------------------------

/// The scenario's tokens, all valid for an hour unless named otherwise.
struct Tokens {
    a: String,
    b: String,
    c: String,
    /// Names A's kid, signed by another secret: `bad_signature`.
    forged_a: String,
    unknown_kid: String,
    expired_a: String,
}

impl Tokens {
    fn mint() -> Self {
        Self {
            a: mint(KID_A, SECRET_A, 3600),
            b: mint(KID_B, SECRET_B, 3600),
            c: mint(KID_C, SECRET_C, 3600),
            forged_a: mint(KID_A, FOREIGN_SECRET, 3600),
            unknown_kid: mint("prom-unknown", SECRET_A, 3600),
            expired_a: mint(KID_A, SECRET_A, -3600),
        }
    }
}

/// An HS256 token expiring `lifetime` seconds from now (negative: expired).
fn mint(kid: &str, secret: &[u8], lifetime: i64) -> String {
    use jwt_simple::prelude::Duration as JwtDuration;

    let exp = unix_now()
        .checked_add_signed(lifetime)
        .expect("a valid exp");
    let mut claims = Claims::create(JwtDuration::from_secs(3600)).with_subject("prometheus-test");
    claims.expires_at = Some(JwtDuration::from_secs(exp));
    if lifetime < 0 {
        claims.issued_at = None;
        claims.invalid_before = None;
    }
    HS256Key::from_bytes(secret)
        .with_key_id(kid)
        .authenticate(claims)
        .expect("mint a token")
}

struct Client {
    app: SocketAddr,
}

impl Client {
    fn whoami(&self, token: Option<&str>) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        http(self.app, "GET", "/whoami", &headers).expect("GET /whoami")
    }

    /// `Ok((slot, kid))`: accepted by that key; `Err(reason)`: a 401 naming it.
    fn expect(&self, token: Option<&str>, expected: Result<(&str, &str), &str>) {
        let response = self.whoami(token);
        match expected {
            Ok((slot, kid)) => {
                assert_eq!(response.status, 200, "{}", response.body);
                let body: Value = serde_json::from_str(&response.body).expect("whoami JSON");
                assert_eq!(
                    (body["slot"].as_str(), body["kid"].as_str()),
                    (Some(slot), Some(kid))
                );
            }
            Err(reason) => {
                assert_eq!(response.status, 401, "expected {reason}: {}", response.body);
                let challenge = response.header("www-authenticate").unwrap_or_default();
                if reason != "missing" {
                    assert!(
                        challenge.contains(&format!("error_description=\"{reason}:")),
                        "expected {reason}: {challenge}"
                    );
                }
            }
        }
    }
}

/// One value of the server's own /metrics, 0 when the series is absent.
fn server_metric(admin: SocketAddr, series: &str) -> f64 {
    let Ok(response) = http(admin, "GET", "/metrics", &[]) else {
        return 0.0;
    };
    response
        .body
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

fn run_for(duration: Duration, mut tick: impl FnMut()) {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        tick();
        thread::sleep(Duration::from_millis(200));
    }
}

/// Unix time now, in seconds with their fraction.
fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}
