//! Uptime Kuma: a push monitor's URL called every period with `status=up`
//! or `status=down` (and why), from the same readiness check as `/readyz`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use warden_vault::Vault;

use super::client::without_url;
use crate::policy::Activator;

/// Push `status=up|down` to an Uptime Kuma push URL every `period`.
pub async fn uptime_kuma(
    url: reqwest::Url,
    period: Duration,
    activator: Arc<Activator>,
    vault: Arc<Vault>,
    mut stopping: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = %e, "uptime kuma: no HTTP client"),
    };
    loop {
        let started = Instant::now();
        let (a, v) = (activator.clone(), vault.clone());
        let problem = tokio::task::spawn_blocking(move || crate::control::health::not_ready(&a, &v))
            .await
            .unwrap_or_else(|e| Some(e.to_string()));
        let ping = started.elapsed().as_millis().max(1).to_string();
        if let Err(e) =
            client.get(push_url(&url, problem.as_deref(), &ping)).send().await.and_then(|r| r.error_for_status())
        {
            tracing::warn!(error = %without_url(e), "uptime kuma push failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// `url` with its own query kept, except `status`, `msg` and `ping`, which
/// say this push's result.
fn push_url(url: &reqwest::Url, problem: Option<&str>, ping: &str) -> reqwest::Url {
    let mut u = url.clone();
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !matches!(&**k, "status" | "msg" | "ping"))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear().extend_pairs(kept);
        match problem {
            None => q.append_pair("status", "up").append_pair("msg", "OK"),
            Some(why) => q.append_pair("status", "down").append_pair("msg", why),
        };
        q.append_pair("ping", ping);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_url_keeps_the_monitors_query_and_replaces_the_result() {
        let url: reqwest::Url = "http://127.0.0.1:3001/api/push/abc?status=up&msg=OK&ping=&token=t".parse().unwrap();
        let up = push_url(&url, None, "7");
        assert_eq!(up.query(), Some("token=t&status=up&msg=OK&ping=7"));
        let down = push_url(&url, Some("policy expired"), "9");
        assert_eq!(down.query(), Some("token=t&status=down&msg=policy+expired&ping=9"));
        assert_eq!(down.path(), "/api/push/abc");
    }
}
