//! [`PrometheusGate`]: the fleet's view from the Prometheus HTTP API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::ring::fleet::{
    FleetGate, FleetView, GateError, GateErrorReason, GateFuture, RetireQuestion,
};
use crate::ring::status::{Blocker, BlockerKind};

/// Default bound on one whole check (all its queries, run at once).
pub const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default scrape interval assumed for staleness: Prometheus's own default.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
/// Largest Prometheus answer read; a selector matching far more than a
/// fleet is refused rather than buffered.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// A [`FleetGate`] that reads every replica's metrics from Prometheus,
/// scoped by a label selector that matches exactly the service's replicas.
///
/// ```
/// use jwt_rollover::fleet::PrometheusGate;
/// use std::time::Duration;
///
/// let gate = PrometheusGate::new("http://prometheus.monitoring:9090", r#"job="orders""#)?
///     .with_scrape_interval(Duration::from_secs(30));
/// # let _ = gate;
/// # Ok::<(), jwt_rollover::fleet::GateConfigError>(())
/// ```
///
/// The previous key may be retired when all of these hold, read at one
/// instant ([`FleetQueries`] has the exact expressions):
///
/// - every target the selector matches is up, reports `jwt_key_info`, was
///   scraped within twice the scrape interval, and reports this replica's
///   current kid as current (every replica has loaded the new key);
/// - no replica reports another previous kid (a replica that has already
///   retired the key reports none: that is fine, so the last replicas can
///   still retire after the first);
/// - the fleet's previous-key verifications over `quiet` are zero, and no
///   replica's last previous-key match is within `quiet`;
/// - the fleet's live previous-key tokens are zero, and the latest
///   previous-key token expiry has passed.
///
/// Anything it cannot read (Prometheus down, an HTTP or query error, the
/// timeout, an empty answer, a stale replica) is a [`GateError`]: never
/// "assume zero".
#[derive(Clone)]
pub struct PrometheusGate {
    query_url: Url,
    /// `base` without credentials, for the status and logs.
    shown_base: String,
    selector: String,
    timeout: Duration,
    scrape_interval: Duration,
    client: reqwest::Client,
}

/// Why a [`PrometheusGate`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateConfigError {
    /// The base URL is not an `http` or `https` URL.
    #[error(
        "{url:?} is not a Prometheus base URL (expected http://host:9090 or https://...): {problem}"
    )]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The selector is empty: it must name the service's replicas, for
    /// example `job="orders"`.
    #[error(
        "the fleet selector is empty; give one that matches exactly this service's replicas, e.g. job=\"orders\""
    )]
    EmptySelector,
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// The PromQL expressions a [`PrometheusGate`] evaluates, as the status
/// and the docs show them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetQueries {
    /// Targets the selector matches (1 = up).
    pub up: String,
    /// Seconds since each replica's `key_info` series were last scraped,
    /// with their `slot` and `kid`.
    pub key_info_age: String,
    /// The fleet's previous-key verifications over `quiet`.
    pub previous_verifications: String,
    /// The latest previous-key match on any replica (Unix seconds).
    pub previous_last_used: String,
    /// The fleet's live previous-key tokens.
    pub previous_live_tokens: String,
    /// The latest previous-key token expiry seen on any replica.
    pub previous_tokens_expire: String,
}

impl PrometheusGate {
    /// A gate reading from the Prometheus at `base_url` (the address its UI
    /// answers on, e.g. `http://prometheus:9090`), over the targets that
    /// `selector` matches (`job="orders"`, with or without braces).
    ///
    /// # Errors
    ///
    /// A URL that is not `http(s)`, or an empty selector.
    pub fn new(base_url: &str, selector: &str) -> Result<Self, GateConfigError> {
        let bad = |problem: &str| GateConfigError::BadUrl {
            url: base_url.to_owned(),
            problem: problem.to_owned(),
        };
        let mut base = Url::parse(base_url).map_err(|err| bad(&err.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let query_url = base
            .join("api/v1/query")
            .map_err(|err| bad(&err.to_string()))?;
        let mut shown = base.clone();
        // Never show credentials: the status is read by operators and logs.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let selector = selector.trim();
        let selector = selector
            .strip_prefix('{')
            .and_then(|inner| inner.strip_suffix('}'))
            .unwrap_or(selector)
            .trim();
        if selector.is_empty() {
            return Err(GateConfigError::EmptySelector);
        }
        let client = reqwest::Client::builder()
            .build()
            .map_err(|err| GateConfigError::Client(err.to_string()))?;
        Ok(Self {
            query_url,
            shown_base: shown.as_str().trim_end_matches('/').to_owned(),
            selector: selector.to_owned(),
            timeout: DEFAULT_GATE_TIMEOUT,
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            client,
        })
    }

    /// Bound on one whole check, all queries included (default 5 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often Prometheus scrapes the replicas (default 60 s, its own
    /// default): a replica not scraped for twice this long is stale, and
    /// the gate cannot decide.
    #[must_use]
    pub fn with_scrape_interval(mut self, interval: Duration) -> Self {
        self.scrape_interval = interval;
        self
    }

    /// The expressions this gate evaluates for `question`.
    pub fn queries(&self, question: &RetireQuestion) -> FleetQueries {
        let s = &self.selector;
        let p = &question.metrics_prefix;
        let kid = promql_string(&question.previous_kid);
        FleetQueries {
            up: format!("up{{{s}}}"),
            key_info_age: format!("time() - timestamp({p}key_info{{{s}}})"),
            previous_verifications: format!(
                "sum(increase({p}verifications_total{{{s},slot=\"previous\",kid={kid}}}[{}s]))",
                question.quiet.as_secs().max(1)
            ),
            previous_last_used: format!("max({p}previous_key_last_used_timestamp_seconds{{{s}}})"),
            previous_live_tokens: format!("sum({p}previous_key_live_tokens{{{s}}})"),
            previous_tokens_expire: format!(
                "max({p}previous_key_tokens_expire_timestamp_seconds{{{s}}})"
            ),
        }
    }

    async fn may_retire_now(&self, question: &RetireQuestion) -> Result<FleetView, GateError> {
        let q = self.queries(question);
        let (up, info, used, last, live, expire) = tokio::try_join!(
            self.query(&q.up),
            self.query(&q.key_info_age),
            self.query(&q.previous_verifications),
            self.query(&q.previous_last_used),
            self.query(&q.previous_live_tokens),
            self.query(&q.previous_tokens_expire),
        )?;
        let mut view = self.replicas(&q, &up, &info, &question.current_kid)?;
        for (replica, kid) in reports(&info, "previous") {
            if kid != question.previous_kid {
                view.blockers.push(blocked(
                    BlockerKind::FleetPreviousKid,
                    format!(
                        "replica {replica} reports previous kid {kid:?}, not {:?}",
                        question.previous_kid
                    ),
                    &q.key_info_age,
                    &kid,
                    None,
                ));
            }
        }
        let quiet = question.quiet.as_secs();
        let used = scalar(&used, &q.previous_verifications)?;
        let last = scalar(&last, &q.previous_last_used)?;
        let quiet_clears = (last.value > 0.0).then(|| whole(last.value).saturating_add(quiet));
        if used.value > 0.0 {
            view.blockers.push(blocked(
                BlockerKind::FleetQuiet,
                format!(
                    "the fleet verified about {:.0} previous-key token(s) in the last {quiet}s",
                    used.value
                ),
                &q.previous_verifications,
                &used.value.to_string(),
                quiet_clears.filter(|at| *at > whole(used.at)),
            ));
        } else if let Some(clears) = quiet_clears.filter(|at| *at > whole(last.at)) {
            view.blockers.push(blocked(
                BlockerKind::FleetQuiet,
                format!(
                    "a replica matched the previous key {}s ago; quiet needs {quiet}s",
                    whole(last.at).saturating_sub(whole(last.value))
                ),
                &q.previous_last_used,
                &whole(last.value).to_string(),
                Some(clears),
            ));
        }
        let live = scalar(&live, &q.previous_live_tokens)?;
        let expire = scalar(&expire, &q.previous_tokens_expire)?;
        let expire_clears =
            (whole(expire.value) >= whole(expire.at)).then(|| whole(expire.value) + 1);
        if live.value > 0.0 {
            view.blockers.push(blocked(
                BlockerKind::FleetLiveTokens,
                format!(
                    "{:.0} previous-key token(s) seen in the fleet have not expired",
                    live.value
                ),
                &q.previous_live_tokens,
                &live.value.to_string(),
                expire_clears,
            ));
        } else if let Some(clears) = expire_clears {
            view.blockers.push(blocked(
                BlockerKind::FleetLiveTokens,
                "the latest previous-key token seen in the fleet has not expired".to_owned(),
                &q.previous_tokens_expire,
                &whole(expire.value).to_string(),
                Some(clears),
            ));
        }
        Ok(view)
    }

    async fn loaded_now(&self, kid: &str, prefix: &str) -> Result<FleetView, GateError> {
        let question = RetireQuestion {
            current_kid: kid.to_owned(),
            previous_kid: String::new(),
            quiet: Duration::ZERO,
            metrics_prefix: prefix.to_owned(),
        };
        let q = self.queries(&question);
        let (up, info) = tokio::try_join!(self.query(&q.up), self.query(&q.key_info_age))?;
        self.replicas(&q, &up, &info, kid)
    }

    /// The replicas from `up` and the `key_info` ages: who is down, who is
    /// stale, and who reports which current kid.
    fn replicas(
        &self,
        q: &FleetQueries,
        up: &[Sample],
        info: &[Sample],
        current_kid: &str,
    ) -> Result<FleetView, GateError> {
        if up.is_empty() {
            return Err(GateError::new(
                GateErrorReason::MissingData,
                format!(
                    "the selector {{{}}} matches no target in Prometheus",
                    self.selector
                ),
            )
            .with_query(&q.up));
        }
        let mut view = FleetView {
            replicas: up.len() as u64,
            current_kids: BTreeMap::new(),
            blockers: Vec::new(),
        };
        let stale_after = 2.0 * self.scrape_interval.as_secs_f64();
        let mut reporting = BTreeSet::new();
        for sample in info {
            let replica = replica_of(&sample.labels);
            if sample.value > stale_after {
                return Err(GateError::new(
                    GateErrorReason::Stale,
                    format!(
                        "replica {replica} was last scraped {:.0}s ago, more than twice the {}s scrape interval",
                        sample.value,
                        self.scrape_interval.as_secs()
                    ),
                )
                .with_query(&q.key_info_age));
            }
            reporting.insert(identity(&sample.labels));
        }
        for target in up {
            let replica = replica_of(&target.labels);
            if target.value < 1.0 {
                view.blockers.push(blocked(
                    BlockerKind::FleetReplicaDown,
                    format!("replica {replica} is down: its keys are unknown"),
                    &q.up,
                    "0",
                    None,
                ));
            } else if !reporting.contains(&identity(&target.labels)) {
                return Err(GateError::new(
                    GateErrorReason::Stale,
                    format!(
                        "replica {replica} is up but reports no key_info (not scraped since it started, or not a jwt-rollover replica: check the selector)"
                    ),
                )
                .with_query(&q.key_info_age));
            }
        }
        let current = reports(info, "current");
        for (_, kid) in &current {
            *view.current_kids.entry(kid.clone()).or_default() += 1;
        }
        let lagging: Vec<String> = current
            .iter()
            .filter(|(_, kid)| kid != current_kid)
            .map(|(replica, kid)| format!("{replica} ({kid})"))
            .collect();
        if !lagging.is_empty() {
            view.blockers.push(blocked(
                BlockerKind::FleetCurrentKid,
                format!(
                    "{} of {} replica(s) report another current kid than {current_kid:?}: {}",
                    lagging.len(),
                    current.len(),
                    lagging.join(", ")
                ),
                &q.key_info_age,
                &lagging.len().to_string(),
                None,
            ));
        }
        Ok(view)
    }

    /// One instant query, bounded in time and size.
    async fn query(&self, expr: &str) -> Result<Vec<Sample>, GateError> {
        let fail = |reason, detail: String| GateError::new(reason, detail).with_query(expr);
        let mut url = self.query_url.clone();
        url.query_pairs_mut().append_pair("query", expr);
        let mut response = self
            .client
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| fail(classify(&err), describe_error(&err)))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| fail(classify(&err), describe_error(&err)))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(fail(
                    GateErrorReason::QueryError,
                    format!(
                        "the answer is larger than {MAX_ANSWER_BYTES} bytes: is the selector too wide?"
                    ),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|err| {
            fail(
                GateErrorReason::QueryError,
                format!("HTTP {status}: not a Prometheus API answer ({err})"),
            )
        })?;
        if answer.status != "success" || !status.is_success() {
            let message = answer.error.unwrap_or_default();
            return Err(fail(
                GateErrorReason::QueryError,
                format!("HTTP {status}: {}", truncate(&message, 300)),
            ));
        }
        let data = answer.data.ok_or_else(|| {
            fail(
                GateErrorReason::QueryError,
                "the answer has no data".to_owned(),
            )
        })?;
        if data.result_type != "vector" {
            return Err(fail(
                GateErrorReason::QueryError,
                format!("expected a vector, got a {}", data.result_type),
            ));
        }
        data.result
            .into_iter()
            .map(|raw| {
                let value = raw.value.1.parse::<f64>().map_err(|_| {
                    fail(
                        GateErrorReason::QueryError,
                        format!("not a number: {:?}", truncate(&raw.value.1, 40)),
                    )
                })?;
                Ok(Sample {
                    labels: raw.metric,
                    at: raw.value.0,
                    value,
                })
            })
            .collect()
    }
}

impl FleetGate for PrometheusGate {
    fn may_retire<'a>(
        &'a self,
        question: &'a RetireQuestion,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        Box::pin(self.bounded(self.may_retire_now(question)))
    }

    fn loaded_everywhere<'a>(
        &'a self,
        kid: &'a str,
        metrics_prefix: &'a str,
    ) -> GateFuture<'a, Result<FleetView, GateError>> {
        Box::pin(self.bounded(self.loaded_now(kid, metrics_prefix)))
    }

    fn describe(&self) -> String {
        format!("prometheus {} {{{}}}", self.shown_base, self.selector)
    }
}

impl PrometheusGate {
    /// The whole check within `timeout`, whatever the client does.
    async fn bounded(
        &self,
        check: impl Future<Output = Result<FleetView, GateError>>,
    ) -> Result<FleetView, GateError> {
        tokio::time::timeout(self.timeout, check)
            .await
            .unwrap_or_else(|_| {
                Err(GateError::new(
                    GateErrorReason::Timeout,
                    format!(
                        "Prometheus gave no answer in {}s",
                        self.timeout.as_secs_f64()
                    ),
                ))
            })
    }
}

impl fmt::Debug for PrometheusGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusGate")
            .field("base", &self.shown_base)
            .field("selector", &self.selector)
            .field("timeout", &self.timeout)
            .field("scrape_interval", &self.scrape_interval)
            .finish_non_exhaustive()
    }
}

/// One sample of an instant vector: its labels, the evaluation time, the value.
#[derive(Debug, Clone)]
struct Sample {
    labels: BTreeMap<String, String>,
    at: f64,
    value: f64,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<AnswerData>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct AnswerData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<RawSample>,
}

#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Labels that describe a series rather than the replica it came from.
const SERIES_LABELS: [&str; 4] = ["__name__", "slot", "kid", "alg"];

/// A replica's identity: its target labels.
fn identity(labels: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    labels
        .iter()
        .filter(|(name, _)| !SERIES_LABELS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// A replica's name for operators: its `instance`, else all its labels.
fn replica_of(labels: &BTreeMap<String, String>) -> String {
    labels.get("instance").cloned().unwrap_or_else(|| {
        let parts: Vec<String> = identity(labels)
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        format!("{{{}}}", parts.join(","))
    })
}

/// `(replica, kid)` for each replica's `key_info` in `slot`.
fn reports(info: &[Sample], slot: &str) -> Vec<(String, String)> {
    info.iter()
        .filter(|sample| sample.labels.get("slot").map(String::as_str) == Some(slot))
        .filter_map(|sample| {
            Some((
                replica_of(&sample.labels),
                sample.labels.get("kid")?.clone(),
            ))
        })
        .collect()
}

/// The one value of an aggregation; none is missing data, never zero.
fn scalar(samples: &[Sample], query: &str) -> Result<Sample, GateError> {
    samples.first().cloned().ok_or_else(|| {
        GateError::new(
            GateErrorReason::MissingData,
            "no data: no replica reports this series yet (right after a rotation, for up to two scrapes, that is expected)",
        )
        .with_query(query)
    })
}

fn blocked(
    kind: BlockerKind,
    detail: String,
    query: &str,
    value: &str,
    clears_at: Option<u64>,
) -> Blocker {
    let mut blocker = Blocker::fleet(kind, detail);
    blocker.query = Some(query.to_owned());
    blocker.value = Some(value.to_owned());
    blocker.clears_at = clears_at;
    blocker
}

/// Unix seconds from a Prometheus float, saturating.
fn whole(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    }
}

fn classify(err: &reqwest::Error) -> GateErrorReason {
    if err.is_timeout() {
        GateErrorReason::Timeout
    } else if err.is_connect() || err.is_request() {
        GateErrorReason::Unreachable
    } else {
        GateErrorReason::QueryError
    }
}

/// What went wrong, with its causes, but not the URL (which may carry
/// credentials, and whose query string is the PromQL shown elsewhere).
fn describe_error(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "Prometheus gave no answer in time".to_owned()
    } else if err.is_connect() {
        "cannot connect to Prometheus".to_owned()
    } else {
        "the request to Prometheus failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// `value` as a PromQL (Go-syntax) double-quoted string.
fn promql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promql_strings_are_escaped() {
        assert_eq!(promql_string("a"), r#""a""#);
        assert_eq!(promql_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(promql_string("a\nb"), r#""a\nb""#);
    }

    #[test]
    fn urls_and_selectors_are_checked_and_credentials_never_shown() {
        assert!(matches!(
            PrometheusGate::new("ftp://x", "job=\"a\""),
            Err(GateConfigError::BadUrl { .. })
        ));
        assert!(matches!(
            PrometheusGate::new("not a url", "job=\"a\""),
            Err(GateConfigError::BadUrl { .. })
        ));
        assert!(matches!(
            PrometheusGate::new("http://p:9090", " {} "),
            Err(GateConfigError::EmptySelector)
        ));
        let gate = PrometheusGate::new("http://user:secret@p:9090/prom", "{job=\"a\"}").unwrap();
        assert_eq!(gate.describe(), "prometheus http://p:9090/prom {job=\"a\"}");
        assert_eq!(
            gate.query_url.as_str(),
            "http://user:secret@p:9090/prom/api/v1/query"
        );
        assert!(!format!("{gate:?}").contains("secret"));
    }

    #[test]
    fn the_queries_scope_by_selector_prefix_and_kid() {
        let gate = PrometheusGate::new("http://p:9090", "job=\"orders\"").unwrap();
        let mut question = RetireQuestion::new("new", "old\"kid", Duration::from_secs(600));
        question.metrics_prefix = "auth_jwt_".into();
        let q = gate.queries(&question);
        assert_eq!(q.up, "up{job=\"orders\"}");
        assert_eq!(
            q.previous_verifications,
            "sum(increase(auth_jwt_verifications_total{job=\"orders\",slot=\"previous\",kid=\"old\\\"kid\"}[600s]))"
        );
        assert_eq!(
            q.key_info_age,
            "time() - timestamp(auth_jwt_key_info{job=\"orders\"})"
        );
    }

    fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            at: 1000.0,
            value,
        }
    }

    fn info(instance: &str, slot: &str, kid: &str, age: f64) -> Sample {
        sample(
            &[
                ("instance", instance),
                ("job", "j"),
                ("slot", slot),
                ("kid", kid),
                ("alg", "HS256"),
            ],
            age,
        )
    }

    fn up(instance: &str, value: f64) -> Sample {
        sample(
            &[("__name__", "up"), ("instance", instance), ("job", "j")],
            value,
        )
    }

    #[test]
    fn replicas_are_counted_by_current_kid_and_lagging_ones_block() {
        let gate = PrometheusGate::new("http://p:9090", "job=\"j\"").unwrap();
        let q = gate.queries(&RetireQuestion::new("new", "old", Duration::from_secs(60)));
        let ups = [up("a", 1.0), up("b", 1.0)];
        let all_new = [
            info("a", "current", "new", 1.0),
            info("b", "current", "new", 2.0),
        ];
        let view = gate.replicas(&q, &ups, &all_new, "new").unwrap();
        assert_eq!(view.replicas, 2);
        assert_eq!(view.current_kids, BTreeMap::from([("new".to_owned(), 2)]));
        assert!(view.is_open());

        let lagging = [
            info("a", "current", "new", 1.0),
            info("b", "current", "old", 2.0),
        ];
        let view = gate.replicas(&q, &ups, &lagging, "new").unwrap();
        assert_eq!(view.blockers.len(), 1);
        assert_eq!(view.blockers[0].blocker, BlockerKind::FleetCurrentKid);
        assert!(
            view.blockers[0].detail.contains("b (old)"),
            "{}",
            view.blockers[0].detail
        );

        let down = [up("a", 1.0), up("b", 0.0)];
        let view = gate.replicas(&q, &down, &all_new[..1], "new").unwrap();
        assert_eq!(view.blockers[0].blocker, BlockerKind::FleetReplicaDown);
    }

    #[test]
    fn stale_silent_and_missing_replicas_mean_undecided() {
        let gate = PrometheusGate::new("http://p:9090", "job=\"j\"")
            .unwrap()
            .with_scrape_interval(Duration::from_secs(15));
        let q = gate.queries(&RetireQuestion::new("new", "old", Duration::from_secs(60)));
        let ups = [up("a", 1.0), up("b", 1.0)];
        let stale = [
            info("a", "current", "new", 1.0),
            info("b", "current", "new", 31.0),
        ];
        let err = gate.replicas(&q, &ups, &stale, "new").unwrap_err();
        assert_eq!(err.reason, GateErrorReason::Stale);
        assert!(err.detail.contains("replica b"), "{}", err.detail);

        let silent = [info("a", "current", "new", 1.0)];
        let err = gate.replicas(&q, &ups, &silent, "new").unwrap_err();
        assert_eq!(err.reason, GateErrorReason::Stale);

        let err = gate.replicas(&q, &[], &[], "new").unwrap_err();
        assert_eq!(err.reason, GateErrorReason::MissingData);
        assert_eq!(
            scalar(&[], "q").unwrap_err().reason,
            GateErrorReason::MissingData
        );
    }
}
