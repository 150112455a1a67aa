//! An approval as the APIs show it (control API, hub pushes).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_domain::{ApprovalStatus, Tier};
use warden_store::Approval;
use warden_util::rfc3339_ms;

/// One approval, as the control API returns it and the hub receives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalView {
    /// Id.
    pub id: String,
    /// `pending`, `allowed`, `denied`, `expired`, or `consumed` (an
    /// `allow-once` whose one run was handed out).
    pub status: ApprovalStatus,
    /// `allow-once`, `allow-always`, `deny`, `expired`, or none while pending.
    pub decision: Option<String>,
    /// The tier that gated the call.
    pub tier: Tier,
    /// Why it was gated.
    pub reason: String,
    /// The tool.
    pub tool_name: String,
    /// The arguments, secrets redacted.
    pub tool_args: Value,
    /// The agent's session (secrets redacted).
    pub session_id: String,
    /// The agent.
    pub agent_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: past this, unanswered, it ends as a deny.
    pub expires_at: String,
    /// Who answered (`local:<name>`, `hub:<name>`, `warden` for expiry).
    pub decided_by: Option<String>,
    /// RFC 3339.
    pub decided_at: Option<String>,
    /// `expires_at` in ms since the epoch, for waiters (not on the wire).
    #[serde(skip)]
    pub expires_ms: i64,
}

impl ApprovalView {
    /// The approval as the hub is told of it: the human's answer, so an
    /// `allow-once` whose run was handed out still reads `allowed` there
    /// (`consumed` is this node's bookkeeping; the hub's states are
    /// pending, allowed, denied and expired).
    pub fn for_hub(a: &Approval) -> ApprovalView {
        let mut v = ApprovalView::from(a);
        if v.status == ApprovalStatus::Consumed {
            v.status = ApprovalStatus::Allowed;
        }
        v
    }
}

impl From<&Approval> for ApprovalView {
    fn from(a: &Approval) -> ApprovalView {
        let decision = match (a.answer, a.status) {
            (Some(answer), _) => Some(answer.as_str().to_string()),
            (None, ApprovalStatus::Expired) => Some("expired".to_string()),
            (None, _) => None,
        };
        ApprovalView {
            id: a.id.clone(),
            status: a.status,
            decision,
            tier: a.tier,
            reason: a.reason.clone(),
            tool_name: a.tool_name.clone(),
            tool_args: serde_json::from_str(&a.tool_args).unwrap_or(Value::Null),
            session_id: a.session_id.clone(),
            agent_id: a.agent_id.clone(),
            created_at: rfc3339_ms(a.created_at),
            expires_at: rfc3339_ms(a.expires_at),
            decided_by: a.decided_by.clone(),
            decided_at: a.decided_at.map(rfc3339_ms),
            expires_ms: a.expires_at,
        }
    }
}
