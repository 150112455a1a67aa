//! Which bundles were accepted and which one is in force: `bundle_history`,
//! `policy_active`, `policy_attempt`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::audit::insert_audit;
use crate::{now_ms, Store, StoreError};

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

/// Why an activation was made: a new bundle, or a local re-activation of one
/// already accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationKind {
    /// A bundle from the hub, a file or the embedded default.
    Activate,
    /// A digest from the accepted history, by an operator.
    Rollback,
}

impl ActivationKind {
    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            ActivationKind::Activate => "policy.activate",
            ActivationKind::Rollback => "policy.rollback",
        }
    }
}

/// Why the store refused to make a bundle the active one (anti-rollback).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActivationRefused {
    /// Below the highest revision ever accepted.
    #[error("downgrade: revision {revision} is below the highest accepted revision {highest}")]
    Downgrade {
        /// The refused revision.
        revision: u64,
        /// The highest accepted.
        highest: u64,
    },
    /// The revision was accepted before with other content.
    #[error("same revision, different content: revision {revision} was accepted before with digest {digest}")]
    RevisionTaken {
        /// The revision.
        revision: u64,
        /// The digest it has.
        digest: String,
    },
    /// A rollback to a digest never accepted.
    #[error("rollback: {digest} is not in the accepted history")]
    NotInHistory {
        /// The digest asked for.
        digest: String,
    },
}

impl Store {
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
        kind: ActivationKind,
        detail: &str,
    ) -> Result<Result<(), ActivationRefused>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let known: Option<String> = tx
            .query_row("SELECT digest FROM bundle_history WHERE revision = ?1", params![bundle.revision as i64], |r| {
                r.get(0)
            })
            .optional()?;
        // A rollback re-activates a bundle already in the history, and only that.
        let is_rollback = kind == ActivationKind::Rollback;
        let highest: Option<i64> = tx.query_row("SELECT MAX(revision) FROM bundle_history", [], |r| r.get(0))?;
        if let Some(h) = highest.filter(|h| (bundle.revision as i64) < *h && !is_rollback) {
            return Ok(Err(ActivationRefused::Downgrade { revision: bundle.revision, highest: h as u64 }));
        }
        match known {
            Some(d) if d != bundle.digest => {
                return Ok(Err(ActivationRefused::RevisionTaken { revision: bundle.revision, digest: d }));
            }
            Some(_) => {}
            None if is_rollback => {
                return Ok(Err(ActivationRefused::NotInHistory { digest: bundle.digest.clone() }));
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
        insert_audit(&tx, now, actor, kind.action(), &bundle.digest, detail)?;
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
        store.activate(&rec("d2", 2), "t", ActivationKind::Activate, "").unwrap().unwrap();
        let err = store.activate(&rec("d1", 1), "t", ActivationKind::Activate, "").unwrap().unwrap_err();
        assert_eq!(err, ActivationRefused::Downgrade { revision: 1, highest: 2 });
        assert!(err.to_string().starts_with("downgrade"), "{err}");
        let err = store.activate(&rec("dX", 2), "t", ActivationKind::Activate, "").unwrap().unwrap_err();
        assert!(err.to_string().starts_with("same revision, different content"), "{err}");
        store.activate(&rec("d3", 3), "t", ActivationKind::Activate, "").unwrap().unwrap();
        // Only a rollback may re-activate an older accepted digest.
        assert!(store.activate(&rec("d2", 2), "t", ActivationKind::Activate, "").unwrap().is_err());
        assert!(store.activate(&rec("d9", 1), "t", ActivationKind::Rollback, "").unwrap().is_err());
        store.activate(&rec("d2", 2), "t", ActivationKind::Rollback, "").unwrap().unwrap();
        assert_eq!(store.active().unwrap().unwrap().bundle.digest, "d2");
        assert_eq!(store.highest_revision().unwrap(), Some(3));
        drop(store);
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        assert_eq!(store.active().unwrap().unwrap().bundle.revision, 2);
        assert_eq!(store.history().unwrap().len(), 2);
        assert_eq!(store.quick_check().unwrap(), "ok");
    }
}
