//! `--policy DIR`: which policy a command uses.

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
