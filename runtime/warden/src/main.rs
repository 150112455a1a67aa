//! `warden`: the safety sidecar's command line.
//!
//! The subcommands live in [`cli`]; this file parses flags, runs one command
//! and turns its outcome into an exit code, printing an error once.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    match cli::Cli::parse().run() {
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
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
