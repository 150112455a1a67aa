//! `warden`: the safety sidecar's command line.
//!
//! Subcommands live in their own modules; this file parses flags, runs one
//! command and turns its outcome into an exit code, printing an error once.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_bundle;
mod cmd_health;
mod cmd_keygen;
mod cmd_plugin;
mod cmd_policy;
mod cmd_redact;
mod cmd_rules;
mod cmd_secrets;
mod policy_arg;

/// Warden keeps secrets and personal data away from an AI agent's model
/// provider, and risky tool calls behind a human.
#[derive(Parser, Debug)]
#[command(name = "warden", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Redact secrets and personal data from text (FILE or stdin) to stdout.
    Redact(cmd_redact::Args),
    /// List the detection rules or check them against their examples.
    Rules {
        #[command(subcommand)]
        command: cmd_rules::Command,
    },
    /// Inspect and try a Wasm plugin component.
    Plugin {
        #[command(subcommand)]
        command: cmd_plugin::Command,
    },
    /// Make a bundle signing key.
    Keygen(cmd_keygen::Args),
    /// Build, sign, verify and self-test policy bundles.
    Bundle {
        #[command(subcommand)]
        command: cmd_bundle::Command,
    },
    /// The policy in force on this node: status, activate, roll back, history.
    Policy {
        #[command(subcommand)]
        command: cmd_policy::Command,
    },
    /// The vault: store, list, delete secrets; rotate its identity.
    Secrets {
        #[command(subcommand)]
        command: cmd_secrets::Command,
    },
    /// Check that the local server is alive (`GET /healthz`): exit 0 or 1.
    Health(cmd_health::Args),
    /// Run the sidecar: egress port (LLM gateway, forward proxy), control
    /// API (tool-call gate, approvals, vault, metrics), policy polling, hub link.
    Serve {
        /// Configuration file (warden.toml); every key has a default and a
        /// WARDEN_* environment override.
        #[arg(long, value_name = "FILE", env = "WARDEN_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(args) => cmd_redact::run(args),
        Command::Rules { command } => cmd_rules::run(command),
        Command::Plugin { command } => cmd_plugin::run(command),
        Command::Keygen(args) => cmd_keygen::run(args),
        Command::Secrets { command } => cmd_secrets::run(command),
        Command::Bundle { command } => cmd_bundle::run(command),
        Command::Health(args) => cmd_health::run(args),
        Command::Policy { command } => {
            init_logs(false);
            cmd_policy::run(command)
        }
        Command::Serve { config } => {
            init_logs(true);
            warden::config::Config::load(config.as_deref()).and_then(warden::serve::serve).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "warden: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr: JSON lines for the server, plain text for commands.
/// `RUST_LOG` filters (default `info`).
fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.without_time().with_target(false).init();
    }
}

/// A reader that went away (`warden redact big.txt | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
