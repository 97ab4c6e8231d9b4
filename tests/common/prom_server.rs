//! A real Prometheus for the tests that need one: started on a temporary
//! config scraping the given targets every second, and queried through its
//! HTTP API.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::process::{Proc, TempDir, http, path_str};

/// Why the Prometheus tests are ignored by a plain `cargo test`.
pub const NEEDS: &str = "needs prometheus and promtool on PATH (apt-get install prometheus)";

/// Starts Prometheus on `listen`, scraping `targets` as job `job` every
/// second, with `rules` loaded when given.
pub fn start_prometheus(
    dir: &TempDir,
    job: &str,
    targets: &[SocketAddr],
    rules: Option<&Path>,
    listen: SocketAddr,
) -> Proc {
    let config = dir.path().join("prometheus.yml");
    let rule_files = rules
        .map(|rules| format!("rule_files:\n  - {:?}\n", path_str(rules)))
        .unwrap_or_default();
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             {rule_files}\
             scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", "),
        ),
    )
    .expect("write prometheus.yml");
    Proc::spawn(
        "prometheus",
        Command::new("prometheus").args([
            format!("--config.file={}", path_str(&config)),
            format!("--storage.tsdb.path={}", path_str(&dir.path().join("data"))),
            format!("--web.listen-address={listen}"),
        ]),
        &dir.path().join("prometheus.log"),
    )
}

/// An instant query; panics unless its status is success.
pub fn query(prom: SocketAddr, expr: &str, at: Option<f64>) -> Value {
    let mut path = format!("/api/v1/query?query={}", percent_encode(expr));
    if let Some(at) = at {
        path += &format!("&time={at:.3}");
    }
    let answer = api(prom, &path);
    assert_eq!(answer["status"], "success", "{expr}: {answer}");
    answer
}

pub fn api(prom: SocketAddr, path: &str) -> Value {
    let response = http(prom, "GET", path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("GET {path}: {e}: {} {}", response.status, response.body))
}

/// The result list of a query answer (a scalar counts as one result).
pub fn results(answer: &Value) -> Vec<Value> {
    let data = &answer["data"];
    match data["resultType"].as_str() {
        Some("vector" | "matrix") => data["result"].as_array().cloned().unwrap_or_default(),
        Some("scalar" | "string") => vec![json!({"metric": {}, "value": data["result"]})],
        _ => panic!("unexpected answer {answer}"),
    }
}

/// The value of one result.
pub fn sample(result: &Value) -> f64 {
    result["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample in {result}"))
}

/// Fails, naming what to install, when a tool is missing: these tests run
/// only when asked for (`--include-ignored`), and then they must not skip.
pub fn require_tools() {
    let missing: Vec<&str> = ["prometheus", "promtool"]
        .into_iter()
        .filter(|tool| {
            !Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} not found: this test {NEEDS}",
        missing.join(" and ")
    );
}

pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
