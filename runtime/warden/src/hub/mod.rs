//! The link to the hub: register once, heartbeat with telemetry, apply the
//! commands a heartbeat answer carries, and push approvals and usage until
//! the hub has acknowledged them. Plus an optional Uptime Kuma push.
//!
//! The protocol is in `runtime/warden/api/hub.openapi.json`. What must
//! reach the hub lives in SQLite (approvals with the status the hub last
//! acknowledged, usage buckets with the count it acknowledged), so a hub
//! outage or a restart loses nothing: it is sent when the hub is back, with
//! exponential backoff and jitter so a fleet does not return in step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use warden_vault::{HostPattern, Injection, Vault};
use zeroize::Zeroizing;

use crate::gate::Gate;
use crate::metrics::Metrics;
use crate::policy::poller::FetchNow;
use crate::policy::Activator;
use crate::state::StateDir;

/// The vault secret holding the hub's API key for this node.
pub const API_KEY_SECRET: &str = "warden-hub-api-key";
/// The `node_meta` key of this node's id at the hub.
const NODE_ID: &str = "hub.node_id";
/// Most rows pushed in one call.
const PUSH_BATCH: usize = 500;
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the hub link needs to know.
#[derive(Clone, Debug)]
pub struct HubSettings {
    /// Base URL.
    pub url: reqwest::Url,
    /// One-time registration token.
    pub registration_token: Option<Zeroizing<String>>,
    /// This node's name.
    pub node_name: String,
    /// The tenant, if configured.
    pub tenant: Option<String>,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// How long a `fetch_bundle` command may take.
    pub fetch_timeout: Duration,
}

/// A command from a heartbeat answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Fetch the bundle now; done when `revision` (or later) is active.
    FetchBundle {
        /// Command id, echoed in the ack.
        id: String,
        /// The revision the hub published.
        revision: u64,
    },
    /// Re-activate an accepted bundle.
    Rollback {
        /// Command id.
        id: String,
        /// The bundle's digest.
        digest: String,
    },
    /// Answer an approval.
    ResolveApproval {
        /// Command id.
        id: String,
        /// The approval.
        approval_id: String,
        /// `allow-once`, `allow-always` or `deny`.
        decision: String,
        /// Who decided at the hub.
        by: String,
    },
}

/// The answer to a command, sent with the next heartbeat.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Ack {
    /// The command's id.
    pub id: String,
    /// Whether it was applied.
    pub ok: bool,
    /// What happened.
    pub detail: String,
}

/// A heartbeat answer.
#[derive(Debug, Default, Deserialize)]
struct BeatAnswer {
    #[serde(default)]
    commands: Vec<Value>,
}

/// The running link.
pub struct HubLink {
    settings: HubSettings,
    client: reqwest::Client,
    activator: Arc<Activator>,
    vault: Arc<Vault>,
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    dir: StateDir,
    fetch_now: Option<FetchNow>,
    started: Instant,
}

/// Why a hub call failed.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Transport(String),
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
}

/// Doubling waits with jitter, from `base` up to [`MAX_BACKOFF`].
#[derive(Debug)]
struct Backoff {
    base: Duration,
    failures: u32,
}

impl Backoff {
    fn new(base: Duration) -> Backoff {
        Backoff { base, failures: 0 }
    }

    fn reset(&mut self) {
        self.failures = 0;
    }

    /// The wait after one more failure: `base * 2^n`, capped, then a random
    /// point in its upper half ("equal jitter").
    fn next(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.failures.min(16)).min(MAX_BACKOFF);
        self.failures += 1;
        let half = exp / 2;
        half + crate::policy::poller::jitter(Duration::ZERO, half)
    }
}

impl HubLink {
    /// A link; `fetch_now` is the bundle poller's trigger, when there is one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: HubSettings,
        activator: Arc<Activator>,
        vault: Arc<Vault>,
        gate: Arc<Gate>,
        metrics: Arc<Metrics>,
        dir: StateDir,
        fetch_now: Option<FetchNow>,
    ) -> anyhow::Result<HubLink> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("warden/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HubLink { settings, client, activator, vault, gate, metrics, dir, fetch_now, started: Instant::now() })
    }

    fn endpoint(&self, path: &str) -> reqwest::Url {
        let mut url = self.settings.url.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        url
    }

    async fn call(&self, call: &'static str, path: &str, key: Option<&str>, body: &Value) -> Result<Value, CallError> {
        let mut req = self
            .client
            .post(self.endpoint(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("a Value serialises"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let result = async {
            let resp = req.send().await.map_err(|e| CallError::Transport(crate::policy::poller::without_url(e)))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| CallError::Transport(crate::policy::poller::without_url(e)))?;
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

    /// This node's id and API key, registering first when it has none.
    async fn credentials(&self) -> anyhow::Result<(String, Zeroizing<String>)> {
        let store = self.activator.store().clone();
        let vault = self.vault.clone();
        let known = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let id = store.meta(NODE_ID)?;
            let key = match vault.get(API_KEY_SECRET) {
                Ok(s) => Some(s.value),
                Err(warden_vault::VaultError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            Ok(id.zip(key))
        })
        .await??;
        if let Some(creds) = known {
            return Ok(creds);
        }
        let Some(token) = &self.settings.registration_token else {
            anyhow::bail!(
                "this node is not registered with the hub: set hub.registration_token (WARDEN_HUB_REGISTRATION_TOKEN)"
            );
        };
        let body = json!({
            "registration_token": token.as_str(),
            "node_name": self.settings.node_name,
            "tenant": self.settings.tenant,
            "version": env!("CARGO_PKG_VERSION"),
        });
        let answer = self.call("register", "/api/v1/nodes/register", None, &body).await?;
        let node_id = answer.get("node_id").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 128);
        let api_key = answer.get("api_key").and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(node_id), Some(api_key)) = (node_id, api_key) else {
            anyhow::bail!("the hub's registration answer lacks node_id or api_key");
        };
        let (node_id, api_key) = (node_id.to_string(), Zeroizing::new(api_key.to_string()));
        let host = self.settings.url.host_str().unwrap_or_default().to_string();
        let (store, vault, id, key) =
            (self.activator.store().clone(), self.vault.clone(), node_id.clone(), api_key.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            // The key first: a node id without a key would never be usable,
            // a key without an id is simply registered again.
            vault.set(
                API_KEY_SECRET,
                key,
                vec![HostPattern::parse(&host)?],
                Injection::header("Authorization: Bearer {}")?,
                "hub",
            )?;
            store.set_meta(NODE_ID, &id, "hub")?;
            Ok(())
        })
        .await??;
        tracing::info!(node_id = %node_id, "registered with the hub; the API key is in the vault");
        Ok((node_id, api_key))
    }

    /// Run until `stopping`.
    pub async fn run(self, mut stopping: watch::Receiver<bool>) {
        let mut creds = None;
        let mut acks: Vec<Ack> = Vec::new();
        let mut beat_backoff = Backoff::new(self.settings.heartbeat.min(Duration::from_secs(5)));
        let mut push_backoff = Backoff::new(Duration::from_secs(1));
        let mut next_beat = tokio::time::Instant::now();
        let mut next_push = tokio::time::Instant::now();
        let mut changed = self.gate.subscribe();
        loop {
            let now = tokio::time::Instant::now();
            if creds.is_none() && now >= next_beat {
                match self.credentials().await {
                    Ok(c) => creds = Some(c),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "hub: registration failed; will retry");
                        next_beat = now + beat_backoff.next();
                    }
                }
            }
            if let Some((node, key)) = &creds {
                if now >= next_beat {
                    match self.heartbeat(node, key, &acks).await {
                        Ok(commands) => {
                            beat_backoff.reset();
                            acks.clear();
                            next_beat = now + self.settings.heartbeat;
                            if !commands.is_empty() {
                                acks = self.apply(commands).await;
                                // Report what the commands did at once.
                                next_beat = tokio::time::Instant::now();
                                next_push = next_push.min(tokio::time::Instant::now());
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "hub: heartbeat failed");
                            next_beat = now + beat_backoff.next().min(self.settings.heartbeat);
                        }
                    }
                }
                if now >= next_push {
                    match self.push(node, key).await {
                        Ok(()) => {
                            push_backoff.reset();
                            next_push = now + self.settings.heartbeat;
                        }
                        Err(e) => {
                            let wait = push_backoff.next();
                            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "hub: push failed; kept for retry");
                            next_push = now + wait;
                        }
                    }
                }
            }
            let wake = next_beat.min(if creds.is_some() { next_push } else { next_beat });
            if wake <= tokio::time::Instant::now() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                // A new or decided approval goes out soon, unless the hub is failing.
                _ = changed.changed() => {
                    if push_backoff.failures == 0 {
                        next_push = tokio::time::Instant::now();
                    }
                }
                _ = stopping.changed() => return,
            }
        }
    }

    async fn heartbeat(&self, node: &str, key: &str, acks: &[Ack]) -> Result<Vec<Value>, CallError> {
        let mut body = self.telemetry().await;
        body["acks"] = serde_json::to_value(acks).expect("acks serialise");
        let answer = self.call("heartbeat", &format!("/api/v1/nodes/{node}/heartbeat"), Some(key), &body).await?;
        let answer: BeatAnswer = serde_json::from_value(answer).unwrap_or_default();
        Ok(answer.commands)
    }

    /// Apply commands in order; each gets an ack.
    async fn apply(&self, commands: Vec<Value>) -> Vec<Ack> {
        let mut acks = Vec::new();
        for raw in commands {
            let id = raw.get("id").and_then(Value::as_str).unwrap_or("").to_string();
            let ack = match serde_json::from_value::<Command>(raw) {
                Ok(cmd) => self.apply_one(cmd).await,
                Err(e) => Ack { id, ok: false, detail: format!("command not understood: {e}") },
            };
            tracing::info!(command = %ack.id, ok = ack.ok, detail = %ack.detail, "hub command applied");
            acks.push(ack);
        }
        acks
    }

    async fn apply_one(&self, cmd: Command) -> Ack {
        match cmd {
            Command::FetchBundle { id, revision } => {
                let (ok, detail) = self.fetch_bundle(revision).await;
                Ack { id, ok, detail }
            }
            Command::Rollback { id, digest } => {
                let a = self.activator.clone();
                let r = tokio::task::spawn_blocking(move || a.rollback(&digest, "hub")).await;
                match r {
                    Ok(Ok(outcome)) => Ack { id, ok: true, detail: format!("{outcome:?}") },
                    Ok(Err(refused)) => Ack { id, ok: false, detail: refused.0 },
                    Err(e) => Ack { id, ok: false, detail: e.to_string() },
                }
            }
            Command::ResolveApproval { id, approval_id, decision, by } => {
                let gate = self.gate.clone();
                let by = format!("hub:{}", by.trim());
                let r = tokio::task::spawn_blocking(move || gate.decide(&approval_id, &decision, &by, None)).await;
                match r {
                    Ok(Ok(_)) => Ack { id, ok: true, detail: "decided".into() },
                    Ok(Err(e)) => Ack { id, ok: false, detail: e.to_string() },
                    Err(e) => Ack { id, ok: false, detail: e.to_string() },
                }
            }
        }
    }

    async fn fetch_bundle(&self, revision: u64) -> (bool, String) {
        let active = || self.activator.current().meta.revision;
        if active() >= revision {
            return (true, format!("revision {} is active", active()));
        }
        let Some(now) = &self.fetch_now else {
            return (false, "no policy.bundle_url is configured on this node".into());
        };
        let asked = warden_store::now_ms();
        now.trigger();
        let deadline = Instant::now() + self.settings.fetch_timeout + Duration::from_secs(5);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if active() >= revision {
                return (true, format!("revision {} is active", active()));
            }
            let store = self.activator.store().clone();
            if let Ok(Ok(Some(a))) = tokio::task::spawn_blocking(move || store.last_attempt()).await {
                if a.at >= asked && a.outcome != "activated" {
                    return (false, format!("revision {revision} not activated: {}", a.error.unwrap_or(a.outcome)));
                }
            }
        }
        (false, format!("revision {revision} did not arrive from the bundle URL within the fetch timeout"))
    }

    /// Push approvals and usage the hub has not acknowledged.
    async fn push(&self, node: &str, key: &str) -> Result<(), CallError> {
        let store = self.activator.store().clone();
        let owed = tokio::task::spawn_blocking(move || {
            Ok::<_, warden_store::StoreError>((
                store.approvals_unpushed(PUSH_BATCH)?,
                store.usage_unpushed(PUSH_BATCH)?,
            ))
        })
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?
        .map_err(|e| CallError::Transport(e.to_string()))?;
        let (approvals, usage) = owed;
        if !approvals.is_empty() {
            let body = json!({"approvals": approvals.iter().map(crate::gate::view).collect::<Vec<_>>()});
            self.call("approvals", &format!("/api/v1/nodes/{node}/approvals"), Some(key), &body).await?;
            let sent: Vec<_> = approvals.into_iter().map(|a| (a.id, a.status)).collect();
            let store = self.activator.store().clone();
            let _ = tokio::task::spawn_blocking(move || store.approvals_pushed(&sent)).await;
        }
        if !usage.is_empty() {
            let buckets: Vec<_> = usage
                .iter()
                .map(|b| {
                    json!({"hour": crate::policy::activation::rfc3339_ms(b.hour * 1000), "agent": b.agent, "model": b.model,
                        "requests": b.requests, "input_tokens": b.input_tokens, "output_tokens": b.output_tokens})
                })
                .collect();
            self.call("usage", &format!("/api/v1/nodes/{node}/usage"), Some(key), &json!({"buckets": buckets})).await?;
            let store = self.activator.store().clone();
            let _ = tokio::task::spawn_blocking(move || store.usage_pushed(&usage)).await;
        }
        Ok(())
    }

    /// The heartbeat body.
    async fn telemetry(&self) -> Value {
        let (activator, dir) = (self.activator.clone(), self.dir.clone());
        // The store's reads and the file system's are blocking work.
        let (quick_check, pending, db_size, disk, status) = match tokio::task::spawn_blocking(move || {
            let store = activator.store();
            let qc = store.quick_check().unwrap_or_else(|e| e.to_string());
            (qc, store.approvals_pending().unwrap_or(0), db_size(&dir), disk(&dir.root), activator.status())
        })
        .await
        {
            Ok(v) => v,
            Err(e) => (e.to_string(), 0, 0, None, self.activator.status()),
        };
        let (requests, errors) = self.metrics.last_hour();
        let failures: u64 = self.activator.plugin_stats().failures().values().sum();
        let mem = memory();
        json!({
            "node_name": self.settings.node_name,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs(),
            "ram": {"rss_bytes": mem.0, "total_bytes": mem.1, "available_bytes": mem.2},
            "disk": disk.map(|(total, free)| json!({"total_bytes": total, "free_bytes": free})),
            "cpu": {"process_seconds": cpu_seconds(), "load1": load1(), "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)},
            "db": {"size_bytes": db_size, "quick_check": quick_check},
            "policy": {"revision": status.revision, "digest": status.digest, "expired": status.expired, "stale": status.stale,
                "last_attempt": status.last_attempt},
            "redactions_by_layer": self.metrics.redactions_by_layer(),
            "plugin_failures": failures,
            "approvals_pending": pending,
            "last_hour": {"requests": requests, "errors": errors},
        })
    }
}

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
        let problem = tokio::task::spawn_blocking(move || crate::serve::not_ready(&a, &v))
            .await
            .unwrap_or_else(|e| Some(e.to_string()));
        let ping = started.elapsed().as_millis().max(1).to_string();
        let mut u = url.clone();
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !matches!(&**k, "status" | "msg" | "ping"))
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        {
            let mut q = u.query_pairs_mut();
            q.clear().extend_pairs(kept);
            match &problem {
                None => q.append_pair("status", "up").append_pair("msg", "OK"),
                Some(why) => q.append_pair("status", "down").append_pair("msg", why),
            };
            q.append_pair("ping", &ping);
        }
        if let Err(e) = client.get(u).send().await.and_then(|r| r.error_for_status()) {
            tracing::warn!(error = %crate::policy::poller::without_url(e), "uptime kuma push failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// `warden.db` plus its WAL.
fn db_size(dir: &StateDir) -> u64 {
    let db = dir.db();
    let wal = db.with_extension("db-wal");
    [db, wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// Total and free bytes of the file system holding `path`.
fn disk(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid C string and `s` is written by statvfs on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    let frsize = s.f_frsize;
    Some((s.f_blocks * frsize, s.f_bavail * frsize))
}

/// This process's resident memory, and the machine's total and available, in bytes.
pub fn memory() -> (u64, u64, u64) {
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    (field(&status, "VmRSS:"), field(&meminfo, "MemTotal:"), field(&meminfo, "MemAvailable:"))
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: utime is the 14th
    // field overall, the 12th after it.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(0.0)
}

/// The host name, for `hub.node_name`'s default.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "warden".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let waits: Vec<_> = (0..12).map(|_| b.next()).collect();
        assert!(waits[0] >= Duration::from_millis(500) && waits[0] <= Duration::from_secs(1));
        assert!(waits[3] >= Duration::from_secs(4) && waits[3] <= Duration::from_secs(8));
        assert!(waits[11] >= MAX_BACKOFF / 2 && waits[11] <= MAX_BACKOFF);
        b.reset();
        assert!(b.next() <= Duration::from_secs(1));
    }

    #[test]
    fn commands_parse_by_type() {
        let c: Command = serde_json::from_value(json!({"id": "c1", "type": "fetch_bundle", "revision": 3})).unwrap();
        assert!(matches!(c, Command::FetchBundle { revision: 3, .. }));
        let c: Command = serde_json::from_value(
            json!({"id": "c2", "type": "resolve_approval", "approval_id": "apr_1", "decision": "deny", "by": "ann"}),
        )
        .unwrap();
        assert!(matches!(c, Command::ResolveApproval { .. }));
        assert!(serde_json::from_value::<Command>(json!({"id": "c3", "type": "reboot"})).is_err());
    }

    #[test]
    fn proc_readings_are_plausible() {
        let (rss, total, avail) = memory();
        assert!(rss > 0 && total > rss && avail <= total);
        assert!(cpu_seconds() >= 0.0);
        let (t, f) = disk(std::path::Path::new("/")).unwrap();
        assert!(t >= f && t > 0);
    }
}
