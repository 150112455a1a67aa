//! `warden`: the safety sidecar's command line.
//!
//! Subcommands live in their own modules; this file parses flags, runs one
//! command and turns its outcome into an exit code, printing an error once.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd_plugin;
mod cmd_redact;
mod cmd_rules;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(args) => cmd_redact::run(args),
        Command::Rules { command } => cmd_rules::run(command),
        Command::Plugin { command } => cmd_plugin::run(command),
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

/// A reader that went away (`warden redact big.txt | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
