//! Tool-call decisions and approvals, idempotent replies, what the hub has
//! been sent, and the node's own small settings (schema version 2).
//!
//! - `approvals`: one row per gated call. `status` moves once, from
//!   `pending` to `allowed`, `denied` or `expired` (an expired approval is a
//!   deny); the row keeps who decided and when. `pushed` is the status the
//!   hub last acknowledged, so a row whose `pushed` differs from its
//!   `status` is still owed to the hub, across restarts.
//! - `approval_grants`: `allow-always` answers: the same agent calling the
//!   same tool with the same arguments (by fingerprint) runs from then on.
//! - `idempotency`: the reply given for an `Idempotency-Key`, with a hash of
//!   the request it answered.
//! - `usage_pushed`: per hourly usage bucket, the request count the hub has
//!   acknowledged; a bucket whose count moved since is sent again.
//! - `node_meta`: small key/value settings (the hub's node id).
//!
//! Every tool decision and every approval decision is written to `audit` in
//! the same transaction as the state it changes.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{insert_audit, now_ms, Store, StoreError, UsageBucket};

pub(crate) const SCHEMA_V2: &str = r#"
CREATE TABLE IF NOT EXISTS approvals (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    session_id  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    tool_name   TEXT NOT NULL,
    tool_args   TEXT NOT NULL,
    tier        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'allowed', 'denied', 'expired')),
    decision    TEXT,
    decided_by  TEXT,
    decided_at  INTEGER,
    pushed      TEXT
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status, expires_at);
CREATE TABLE IF NOT EXISTS approval_grants (
    agent_id    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    tool_name   TEXT NOT NULL,
    granted_by  TEXT NOT NULL,
    granted_at  INTEGER NOT NULL,
    PRIMARY KEY (agent_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS usage_pushed (
    hour     INTEGER NOT NULL,
    agent    TEXT NOT NULL,
    model    TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (hour, agent, model)
);
CREATE TABLE IF NOT EXISTS node_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// How long an idempotent reply is kept.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

/// One approval.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
    pub tier: String,
    /// Why it was gated.
    pub reason: String,
    /// `pending`, `allowed`, `denied` or `expired`.
    pub status: String,
    /// `allow-once`, `allow-always`, `deny`, or `expired`.
    pub decision: Option<String>,
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
    pub tier: String,
    /// Reason.
    pub reason: String,
    /// Identifies "the same call" for `allow-always`.
    pub fingerprint: String,
    /// Lifetime in ms.
    pub ttl_ms: i64,
}

/// A reply stored under an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReply {
    /// Hash of the request it answered.
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub response: String,
}

/// An idempotency key to honour: `(scope, key, request hash)`.
pub type IdemKey<'a> = (&'a str, &'a str, &'a str);

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
    /// Tier, reason, session (never the arguments).
    pub detail: String,
    /// The approval, for a gated call.
    pub hold: Option<NewApproval>,
    /// The idempotency key and the reply given under it.
    pub idem: Option<IdemReply>,
}

/// A reply to store under an idempotency key.
#[derive(Clone, Debug)]
pub struct IdemReply {
    /// Who may replay it (the token's role and the endpoint).
    pub scope: String,
    /// The client's key.
    pub key: String,
    /// Hash of the request it answers.
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub response: String,
}

const APPROVAL_COLUMNS: &str =
    "id, created_at, expires_at, session_id, agent_id, tool_name, tool_args, tier, reason, status, decision, decided_by, decided_at";

fn approval(r: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    Ok(Approval {
        id: r.get(0)?,
        created_at: r.get(1)?,
        expires_at: r.get(2)?,
        session_id: r.get(3)?,
        agent_id: r.get(4)?,
        tool_name: r.get(5)?,
        tool_args: r.get(6)?,
        tier: r.get(7)?,
        reason: r.get(8)?,
        status: r.get(9)?,
        decision: r.get(10)?,
        decided_by: r.get(11)?,
        decided_at: r.get(12)?,
    })
}

fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Approval>> {
    c.query_row(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"), params![id], approval).optional()
}

fn idem_get(c: &Connection, scope: &str, key: &str) -> rusqlite::Result<Option<StoredReply>> {
    c.query_row(
        "SELECT request, status, response FROM idempotency WHERE scope = ?1 AND key = ?2 AND created_at > ?3",
        params![scope, key, now_ms() - IDEMPOTENCY_TTL_MS],
        |r| Ok(StoredReply { request: r.get(0)?, status: r.get::<_, i64>(1)? as u16, response: r.get(2)? }),
    )
    .optional()
}

fn idem_put(c: &Connection, k: IdemKey<'_>, status: u16, response: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO idempotency (scope, key, request, status, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(scope, key) DO UPDATE SET request = excluded.request, status = excluded.status,
           response = excluded.response, created_at = excluded.created_at",
        params![k.0, k.1, k.2, status as i64, response, now_ms()],
    )?;
    Ok(())
}

impl Store {
    /// The reply stored for an idempotency key, if one is (younger than a day).
    pub fn idempotent_reply(&self, scope: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        Ok(idem_get(&self.read(), scope, key)?)
    }

    /// Remember the reply given under an idempotency key.
    pub fn remember_reply(&self, k: IdemKey<'_>, status: u16, response: &str) -> Result<(), StoreError> {
        Ok(idem_put(&self.conn(), k, status, response)?)
    }

    /// Record tool decisions in one transaction (one fsync for the batch:
    /// group commit). Each gets `Some(reply)` when a request with the same
    /// idempotency key committed first (its reply wins and nothing of this
    /// one is written), else `None`. A failure fails the whole batch.
    pub fn record_tool_decisions(&self, batch: &[DecisionRecord]) -> Result<Vec<Option<StoredReply>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut out = Vec::with_capacity(batch.len());
        for d in batch {
            if let Some(i) = &d.idem {
                if let Some(earlier) = idem_get(&tx, &i.scope, &i.key)? {
                    out.push(Some(earlier));
                    continue;
                }
            }
            if let Some(a) = &d.hold {
                tx.execute(
                    "INSERT INTO approvals (id, created_at, expires_at, session_id, agent_id, tool_name, tool_args, tier, reason, fingerprint, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
                    params![a.id, now, now + a.ttl_ms, a.session_id, a.agent_id, a.tool_name, a.tool_args, a.tier, a.reason, a.fingerprint],
                )?;
            }
            insert_audit(&tx, now, &d.actor, &d.action, &d.subject, &d.detail)?;
            if let Some(i) = &d.idem {
                idem_put(&tx, (&i.scope, &i.key, &i.request), i.status, &i.response)?;
            }
            out.push(None);
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

    /// Approvals, newest first; only those with `status` when given.
    pub fn approvals(&self, status: Option<&str>, limit: usize) -> Result<Vec<Approval>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at DESC, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![status, limit as i64], approval)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Approvals waiting for a decision.
    pub fn approvals_pending(&self) -> Result<u64, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT COUNT(*) FROM approvals WHERE status = 'pending'", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Decide a pending approval: `allow-once`, `allow-always` (also grants
    /// the same call from now on, unless `grantable` is false) or `deny`.
    /// One transaction with its audit row.
    pub fn decide_approval(
        &self,
        id: &str,
        decision: &str,
        by: &str,
        grantable: bool,
    ) -> Result<Result<Approval, DecideRefused>, StoreError> {
        let status = match decision {
            "allow-once" | "allow-always" => "allowed",
            "deny" => "denied",
            other => return Err(StoreError::Invalid(format!("unknown approval decision {other:?}"))),
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        expire_due(&tx, now)?;
        let Some(row) = get(&tx, id)? else {
            tx.commit()?;
            return Ok(Err(DecideRefused::NotFound));
        };
        if row.status != "pending" {
            tx.commit()?;
            return Ok(Err(DecideRefused::Settled(Box::new(row))));
        }
        tx.execute(
            "UPDATE approvals SET status = ?2, decision = ?3, decided_by = ?4, decided_at = ?5 WHERE id = ?1",
            params![id, status, decision, by, now],
        )?;
        if decision == "allow-always" && grantable {
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
            &format!("approval.{decision}"),
            id,
            &format!("tool {} tier {}", row.tool_name, row.tier),
        )?;
        let row = get(&tx, id)?.expect("updated in this transaction");
        tx.commit()?;
        Ok(Ok(row))
    }

    /// End every pending approval past its expiry as a deny; returns their ids.
    pub fn expire_approvals(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let ids = expire_due(&tx, now_ms())?;
        tx.commit()?;
        Ok(ids)
    }

    /// Approvals whose current status the hub has not acknowledged.
    pub fn approvals_unpushed(&self, limit: usize) -> Result<Vec<Approval>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE pushed IS NULL OR pushed != status ORDER BY created_at LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit as i64], approval)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The hub acknowledged these approvals in these states.
    pub fn approvals_pushed(&self, sent: &[(String, String)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (id, status) in sent {
            tx.execute("UPDATE approvals SET pushed = ?2 WHERE id = ?1", params![id, status])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Usage buckets whose request count the hub has not acknowledged.
    pub fn usage_unpushed(&self, limit: usize) -> Result<Vec<UsageBucket>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT u.hour, u.agent, u.model, u.requests, u.input_tokens, u.output_tokens FROM usage_hourly u
             LEFT JOIN usage_pushed p ON p.hour = u.hour AND p.agent = u.agent AND p.model = u.model
             WHERE p.requests IS NULL OR p.requests != u.requests ORDER BY u.hour LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], crate::usage_bucket)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The hub acknowledged these buckets as they were sent.
    pub fn usage_pushed(&self, sent: &[UsageBucket]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for b in sent {
            tx.execute(
                "INSERT INTO usage_pushed (hour, agent, model, requests) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(hour, agent, model) DO UPDATE SET requests = excluded.requests",
                params![b.hour, b.agent, b.model, b.requests as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A node setting.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT value FROM node_meta WHERE key = ?1", params![key], |r| r.get(0))
            .optional()?)
    }

    /// Set a node setting (audited).
    pub fn set_meta(&self, key: &str, value: &str, actor: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO node_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        insert_audit(&tx, now_ms(), actor, "node.meta", key, value)?;
        tx.commit()?;
        Ok(())
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
            tier: "RED".into(),
            reason: "r".into(),
            fingerprint: "fp".into(),
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

    fn record(s: &Store, d: DecisionRecord) -> Option<StoredReply> {
        s.record_tool_decisions(&[d]).unwrap().pop().unwrap()
    }

    #[test]
    fn an_approval_is_decided_once_and_audited() {
        let (_d, s) = open();
        record(&s, decision(Some(hold("a1", 60_000)), None));
        assert_eq!(s.approvals_pending().unwrap(), 1);
        let row = s.decide_approval("a1", "allow-always", "local:ops", true).unwrap().unwrap();
        assert_eq!((row.status.as_str(), row.decision.as_deref()), ("allowed", Some("allow-always")));
        assert!(s.granted("main", "fp").unwrap());
        assert!(!s.granted("other", "fp").unwrap());
        match s.decide_approval("a1", "deny", "hub:x", true).unwrap() {
            Err(DecideRefused::Settled(r)) => assert_eq!(r.status, "allowed"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.decide_approval("nope", "deny", "x", true).unwrap(), Err(DecideRefused::NotFound));
        let actions: Vec<_> = s.audit_log(10).unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["approval.allow-always", "tool.gate"]);
    }

    #[test]
    fn expiry_is_a_deny_and_pushes_are_tracked() {
        let (_d, s) = open();
        record(&s, decision(Some(hold("old", -1)), None));
        record(&s, decision(Some(hold("new", 60_000)), None));
        assert_eq!(s.expire_approvals().unwrap(), ["old"]);
        assert_eq!(s.approval("old").unwrap().unwrap().status, "expired");
        assert!(matches!(s.decide_approval("old", "allow-once", "x", true).unwrap(), Err(DecideRefused::Settled(_))));
        let owed: Vec<_> = s.approvals_unpushed(10).unwrap().into_iter().map(|a| (a.id, a.status)).collect();
        assert_eq!(owed.len(), 2);
        s.approvals_pushed(&owed).unwrap();
        assert!(s.approvals_unpushed(10).unwrap().is_empty());
        s.decide_approval("new", "deny", "x", true).unwrap().unwrap();
        assert_eq!(s.approvals_unpushed(10).unwrap()[0].status, "denied");
    }

    #[test]
    fn the_first_idempotent_reply_wins() {
        let (_d, s) = open();
        assert_eq!(record(&s, decision(None, Some(("k1", "first")))), None);
        let again = record(&s, decision(None, Some(("k1", "second")))).unwrap();
        assert_eq!(again.response, "first");
        // Within one batch too: the second of two with one key gets the first's reply.
        let batch = [decision(None, Some(("k2", "a"))), decision(None, Some(("k2", "b")))];
        let out = s.record_tool_decisions(&batch).unwrap();
        assert_eq!(out[0], None);
        assert_eq!(out[1].as_ref().unwrap().response, "a");
        assert_eq!(s.idempotent_reply("agent", "k1").unwrap().unwrap().request, "h1");
        assert_eq!(s.audit_log(10).unwrap().len(), 2);
    }

    #[test]
    fn usage_is_owed_until_acknowledged_and_again_when_it_grows() {
        let (_d, s) = open();
        s.add_usage("a", "m", 10, 5).unwrap();
        let owed = s.usage_unpushed(10).unwrap();
        assert_eq!(owed.len(), 1);
        s.usage_pushed(&owed).unwrap();
        assert!(s.usage_unpushed(10).unwrap().is_empty());
        s.add_usage("a", "m", 1, 1).unwrap();
        assert_eq!(s.usage_unpushed(10).unwrap()[0].requests, 2);
    }
}
