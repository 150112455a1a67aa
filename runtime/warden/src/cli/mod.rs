//! The `warden` subcommands, one module each, and the flags they share
//! ([`args`]). Each command returns its exit code; errors go up to `main`,
//! which prints them once.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod args;
pub mod bundle;
pub mod health;
pub mod keygen;
pub mod plugin;
pub mod policy;
pub mod redact;
pub mod rules;
pub mod secrets;
pub mod serve;
pub mod tools;

/// Warden keeps secrets and personal data away from an AI agent's model
/// provider, and risky tool calls behind a human.
#[derive(Parser, Debug)]
#[command(name = "warden", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Redact secrets and personal data from text (FILE or stdin) to stdout.
    Redact(redact::Args),
    /// List the detection rules or check them against their examples.
    Rules {
        #[command(subcommand)]
        command: rules::Command,
    },
    /// Inspect and try a Wasm plugin component.
    Plugin {
        #[command(subcommand)]
        command: plugin::Command,
    },
    /// Make a bundle signing key.
    Keygen(keygen::Args),
    /// Build, sign, verify and self-test policy bundles.
    Bundle {
        #[command(subcommand)]
        command: bundle::Command,
    },
    /// The policy in force on this node: status, activate, roll back, history.
    Policy {
        #[command(subcommand)]
        command: policy::Command,
    },
    /// The vault: store, list, delete secrets; rotate its identity.
    Secrets {
        #[command(subcommand)]
        command: secrets::Command,
    },
    /// Check how a policy decides tool calls (tier, decision, reason).
    Tools {
        #[command(subcommand)]
        command: tools::Command,
    },
    /// Check that the local server is alive (`GET /healthz`): exit 0 or 1.
    Health(health::Args),
    /// Run the sidecar: egress port (LLM gateway, forward proxy), control
    /// API (tool-call gate, approvals, vault, metrics), policy polling, hub link.
    Serve(serve::Args),
}

impl Cli {
    /// Run the chosen command.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Redact(args) => redact::run(args),
            Command::Rules { command } => rules::run(command),
            Command::Plugin { command } => plugin::run(command),
            Command::Keygen(args) => keygen::run(args),
            Command::Secrets { command } => secrets::run(command),
            Command::Bundle { command } => bundle::run(command),
            Command::Health(args) => health::run(args),
            Command::Tools { command } => tools::run(command),
            Command::Policy { command } => {
                init_logs(false);
                policy::run(command)
            }
            Command::Serve(args) => {
                init_logs(true);
                serve::run(args)
            }
        }
    }
}

/// Logs go to stderr: JSON lines for the server, plain text for commands.
/// `RUST_LOG` filters (default `info`).
/// Log targets that may carry secret values and are never shown.
const SILENCED: &str = "parse=off,brush_parser=off";

fn init_logs(json: bool) {
    // The shell parser (brush-parser) logs whole parsed commands, which can
    // hold secrets, at debug under the target `parse`: never shown, whatever
    // `RUST_LOG` asks for (ours come last, so they win over the user's).
    let wanted = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{wanted},{SILENCED}"))
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(format!("info,{SILENCED}")))
        .expect("the built-in log filter parses");
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
