//! Polling the hub for bundles: `GET policy.bundle_url` with `If-None-Match`,
//! every 60-120 s with jitter (as OPA does, so a fleet does not poll in
//! step), and at once when asked (the hub's heartbeat answer names a newer
//! revision).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use warden_policy::bundle;

use warden_util::jitter;

use super::{Activator, Outcome};
use crate::hub::client::without_url;

/// Poller settings.
#[derive(Clone, Debug)]
pub struct PollSettings {
    /// The bundle's URL.
    pub url: String,
    /// Shortest wait between polls.
    pub min: Duration,
    /// Longest wait between polls.
    pub max: Duration,
    /// Timeout for one download.
    pub timeout: Duration,
}

/// A handle to ask for an immediate fetch.
#[derive(Clone, Debug, Default)]
pub struct FetchNow(Arc<Notify>);

impl FetchNow {
    /// Fetch as soon as possible.
    pub fn trigger(&self) {
        self.0.notify_one();
    }
}

/// One poll's result, for tests and logs.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    /// HTTP 304: the active bundle is current.
    NotModified,
    /// A bundle arrived and this happened to it.
    Applied(Outcome),
    /// It failed; the active policy stays.
    Failed(String),
}

/// Fetches and activates bundles.
pub struct Poller {
    settings: PollSettings,
    /// The URL without query or password, for logs and the status report.
    label: String,
    client: reqwest::Client,
    activator: Arc<Activator>,
    /// The ETag of the bundle last activated (or found unchanged). Only a
    /// success sets it: a refused bundle is fetched and checked again on the
    /// next poll, since "not yet valid" or a full disk can pass later.
    etag: Option<String>,
}

impl Poller {
    /// A poller for `settings.url`.
    pub fn new(settings: PollSettings, activator: Arc<Activator>) -> anyhow::Result<Poller> {
        anyhow::ensure!(settings.min <= settings.max, "policy.poll_min must not exceed policy.poll_max");
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut url = reqwest::Url::parse(&settings.url).map_err(|e| anyhow::anyhow!("policy.bundle_url: {e}"))?;
        anyhow::ensure!(matches!(url.scheme(), "https" | "http"), "policy.bundle_url must be http(s)");
        url.set_query(None);
        let _ = url.set_password(None);
        Ok(Poller { label: url.to_string(), settings, client, activator, etag: None })
    }

    /// Poll forever: at start, then after each jittered wait or trigger.
    pub async fn run(mut self, now: FetchNow, shutdown: Arc<Notify>) {
        loop {
            let polled = self.poll_once().await;
            tracing::debug!(?polled, "policy poll");
            let wait = jitter(self.settings.min, self.settings.max);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = now.0.notified() => {}
                _ = shutdown.notified() => return,
            }
        }
    }

    /// Fetch once and activate what arrives.
    pub async fn poll_once(&mut self) -> Polled {
        let url = self.label.clone();
        let mut req = self.client.get(&self.settings.url);
        if let Some(tag) = &self.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return self.failed(&url, format!("fetch: {}", without_url(e))),
        };
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            self.activator.confirm();
            return Polled::NotModified;
        }
        if !resp.status().is_success() {
            return self.failed(&url, format!("fetch: HTTP {}", resp.status()));
        }
        let etag = resp.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = match read_capped(resp, bundle::Limits::default().max_archive).await {
            Ok(b) => b,
            Err(e) => return self.failed(&url, e.to_string()),
        };
        let activator = self.activator.clone();
        let source = url.clone();
        let result = tokio::task::spawn_blocking(move || activator.activate_archive(&bytes, &source)).await;
        match result {
            Ok(Ok(outcome)) => {
                self.etag = etag;
                Polled::Applied(outcome)
            }
            Ok(Err(refused)) => Polled::Failed(refused.0),
            Err(join) => self.failed(&url, format!("activation panicked: {join}")),
        }
    }

    fn failed(&self, url: &str, msg: String) -> Polled {
        self.activator.record_failure(url, &msg);
        Polled::Failed(msg)
    }
}

/// Why a bundle body could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// `Content-Length` is over the cap: refused before reading.
    #[error("refused archive: the hub announced more than the {0} byte cap")]
    Announced(u64),
    /// The body grew past the cap.
    #[error("refused archive: more than the {0} byte cap")]
    TooLarge(u64),
    /// The connection failed mid-body (the text has no URL).
    #[error("fetch: {0}")]
    Transport(String),
}

/// Read a body, refusing one larger than `cap` without buffering past it.
async fn read_capped(mut resp: reqwest::Response, cap: u64) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(ReadError::Announced(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| ReadError::Transport(without_url(e)))? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(ReadError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
