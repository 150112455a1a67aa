//! The compiled-code cache.
//!
//! Compiled code is native code: loading it is `unsafe` and only sound when
//! the bytes are what this engine wrote. So the cache trusts exactly one
//! directory, which Warden creates with mode 0700 and must own, and files in
//! it that Warden owns and no one else can write. Entries are named by the
//! component's SHA-256 and the engine's compatibility hash, written to a
//! temporary file and renamed into place, so a crash never leaves half an
//! entry. Anything that does not pass these checks is recompiled, never
//! loaded.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::error::LoadError;

/// A directory of compiled components; see the module docs.
#[derive(Debug)]
pub struct CodeCache {
    dir: PathBuf,
    engine_hash: String,
    uid: u32,
}

pub(crate) enum CacheError {
    Compile(String),
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Owned by us, not a symlink, not writable by group or others.
fn trusted(meta: &fs::Metadata, uid: u32) -> bool {
    !meta.file_type().is_symlink() && meta.uid() == uid && meta.mode() & 0o022 == 0
}

impl CodeCache {
    /// Open (creating if needed, mode 0700) the cache directory. Refuses a
    /// directory that someone else owns or others can write.
    pub fn open(dir: &Path, engine: &Engine) -> Result<CodeCache, LoadError> {
        let err = |msg: String| LoadError::Cache { path: dir.display().to_string(), msg };
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| err(e.to_string()))?;
        }
        let meta = fs::symlink_metadata(dir).map_err(|e| err(e.to_string()))?;
        let uid = current_uid();
        if !meta.is_dir() || !trusted(&meta, uid) {
            return Err(err(format!(
                "refusing to load compiled code from here: it must be a directory owned by uid {uid} and not writable by group or others (mode is {:o})",
                meta.mode() & 0o7777
            )));
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CodeCache { dir: dir.to_path_buf(), engine_hash: format!("{:016x}", h.finish()), uid })
    }

    /// Where the entry for a component lives.
    pub fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_hash))
    }

    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<(Component, bool), CacheError> {
        let path = self.entry(sha256);
        if let Ok(meta) = fs::symlink_metadata(&path) {
            if meta.is_file() && trusted(&meta, self.uid) {
                // SAFETY: the file sits in a directory only this user can
                // write, is owned by this user and not writable by others,
                // and was written by `store` below from this engine's own
                // serialisation; wasmtime also checks the engine
                // compatibility header before using it.
                // Read, don't map: a mapped file truncated underneath a live
                // component would crash the process (SIGBUS).
                let code = match fs::read(&path) {
                    Ok(code) => code,
                    Err(e) => return Err(CacheError::Compile(format!("reading {}: {e}", path.display()))),
                };
                match unsafe { Component::deserialize(engine, &code) } {
                    Ok(c) => return Ok((c, true)),
                    Err(e) => {
                        tracing::warn!(entry = %path.display(), error = %e, "discarding unusable plugin cache entry");
                        let _ = fs::remove_file(&path);
                    }
                }
            } else {
                tracing::warn!(entry = %path.display(), "plugin cache entry not trusted; recompiling");
                let _ = fs::remove_file(&path);
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| CacheError::Compile(format!("{e:#}")))?;
        match component.serialize() {
            Ok(code) => {
                if let Err(e) = self.store(&path, &code) {
                    // A cache that cannot be written only costs a recompile.
                    tracing::warn!(entry = %path.display(), error = %e, "could not write plugin cache entry");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not serialise compiled plugin"),
        }
        Ok((component, false))
    }

    fn store(&self, path: &Path, code: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".tmp-{}-{}", std::process::id(), path.file_name().unwrap().to_string_lossy()));
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(code)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}
