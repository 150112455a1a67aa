//! The gateway's view of the running server: the policy in force, the
//! vault's values as the exact layer, credentials, usage.

use std::sync::{Arc, Mutex, OnceLock};

use warden_proxy::calls::{CallVerdict, ModelCall, Scope, Taint};
use warden_proxy::gateway::{Context, ContextError, Destination, Upstream};
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
    /// Usage goes to a writer thread that commits once a second.
    usage: Mutex<Option<std::sync::mpsc::Sender<(String, String, Usage)>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// The gate, for tool calls in model answers. Set once after the gate is
    /// built (the gate's policy needs this context first); until then calls
    /// are refused, never passed unjudged.
    gate: OnceLock<Arc<warden_gate::Gate>>,
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
            usage: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            metrics,
            gate: OnceLock::new(),
        })
    }

    /// Judge tool calls in model answers with `gate`.
    pub fn attach_gate(&self, gate: Arc<warden_gate::Gate>) {
        let _ = self.gate.set(gate);
    }

    /// Commit the usage counted so far and stop the writer (at shutdown).
    pub fn close(&self) {
        drop(self.usage.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = w.join();
        }
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
    fn engine(&self) -> Result<Engine, ContextError> {
        self.engine_of(&self.activator.current()).map_err(ContextError::unavailable)
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

    fn credential(&self, secret: &str, to: &Destination<'_>) -> Result<(String, Zeroizing<String>), ContextError> {
        let host = to.host;
        let s = self.vault.get(secret).map_err(|e| match e {
            warden_vault::VaultError::NotFound(_) => ContextError::refused(format!(
                "no secret named {secret} in the vault (warden secrets set {secret} --host {host} --header 'Authorization: Bearer {{}}')"
            )),
            other => ContextError::unavailable(other.to_string()),
        })?;
        if !s.bound_to_url(to.scheme, to.host, to.port) {
            tracing::warn!(secret, host, "refused: secret not bound to the upstream host");
            return Err(ContextError::refused(format!("secret {secret} is not bound to {host} (for {})", to.scheme)));
        }
        s.info
            .inject
            .render(&s.value)
            .ok_or_else(|| ContextError::refused(format!("secret {secret} has no header template (--header)")))
    }

    fn destination_allowed(&self, host: &str, port: u16) -> Result<(), ContextError> {
        let policy = self.activator.current();
        if policy.egress_allow.iter().any(|(p, allowed)| *allowed == port && p.matches(host)) {
            return Ok(());
        }
        Err(ContextError::refused(format!("{host}:{port} is not in the egress allowlist (policy.toml [egress] allow)")))
    }

    fn allow_ranges(&self) -> Vec<warden_proxy::ssrf::IpRange> {
        self.activator.current().allow_ranges.clone()
    }

    fn secret_ref(&self, name: &str, to: &Destination<'_>) -> Result<Zeroizing<String>, ContextError> {
        let refuse = |why: String| {
            self.refused("secret_ref", &format!("SECRET_REF({name}) toward {to}: {why}"));
            Err(ContextError::refused(format!("refused: SECRET_REF({name}) may not go to {to} ({why})")))
        };
        // A key the policy injects for the gateway is the gateway's alone:
        // expanding it on the agent's say-so would let the agent read it
        // back from anything that echoes.
        let policy = self.activator.current();
        if policy.source.settings.gateway.upstreams.iter().any(|u| u.secret.as_deref() == Some(name)) {
            return refuse("the gateway injects this secret itself".into());
        }
        match self.vault.get(name) {
            Ok(s) if !matches!(s.info.inject, warden_vault::Injection::Substitute) => {
                refuse("it is injected as a header, not by SECRET_REF".into())
            }
            Ok(s) if s.bound_to_url(to.scheme, to.host, to.port) => Ok(s.value),
            Ok(_) => refuse("not bound to this scheme, host and port".into()),
            Err(warden_vault::VaultError::NotFound(_)) => refuse("no such secret".into()),
            Err(e) => Err(ContextError::unavailable(format!("vault: {e}"))),
        }
    }

    fn binary_parts(&self) -> warden_proxy::json::BinaryParts {
        if self.activator.current().source.settings.gateway.binary_parts == "refuse" {
            warden_proxy::json::BinaryParts::Refuse
        } else {
            warden_proxy::json::BinaryParts::Pass
        }
    }

    fn record_binary_parts(&self, n: usize) {
        tracing::info!(parts = n, "binary parts forwarded unread");
        self.metrics.redacted("binary", "binary-part-passed", n as u64);
    }

    fn refused(&self, kind: &str, detail: &str) {
        tracing::warn!(kind, detail, "egress refused");
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

    fn judges_calls(&self) -> bool {
        true
    }

    fn judge_call(&self, scope: &Scope, call: &ModelCall) -> CallVerdict {
        let verdict = model_call_verdict(self.gate.get().map(|g| &**g), scope, call);
        let outcome = match &verdict {
            (_, Some(d)) => *d,
            (_, None) => "deny",
        };
        self.metrics.model_call(outcome);
        verdict.0
    }

    fn output_hosts(&self) -> Option<Arc<Vec<String>>> {
        Some(self.activator.current().output_hosts.clone())
    }

    fn record_neutralised(&self, n: usize) {
        self.metrics.neutralised(n as u64);
    }

    fn record_taint(&self, taint: &Taint) {
        tracing::warn!(tool = %taint.tool, call = %taint.call_id, reasons = ?taint.reasons, score = taint.score, "untrusted content flagged");
        self.metrics.untrusted_flagged(taint.reasons.first().copied().unwrap_or("unknown"));
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

/// The gate's decision on a tool call the model wrote, as the text the agent
/// reads instead of a refused call; with the outcome for metrics (`None`
/// when the gate could not decide, which refuses).
fn model_call_verdict(
    gate: Option<&warden_gate::Gate>,
    scope: &Scope,
    call: &ModelCall,
) -> (CallVerdict, Option<&'static str>) {
    let name = if call.name.is_empty() { "(unnamed)" } else { call.name.as_str() };
    let fail = |why: &str| {
        CallVerdict::Refuse(format!(
            "[Warden] The tool call {name} was removed from this answer and did not run: {why}."
        ))
    };
    let Some(gate) = gate else { return (fail("Warden's gate is not ready"), None) };
    let args = if call.arguments.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        match serde_json::from_str::<serde_json::Value>(&call.arguments) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => return (fail("its arguments are not a JSON object"), None),
        }
    };
    let req = warden_gate::ExecuteRequest {
        session_id: scope.session.clone(),
        agent_id: scope.agent.clone(),
        tool_name: call.name.clone(),
        tool_args: args,
        context: serde_json::Value::Null,
    };
    let ctx = warden_gate::ModelCallContext {
        agent_named: !scope.agent.is_empty(),
        taint: scope.taint.as_ref().map(ToString::to_string),
    };
    let reply = match gate.execute_model_call(req, &ctx) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(tool = %name, error = %e, "a tool call in a model answer could not be decided");
            return (fail(&format!("Warden could not decide it ({e})")), None);
        }
    };
    match reply.decision {
        warden_domain::Decision::Execute => (CallVerdict::Pass, Some("pass")),
        warden_domain::Decision::Deny => (
            CallVerdict::Refuse(format!(
                "[Warden] Refused the tool call {name} ({}): {}. It was removed from this answer and did not run.",
                reply.tier, reply.reason
            )),
            Some("deny"),
        ),
        warden_domain::Decision::Gate => {
            let id = reply.approval_id.as_deref().unwrap_or("?");
            let tainted = scope.taint.is_some() && reply.reason.starts_with("held: the session is tainted");
            (
                CallVerdict::Refuse(format!(
                    "[Warden] The tool call {name} ({}) is held for a human: approval {id} ({}). It was removed from this answer and did not run. \
                     Tell the user it needs their approval (on the hub, or POST /api/v1/approvals/{id} on Warden's control port); once it is allowed, make the same call again with the same arguments and it will run.",
                    reply.tier, reply.reason
                )),
                Some(if tainted { "tainted-gate" } else { "gate" }),
            )
        }
    }
}
