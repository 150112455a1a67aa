//! `warden rules list|test`.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::args::PolicyArg;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print every rule: id, layer, label and keywords.
    List {
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Run every rule's positive and negative examples; exit 1 on a failure.
    Test {
        #[command(flatten)]
        policy: PolicyArg,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { policy } => list(&policy),
        Command::Test { policy } => test(&policy),
    }
}

fn list(policy: &PolicyArg) -> anyhow::Result<ExitCode> {
    let engine = policy.load()?.compile()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let width = engine.rules().map(|r| r.id.len()).max().unwrap_or(0);
    writeln!(out, "{:<width$}  {:<8}  {:<22}  KEYWORDS", "ID", "LAYER", "LABEL")?;
    for r in engine.rules() {
        let kw = if r.keywords.is_empty() { "-".to_string() } else { r.keywords.join(",") };
        writeln!(out, "{:<width$}  {:<8}  {:<22}  {kw}", r.id, r.layer.as_str(), r.label)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn test(policy: &PolicyArg) -> anyhow::Result<ExitCode> {
    let src = policy.load()?;
    let engine = src.compile()?;
    let failures = engine.check_examples();
    let examples: usize = src.rules.iter().map(|r| r.examples.positive.len() + r.examples.negative.len()).sum();
    let mut err = std::io::stderr().lock();
    for f in &failures {
        writeln!(err, "FAIL {f}")?;
    }
    let rules = src.rules.len();
    if failures.is_empty() {
        writeln!(std::io::stdout(), "{rules} rules, {examples} examples: all passed")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(err, "{rules} rules, {examples} examples: {} failed", failures.len())?;
        Ok(ExitCode::from(1))
    }
}
