//! `warden plugin check FILE.wasm [--input TEXT]`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use warden_plugin_host::{ClassifierPlugin, DetectorPlugin, HostConfig, Limits, PluginHost, ToolCall, World};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Load a component, print which world it implements and its exports,
    /// run it once and print the result. Exit 0 only if all of that works.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Input for the one run. A detector gets it as text. A classifier
        /// gets it as a JSON tool call (`{"tool_name", "arguments",
        /// "agent_id"}`), or else as a shell command for an `exec` call.
        #[arg(long)]
        input: Option<String>,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Check { file, input } => check(&file, input.as_deref()),
    }
}

fn check(file: &std::path::Path, input: Option<&str>) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin").to_string();
    let host = PluginHost::new(HostConfig::default())?;
    let loaded = host.load(&name, &bytes)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "component: {} ({} bytes, sha256 {})", file.display(), bytes.len(), loaded.sha256)?;
    writeln!(out, "world: {}", loaded.world.wit_name())?;
    writeln!(out, "exports:")?;
    for e in &loaded.exports {
        writeln!(out, "  {}: {}", e.name, e.kind)?;
    }
    match loaded.world {
        World::Detector => {
            let text = input.unwrap_or("hello from warden plugin check");
            let plugin = DetectorPlugin::new(&host, &loaded, Limits::default())?;
            let found = plugin.call(text)?;
            let json: Vec<serde_json::Value> = found
                .iter()
                .map(|f| {
                    serde_json::json!({"start": f.start, "end": f.end, "label": &*f.label, "text_len": f.end - f.start})
                })
                .collect();
            writeln!(out, "result: {} finding(s) {}", found.len(), serde_json::Value::Array(json))?;
        }
        World::Classifier => {
            let call = tool_call(input.unwrap_or("ls -la"));
            let plugin = ClassifierPlugin::new(&host, &loaded, Limits::default())?;
            let v = plugin.classify(&call)?;
            writeln!(out, "result: {}", serde_json::json!({"tier": v.tier.as_str(), "reason": v.reason}))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tool_call(input: &str) -> ToolCall {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(input) {
        if let Some(tool) = v.get("tool_name").and_then(|t| t.as_str()) {
            let arguments = match v.get("arguments") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "{}".to_string(),
            };
            let agent_id = v.get("agent_id").and_then(|a| a.as_str()).unwrap_or("check").to_string();
            return ToolCall { tool_name: tool.to_string(), arguments, agent_id };
        }
    }
    ToolCall {
        tool_name: "exec".into(),
        arguments: serde_json::json!({ "command": input }).to_string(),
        agent_id: "check".into(),
    }
}
