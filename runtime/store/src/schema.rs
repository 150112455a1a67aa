//! Creating and migrating the tables, one schema version at a time.
//!
//! | version | adds |
//! |---|---|
//! | 1 | bundle history, active pointer, last attempt, audit, secrets, hourly usage |
//! | 2 | approvals, grants, idempotent replies, what the hub acknowledged, node settings |
//! | 3 | approvals' `call_key` (a retried call finds its approval) and `consumed_at` (an `allow-once` runs once) |

use rusqlite::Connection;

use crate::StoreError;

/// The schema version this Warden writes.
pub(crate) const VERSION: i64 = 3;

pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > VERSION {
        return Err(StoreError::NewerSchema(version));
    }
    conn.execute_batch(V1)?;
    conn.execute_batch(V2)?;
    if version < 3 {
        let has_call_key: bool =
            conn.query_row("SELECT COUNT(*) FROM pragma_table_info('approvals') WHERE name = 'call_key'", [], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })?;
        if !has_call_key {
            conn.execute_batch(V3)?;
        }
    }
    conn.pragma_update(None, "user_version", VERSION)?;
    Ok(())
}

const V1: &str = r#"
CREATE TABLE IF NOT EXISTS bundle_history (
    digest      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    revision    INTEGER NOT NULL UNIQUE,
    signed_by   TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    source      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_active (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    digest       TEXT NOT NULL REFERENCES bundle_history(digest),
    activated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_attempt (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    at      INTEGER NOT NULL,
    source  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error   TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    hosts      TEXT NOT NULL,
    inject     TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour          INTEGER NOT NULL,
    agent         TEXT NOT NULL,
    model         TEXT NOT NULL,
    requests      INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    PRIMARY KEY (hour, agent, model)
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"#;

const V2: &str = r#"
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

const V3: &str = r#"
BEGIN;
ALTER TABLE approvals ADD COLUMN call_key TEXT;
ALTER TABLE approvals ADD COLUMN consumed_at INTEGER;
CREATE INDEX IF NOT EXISTS approvals_call ON approvals(call_key, created_at);
PRAGMA user_version = 3;
COMMIT;
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn a_version_2_file_migrates_with_its_approvals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(V1).unwrap();
            c.execute_batch(V2).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
            c.execute(
                "INSERT INTO approvals (id, created_at, expires_at, session_id, agent_id, tool_name, tool_args, tier, \
                 reason, fingerprint, status) VALUES ('a1', 1, 9999999999999, 's', 'main', 'exec', '{}', 'RED', 'r', 'fp', 'pending')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let a = store.approval("a1").unwrap().unwrap();
        assert_eq!((a.tier, a.status), (warden_domain::Tier::Red, warden_domain::ApprovalStatus::Pending));
        assert!(store.approval_for_call("anything").unwrap().is_none());
        drop(store);
        let c = Connection::open(&path).unwrap();
        assert_eq!(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).unwrap(), VERSION);
        // Opening again is a no-op.
        drop(c);
        Store::open(&path).unwrap();
    }
}
