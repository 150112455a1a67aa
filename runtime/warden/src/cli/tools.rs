//! `warden tools classify [FILE.jsonl]`: how a policy decides tool calls,
//! checked by an operator before the policy is rolled out. Nothing is
//! recorded and no approval is opened: this is the policy's judgement alone
//! (rules, the shell classifier, classifier plugins), without grants or
//! earlier answers.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};
use warden_plugin_host::{HostConfig, PluginHost};

use crate::cli::args::PolicyArg;
use warden::policy::{BundleMeta, CompiledPolicy};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Decide tool calls given as JSON Lines (`{"tool_name", "tool_args",
    /// "agent_id"?}`, or a bare `{"command": "..."}` for `exec`) from FILE or
    /// stdin; print one JSON line each: decision, tier, reason, and every
    /// command found in the arguments with its own tier and reason. Exit 1
    /// if a line could not be read (it is reported and skipped).
    Classify {
        /// JSON Lines of tool calls (stdin when absent).
        #[arg(value_name = "FILE.jsonl")]
        file: Option<PathBuf>,
        /// Decide at this autonomy level (1-3) instead of the policy's.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        autonomy: Option<u8>,
        #[command(flatten)]
        policy: PolicyArg,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Classify { file, autonomy, policy } => classify(file.as_deref(), autonomy, &policy),
    }
}

fn classify(file: Option<&std::path::Path>, autonomy: Option<u8>, policy: &PolicyArg) -> anyhow::Result<ExitCode> {
    let mut source = policy.load()?;
    if let Some(level) = autonomy {
        source.settings.tools.autonomy = level;
    }
    let host = PluginHost::new(HostConfig::default())?;
    let compiled =
        CompiledPolicy::compile(source, BundleMeta::embedded(), &host, None).context("the policy does not compile")?;
    let input: Box<dyn BufRead> = match file {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut bad = 0usize;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let row = match call_of(&line) {
            Ok((tool, args, agent)) => {
                let canonical = warden_gate::canonical_json(&args);
                let v = compiled.gate_call(&tool, &canonical, &agent);
                let commands = compiled.gate.judge(&tool, &args).commands;
                json!({"line": n + 1, "tool_name": tool, "decision": v.decision, "tier": v.tier,
                       "reason": v.reason, "commands": commands})
            }
            Err(why) => {
                bad += 1;
                json!({"line": n + 1, "error": why})
            }
        };
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `(tool, args, agent)` from one line. The error never quotes the line (it
/// may hold secrets).
fn call_of(line: &str) -> Result<(String, Value, String), String> {
    let v: Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON ({:?} at column {})", e.classify(), e.column()))?;
    let Value::Object(map) = v else { return Err("expected a JSON object".into()) };
    if !map.contains_key("tool_name") {
        if let Some(Value::String(_)) = map.get("command") {
            return Ok(("exec".into(), Value::Object(map), "default".into()));
        }
    }
    let tool = map.get("tool_name").and_then(Value::as_str).ok_or("expected \"tool_name\" (a string)")?;
    let args = match map.get("tool_args") {
        None | Some(Value::Null) => json!({}),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => return Err("\"tool_args\" must be an object".into()),
    };
    let agent = map.get("agent_id").and_then(Value::as_str).filter(|a| !a.is_empty()).unwrap_or("default");
    Ok((tool.to_string(), args, agent.to_string()))
}
