//! The gateway's view of the running server: the policy in force, the
//! vault's values as the exact layer, credentials, usage.

use std::sync::{Arc, Mutex};

use warden_proxy::gateway::{Context, Upstream};
use warden_proxy::json::Usage;
use warden_redact::{Engine, ExactSet};
use warden_vault::Vault;
use zeroize::Zeroizing;

use crate::policy::Activator;

/// Implements [`Context`] over the activator and the vault.
pub struct EgressContext {
    activator: Arc<Activator>,
    vault: Arc<Vault>,
    /// The vault's exact layer, rebuilt when the secrets change (the stamp
    /// is a cheap query that any write or delete moves).
    exact: Mutex<((i64, i64, i64), ExactSet)>,
    /// Refused egress attempts by kind (`ssrf`, `connect`, `secret_ref`).
    refusals: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Usage goes to a writer thread that commits once a second.
    usage: Mutex<Option<std::sync::mpsc::Sender<(String, String, Usage)>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// How often counted usage is committed. PERF: one SQLite commit (an fsync)
/// per model call capped the gateway near 1,700 requests/s; batching takes it
/// off the request path. A crash loses at most this much usage, never a
/// request.
const USAGE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

fn usage_writer(store: Arc<warden_store::Store>, rx: std::sync::mpsc::Receiver<(String, String, Usage)>) {
    use std::collections::BTreeMap;
    use std::sync::mpsc::RecvTimeoutError;
    let mut pending: BTreeMap<(String, String), warden_store::UsageDelta> = BTreeMap::new();
    let mut last = std::time::Instant::now();
    loop {
        let done = match rx.recv_timeout(USAGE_FLUSH) {
            Ok((agent, model, u)) => {
                let d = pending.entry((agent.clone(), model.clone())).or_insert(warden_store::UsageDelta {
                    agent,
                    model,
                    requests: 0,
                    input: 0,
                    output: 0,
                });
                d.requests += 1;
                d.input += u.input;
                d.output += u.output;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if !pending.is_empty() && (done || last.elapsed() >= USAGE_FLUSH) {
            let batch: Vec<_> = std::mem::take(&mut pending).into_values().collect();
            if let Err(e) = store.add_usage_batch(&batch) {
                tracing::error!(error = %e, "could not record token usage");
            }
            last = std::time::Instant::now();
        }
        if done {
            return;
        }
    }
}

impl EgressContext {
    /// Wire the gateway to `activator` and `vault`.
    pub fn new(
        activator: Arc<Activator>,
        vault: Arc<Vault>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> anyhow::Result<EgressContext> {
        let stamp = activator.store().secrets_stamp()?;
        let exact = vault.exact_set()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let store = activator.store().clone();
        let writer = std::thread::Builder::new().name("warden-usage".into()).spawn(move || usage_writer(store, rx))?;
        Ok(EgressContext {
            activator,
            vault,
            exact: Mutex::new((stamp, exact)),
            refusals: Mutex::default(),
            usage: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            metrics,
        })
    }

    /// Commit the usage counted so far and stop the writer (at shutdown).
    pub fn close(&self) {
        drop(self.usage.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = w.join();
        }
    }

    /// Refused egress attempts so far, by kind.
    pub fn refusals(&self) -> std::collections::BTreeMap<String, u64> {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn exact(&self) -> Result<ExactSet, String> {
        let stamp = self.activator.store().secrets_stamp().map_err(|e| e.to_string())?;
        let mut cached = self.exact.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 != stamp {
            // A vault that cannot be read fails closed: no request goes out
            // without the exact layer.
            let set = self.vault.exact_set().map_err(|e| format!("vault: {e}"))?;
            *cached = (stamp, set);
        }
        Ok(cached.1.clone())
    }
}

impl EgressContext {
    /// `policy`'s engine with the vault's exact layer, if egress may
    /// proceed. The gate passes the policy it classified with, so one call
    /// never mixes two bundles.
    pub(crate) fn engine_of(&self, policy: &crate::policy::CompiledPolicy) -> Result<Engine, String> {
        self.activator.egress_allowed()?;
        Ok(policy.engine.with_exact(self.exact()?))
    }
}

impl Context for EgressContext {
    fn engine(&self) -> Result<Engine, String> {
        self.engine_of(&self.activator.current())
    }

    fn upstream(&self, name: &str) -> Option<Upstream> {
        let policy = self.activator.current();
        let spec = policy.source.settings.gateway.upstreams.iter().find(|u| u.name == name)?;
        Some(Upstream {
            name: spec.name.clone(),
            base_url: reqwest::Url::parse(&spec.base_url).ok()?,
            secret: spec.secret.clone(),
        })
    }

    fn credential(&self, secret: &str, host: &str) -> Result<(String, Zeroizing<String>), String> {
        let s = self.vault.get(secret).map_err(|e| match e {
            warden_vault::VaultError::NotFound(_) => format!(
                "no secret named {secret} in the vault (warden secrets set {secret} --host {host} --header 'Authorization: Bearer {{}}')"
            ),
            other => other.to_string(),
        })?;
        if !s.bound_to(host) {
            tracing::warn!(secret, host, "refused: secret not bound to the upstream host");
            return Err(format!("secret {secret} is not bound to {host}"));
        }
        s.info.inject.render(&s.value).ok_or_else(|| format!("secret {secret} has no header template (--header)"))
    }

    fn destination_allowed(&self, host: &str, port: u16) -> Result<(), String> {
        let policy = self.activator.current();
        if policy.egress_allow.iter().any(|(p, allowed)| *allowed == port && p.matches(host)) {
            return Ok(());
        }
        Err(format!("{host}:{port} is not in the egress allowlist (policy.toml [egress] allow)"))
    }

    fn allow_ranges(&self) -> Vec<warden_proxy::ssrf::IpRange> {
        self.activator.current().allow_ranges.clone()
    }

    fn secret_ref(&self, name: &str, host: &str) -> Result<Zeroizing<String>, String> {
        let refuse = |why: String| {
            self.refused("secret_ref", &format!("SECRET_REF({name}) toward {host}: {why}"));
            Err(format!("refused: SECRET_REF({name}) may not go to {host} ({why})"))
        };
        match self.vault.get(name) {
            Ok(s) if s.bound_to(host) => Ok(s.value),
            Ok(_) => refuse("not bound to this host".into()),
            Err(warden_vault::VaultError::NotFound(_)) => refuse("no such secret".into()),
            Err(e) => Err(format!("vault: {e}")),
        }
    }

    fn refused(&self, kind: &str, detail: &str) {
        tracing::warn!(kind, detail, "egress refused");
        *self.refusals.lock().unwrap_or_else(|e| e.into_inner()).entry(kind.to_string()).or_insert(0) += 1;
        if let Err(e) = self.activator.store().audit("warden", &format!("egress.refuse.{kind}"), "egress", detail) {
            tracing::error!(error = %e, "could not audit a refused egress attempt");
        }
    }

    fn record_findings(&self, findings: &[warden_redact::Finding]) {
        record_findings(&self.metrics, findings);
    }

    fn record_request(&self, route: &'static str, status: u16, elapsed: std::time::Duration) {
        self.metrics.request("egress", route, status, elapsed);
    }

    fn record_usage(&self, agent: &str, model: &str, usage: Usage) {
        let tx = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if tx.as_ref().is_none_or(|tx| tx.send((agent.to_string(), model.to_string(), usage)).is_err()) {
            tracing::error!("the usage writer is gone; usage not recorded");
        }
    }
}

/// Count findings by layer and rule, one metrics update per distinct pair.
pub(crate) fn record_findings(metrics: &crate::metrics::Metrics, findings: &[warden_redact::Finding]) {
    let mut counts: std::collections::BTreeMap<(&str, &str), u64> = std::collections::BTreeMap::new();
    for f in findings {
        *counts.entry((f.layer.as_str(), &f.rule)).or_insert(0) += 1;
    }
    for ((layer, rule), n) in counts {
        metrics.redacted(layer, rule, n);
    }
}
