//! The vault's rows. Values are age ciphertexts; encryption, bindings and
//! their checks live in `warden-vault`.

use rusqlite::{params, OptionalExtension};

use crate::audit::insert_audit;
use crate::{now_ms, Store, StoreError};

/// Why an identity rotation was abandoned (nothing was rewritten).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {why}")]
pub struct RotationAborted {
    /// The secret that stopped it.
    pub name: String,
    /// What went wrong with it.
    pub why: String,
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
    pub fn secret_put<E>(
        &self,
        name: &str,
        actor: &str,
        make: impl FnOnce(u64) -> Result<(String, String, Vec<u8>), E>,
    ) -> Result<Result<u64, E>, StoreError> {
        let mut make = Some(make);
        let written =
            self.secret_put_all(&[name], actor, |_, version| make.take().expect("one name, one call")(version))?;
        Ok(written.map(|versions| versions[0]))
    }

    /// Write several secrets in one transaction: all or none (a bootstrap
    /// import). `make(name, next_version)` builds each row as in
    /// [`Store::secret_put`]; its first error rolls everything back. Each
    /// write is audited. The versions written, in the order of `names`.
    pub fn secret_put_all<E>(
        &self,
        names: &[&str],
        actor: &str,
        mut make: impl FnMut(&str, u64) -> Result<(String, String, Vec<u8>), E>,
    ) -> Result<Result<Vec<u64>, E>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut versions = Vec::with_capacity(names.len());
        for name in names {
            let current: Option<(i64, i64)> = tx
                .query_row("SELECT version, created_at FROM secrets WHERE name = ?1", params![name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let version = current.map_or(1, |(v, _)| v as u64 + 1);
            let (hosts, inject, ciphertext) = match make(name, version) {
                Ok(parts) => parts,
                // Dropping the transaction rolls back what was written.
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
            versions.push(version);
        }
        tx.commit()?;
        Ok(Ok(versions))
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
    pub fn secret_rewrite_all<E: std::fmt::Display>(
        &self,
        actor: &str,
        mut rewrite: impl FnMut(&SecretRow) -> Result<Vec<u8>, E>,
    ) -> Result<Result<usize, RotationAborted>, StoreError> {
        let rows = self.secret_rows()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for row in &rows {
            let ct = match rewrite(row) {
                Ok(ct) => ct,
                Err(e) => return Ok(Err(RotationAborted { name: row.name.clone(), why: e.to_string() })),
            };
            // Only if the row is still the one read: a concurrent write aborts the rotation.
            let n = tx.execute(
                "UPDATE secrets SET ciphertext = ?1 WHERE name = ?2 AND version = ?3",
                params![ct, row.name, row.version as i64],
            )?;
            if n != 1 {
                return Ok(Err(RotationAborted {
                    name: row.name.clone(),
                    why: "it changed during the rotation; nothing was rotated".into(),
                }));
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

    /// A stamp that changes whenever a secret is written or deleted.
    pub fn secrets_stamp(&self) -> Result<(i64, i64, i64), StoreError> {
        Ok(self.read().query_row(
            "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), COALESCE(SUM(version), 0) FROM secrets",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }
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
