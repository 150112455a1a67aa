//! The append-only audit log (triggers refuse UPDATE and DELETE).

use rusqlite::{params, Connection};

use crate::{now_ms, Store, StoreError};

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (ms since epoch).
    pub at: i64,
    /// Who (`hub`, `local`, `operator:<name>`...).
    pub actor: String,
    /// What (`policy.activate`, `policy.rollback`, `policy.refuse`...).
    pub action: String,
    /// On what (a digest...).
    pub subject: String,
    /// Details, never a secret.
    pub detail: String,
}

impl Store {
    /// Append an audit entry.
    pub fn audit(&self, actor: &str, action: &str, subject: &str, detail: &str) -> Result<(), StoreError> {
        insert_audit(&self.conn(), now_ms(), actor, action, subject, detail)
    }

    /// The last `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.read();
        let mut stmt =
            conn.prepare("SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// Append one row inside a caller's transaction.
pub(crate) fn insert_audit(
    c: &Connection,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, actor, action, subject, detail],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_log_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        store.audit("local", "policy.rollback", "d", "x").unwrap();
        let conn = store.conn();
        assert!(conn.execute("DELETE FROM audit", []).is_err());
        assert!(conn.execute("UPDATE audit SET detail = 'y'", []).is_err());
        drop(conn);
        assert_eq!(store.audit_log(10).unwrap().len(), 1);
    }
}
