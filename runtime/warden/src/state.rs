//! The state directory: `warden.db` (SQLite), `bundles/` (accepted bundles,
//! by digest), `plugin-cache/` (compiled plugin code). Created mode 0700:
//! it holds what the agent must not read.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use warden_plugin_host::{HostConfig, PluginHost};
use warden_store::Store;

use crate::config::Config;
use crate::policy::{Activator, Settings};

/// Paths inside the state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    /// The directory.
    pub root: PathBuf,
}

impl StateDir {
    /// Open (create if needed, mode 0700) `root`.
    pub fn open(root: &Path) -> anyhow::Result<StateDir> {
        if !root.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .with_context(|| format!("cannot create state directory {}", root.display()))?;
        }
        let meta = std::fs::metadata(root).with_context(|| format!("state directory {}", root.display()))?;
        anyhow::ensure!(meta.is_dir(), "state directory {} is not a directory", root.display());
        // The directory holds the vault identity, tokens and the database:
        // other users get nothing, whatever it was created with.
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700)).with_context(|| {
                format!("state directory {} is open to other users and cannot be made 0700", root.display())
            })?;
            tracing::warn!(dir = %root.display(), "state directory was open to other users; set it to mode 0700");
        }
        // The database (and SQLite's -wal/-shm, which copy its mode) 0600.
        let db = root.join("warden.db");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&db)
            .with_context(|| format!("cannot create {}", db.display()))?;
        for f in ["warden.db", "warden.db-wal", "warden.db-shm"] {
            let p = root.join(f);
            if let Ok(m) = std::fs::metadata(&p) {
                if m.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                        .with_context(|| format!("cannot make {} mode 0600", p.display()))?;
                }
            }
        }
        Ok(StateDir { root: root.to_path_buf() })
    }

    /// The SQLite database.
    pub fn db(&self) -> PathBuf {
        self.root.join("warden.db")
    }

    /// The vault's age identity (mode 0600).
    pub fn identity(&self) -> PathBuf {
        self.root.join("identity.txt")
    }

    /// The operator's bearer token for the control API's secrets endpoints.
    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }

    /// The agent side's bearer token for the tool-call gate and approvals.
    pub fn agent_token(&self) -> PathBuf {
        self.root.join("agent.token")
    }

    /// Accepted bundles.
    pub fn bundles(&self) -> PathBuf {
        self.root.join("bundles")
    }

    /// Compiled plugin code.
    pub fn plugin_cache(&self) -> PathBuf {
        self.root.join("plugin-cache")
    }

    /// Open the store, the plugin host and the activator (loading the
    /// last-good policy) as `cfg` says.
    pub fn start_policy(&self, cfg: &Config) -> anyhow::Result<Arc<Activator>> {
        let store = Arc::new(Store::open(&self.db())?);
        let host = PluginHost::new(HostConfig { cache_dir: Some(self.plugin_cache()), ..HostConfig::default() })?;
        let settings = Settings {
            keyring: cfg.policy.keyring()?,
            tenant: cfg.tenant.clone(),
            max_staleness: cfg.policy.max_staleness()?,
        };
        Ok(Arc::new(Activator::start(store, self.bundles(), host, settings)?))
    }
}

/// Read the token at `path`, creating it (32 random bytes, hex, mode 0600)
/// when there is none. A token file readable by others is refused.
pub fn ensure_token(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        anyhow::ensure!(mode & 0o077 == 0, "{} is mode {mode:04o}; it must be 0600", path.display());
        let t = zeroize::Zeroizing::new(std::fs::read_to_string(path)?.trim().to_string());
        anyhow::ensure!(t.len() >= 32, "{} is too short to be a token", path.display());
        return Ok(t);
    }
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut raw[..]).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let token = zeroize::Zeroizing::new(raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    tracing::info!(path = %path.display(), "created a bearer token for the control API");
    Ok(token)
}
