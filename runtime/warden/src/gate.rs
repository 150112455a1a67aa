//! The tool-call gate: `POST /api/v1/tools/execute` classifies a call the
//! agent is about to make, decides it at the policy's autonomy level, and
//! holds a gated call as an approval that a human answers (locally or
//! through the hub) while the agent long-polls.
//!
//! Everything here is synchronous over the store; the HTTP layer
//! (`control.rs`) runs it on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use warden_policy::{Decision, Tier};
use warden_redact::{Finding, Session};
use warden_store::{Approval, DecideRefused, DecisionRecord, IdemReply, NewApproval, StoredReply};

use crate::commit::GroupCommit;

use crate::egress::EgressContext;
use crate::metrics::Metrics;
use crate::policy::activation::rfc3339_ms;
use crate::policy::Activator;

/// Labels of personal data that a tool call may legitimately carry (the
/// address an email goes to, the number a message is sent to): the gate
/// leaves them in the arguments, since the external gate decides whether
/// such calls run at all. Every other finding is a secret and is redacted.
const CONTACT_LABELS: &[&str] = &["EMAIL", "PHONE", "IP_ADDRESS", "MAC_ADDRESS"];

/// Longest tool name and id accepted.
const MAX_NAME: usize = 256;

/// `POST /api/v1/tools/execute` body (the hub's tenant API names).
#[derive(Debug, Deserialize)]
pub struct ExecuteRequest {
    /// The agent's session.
    #[serde(default)]
    pub session_id: String,
    /// The agent (`default` when empty).
    #[serde(default)]
    pub agent_id: String,
    /// The tool about to run.
    pub tool_name: String,
    /// Its arguments (an object).
    #[serde(default)]
    pub tool_args: Value,
    /// Free-form context from the agent (run id, tool-call id); not stored.
    #[serde(default)]
    pub context: Value,
}

/// The answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExecuteReply {
    /// `execute`, `deny` or `gate`.
    pub decision: String,
    /// The tier the call was classified into.
    pub tier: String,
    /// Why (the rule's or classifier's reason).
    pub reason: String,
    /// For `gate`: the approval to wait on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// For `gate`: when an unanswered approval ends as a deny (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The arguments with secrets redacted: what the tool should run with.
    pub tool_args: Value,
    /// How many values were redacted from the arguments.
    pub redacted: usize,
}

/// A user error (HTTP 4xx) or a failure (5xx).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Bad input: what was wrong.
    #[error("{0}")]
    Invalid(String),
    /// The `Idempotency-Key` already answered a different request.
    #[error("this Idempotency-Key was already used for a different request; use a new key")]
    KeyReused,
    /// No such approval.
    #[error("no approval {0}")]
    NotFound(String),
    /// The approval was already decided.
    #[error("approval {} is already {}", .0.id, .0.status)]
    Settled(Box<Approval>),
    /// Policy or vault not usable: fail closed.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] warden_store::StoreError),
    /// Recording the decision failed (the store, through the group commit).
    #[error("state database: {0}")]
    Commit(String),
}

/// A finished reply: status and JSON body, as stored for idempotent replay.
pub type Reply = (u16, String);

/// The gate.
pub struct Gate {
    activator: Arc<Activator>,
    egress: Arc<EgressContext>,
    metrics: Arc<Metrics>,
    ttl: Duration,
    changed: tokio::sync::watch::Sender<u64>,
    /// Decisions are committed in groups (one fsync per burst).
    commit: GroupCommit,
}

impl Gate {
    /// A gate over the active policy; approvals live `ttl`.
    pub fn new(
        activator: Arc<Activator>,
        egress: Arc<EgressContext>,
        metrics: Arc<Metrics>,
        ttl: Duration,
    ) -> std::io::Result<Gate> {
        Ok(Gate {
            commit: GroupCommit::start(activator.store().clone())?,
            activator,
            egress,
            metrics,
            ttl,
            changed: tokio::sync::watch::channel(0).0,
        })
    }

    /// Wakes long polls when any approval changes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// The store.
    pub fn store(&self) -> &Arc<warden_store::Store> {
        self.activator.store()
    }

    /// Decide one call. `idem` is `(scope, key, request hash)`: a call with a
    /// key already answered gets the stored reply.
    pub fn execute(&self, req: ExecuteRequest, idem: Option<(&str, &str, &str)>) -> Result<Reply, GateError> {
        if let Some((scope, key, hash)) = idem {
            if let Some(earlier) = self.store().idempotent_reply(scope, key)? {
                return replay(earlier, hash);
            }
        }
        let tool = req.tool_name.trim();
        if tool.is_empty() || tool.len() > MAX_NAME {
            return Err(GateError::Invalid(format!("tool_name must be 1-{MAX_NAME} characters")));
        }
        if req.session_id.len() > MAX_NAME || req.agent_id.len() > MAX_NAME {
            return Err(GateError::Invalid(format!("session_id and agent_id must be at most {MAX_NAME} characters")));
        }
        let args = match req.tool_args {
            Value::Null => Value::Object(Default::default()),
            v @ Value::Object(_) => v,
            _ => return Err(GateError::Invalid("tool_args must be a JSON object".into())),
        };
        let agent = if req.agent_id.is_empty() { "default" } else { req.agent_id.as_str() };
        let args_json = serde_json::to_string(&args).expect("a Value serialises");

        let policy = self.activator.current();
        let engine = self.egress.engine_of(&policy).map_err(GateError::Unavailable)?;
        let mut verdict = policy.gate_call(tool, &args_json, agent);
        let (clean, findings) = redact_args(&args, &engine).map_err(GateError::Unavailable)?;
        crate::egress::record_findings(&self.metrics, &findings);

        let fingerprint = fingerprint(agent, tool, &args_json);
        if verdict.decision == Decision::Gate
            && verdict.tier != Tier::CriticalRed
            && self.store().granted(agent, &fingerprint)?
        {
            verdict.decision = Decision::Execute;
            verdict.reason = format!("allowed always for this agent and these arguments ({})", verdict.reason);
        }
        let hold = (verdict.decision == Decision::Gate).then(|| NewApproval {
            id: new_id(),
            session_id: req.session_id.clone(),
            agent_id: agent.to_string(),
            tool_name: tool.to_string(),
            tool_args: serde_json::to_string(&clean).expect("a Value serialises"),
            tier: verdict.tier.as_str().to_string(),
            reason: verdict.reason.clone(),
            fingerprint,
            ttl_ms: self.ttl.as_millis() as i64,
        });
        let reply = ExecuteReply {
            decision: verdict.decision.as_str().to_string(),
            tier: verdict.tier.as_str().to_string(),
            reason: verdict.reason.clone(),
            approval_id: hold.as_ref().map(|h| h.id.clone()),
            expires_at: hold.as_ref().map(|h| rfc3339_ms(warden_store::now_ms() + h.ttl_ms)),
            tool_args: clean,
            redacted: findings.len(),
        };
        let body = serde_json::to_string(&reply).expect("a reply serialises");
        let actor = format!("agent:{agent}");
        let action = format!("tool.{}", verdict.decision.as_str());
        let detail = format!(
            "tier {} session {:?} reason {:?}{}",
            verdict.tier.as_str(),
            req.session_id,
            verdict.reason,
            hold.as_ref().map(|h| format!(" approval {}", h.id)).unwrap_or_default()
        );
        let approval_id = hold.as_ref().map(|h| h.id.clone());
        let record = DecisionRecord {
            actor,
            action,
            subject: tool.to_string(),
            detail,
            hold,
            idem: idem.map(|(scope, key, request)| IdemReply {
                scope: scope.into(),
                key: key.into(),
                request: request.into(),
                status: 200,
                response: body.clone(),
            }),
        };
        if let Some(earlier) = self.commit.record(record).map_err(GateError::Commit)? {
            // Another request with the same key committed first.
            return replay(earlier, idem.map(|k| k.2).unwrap_or_default());
        }
        self.metrics.decided(verdict.tier.as_str(), verdict.decision.as_str());
        tracing::info!(
            tool,
            agent,
            tier = verdict.tier.as_str(),
            decision = verdict.decision.as_str(),
            approval = approval_id.as_deref().unwrap_or(""),
            redacted = reply.redacted,
            "tool call decided"
        );
        if approval_id.is_some() {
            self.notify();
        }
        Ok((200, body))
    }

    /// Answer an approval: `allow-once`, `allow-always` or `deny`, by `by`.
    pub fn decide(
        &self,
        id: &str,
        decision: &str,
        by: &str,
        idem: Option<(&str, &str, &str)>,
    ) -> Result<Reply, GateError> {
        if let Some((scope, key, hash)) = idem {
            if let Some(earlier) = self.store().idempotent_reply(scope, key)? {
                return replay(earlier, hash);
            }
        }
        if !matches!(decision, "allow-once" | "allow-always" | "deny") {
            return Err(GateError::Invalid(format!(
                "decision must be \"allow-once\", \"allow-always\" or \"deny\", not {decision:?}"
            )));
        }
        if by.trim().is_empty() || by.len() > MAX_NAME {
            return Err(GateError::Invalid(format!("by must name who decided (1-{MAX_NAME} characters)")));
        }
        // CRITICAL_RED always needs a fresh human decision: allow-always
        // answers this call only.
        let grantable = self.store().approval(id)?.is_some_and(|a| a.tier != Tier::CriticalRed.as_str());
        let row = match self.store().decide_approval(id, decision, by, grantable)? {
            Ok(row) => row,
            Err(DecideRefused::NotFound) => return Err(GateError::NotFound(id.to_string())),
            // The same answer from the same person again (a retry whose
            // reply was lost) is a success, not a conflict.
            Err(DecideRefused::Settled(row))
                if row.decision.as_deref() == Some(decision) && row.decided_by.as_deref() == Some(by) =>
            {
                return Ok((200, serde_json::to_string(&view(&row)).expect("a view serialises")));
            }
            Err(DecideRefused::Settled(row)) => return Err(GateError::Settled(row)),
        };
        let body = serde_json::to_string(&view(&row)).expect("a view serialises");
        if let Some(k) = idem {
            self.store().remember_reply(k, 200, &body)?;
        }
        self.metrics.decided(&row.tier, &format!("approval-{decision}"));
        tracing::info!(approval = id, decision, by, "approval decided");
        self.notify();
        Ok((200, body))
    }

    /// End expired approvals as denies; wakes waiters when any ended.
    pub fn expire(&self) -> Result<usize, GateError> {
        let ids = self.store().expire_approvals()?;
        if !ids.is_empty() {
            tracing::info!(count = ids.len(), "approvals expired (denied)");
            self.notify();
        }
        Ok(ids.len())
    }

    /// The approval, expired first if it is due.
    pub fn approval(&self, id: &str) -> Result<Approval, GateError> {
        let row = self.store().approval(id)?.ok_or_else(|| GateError::NotFound(id.to_string()))?;
        if row.status == "pending" && row.expires_at <= warden_store::now_ms() {
            self.expire()?;
            return self.store().approval(id)?.ok_or_else(|| GateError::NotFound(id.to_string()));
        }
        Ok(row)
    }
}

/// Replay a stored reply, unless the key was used for another request.
fn replay(earlier: StoredReply, hash: &str) -> Result<Reply, GateError> {
    if earlier.request != hash {
        return Err(GateError::KeyReused);
    }
    Ok((earlier.status, earlier.response))
}

/// An approval as the API shows it.
pub fn view(a: &Approval) -> Value {
    serde_json::json!({
        "id": a.id,
        "status": a.status,
        "decision": a.decision,
        "tier": a.tier,
        "reason": a.reason,
        "tool_name": a.tool_name,
        "tool_args": serde_json::from_str::<Value>(&a.tool_args).unwrap_or(Value::Null),
        "session_id": a.session_id,
        "agent_id": a.agent_id,
        "created_at": rfc3339_ms(a.created_at),
        "expires_at": rfc3339_ms(a.expires_at),
        "decided_by": a.decided_by,
        "decided_at": a.decided_at.map(rfc3339_ms),
    })
}

/// Identifies "the same call" for `allow-always`: agent, tool and the exact
/// arguments (before redaction, so two different secrets never share a grant).
fn fingerprint(agent: &str, tool: &str, args_json: &str) -> String {
    let mut h = Sha256::new();
    for part in [agent, tool, args_json] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `apr_` and 20 random hex characters.
fn new_id() -> String {
    let mut b = [0u8; 10];
    getrandom::fill(&mut b).expect("the OS random source");
    format!("apr_{}", b.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Redact every string in `args` (keys stay), except contact details.
fn redact_args(args: &Value, engine: &warden_redact::Engine) -> Result<(Value, Vec<Finding>), String> {
    let mut session = Session::new();
    let mut found = Vec::new();
    let mut out = args.clone();
    walk(&mut out, engine, &mut session, &mut found)?;
    Ok((out, found))
}

fn walk(
    v: &mut Value,
    engine: &warden_redact::Engine,
    session: &mut Session,
    found: &mut Vec<Finding>,
) -> Result<(), String> {
    match v {
        Value::String(s) => {
            let mut findings =
                engine.find(s).map_err(|e| format!("redaction failed ({e}); the call is not decided"))?;
            findings.retain(|f| !CONTACT_LABELS.contains(&&*f.label));
            if !findings.is_empty() {
                *s = session.apply(s, &findings);
                found.extend(findings);
            }
        }
        Value::Array(items) => {
            for i in items {
                walk(i, engine, session, found)?;
            }
        }
        Value::Object(map) => {
            for (_, i) in map.iter_mut() {
                walk(i, engine, session, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}
