//! Warden's state: one SQLite file in WAL mode.
//!
//! Tables (schema version 1):
//! - `bundle_history`: every bundle ever accepted (digest, name, revision,
//!   signer, when, from where). The anti-rollback counter is the highest
//!   revision in it; a revision maps to exactly one digest.
//! - `policy_active`: one row, the bundle in force (digest, revision, since).
//! - `policy_attempt`: one row, the last activation attempt and its error.
//! - `secrets`: the vault's rows (name, version, bindings, age ciphertext);
//!   the encryption and its checks live in `warden-vault`.
//! - `usage_hourly`: model tokens per hour, agent and model.
//! - `audit`: append-only (triggers refuse UPDATE and DELETE); every
//!   activation, rollback, refusal, tool decision and approval decision.
//! - schema version 2 adds approvals, idempotent replies, what the hub has
//!   acknowledged and node settings: see [`approvals`].
//!
//! Writes that belong together commit in one transaction with
//! `synchronous = FULL`, so a crash (even `kill -9`) leaves either the state
//! before or the state after, never a mix.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

pub mod approvals;
pub use approvals::{Approval, DecideRefused, DecisionRecord, IdemReply, NewApproval, StoredReply};

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer Warden.
    #[error("state database: schema version {0} is newer than this Warden understands ({SCHEMA_VERSION})")]
    NewerSchema(i64),
    /// A caller passed a value the schema does not allow.
    #[error("state database: {0}")]
    Invalid(String),
}

const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = r#"
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One accepted bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleRecord {
    /// SHA-256 of its manifest, hex.
    pub digest: String,
    /// Its name.
    pub name: String,
    /// Its revision.
    pub revision: u64,
    /// Id of the key that signed it.
    pub signed_by: String,
    /// When it was first accepted (ms since epoch).
    pub accepted_at: i64,
    /// Where it came from (URL, file, `rollback`).
    pub source: String,
}

/// The active bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveRecord {
    /// The bundle.
    pub bundle: BundleRecord,
    /// When it became active (ms since epoch).
    pub activated_at: i64,
}

/// The last activation attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When (ms since epoch).
    pub at: i64,
    /// From where.
    pub source: String,
    /// `activated`, `unchanged` or `refused`.
    pub outcome: String,
    /// Why it was refused.
    pub error: Option<String>,
}

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

/// The state database.
pub struct Store {
    /// Every write, and the reads that must see a transaction's own state.
    conn: Mutex<Connection>,
    /// Reads on the request path (the vault's stamp and rows, approvals,
    /// idempotent replies, grants). WAL lets them run beside a writer, so
    /// they never queue behind a commit's fsync on `conn`'s lock.
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Open (and create or migrate) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema(version));
        }
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(approvals::SCHEMA_V2)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", "ON")?;
        Ok(Store { conn: Mutex::new(conn), reader: Mutex::new(reader) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The read-only connection. Each statement sees the last committed
    /// state (WAL snapshot at its start).
    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The highest revision ever accepted.
    pub fn highest_revision(&self) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = self.read().query_row("SELECT MAX(revision) FROM bundle_history", [], |r| r.get(0))?;
        Ok(v.map(|v| v as u64))
    }

    /// The accepted bundle with this revision.
    pub fn by_revision(&self, revision: u64) -> Result<Option<BundleRecord>, StoreError> {
        self.one("WHERE revision = ?1", params![revision as i64])
    }

    /// The accepted bundle with this digest.
    pub fn by_digest(&self, digest: &str) -> Result<Option<BundleRecord>, StoreError> {
        self.one("WHERE digest = ?1", params![digest])
    }

    fn one(&self, filter: &str, p: impl rusqlite::Params) -> Result<Option<BundleRecord>, StoreError> {
        let sql = format!("SELECT digest, name, revision, signed_by, accepted_at, source FROM bundle_history {filter}");
        Ok(self.read().query_row(&sql, p, record).optional()?)
    }

    /// Every accepted bundle, newest revision first.
    pub fn history(&self) -> Result<Vec<BundleRecord>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT digest, name, revision, signed_by, accepted_at, source FROM bundle_history ORDER BY revision DESC",
        )?;
        let rows = stmt.query_map([], record)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The active bundle.
    pub fn active(&self) -> Result<Option<ActiveRecord>, StoreError> {
        let conn = self.read();
        Ok(conn
            .query_row(
                "SELECT h.digest, h.name, h.revision, h.signed_by, h.accepted_at, h.source, a.activated_at
                 FROM policy_active a JOIN bundle_history h ON h.digest = a.digest",
                [],
                |r| Ok(ActiveRecord { bundle: record(r)?, activated_at: r.get(6)? }),
            )
            .optional()?)
    }

    /// Make `bundle` the active one, in one transaction: record it in the
    /// history (if new), point `policy_active` at it, note the attempt and
    /// audit it. Refuses, inside the same transaction, a revision below the
    /// highest accepted or a revision already taken by another digest, so
    /// two activations racing cannot both pass the check.
    pub fn activate(
        &self,
        bundle: &BundleRecord,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<Result<(), String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let known: Option<String> = tx
            .query_row("SELECT digest FROM bundle_history WHERE revision = ?1", params![bundle.revision as i64], |r| {
                r.get(0)
            })
            .optional()?;
        // A rollback re-activates a bundle already in the history, and only that.
        let is_rollback = action == "policy.rollback";
        let highest: Option<i64> = tx.query_row("SELECT MAX(revision) FROM bundle_history", [], |r| r.get(0))?;
        if let Some(h) = highest.filter(|h| (bundle.revision as i64) < *h && !is_rollback) {
            return Ok(Err(format!(
                "downgrade: revision {} is below the highest accepted revision {h}",
                bundle.revision
            )));
        }
        match known {
            Some(d) if d != bundle.digest => {
                return Ok(Err(format!(
                    "same revision, different content: revision {} was accepted before with digest {d}",
                    bundle.revision
                )))
            }
            Some(_) => {}
            None if is_rollback => {
                return Ok(Err(format!("rollback: {} is not in the accepted history", bundle.digest)));
            }
            None => {
                tx.execute(
                    "INSERT INTO bundle_history (digest, name, revision, signed_by, accepted_at, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![bundle.digest, bundle.name, bundle.revision as i64, bundle.signed_by, bundle.accepted_at, bundle.source],
                )?;
            }
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO policy_active (id, digest, activated_at) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET digest = excluded.digest, activated_at = excluded.activated_at",
            params![bundle.digest, now],
        )?;
        put_attempt(&tx, now, &bundle.source, "activated", None)?;
        insert_audit(&tx, now, actor, action, &bundle.digest, detail)?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Record an attempt that did not change the active bundle.
    pub fn record_attempt(&self, source: &str, outcome: &str, error: Option<&str>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        put_attempt(&tx, now, source, outcome, error)?;
        if let Some(e) = error {
            insert_audit(&tx, now, "warden", "policy.refuse", source, e)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The last attempt.
    pub fn last_attempt(&self) -> Result<Option<Attempt>, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT at, source, outcome, error FROM policy_attempt WHERE id = 1", [], |r| {
                Ok(Attempt { at: r.get(0)?, source: r.get(1)?, outcome: r.get(2)?, error: r.get(3)? })
            })
            .optional()?)
    }

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

    /// `PRAGMA quick_check`: `ok`, or what is wrong.
    pub fn quick_check(&self) -> Result<String, StoreError> {
        Ok(self.read().query_row("PRAGMA quick_check", [], |r| r.get(0))?)
    }
}

/// One row of the `secrets` table. The value is inside `ciphertext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRow {
    /// Name.
    pub name: String,
    /// Version, from 1, bumped on every write.
    pub version: u64,
    /// Bound hosts, as the vault encodes them.
    pub hosts: String,
    /// How it is injected, as the vault encodes it.
    pub inject: String,
    /// The age ciphertext of the payload.
    pub ciphertext: Vec<u8>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last written (ms since epoch).
    pub updated_at: i64,
}

impl Store {
    /// Every secret row, by name.
    pub fn secret_rows(&self) -> Result<Vec<SecretRow>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT name, version, hosts, inject, ciphertext, created_at, updated_at FROM secrets ORDER BY name",
        )?;
        let rows = stmt.query_map([], secret_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One secret row.
    pub fn secret_row(&self, name: &str) -> Result<Option<SecretRow>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT name, version, hosts, inject, ciphertext, created_at, updated_at FROM secrets WHERE name = ?1",
                params![name],
                secret_row,
            )
            .optional()?)
    }

    /// Write a secret: `make(next_version)` builds the row for the version
    /// after the current one (1 for a new name), in one transaction with the
    /// read, so two writers cannot both take the same version. Audited.
    pub fn secret_put(
        &self,
        name: &str,
        actor: &str,
        make: impl FnOnce(u64) -> Result<(String, String, Vec<u8>), String>,
    ) -> Result<Result<u64, String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<(i64, i64)> = tx
            .query_row("SELECT version, created_at FROM secrets WHERE name = ?1", params![name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let version = current.map_or(1, |(v, _)| v as u64 + 1);
        let (hosts, inject, ciphertext) = match make(version) {
            Ok(parts) => parts,
            Err(e) => return Ok(Err(e)),
        };
        let now = now_ms();
        let created = current.map_or(now, |(_, c)| c);
        tx.execute(
            "INSERT INTO secrets (name, version, hosts, inject, ciphertext, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(name) DO UPDATE SET version = excluded.version, hosts = excluded.hosts,
               inject = excluded.inject, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            params![name, version as i64, hosts, inject, ciphertext, created, now],
        )?;
        insert_audit(&tx, now, actor, "secret.set", name, &format!("version {version}; hosts {hosts}"))?;
        tx.commit()?;
        Ok(Ok(version))
    }

    /// Delete a secret; whether it existed. Audited.
    pub fn secret_delete(&self, name: &str, actor: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM secrets WHERE name = ?1", params![name])?;
        if n > 0 {
            insert_audit(&tx, now_ms(), actor, "secret.delete", name, "")?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Replace every row's ciphertext at once (identity rotation): all or
    /// nothing. `rewrite` gets each row and returns its new ciphertext.
    pub fn secret_rewrite_all(
        &self,
        actor: &str,
        mut rewrite: impl FnMut(&SecretRow) -> Result<Vec<u8>, String>,
    ) -> Result<Result<usize, String>, StoreError> {
        let rows = self.secret_rows()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for row in &rows {
            let ct = match rewrite(row) {
                Ok(ct) => ct,
                Err(e) => return Ok(Err(format!("{}: {e}", row.name))),
            };
            // Only if the row is still the one read: a concurrent write aborts the rotation.
            let n = tx.execute(
                "UPDATE secrets SET ciphertext = ?1 WHERE name = ?2 AND version = ?3",
                params![ct, row.name, row.version as i64],
            )?;
            if n != 1 {
                return Ok(Err(format!("{} changed during the rotation; nothing was rotated", row.name)));
            }
        }
        insert_audit(
            &tx,
            now_ms(),
            actor,
            "vault.rotate-identity",
            "vault",
            &format!("{} secrets re-encrypted", rows.len()),
        )?;
        tx.commit()?;
        Ok(Ok(rows.len()))
    }
}

/// A plain connection to the state database, for tests that play the
/// attacker with write access to the file (swapping rows and the like).
pub struct RawConnection(Connection);

impl RawConnection {
    /// Open `path` without Warden's schema or checks.
    pub fn open(path: &Path) -> Result<RawConnection, StoreError> {
        Ok(RawConnection(Connection::open(path)?))
    }

    /// Run one statement.
    pub fn execute(&self, sql: &str, p: impl rusqlite::Params) -> Result<usize, StoreError> {
        Ok(self.0.execute(sql, p)?)
    }
}

/// Tokens to add to the current hour's bucket of one agent and model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDelta {
    /// Agent id.
    pub agent: String,
    /// Model.
    pub model: String,
    /// Requests.
    pub requests: u64,
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
}

/// One hour of one agent's use of one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageBucket {
    /// Start of the hour (seconds since epoch).
    pub hour: i64,
    /// Agent id.
    pub agent: String,
    /// Model.
    pub model: String,
    /// Requests counted.
    pub requests: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl Store {
    /// Add one request's tokens to its hourly bucket.
    pub fn add_usage(&self, agent: &str, model: &str, input: u64, output: u64) -> Result<(), StoreError> {
        self.add_usage_batch(&[UsageDelta { agent: agent.into(), model: model.into(), requests: 1, input, output }])
    }

    /// Add many requests' tokens in one transaction (one fsync).
    pub fn add_usage_batch(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        let hour = now_ms() / 1000 / 3600 * 3600;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for d in deltas {
            tx.execute(
                "INSERT INTO usage_hourly (hour, agent, model, requests, input_tokens, output_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(hour, agent, model) DO UPDATE SET requests = requests + excluded.requests,
                   input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens",
                params![hour, d.agent, d.model, d.requests as i64, d.input as i64, d.output as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Buckets from `since_hour` on, oldest first.
    pub fn usage_since(&self, since_hour: i64) -> Result<Vec<UsageBucket>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT hour, agent, model, requests, input_tokens, output_tokens FROM usage_hourly WHERE hour >= ?1 ORDER BY hour, agent, model",
        )?;
        let rows = stmt.query_map(params![since_hour], usage_bucket)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A stamp that changes whenever a secret is written or deleted.
    pub fn secrets_stamp(&self) -> Result<(i64, i64, i64), StoreError> {
        Ok(self.read().query_row(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), COALESCE(SUM(version), 0) FROM secrets",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }
}

/// A `usage_hourly` row selected as hour, agent, model, requests, input, output.
pub(crate) fn usage_bucket(r: &rusqlite::Row<'_>) -> rusqlite::Result<UsageBucket> {
    Ok(UsageBucket {
        hour: r.get(0)?,
        agent: r.get(1)?,
        model: r.get(2)?,
        requests: r.get::<_, i64>(3)? as u64,
        input_tokens: r.get::<_, i64>(4)? as u64,
        output_tokens: r.get::<_, i64>(5)? as u64,
    })
}

fn secret_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SecretRow> {
    Ok(SecretRow {
        name: r.get(0)?,
        version: r.get::<_, i64>(1)? as u64,
        hosts: r.get(2)?,
        inject: r.get(3)?,
        ciphertext: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<BundleRecord> {
    Ok(BundleRecord {
        digest: r.get(0)?,
        name: r.get(1)?,
        revision: r.get::<_, i64>(2)? as u64,
        signed_by: r.get(3)?,
        accepted_at: r.get(4)?,
        source: r.get(5)?,
    })
}

fn put_attempt(c: &Connection, at: i64, source: &str, outcome: &str, error: Option<&str>) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO policy_attempt (id, at, source, outcome, error) VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET at = excluded.at, source = excluded.source, outcome = excluded.outcome, error = excluded.error",
        params![at, source, outcome, error],
    )?;
    Ok(())
}

fn insert_audit(
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

    fn rec(digest: &str, revision: u64) -> BundleRecord {
        BundleRecord {
            digest: digest.into(),
            name: "b".into(),
            revision,
            signed_by: "k".into(),
            accepted_at: now_ms(),
            source: "test".into(),
        }
    }

    #[test]
    fn anti_rollback_lives_in_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(store.highest_revision().unwrap(), None);
        store.activate(&rec("d2", 2), "t", "policy.activate", "").unwrap().unwrap();
        let err = store.activate(&rec("d1", 1), "t", "policy.activate", "").unwrap().unwrap_err();
        assert!(err.starts_with("downgrade"), "{err}");
        let err = store.activate(&rec("dX", 2), "t", "policy.activate", "").unwrap().unwrap_err();
        assert!(err.starts_with("same revision, different content"), "{err}");
        store.activate(&rec("d3", 3), "t", "policy.activate", "").unwrap().unwrap();
        // Only a rollback may re-activate an older accepted digest.
        assert!(store.activate(&rec("d2", 2), "t", "policy.activate", "").unwrap().is_err());
        assert!(store.activate(&rec("d9", 1), "t", "policy.rollback", "").unwrap().is_err());
        store.activate(&rec("d2", 2), "t", "policy.rollback", "").unwrap().unwrap();
        assert_eq!(store.active().unwrap().unwrap().bundle.digest, "d2");
        assert_eq!(store.highest_revision().unwrap(), Some(3));
        drop(store);
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(store.active().unwrap().unwrap().bundle.revision, 2);
        assert_eq!(store.history().unwrap().len(), 2);
        assert_eq!(store.quick_check().unwrap(), "ok");
    }

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
