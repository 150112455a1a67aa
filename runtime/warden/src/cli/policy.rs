//! `warden policy status|activate|rollback|history`: the policy in force on
//! this node's state directory, without a hub.

use std::path::PathBuf;
use std::process::ExitCode;

use warden::config::Config;
use warden::policy::Outcome;
use warden::state::StateDir;

/// The configuration, where the state is and whom to trust (shared by the subcommands).
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Configuration file (warden.toml).
    #[arg(long, value_name = "FILE", env = "WARDEN_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    state: crate::cli::args::StateArgs,
    /// A trusted public key (repeatable; adds to the config's `policy.trust`).
    #[arg(long, value_name = "PUBKEY")]
    trust: Vec<String>,
}

impl NodeArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut cfg = Config::load(self.config.as_deref())?;
        self.state.apply(&mut cfg);
        cfg.policy.trust.extend(self.trust.iter().cloned());
        Ok(cfg)
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Load the policy in force (as a restart would) and print its status as JSON.
    Status {
        #[command(flatten)]
        state: NodeArgs,
    },
    /// Verify, self-test and activate a bundle file, as if the hub had sent it.
    Activate {
        /// The bundle (.tar.gz).
        file: PathBuf,
        #[command(flatten)]
        state: NodeArgs,
    },
    /// Re-activate a bundle from the accepted history (audited). A running
    /// `warden serve` on the same state directory picks it up within seconds.
    Rollback {
        /// Its digest, or a unique prefix of at least 8 hex digits.
        digest: String,
        /// Who asks, for the audit log.
        #[arg(long, default_value = "local-operator")]
        by: String,
        #[command(flatten)]
        state: NodeArgs,
    },
    /// Print the accepted bundles, newest revision first, and the audit log.
    History {
        #[command(flatten)]
        state: NodeArgs,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let state = match &cmd {
        Command::Status { state }
        | Command::Activate { state, .. }
        | Command::Rollback { state, .. }
        | Command::History { state } => state,
    };
    let cfg = state.config()?;
    let dir = StateDir::open(&cfg.state_dir()?)?;
    let activator = dir.start_policy(&cfg)?;
    match cmd {
        Command::Status { .. } => {
            println!("{}", serde_json::to_string_pretty(&activator.status())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Activate { file, .. } => {
            let bytes = std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let source = format!("file:{}", file.display());
            report(activator.activate_archive(&bytes, &source))
        }
        Command::Rollback { digest, by, .. } => report(activator.rollback(&digest, &by)),
        Command::History { .. } => {
            let store = activator.store();
            let active = store.active()?.map(|a| a.bundle.digest);
            for r in store.history()? {
                let mark = if active.as_deref() == Some(&r.digest) { "*" } else { " " };
                println!(
                    "{mark} revision {:>5}  {}  {}  signed by {}  from {}",
                    r.revision, r.digest, r.name, r.signed_by, r.source
                );
            }
            for e in store.audit_log(50)? {
                println!("audit #{} {} {} {} {} {}", e.id, e.at, e.actor, e.action, e.subject, e.detail);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn report(result: Result<Outcome, warden::policy::Refused>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(Outcome::Activated { revision, digest }) => {
            println!("activated revision {revision} ({digest})");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Unchanged) => {
            println!("unchanged: that bundle is already active");
            Ok(ExitCode::SUCCESS)
        }
        Err(refused) => {
            eprintln!("warden: refused: {refused}; the active policy stays");
            Ok(ExitCode::from(1))
        }
    }
}
