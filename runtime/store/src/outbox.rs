//! What the hub has acknowledged, so nothing owed to it is lost while it is
//! down or across restarts: per approval, the status it last acknowledged
//! (`approvals.pushed`); per hourly usage bucket, the request count
//! (`usage_pushed`).

use rusqlite::params;
use warden_domain::ApprovalStatus;

use crate::approvals::{approval, Approval, APPROVAL_COLUMNS};
use crate::{Store, StoreError, UsageBucket};

impl Store {
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
    pub fn approvals_pushed(&self, sent: &[(String, ApprovalStatus)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (id, status) in sent {
            // `consumed` is an `allowed` row whose one run was handed out:
            // the column holds `allowed`.
            let stored = match status {
                ApprovalStatus::Consumed => ApprovalStatus::Allowed,
                s => *s,
            };
            tx.execute("UPDATE approvals SET pushed = ?2 WHERE id = ?1", params![id, stored.as_str()])?;
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
        let rows = stmt.query_map(params![limit as i64], crate::usage::usage_bucket)?.collect::<Result<Vec<_>, _>>()?;
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
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn usage_is_owed_until_acknowledged_and_again_when_it_grows() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("w.db")).unwrap();
        s.add_usage("a", "m", 10, 5).unwrap();
        let owed = s.usage_unpushed(10).unwrap();
        assert_eq!(owed.len(), 1);
        s.usage_pushed(&owed).unwrap();
        assert!(s.usage_unpushed(10).unwrap().is_empty());
        s.add_usage("a", "m", 1, 1).unwrap();
        assert_eq!(s.usage_unpushed(10).unwrap()[0].requests, 2);
    }
}
