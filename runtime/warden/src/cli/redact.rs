//! `warden redact [FILE] [--jsonl]`.
//!
//! Plain mode streams: the input is read in chunks through a
//! [`StreamRedactor`], so memory stays bounded whatever the input size and
//! the output equals whole-text redaction. JSON Lines mode treats each line
//! as its own document.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use warden_plugin_host::{DetectorPlugin, HostConfig, Limits, PluginHost};
use warden_redact::{Engine, Session};

use crate::cli::args::PolicyArg;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// File to read; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Read JSON Lines `{"id": ..., "text": ...}` and write one
    /// `{"id", "redacted", "findings"}` line per input line.
    #[arg(long)]
    jsonl: bool,
    /// A detector plugin component to run as the fifth layer (repeatable).
    /// It runs with default limits and fails closed: if it fails, nothing
    /// is written for that input.
    #[arg(long, value_name = "FILE.wasm")]
    plugin: Vec<PathBuf>,
    /// Also catch every secret in this state directory's vault, in any of
    /// its shapes (the exact layer, as the egress path does).
    #[arg(long, value_name = "DIR")]
    vault: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut engine = args.policy.load()?.compile()?;
    if !args.plugin.is_empty() {
        let host = PluginHost::new(HostConfig::default())?;
        for path in &args.plugin {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin");
            let loaded = host.load(name, &bytes)?;
            let plugin = DetectorPlugin::new(&host, &loaded, Limits::default())?;
            engine = engine.with_detector(Arc::new(plugin));
        }
    }
    if let Some(dir) = &args.vault {
        let state = warden::state::StateDir::open(dir)?;
        anyhow::ensure!(state.identity().exists(), "{} has no vault (no identity.txt)", dir.display());
        let store = Arc::new(warden_store::Store::open(&state.db())?);
        let (vault, _) = warden_vault::Vault::open(store, &state.identity())?;
        engine = engine.with_exact(vault.exact_set()?);
    }
    let input: Box<dyn Read> = match &args.file {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
    };
    let stdout = std::io::stdout().lock();
    if args.jsonl {
        jsonl(&engine, BufReader::new(input), stdout)
    } else {
        plain(&engine, input, stdout)
    }
}

fn plain(engine: &Engine, mut input: impl Read, mut out: impl Write) -> anyhow::Result<ExitCode> {
    let mut session = Session::new();
    let mut stream = engine.stream();
    // PERF: each chunk is scanned together with the engine's hold-back
    // (tens of KiB of context kept from the previous chunk), so small reads
    // scan much of the input twice; 1 MiB reads keep that to a few percent.
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading input"),
        };
        out.write_all(stream.push(&buf[..n], &mut session)?.as_bytes())?;
    }
    out.write_all(stream.finish(&mut session)?.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Deserialize)]
struct InLine {
    id: serde_json::Value,
    text: String,
}

#[derive(Serialize)]
struct OutLine<'a> {
    id: &'a serde_json::Value,
    redacted: &'a str,
    findings: Vec<OutFinding<'a>>,
}

#[derive(Serialize)]
struct OutFinding<'a> {
    start: usize,
    end: usize,
    layer: &'a str,
    rule: &'a str,
    label: &'a str,
}

fn jsonl(engine: &Engine, input: impl BufRead, out: impl Write) -> anyhow::Result<ExitCode> {
    let mut out = std::io::BufWriter::new(out);
    let mut bad = 0usize;
    for (i, line) in input.lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("reading line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: InLine = match serde_json::from_str(&line) {
            Ok(p) => p,
            Err(e) => {
                bad += 1;
                // Name the id when the line has one, else the line number;
                // never echo the text.
                let id = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .map(|id| format!("id {id}"))
                    .unwrap_or_else(|| format!("line {line_no}"));
                eprintln!("warden: {id}: malformed input: {e}");
                continue;
            }
        };
        let mut session = Session::new();
        let red = match engine.redact(&parsed.text, &mut session) {
            Ok(r) => r,
            Err(e) => {
                bad += 1;
                eprintln!("warden: id {}: {e}", parsed.id);
                continue;
            }
        };
        let findings = red
            .findings
            .iter()
            .map(|f| OutFinding { start: f.start, end: f.end, layer: f.layer.as_str(), rule: &f.rule, label: &f.label })
            .collect();
        serde_json::to_writer(&mut out, &OutLine { id: &parsed.id, redacted: &red.text, findings })?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if bad > 0 {
        eprintln!("warden: {bad} malformed or failed line(s)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
