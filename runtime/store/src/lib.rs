//! Warden's state: one SQLite file in WAL mode, with one module per group
//! of tables:
//!
//! - [`bundles`]: `bundle_history` (every bundle ever accepted; the
//!   anti-rollback counter is its highest revision, and a revision maps to
//!   exactly one digest), `policy_active` (the bundle in force) and
//!   `policy_attempt` (the last activation attempt and its error);
//! - [`audit`]: append-only (triggers refuse UPDATE and DELETE): every
//!   activation, rollback, refusal, tool decision and approval decision;
//! - [`secrets`]: the vault's rows (name, version, bindings, age
//!   ciphertext); the encryption and its checks live in `warden-vault`;
//! - [`usage`]: model tokens per hour, agent and model;
//! - [`approvals`]: gated tool calls, `allow-always` grants;
//! - [`idempotency`]: the reply given under each `Idempotency-Key`;
//! - [`outbox`]: what the hub has acknowledged (approvals, usage buckets);
//! - [`meta`]: the node's own small settings (the hub's node id).
//!
//! [`schema`] creates and migrates them (schema version 3).
//!
//! Writes that belong together commit in one transaction with
//! `synchronous = FULL`, so a crash (even `kill -9`) leaves either the state
//! before or the state after, never a mix. The file is created mode 0600:
//! it holds the vault's ciphertexts, approvals and the audit log.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub mod approvals;
pub mod audit;
pub mod bundles;
pub mod idempotency;
pub mod meta;
pub mod outbox;
mod schema;
pub mod secrets;
pub mod usage;

pub use approvals::{Approval, DecideRefused, DecisionRecord, NewApproval, Recorded};
pub use audit::AuditEntry;
pub use bundles::{ActivationKind, ActivationRefused, ActiveRecord, Attempt, BundleRecord};
pub use idempotency::{IdemKey, IdemReply, StoredReply};
pub use secrets::{RotationAborted, SecretRow};
pub use usage::{UsageBucket, UsageDelta};

/// A store error: SQLite failed, or the file is not one this Warden can use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite said no.
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer Warden.
    #[error("state database: schema version {0} is newer than this Warden understands ({v})", v = schema::VERSION)]
    NewerSchema(i64),
    /// The file could not be created or its mode set.
    #[error("state database: {0}")]
    Io(#[from] std::io::Error),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
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
        create_private(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&conn)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", "ON")?;
        Ok(Store { conn: Mutex::new(conn), reader: Mutex::new(reader) })
    }

    /// A database in memory (for tests of the layers above): the same
    /// schema, shared by the writer and the reader through SQLite's shared
    /// cache, gone when the store is dropped.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        use rusqlite::OpenFlags;
        let uri =
            format!("file:warden-{}?mode=memory&cache=shared", warden_util::hex(&warden_util::random_bytes::<8>()));
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&uri, flags)?;
        schema::migrate(&conn)?;
        let reader = Connection::open_with_flags(&uri, flags)?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
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

    /// `PRAGMA quick_check`: `ok`, or what is wrong.
    pub fn quick_check(&self) -> Result<String, StoreError> {
        Ok(self.read().query_row("PRAGMA quick_check", [], |r| r.get(0))?)
    }
}

/// Create the database file mode 0600 if it does not exist yet (SQLite would
/// create it with the process umask, typically 0644), and tighten an
/// existing one that others could read.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A text column holding one of the domain's spellings, parsed.
pub(crate) fn parsed<T: std::str::FromStr>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = r.get(i)?;
    text.parse().map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_private_and_reopens() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(store.quick_check().unwrap(), "ok");
        drop(store);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
