//! `warden serve`: load the configuration and run the sidecar until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration file (warden.toml); every key has a default and a
    /// WARDEN_* environment override.
    #[arg(long, value_name = "FILE", env = "WARDEN_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = warden::config::Config::load(args.config.as_deref())?;
    warden::serve::serve(cfg)?;
    Ok(ExitCode::SUCCESS)
}
