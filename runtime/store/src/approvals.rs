//! Tool-call decisions and approvals (`approvals`, `approval_grants`).
//!
//! - `approvals`: one row per gated call. `status` moves once, from
//!   `pending` to `allowed`, `denied` or `expired` (an expired approval is a
//!   deny); the row keeps who decided and when. An `allow-once` approval is
//!   handed out to the agent once (`consumed_at`), and from then on reads as
//!   [`ApprovalStatus::Consumed`]. `call_key` identifies the call (session,
//!   agent, tool, canonical arguments), so a retry of a held call finds its
//!   approval instead of opening another.
//! - `approval_grants`: `allow-always` answers: the same agent calling the
//!   same tool with the same canonical arguments (by fingerprint) runs from
//!   then on.
//!
//! Every tool decision and every approval decision is written to `audit` in
//! the same transaction as the state it changes.

use rusqlite::{params, Connection, OptionalExtension};
use warden_domain::{Answer, ApprovalStatus, Tier};

use crate::audit::insert_audit;
use crate::idempotency::{idem_get, idem_put, IdemReply, StoredReply};
use crate::{now_ms, parsed, Store, StoreError};

/// One approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    /// Id (random, URL-safe).
    pub id: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
    /// Past this, a pending approval ends as a deny.
    pub expires_at: i64,
    /// The agent's session.
    pub session_id: String,
    /// The agent.
    pub agent_id: String,
    /// The tool.
    pub tool_name: String,
    /// The arguments as JSON, secrets already redacted.
    pub tool_args: String,
    /// The tier that gated it.
    pub tier: Tier,
    /// Why it was gated.
    pub reason: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The human's answer, once there is one (none for an expired approval).
    pub answer: Option<Answer>,
    /// Who decided (`hub:<name>`, `local:<name>`, `warden` for expiry).
    pub decided_by: Option<String>,
    /// When, ms since the epoch.
    pub decided_at: Option<i64>,
}

/// A new approval to hold a call.
#[derive(Clone, Debug)]
pub struct NewApproval {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// Agent.
    pub agent_id: String,
    /// Tool.
    pub tool_name: String,
    /// Redacted arguments, JSON.
    pub tool_args: String,
    /// Tier.
    pub tier: Tier,
    /// Reason.
    pub reason: String,
    /// Identifies "the same call" for `allow-always` (agent, tool, canonical arguments).
    pub fingerprint: String,
    /// Identifies "the same call again" for retries (also the session).
    pub call_key: String,
    /// Lifetime in ms.
    pub ttl_ms: i64,
}

/// Why a decision on an approval was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum DecideRefused {
    /// No such approval.
    NotFound,
    /// Already decided (or expired): the row as it stands.
    Settled(Box<Approval>),
}

/// One tool decision to record: its audit row, the approval that holds
/// the call (when gated), and the reply under its idempotency key.
#[derive(Clone, Debug)]
pub struct DecisionRecord {
    /// `agent:<id>`.
    pub actor: String,
    /// `tool.execute`, `tool.deny`, `tool.gate`.
    pub action: String,
    /// The tool.
    pub subject: String,
    /// Tier, reason, session (never the arguments); the approval's id is
    /// appended by the store, which knows which approval holds the call.
    pub detail: String,
    /// The approval, for a gated call.
    pub hold: Option<NewApproval>,
    /// The idempotency key and the reply given under it.
    pub idem: Option<IdemReply>,
}

/// What recording one decision did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Written; a gated call holds the approval given (its own new one, or
    /// the pending approval of the same call that another request opened).
    Done(Option<Box<Approval>>),
    /// A request with the same idempotency key committed first: its reply
    /// wins and nothing of this one was written.
    Replayed(StoredReply),
}

pub(crate) const APPROVAL_COLUMNS: &str =
    "id, created_at, expires_at, session_id, agent_id, tool_name, tool_args, tier, reason, \
     status, decision, decided_by, decided_at, consumed_at";

pub(crate) fn approval(r: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let stored: ApprovalStatus = parsed(r, 9)?;
    let consumed: Option<i64> = r.get(13)?;
    let decision: Option<String> = r.get(10)?;
    Ok(Approval {
        id: r.get(0)?,
        created_at: r.get(1)?,
        expires_at: r.get(2)?,
        session_id: r.get(3)?,
        agent_id: r.get(4)?,
        tool_name: r.get(5)?,
        tool_args: r.get(6)?,
        tier: parsed(r, 7)?,
        reason: r.get(8)?,
        status: if stored == ApprovalStatus::Allowed && consumed.is_some() { ApprovalStatus::Consumed } else { stored },
        // `expired` is stored as the decision of an expired row; the status says it.
        answer: decision.and_then(|d| d.parse().ok()),
        decided_by: r.get(11)?,
        decided_at: r.get(12)?,
    })
}

fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Approval>> {
    c.query_row(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"), params![id], approval).optional()
}

fn pending_for_call(c: &Connection, call_key: &str, now: i64) -> rusqlite::Result<Option<Approval>> {
    c.query_row(
        &format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE call_key = ?1 AND status = 'pending' AND expires_at > ?2 \
             ORDER BY created_at DESC LIMIT 1"
        ),
        params![call_key, now],
        approval,
    )
    .optional()
}

impl Store {
    /// Record tool decisions in one transaction (one fsync for the batch:
    /// group commit). A failure fails the whole batch.
    pub fn record_tool_decisions(&self, batch: &[DecisionRecord]) -> Result<Vec<Recorded>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut out = Vec::with_capacity(batch.len());
        for d in batch {
            if let Some(i) = &d.idem {
                if let Some(earlier) = idem_get(&tx, &i.scope, &i.key)? {
                    out.push(Recorded::Replayed(earlier));
                    continue;
                }
            }
            let mut held = None;
            if let Some(a) = &d.hold {
                // A retry of a call still waiting joins its approval.
                held = match pending_for_call(&tx, &a.call_key, now)? {
                    Some(existing) => Some(existing),
                    None => {
                        tx.execute(
                            "INSERT INTO approvals (id, created_at, expires_at, session_id, agent_id, tool_name, tool_args, \
                             tier, reason, fingerprint, call_key, status) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending')",
                            params![
                                a.id,
                                now,
                                now + a.ttl_ms,
                                a.session_id,
                                a.agent_id,
                                a.tool_name,
                                a.tool_args,
                                a.tier.as_str(),
                                a.reason,
                                a.fingerprint,
                                a.call_key
                            ],
                        )?;
                        get(&tx, &a.id)?
                    }
                };
            }
            let detail = match &held {
                Some(h) => format!("{} approval {}", d.detail, h.id),
                None => d.detail.clone(),
            };
            insert_audit(&tx, now, &d.actor, &d.action, &d.subject, &detail)?;
            if let Some(i) = &d.idem {
                idem_put(&tx, (&i.scope, &i.key, &i.request), i.status, &i.response)?;
            }
            out.push(Recorded::Done(held.map(Box::new)));
        }
        tx.commit()?;
        Ok(out)
    }

    /// Whether `agent` holds an `allow-always` grant for this fingerprint.
    pub fn granted(&self, agent: &str, fingerprint: &str) -> Result<bool, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT 1 FROM approval_grants WHERE agent_id = ?1 AND fingerprint = ?2",
                params![agent, fingerprint],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// One approval.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        Ok(get(&self.read(), id)?)
    }

    /// The newest approval opened for this call (by call key), whatever its state.
    pub fn approval_for_call(&self, call_key: &str) -> Result<Option<Approval>, StoreError> {
        Ok(self
            .read()
            .query_row(
                &format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE call_key = ?1 ORDER BY created_at DESC LIMIT 1"
                ),
                params![call_key],
                approval,
            )
            .optional()?)
    }

    /// Approvals, newest first; only those with `status` when given.
    pub fn approvals(&self, status: Option<ApprovalStatus>, limit: usize) -> Result<Vec<Approval>, StoreError> {
        let conn = self.read();
        let filter = match status {
            None => "",
            Some(ApprovalStatus::Allowed) => "WHERE status = 'allowed' AND consumed_at IS NULL",
            Some(ApprovalStatus::Consumed) => "WHERE status = 'allowed' AND consumed_at IS NOT NULL",
            Some(_) => "WHERE status = ?2",
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals {filter} ORDER BY created_at DESC, id LIMIT ?1"
        ))?;
        let rows = match (filter, status) {
            ("WHERE status = ?2", Some(s)) => stmt.query_map(params![limit as i64, s.as_str()], approval)?,
            _ => stmt.query_map(params![limit as i64], approval)?,
        }
        .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Approvals waiting for a decision.
    pub fn approvals_pending(&self) -> Result<u64, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT COUNT(*) FROM approvals WHERE status = 'pending'", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Answer a pending approval. `allow-always` also grants the same call
    /// from now on, unless `grantable` is false. One transaction with its
    /// audit row.
    pub fn decide_approval(
        &self,
        id: &str,
        answer: Answer,
        by: &str,
        grantable: bool,
    ) -> Result<Result<Approval, DecideRefused>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        expire_due(&tx, now)?;
        let Some(row) = get(&tx, id)? else {
            tx.commit()?;
            return Ok(Err(DecideRefused::NotFound));
        };
        if !row.status.is_pending() {
            tx.commit()?;
            return Ok(Err(DecideRefused::Settled(Box::new(row))));
        }
        tx.execute(
            "UPDATE approvals SET status = ?2, decision = ?3, decided_by = ?4, decided_at = ?5 WHERE id = ?1",
            params![id, answer.status().as_str(), answer.as_str(), by, now],
        )?;
        if answer == Answer::AllowAlways && grantable {
            tx.execute(
                "INSERT OR IGNORE INTO approval_grants (agent_id, fingerprint, tool_name, granted_by, granted_at)
                 SELECT agent_id, fingerprint, tool_name, ?2, ?3 FROM approvals WHERE id = ?1",
                params![id, by, now],
            )?;
        }
        insert_audit(
            &tx,
            now,
            by,
            &format!("approval.{answer}"),
            id,
            &format!("tool {} tier {}", row.tool_name, row.tier),
        )?;
        let row = get(&tx, id)?.expect("updated in this transaction");
        tx.commit()?;
        Ok(Ok(row))
    }

    /// Hand out the one run an allowed approval grants when it grants one
    /// (`allow-once`, or any allow on `CRITICAL_RED`, which never becomes a
    /// grant): `true` for the one caller that takes it (audited), `false`
    /// for every caller after, and for approvals that grant no single run.
    pub fn consume_approval(&self, id: &str, by: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        let n = tx.execute(
            "UPDATE approvals SET consumed_at = ?2 \
             WHERE id = ?1 AND status = 'allowed' AND consumed_at IS NULL \
             AND (decision = 'allow-once' OR tier = 'CRITICAL_RED')",
            params![id, now],
        )?;
        if n == 1 {
            insert_audit(&tx, now, by, "approval.consumed", id, "the one run of an allow-once approval")?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// End every pending approval past its expiry as a deny; returns their ids.
    pub fn expire_approvals(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ids = expire_due(&tx, now_ms())?;
        tx.commit()?;
        Ok(ids)
    }
}

fn expire_due(tx: &Connection, now: i64) -> Result<Vec<String>, StoreError> {
    let ids = {
        let mut stmt = tx.prepare("SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= ?1")?;
        let ids = stmt.query_map(params![now], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        ids
    };
    for id in &ids {
        tx.execute(
            "UPDATE approvals SET status = 'expired', decision = 'expired', decided_by = 'warden', decided_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        insert_audit(tx, now, "warden", "approval.expired", id, "no decision before expiry: denied")?;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("w.db")).unwrap();
        (dir, s)
    }

    fn hold(id: &str, ttl_ms: i64) -> NewApproval {
        NewApproval {
            id: id.into(),
            session_id: "s".into(),
            agent_id: "main".into(),
            tool_name: "exec".into(),
            tool_args: "{}".into(),
            tier: Tier::Red,
            reason: "r".into(),
            fingerprint: "fp".into(),
            call_key: format!("call-{id}"),
            ttl_ms,
        }
    }

    fn decision(hold: Option<NewApproval>, idem: Option<(&str, &str)>) -> DecisionRecord {
        DecisionRecord {
            actor: "agent:main".into(),
            action: "tool.gate".into(),
            subject: "exec".into(),
            detail: String::new(),
            hold,
            idem: idem.map(|(key, response)| IdemReply {
                scope: "agent".into(),
                key: key.into(),
                request: "h1".into(),
                status: 200,
                response: response.into(),
            }),
        }
    }

    fn record(s: &Store, d: DecisionRecord) -> Recorded {
        s.record_tool_decisions(&[d]).unwrap().pop().unwrap()
    }

    #[test]
    fn an_approval_is_decided_once_and_audited() {
        let (_d, s) = open();
        record(&s, decision(Some(hold("a1", 60_000)), None));
        assert_eq!(s.approvals_pending().unwrap(), 1);
        let row = s.decide_approval("a1", Answer::AllowAlways, "local:ops", true).unwrap().unwrap();
        assert_eq!((row.status, row.answer), (ApprovalStatus::Allowed, Some(Answer::AllowAlways)));
        assert!(s.granted("main", "fp").unwrap());
        assert!(!s.granted("other", "fp").unwrap());
        match s.decide_approval("a1", Answer::Deny, "hub:x", true).unwrap() {
            Err(DecideRefused::Settled(r)) => assert_eq!(r.status, ApprovalStatus::Allowed),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.decide_approval("nope", Answer::Deny, "x", true).unwrap(), Err(DecideRefused::NotFound));
        let actions: Vec<_> = s.audit_log(10).unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["approval.allow-always", "tool.gate"]);
    }

    #[test]
    fn expiry_is_a_deny_and_pushes_are_tracked() {
        let (_d, s) = open();
        record(&s, decision(Some(hold("old", -1)), None));
        record(&s, decision(Some(hold("new", 60_000)), None));
        assert_eq!(s.expire_approvals().unwrap(), ["old"]);
        assert_eq!(s.approval("old").unwrap().unwrap().status, ApprovalStatus::Expired);
        assert!(matches!(
            s.decide_approval("old", Answer::AllowOnce, "x", true).unwrap(),
            Err(DecideRefused::Settled(_))
        ));
        let owed: Vec<_> = s.approvals_unpushed(10).unwrap().into_iter().map(|a| (a.id, a.status)).collect();
        assert_eq!(owed.len(), 2);
        s.approvals_pushed(&owed).unwrap();
        assert!(s.approvals_unpushed(10).unwrap().is_empty());
        s.decide_approval("new", Answer::Deny, "x", true).unwrap().unwrap();
        assert_eq!(s.approvals_unpushed(10).unwrap()[0].status, ApprovalStatus::Denied);
    }

    #[test]
    fn the_first_idempotent_reply_wins() {
        let (_d, s) = open();
        assert_eq!(record(&s, decision(None, Some(("k1", "first")))), Recorded::Done(None));
        let Recorded::Replayed(again) = record(&s, decision(None, Some(("k1", "second")))) else { panic!() };
        assert_eq!(again.response, "first");
        // Within one batch too: the second of two with one key gets the first's reply.
        let batch = [decision(None, Some(("k2", "a"))), decision(None, Some(("k2", "b")))];
        let out = s.record_tool_decisions(&batch).unwrap();
        assert_eq!(out[0], Recorded::Done(None));
        assert!(matches!(&out[1], Recorded::Replayed(r) if r.response == "a"));
        assert_eq!(s.idempotent_reply("agent", "k1").unwrap().unwrap().request, "h1");
        assert_eq!(s.audit_log(10).unwrap().len(), 2);
    }

    #[test]
    fn a_retry_joins_the_pending_approval_of_the_same_call() {
        let (_d, s) = open();
        let Recorded::Done(Some(first)) = record(&s, decision(Some(hold("a1", 60_000)), None)) else { panic!() };
        let mut again = hold("a2", 60_000);
        again.call_key = "call-a1".into();
        let Recorded::Done(Some(joined)) = record(&s, decision(Some(again.clone()), None)) else { panic!() };
        assert_eq!((first.id.as_str(), joined.id.as_str()), ("a1", "a1"));
        assert_eq!(s.approvals_pending().unwrap(), 1);
        assert_eq!(s.approval_for_call("call-a1").unwrap().unwrap().id, "a1");
        // Once answered, the same call opens a new approval.
        s.decide_approval("a1", Answer::Deny, "local:ops", true).unwrap().unwrap();
        let Recorded::Done(Some(fresh)) = record(&s, decision(Some(again), None)) else { panic!() };
        assert_eq!(fresh.id, "a2");
    }

    #[test]
    fn allow_once_is_handed_out_once() {
        let (_d, s) = open();
        record(&s, decision(Some(hold("a1", 60_000)), None));
        assert!(!s.consume_approval("a1", "agent:main").unwrap(), "pending is not consumable");
        s.decide_approval("a1", Answer::AllowOnce, "local:ops", true).unwrap().unwrap();
        assert_eq!(s.approvals(Some(ApprovalStatus::Allowed), 10).unwrap().len(), 1);
        assert!(s.consume_approval("a1", "agent:main").unwrap());
        assert!(!s.consume_approval("a1", "agent:main").unwrap());
        assert_eq!(s.approval("a1").unwrap().unwrap().status, ApprovalStatus::Consumed);
        assert_eq!(s.approvals(Some(ApprovalStatus::Consumed), 10).unwrap().len(), 1);
        assert!(s.approvals(Some(ApprovalStatus::Allowed), 10).unwrap().is_empty());
        // allow-always is never consumed: the grant answers its repeats.
        record(&s, decision(Some(hold("a2", 60_000)), None));
        s.decide_approval("a2", Answer::AllowAlways, "local:ops", true).unwrap().unwrap();
        assert!(!s.consume_approval("a2", "agent:main").unwrap());
        assert!(s.audit_log(20).unwrap().iter().any(|e| e.action == "approval.consumed" && e.subject == "a1"));
    }
}
