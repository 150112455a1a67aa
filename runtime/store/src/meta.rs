//! The node's own small settings (`node_meta`): the hub's node id and the like.

use rusqlite::{params, OptionalExtension};

use crate::audit::insert_audit;
use crate::{now_ms, Store, StoreError};

impl Store {
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
