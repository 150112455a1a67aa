//! Replies given under an `Idempotency-Key` (`idempotency`), with a hash of
//! the request each answered, kept for a day.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{now_ms, Store, StoreError};

/// How long an idempotent reply is kept.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

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

impl Store {
    /// The reply stored for an idempotency key, if one is (younger than a day).
    pub fn idempotent_reply(&self, scope: &str, key: &str) -> Result<Option<StoredReply>, StoreError> {
        Ok(idem_get(&self.read(), scope, key)?)
    }

    /// Remember the reply given under an idempotency key.
    pub fn remember_reply(&self, k: IdemKey<'_>, status: u16, response: &str) -> Result<(), StoreError> {
        Ok(idem_put(&self.conn(), k, status, response)?)
    }
}

pub(crate) fn idem_get(c: &Connection, scope: &str, key: &str) -> rusqlite::Result<Option<StoredReply>> {
    c.query_row(
        "SELECT request, status, response FROM idempotency WHERE scope = ?1 AND key = ?2 AND created_at > ?3",
        params![scope, key, now_ms() - IDEMPOTENCY_TTL_MS],
        |r| Ok(StoredReply { request: r.get(0)?, status: r.get::<_, i64>(1)? as u16, response: r.get(2)? }),
    )
    .optional()
}

pub(crate) fn idem_put(c: &Connection, k: IdemKey<'_>, status: u16, response: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO idempotency (scope, key, request, status, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(scope, key) DO UPDATE SET request = excluded.request, status = excluded.status,
           response = excluded.response, created_at = excluded.created_at",
        params![k.0, k.1, k.2, status as i64, response, now_ms()],
    )?;
    Ok(())
}
