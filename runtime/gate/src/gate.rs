//! [`Gate`]: deciding calls and answering approvals.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use warden_domain::{Answer, ApprovalStatus, Decision, Tier};
use warden_redact::{Engine, Finding};
use warden_store::{Approval, DecideRefused, DecisionRecord, IdemReply, NewApproval, Recorded, Store};

use crate::args::ArgRedactor;
use crate::call::{digest, Call, ExecuteRequest, MAX_NAME};
use crate::commit::GroupCommit;
use crate::error::GateError;
use crate::tickets::Tickets;
use crate::view::ApprovalView;
use crate::waiters::Waiters;

/// An `Idempotency-Key` as `(scope, key)`: the scope is who may replay it
/// and where (`agent:tools/execute`), the key is the client's.
pub type IdemKey<'a> = (&'a str, &'a str);

/// What the policy in force says about a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// How risky the call is.
    pub tier: Tier,
    /// What to do with it at the policy's autonomy level.
    pub decision: Decision,
    /// Why, for the approver, the agent and the audit log.
    pub reason: String,
}

/// The policy in force, as the gate needs it. The server implements it over
/// the active bundle; tests implement it with a few lines.
pub trait Policy: Send + Sync {
    /// Judge `call` and give the redaction engine of the same policy
    /// snapshot (with the vault's values), so a call is classified and
    /// redacted by one policy even while a new bundle swaps in. An error
    /// ([`GateError::unavailable`]) fails the call closed.
    fn judge(&self, call: &Call) -> Result<(Verdict, Engine), GateError>;
}

/// Where the gate reports what it did (metrics). Every method has a no-op
/// default; `()` observes nothing.
pub trait Observer: Send + Sync {
    /// Secrets were redacted from a call's arguments.
    fn findings(&self, _findings: &[Finding]) {}
    /// A call was decided (`execute`, `deny`, `gate`) or an approval answered
    /// (`approval-allow-once`, ...).
    fn decided(&self, _tier: Tier, _what: &str) {}
}

impl Observer for () {}

/// The gate's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long an approval waits for a human before it ends as a deny.
    pub ttl: Duration,
}

/// Who reads an approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The agent side: reading an `allow-once` approval that is allowed takes
    /// its one run (later reads say `consumed`).
    Agent,
    /// An operator or the hub: reading changes nothing.
    Operator,
}

/// The answer to `POST /api/v1/tools/execute`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecuteReply {
    /// `execute`, `deny` or `gate`.
    pub decision: Decision,
    /// The tier the call was classified into.
    pub tier: Tier,
    /// Why (the rule's or classifier's reason, or what a human said).
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

/// The gate.
pub struct Gate {
    store: Arc<Store>,
    policy: Arc<dyn Policy>,
    observer: Arc<dyn Observer>,
    settings: Settings,
    /// Decisions are committed in groups (one fsync per burst).
    commit: GroupCommit,
    waiters: Waiters,
    /// Bumped when any approval opens, is answered or expires: the hub link
    /// pushes soon after. Long polls wait on [`Gate::watch`] instead.
    changes: tokio::sync::watch::Sender<u64>,
    /// Calls the gateway passed, for the agent's hook (see `tickets.rs`).
    pub(crate) tickets: Tickets,
}

/// A tool call the model wrote, as the gateway found it in an answer.
#[derive(Clone, Debug, Default)]
pub struct ModelCallContext {
    /// Whether the model request named its agent (`x-warden-agent`); if
    /// not, the agent's hook matches the call whatever agent it names.
    pub agent_named: bool,
    /// Flagged untrusted content in the conversation: the call is held for
    /// a human at `YELLOW_EXTERNAL` and above, whatever the autonomy level.
    pub taint: Option<String>,
}

/// Who asks about a call.
enum Origin<'a> {
    /// The agent, before it runs the call (the plugin's hook).
    Agent,
    /// The gateway, reading the model's answer.
    Gateway(&'a ModelCallContext),
}

// === impl Gate: deciding calls ===

impl Gate {
    /// A gate over `store`, judging with `policy`, reporting to `observer`.
    /// Starts the decision writer thread.
    pub fn new(
        store: Arc<Store>,
        policy: Arc<dyn Policy>,
        observer: Arc<dyn Observer>,
        settings: Settings,
    ) -> std::io::Result<Gate> {
        Ok(Gate {
            commit: GroupCommit::start(store.clone())?,
            store,
            policy,
            observer,
            settings,
            waiters: Waiters::default(),
            changes: tokio::sync::watch::channel(0).0,
            tickets: Tickets::default(),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Changes when any approval opens, is answered or expires.
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Decide one call. With an idempotency key `(scope, key)`: a key seen
    /// before with another call is refused ([`crate::ErrorKind::KeyReused`]);
    /// with the same call it is decided again, which finds the same approval.
    pub fn execute(&self, req: ExecuteRequest, idem: Option<IdemKey<'_>>) -> Result<ExecuteReply, GateError> {
        self.decide(req, idem, Origin::Agent)
    }

    /// Decide a call the model wrote, found by the gateway in an answer:
    /// the same policy, grants and approvals as [`Gate::execute`], plus the
    /// session's taint. A call that may run leaves a ticket, so the agent's
    /// own hook asking about the same call next does not decide it again.
    pub fn execute_model_call(&self, req: ExecuteRequest, ctx: &ModelCallContext) -> Result<ExecuteReply, GateError> {
        self.decide(req, None, Origin::Gateway(ctx))
    }

    fn decide(
        &self,
        req: ExecuteRequest,
        idem: Option<IdemKey<'_>>,
        origin: Origin<'_>,
    ) -> Result<ExecuteReply, GateError> {
        let call = Call::new(req)?;
        let call_key = call.call_key();
        // The key is stored with the first reply; a repeat only checks it.
        let mut remember = idem;
        if let Some((scope, key)) = idem {
            if let Some(earlier) = self.store.idempotent_reply(scope, key)? {
                if earlier.request != call_key {
                    return Err(GateError::key_reused());
                }
                remember = None;
            }
        }

        let (mut verdict, engine) = self.policy.judge(&call)?;
        let mut redactor = ArgRedactor::new(&engine);
        let clean = redactor.value(&call.args)?;
        let session = redactor.text(&call.session_id)?;
        // The reason quotes the arguments it judged (`deletes / <path>`):
        // it is stored, audited and pushed, so it is redacted like them.
        verdict.reason = redactor.derived(&verdict.reason)?;
        let findings = redactor.into_findings();
        self.observer.findings(&findings);

        match origin {
            Origin::Gateway(ModelCallContext { taint: Some(taint), .. })
                if verdict.decision == Decision::Execute && verdict.tier >= Tier::YellowExternal =>
            {
                verdict.decision = Decision::Gate;
                verdict.reason = format!("held: the session is tainted by {taint}; {}", verdict.reason);
            }
            Origin::Agent => {
                // A ticket answers only a call the policy would hold: a
                // denial stays a denial.
                if let Some(why) = self.tickets.take(&call) {
                    if verdict.decision == Decision::Gate {
                        verdict.decision = Decision::Execute;
                        verdict.reason = format!("decided at the gateway: {why}");
                    }
                }
            }
            _ => {}
        }
        let fingerprint = call.fingerprint();
        if verdict.decision == Decision::Gate
            && verdict.tier != Tier::CriticalRed
            && self.store.granted(&call.agent_id, &fingerprint)?
        {
            verdict.decision = Decision::Execute;
            verdict.reason = format!("allowed always for this agent and these arguments ({})", verdict.reason);
        }
        let actor = match origin {
            Origin::Agent => format!("agent:{}", call.agent_id),
            Origin::Gateway(_) => format!("gateway:{}", call.agent_id),
        };
        if verdict.decision == Decision::Gate {
            self.apply_earlier_answer(&call_key, &actor, &mut verdict)?;
        }
        let hold = (verdict.decision == Decision::Gate).then(|| NewApproval {
            id: warden_util::random_id("apr_"),
            session_id: session.clone(),
            agent_id: call.agent_id.clone(),
            tool_name: call.tool.clone(),
            tool_args: clean.to_string(),
            tier: verdict.tier,
            reason: verdict.reason.clone(),
            fingerprint,
            call_key: call_key.clone(),
            ttl_ms: self.settings.ttl.as_millis() as i64,
        });
        let mut reply = ExecuteReply {
            decision: verdict.decision,
            tier: verdict.tier,
            reason: verdict.reason.clone(),
            approval_id: None,
            expires_at: None,
            tool_args: clean,
            redacted: findings.len(),
        };
        let record = DecisionRecord {
            actor,
            action: format!("tool.{}", verdict.decision),
            subject: call.tool.clone(),
            detail: format!("tier {} session {:?} reason {:?}", verdict.tier, session, verdict.reason),
            hold,
            idem: remember.map(|(scope, key)| IdemReply {
                scope: scope.into(),
                key: key.into(),
                request: call_key.clone(),
                status: 200,
                response: serde_json::to_string(&reply).expect("a reply serialises"),
            }),
        };
        match self.commit.record(record).map_err(|e| GateError::internal("recording the decision failed", e))? {
            Recorded::Done(held) => {
                if let Some(a) = held {
                    reply.approval_id = Some(a.id.clone());
                    reply.expires_at = Some(warden_util::rfc3339_ms(a.expires_at));
                    self.changed();
                }
            }
            // A concurrent request with the same key committed first.
            Recorded::Replayed(earlier) => {
                if earlier.request != call_key {
                    return Err(GateError::key_reused());
                }
                reply = serde_json::from_str(&earlier.response)
                    .map_err(|e| GateError::internal("a stored reply does not parse", e))?;
            }
        }
        self.observer.decided(reply.tier, reply.decision.as_str());
        if let (Origin::Gateway(ctx), Decision::Execute) = (&origin, reply.decision) {
            self.tickets.leave(&call, ctx.agent_named, &reply.reason);
        }
        tracing::info!(
            tool = %call.tool,
            agent = %call.agent_id,
            tier = %reply.tier,
            decision = %reply.decision,
            approval = reply.approval_id.as_deref().unwrap_or(""),
            redacted = reply.redacted,
            "tool call decided"
        );
        Ok(reply)
    }

    /// A call the policy gates may already have a human's answer: an
    /// unconsumed `allow-once` runs it (this once), a denial denies it. A
    /// pending approval is joined when the decision is recorded.
    fn apply_earlier_answer(&self, call_key: &str, actor: &str, verdict: &mut Verdict) -> Result<(), GateError> {
        let Some(earlier) = self.store.approval_for_call(call_key)? else { return Ok(()) };
        let by = earlier.decided_by.as_deref().unwrap_or("?");
        match earlier.status {
            ApprovalStatus::Allowed if one_run(&earlier) && self.store.consume_approval(&earlier.id, actor)? => {
                verdict.decision = Decision::Execute;
                verdict.reason = format!("allowed once by {by} (approval {}): {}", earlier.id, verdict.reason);
            }
            ApprovalStatus::Denied => {
                verdict.decision = Decision::Deny;
                verdict.reason = format!("denied by {by} (approval {}): {}", earlier.id, verdict.reason);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether an allowed approval grants one run only: `allow-once`, and
/// `allow-always` on `CRITICAL_RED` (which never becomes a grant).
fn one_run(a: &Approval) -> bool {
    a.answer == Some(Answer::AllowOnce) || (a.answer == Some(Answer::AllowAlways) && a.tier == Tier::CriticalRed)
}

// === impl Gate: approvals ===

impl Gate {
    /// Answer an approval, by `by` (`local:<name>`, `hub:<name>`). The same
    /// answer by the same person again succeeds (a retried request); another
    /// answer to a settled approval is [`crate::ErrorKind::Settled`].
    pub fn answer(
        &self,
        id: &str,
        answer: Answer,
        by: &str,
        idem: Option<IdemKey<'_>>,
    ) -> Result<ApprovalView, GateError> {
        let hash = digest(&[id, answer.as_str(), by]);
        if let Some((scope, key)) = idem {
            if let Some(earlier) = self.store.idempotent_reply(scope, key)? {
                if earlier.request != hash {
                    return Err(GateError::key_reused());
                }
                return serde_json::from_str(&earlier.response)
                    .map_err(|e| GateError::internal("a stored reply does not parse", e));
            }
        }
        if by.trim().is_empty() || by.len() > MAX_NAME {
            return Err(GateError::invalid(format!("by must name who decided (1-{MAX_NAME} characters)")));
        }
        // CRITICAL_RED always needs a fresh human decision: allow-always
        // answers this call only.
        let grantable = self.store.approval(id)?.is_some_and(|a| a.tier != Tier::CriticalRed);
        let row = match self.store.decide_approval(id, answer, by, grantable)? {
            Ok(row) => row,
            Err(DecideRefused::NotFound) => return Err(GateError::not_found(id)),
            Err(DecideRefused::Settled(row)) if row.answer == Some(answer) && row.decided_by.as_deref() == Some(by) => {
                return Ok(ApprovalView::from(&*row));
            }
            Err(DecideRefused::Settled(row)) => return Err(GateError::settled(ApprovalView::from(&*row))),
        };
        let view = ApprovalView::from(&row);
        if let Some((scope, key)) = idem {
            let body = serde_json::to_string(&view).expect("a view serialises");
            self.store.remember_reply((scope, key, &hash), 200, &body)?;
        }
        self.observer.decided(row.tier, &format!("approval-{answer}"));
        tracing::info!(approval = id, decision = %answer, by, "approval decided");
        self.waiters.wake(id);
        self.changed();
        Ok(view)
    }

    /// End expired approvals as denies, waking their waiters; how many ended.
    pub fn expire(&self) -> Result<usize, GateError> {
        let ids = self.store.expire_approvals()?;
        if !ids.is_empty() {
            tracing::info!(count = ids.len(), "approvals expired (denied)");
            for id in &ids {
                self.waiters.wake(id);
            }
            self.changed();
        }
        Ok(ids.len())
    }

    /// One approval, expired first if it is due. The agent reading an
    /// allowed one-run approval takes that run: it reads `allowed` this once,
    /// `consumed` ever after.
    pub fn approval(&self, id: &str, reader: Reader) -> Result<ApprovalView, GateError> {
        let mut row = self.row(id)?;
        if row.status.is_pending() && row.expires_at <= warden_store::now_ms() {
            self.expire()?;
            row = self.row(id)?;
        }
        if reader == Reader::Agent && row.status == ApprovalStatus::Allowed && one_run(&row) {
            let taken = self.store.consume_approval(id, &format!("agent:{}", row.agent_id))?;
            if !taken {
                row = self.row(id)?;
            }
        }
        Ok(ApprovalView::from(&row))
    }

    /// Approvals, newest first; only those in `status` when given.
    pub fn approvals(&self, status: Option<ApprovalStatus>, limit: usize) -> Result<Vec<ApprovalView>, GateError> {
        self.expire()?;
        Ok(self.store.approvals(status, limit)?.iter().map(ApprovalView::from).collect())
    }

    /// The wake-up for approval `id`: notified when it is answered or
    /// expires. Enable a `notified()` future before reading the approval, so
    /// no answer slips in between.
    pub fn watch(&self, id: &str) -> Arc<Notify> {
        self.waiters.watch(id)
    }

    fn row(&self, id: &str) -> Result<Approval, GateError> {
        self.store.approval(id)?.ok_or_else(|| GateError::not_found(id))
    }
}
