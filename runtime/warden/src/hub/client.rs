//! HTTP calls to the hub: one JSON POST per call (or the commands long
//! poll's GET), counted in the metrics, and errors whose text never carries
//! a URL (a URL may hold a token).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::metrics::Metrics;

/// Why a hub call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// No answer, or one that is not JSON.
    #[error("{0}")]
    Transport(String),
    /// The hub answered with an error status (and up to 200 characters of its body).
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
}

/// The hub's base URL and an HTTP client with Warden's timeouts.
pub(crate) struct HubClient {
    base: reqwest::Url,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl HubClient {
    pub(crate) fn new(base: reqwest::Url, metrics: Arc<Metrics>) -> anyhow::Result<HubClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HubClient { base, http, metrics })
    }

    /// `path` below the base URL's own path (a hub may live under a prefix).
    fn endpoint(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        url
    }

    /// POST `body` to `path`, with the node's API key when it has one; the
    /// answer as JSON (`Null` for an empty body). `call` names it in the metrics.
    pub(crate) async fn call(
        &self,
        call: &'static str,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Result<Value, CallError> {
        let req = self
            .http
            .post(self.endpoint(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("a Value serialises"));
        self.send(call, req, key).await
    }

    /// GET `path` with the query `query`, waiting up to `timeout` for the
    /// answer (a long poll outlives the client's usual 30 s).
    pub(crate) async fn get(
        &self,
        call: &'static str,
        path: &str,
        query: &[(&str, &str)],
        key: &str,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let req = self.http.get(self.endpoint(path)).query(query).timeout(timeout);
        self.send(call, req, Some(key)).await
    }

    async fn send(
        &self,
        call: &'static str,
        mut req: reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> Result<Value, CallError> {
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let result = async {
            let resp = req.send().await.map_err(|e| CallError::Transport(without_url(e)))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| CallError::Transport(without_url(e)))?;
            if !status.is_success() {
                return Err(CallError::Status(status.as_u16(), text.chars().take(200).collect()));
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(&text).map_err(|e| CallError::Transport(format!("the hub's answer is not JSON: {e}")))
        }
        .await;
        self.metrics.hub_call(call, result.is_ok());
        result
    }
}

/// reqwest errors print the URL, which may carry a token in its query:
/// drop it, keep the causes.
pub(crate) fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
