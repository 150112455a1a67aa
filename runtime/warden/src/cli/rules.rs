//! `warden rules list|test|eval`.

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
    /// Measure the policy on labelled JSON Lines (`{"text", "secrets": [..]}`
    /// or `{"text", "spans": [{"start", "end", "kind"}]}`; neither = a
    /// negative; `"group": "benign..."` = benign text, counted per MB):
    /// recall, secrets still visible, false alarms, PII span recall.
    Eval {
        #[arg(value_name = "FILE.jsonl")]
        file: std::path::PathBuf,
        #[command(flatten)]
        policy: PolicyArg,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { policy } => list(&policy),
        Command::Test { policy } => test(&policy),
        Command::Eval { file, policy } => eval(&file, &policy),
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

fn eval(file: &std::path::Path, policy: &PolicyArg) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let engine = policy.load()?.compile()?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let cases = warden_redact::eval::parse_jsonl(&text).with_context(|| format!("{}", file.display()))?;
    let mut failed = 0usize;
    let report = warden_redact::eval::score(&cases, |t| {
        engine.find(t).unwrap_or_else(|_| {
            failed += 1;
            Vec::new()
        })
    });
    write!(std::io::stdout(), "{} cases\n{report}", cases.len())?;
    if failed > 0 {
        eprintln!("warden: a detector failed on {failed} case(s); they count as found nothing");
    }
    Ok(ExitCode::SUCCESS)
}
