//! Flags several commands share: `--policy DIR` (which policy a command
//! uses) and `--state-dir DIR` (where the node's state is).

use std::path::PathBuf;

use anyhow::Context;
use warden_policy::PolicySource;

/// Shared flag: a policy directory instead of the embedded default.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyArg {
    /// Policy directory (with policy.toml and rules/*.toml) to use instead of
    /// the default policy built into the binary.
    #[arg(long, value_name = "DIR", env = "WARDEN_POLICY_DIR")]
    pub policy: Option<PathBuf>,
}

impl PolicyArg {
    /// Load the chosen policy's sources.
    pub fn load(&self) -> anyhow::Result<PolicySource> {
        match &self.policy {
            None => PolicySource::embedded().context("the embedded default policy does not load"),
            Some(dir) => PolicySource::from_dir(dir).with_context(|| format!("policy {}", dir.display())),
        }
    }
}

/// Shared flag: where this node's state (database, vault identity, bundles) is.
///
/// `WARDEN_STATE_DIR` sets it too: for commands that read the configuration
/// the variable already overrides the config file's `state_dir`, so taking it
/// here changes nothing for them and gives the others the same rule.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// State directory (database, vault identity). Default: the config's
    /// `state_dir` where a command reads a config, else the per-user data directory.
    #[arg(long, value_name = "DIR", env = "WARDEN_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StateArgs {
    /// The state directory for a command that reads no configuration.
    pub fn root(&self) -> anyhow::Result<PathBuf> {
        match &self.state_dir {
            Some(d) => Ok(d.clone()),
            None => warden::config::default_state_dir(),
        }
    }

    /// Put the chosen state directory, if any, into `cfg`.
    pub fn apply(&self, cfg: &mut warden::config::Config) {
        if let Some(d) = &self.state_dir {
            cfg.state_dir = Some(d.clone());
        }
    }
}
