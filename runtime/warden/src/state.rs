//! The state directory: `warden.db` (SQLite), `bundles/` (accepted bundles,
//! by digest), `plugin-cache/` (compiled plugin code). Created mode 0700:
//! it holds what the agent must not read.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(dir = %root.display(), "state directory is readable by other users; it should be mode 0700");
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
