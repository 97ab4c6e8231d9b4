//! The admin API client: `GET <admin>/keys` and
//! `POST <admin>/keys/previous/retire`, with a timeout per call and a bound
//! on the answer's size. The admin token goes in the `Authorization`
//! header and nowhere else: no message ever contains it.

use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::{AdminArgs, Failure, HTTP_TIMEOUT};

/// Largest admin answer read: a status is a few KiB.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// One answer of the admin API.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    /// The JSON body; `Null` when it is not JSON.
    pub(crate) body: Value,
}

/// Why a call got no usable answer.
pub(crate) enum CallError {
    /// The admin API refused the token (`401`): exit 2, check the token.
    Unauthorized,
    /// No answer: connection refused, timeout, not HTTP...
    Unreachable(String),
}

impl CallError {
    pub(crate) fn into_failure(self, base: &Url) -> Failure {
        match self {
            Self::Unauthorized => Failure::usage(format!(
                "the admin API at {base} refused the admin token (401): check --admin-token (or JWT_ROLLOVER_ADMIN_TOKEN)"
            )),
            Self::Unreachable(why) => Failure::usage(format!(
                "cannot reach the admin API at {base}: {why}; check --admin (the admin listener's base URL, such as http://127.0.0.1:9100/admin) and that the service is up"
            )),
        }
    }
}

pub(crate) struct AdminClient {
    base: Url,
    token: Option<String>,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl AdminClient {
    pub(crate) fn new(args: &AdminArgs) -> Result<Self, Failure> {
        let base = parse_base(&args.admin)?;
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|err| Failure::usage(format!("cannot set up an HTTP client: {err}")))?;
        // One call at a time: a single-threaded runtime is enough.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| Failure::usage(format!("cannot start an async runtime: {err}")))?;
        Ok(Self {
            base,
            token: args.admin_token.clone(),
            client,
            runtime,
        })
    }

    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `GET <admin>/keys`: the status, or why there is none.
    pub(crate) fn status(&self) -> Result<Value, Failure> {
        self.try_status()
            .map_err(|err| err.into_failure(&self.base))
    }

    /// Like [`AdminClient::status`], for pollers that retry.
    pub(crate) fn try_status(&self) -> Result<Value, CallError> {
        let answer = self.call(reqwest::Method::GET, self.url("keys"))?;
        if answer.status != StatusCode::OK {
            return Err(CallError::Unreachable(format!(
                "GET /keys answered {}{}",
                answer.status,
                message_of(&answer.body)
            )));
        }
        if !answer.body.is_object() {
            return Err(CallError::Unreachable(
                "GET /keys did not answer a JSON status; is this the admin API's base URL?"
                    .to_owned(),
            ));
        }
        Ok(answer.body)
    }

    /// `POST <admin>/keys/previous/retire?kid=K[&force=true]`.
    pub(crate) fn retire(&self, kid: &str, force: bool) -> Result<Answer, Failure> {
        let mut url = self.url("keys/previous/retire");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("kid", kid);
            if force {
                query.append_pair("force", "true");
            }
        }
        self.call(reqwest::Method::POST, url)
            .map_err(|err| err.into_failure(&self.base))
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    fn call(&self, method: reqwest::Method, url: Url) -> Result<Answer, CallError> {
        let mut request = self.client.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        self.runtime.block_on(async {
            let mut response = request
                .send()
                .await
                .map_err(|err| CallError::Unreachable(describe(&err)))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                return Err(CallError::Unauthorized);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| CallError::Unreachable(describe(&err)))?
            {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(CallError::Unreachable(format!(
                        "the answer is larger than {MAX_RESPONSE_BYTES} bytes; is this the admin API?"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Ok(Answer { status, body })
        })
    }
}

/// The admin base URL, checked once so that every message can show it.
fn parse_base(text: &str) -> Result<Url, Failure> {
    let url = Url::parse(text).map_err(|err| {
        Failure::usage(format!(
            "--admin {text:?} is not a URL ({err}); give the admin API's base, such as http://127.0.0.1:9100/admin"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Failure::usage(format!(
            "--admin {text:?} is not an http(s) URL; give the admin API's base, such as http://127.0.0.1:9100/admin"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(Failure::usage(
            "--admin must not carry credentials or a query; give the token with --admin-token or JWT_ROLLOVER_ADMIN_TOKEN",
        ));
    }
    Ok(url)
}

/// reqwest's error and its causes in one line (the URL it names carries
/// no credentials: `parse_base` refuses them).
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        format!("no answer within {}s", HTTP_TIMEOUT.as_secs())
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `: <message>` of an admin refusal body, when it has one.
pub(crate) fn message_of(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .map(|message| format!(": {message}"))
        .unwrap_or_default()
}
