//! The OpenClaw plugin (`integrations/openclaw/`) driven by the real
//! `openclaw` npm package, headless: OpenClaw -> Warden's gateway -> a fake
//! model provider that calls tools; the plugin's `before_tool_call` hook asks
//! the real `warden serve`. `tests/setup.sh` installs Node 24 and OpenClaw
//! under `target/openclaw` (or set `WARDEN_OPENCLAW_DIR`).

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde_json::json;
use support::gateway_env::*;
use support::TempDir;

fn openclaw_dir() -> PathBuf {
    std::env::var_os("WARDEN_OPENCLAW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/openclaw"))
}

#[test]
fn openclaw_asks_warden_before_every_tool_call() {
    let oc = openclaw_dir();
    let cli = oc.join("app/node_modules/openclaw/openclaw.mjs");
    let node = oc.join("node/bin/node");
    assert!(cli.exists() && node.exists(), "OpenClaw is not installed under {}: run tests/setup.sh", oc.display());
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integrations/openclaw").canonicalize().unwrap();

    let dir = TempDir::new("openclaw");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("keep.txt"), "must survive").unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = json!({
        "agents": {"defaults": {"model": {"primary": "warden/oc-tools"}, "workspace": work}},
        "models": {"mode": "merge", "providers": {"warden": {
            "baseUrl": format!("http://127.0.0.1:{}/llm/fake/v1", server.egress),
            "apiKey": "placeholder",
            "api": "openai-completions",
            "models": [{"id": "oc-tools", "name": "Tools", "reasoning": false, "input": ["text"],
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                "contextWindow": 128000, "maxTokens": 4096}]}}},
        "plugins": {
            "load": {"paths": [plugin]},
            "entries": {"warden": {"enabled": true, "config": {
                "url": format!("http://127.0.0.1:{}", server.control),
                "tokenFile": server.state.join("agent.token"),
                "waitSeconds": 2
            }}},
            "allow": ["warden"]
        },
        "logging": {"file": dir.join("openclaw.log")}
    });
    let config_path = dir.join("openclaw.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let path = format!("{}:{}", node.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let t = Instant::now();
    let out = Command::new(&node)
        .arg(&cli)
        .args(["agent", "--local", "--agent", "main", "--json", "-m"])
        .arg(format!("WARDEN-TEST dir={}", work.display()))
        .env("PATH", path)
        .env("HOME", &home)
        .env("OPENCLAW_CONFIG_PATH", &config_path)
        .env("OPENCLAW_STATE_DIR", dir.join("ocstate"))
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .output()
        .unwrap();
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = || {
        format!(
            "openclaw exit {:?} after {took:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nwarden:\n{}",
            out.status,
            server.logs()
        )
    };

    // The destructive call was held at the gateway (issue 15): OpenClaw never
    // saw it, and the model's next request carries Warden's text in its place.
    let seen = provider.seen.lock().unwrap();
    let second = seen
        .iter()
        .map(|s| &s.body)
        .find(|b| b.contains("\"role\":\"tool\""))
        .unwrap_or_else(|| panic!("no tool results reached the model\n{}", context()));
    assert!(
        second.contains("The tool call exec (") && second.contains(") is held for a human: approval apr_"),
        "the refusal reached the model\n{second}\n{}",
        context()
    );
    drop(seen);
    assert!(work.join("keep.txt").exists(), "rm -rf ran\n{}", context());

    // The write ran with the password Warden redacted from its arguments.
    let note = std::fs::read_to_string(work.join("note.txt"))
        .unwrap_or_else(|e| panic!("write did not run ({e})\n{}", context()));
    assert!(note.starts_with("db password: [") && !note.contains(DB_PASSWORD), "{note}");

    // Warden decided both calls.
    let db = warden_store::Store::open(&server.state.join("warden.db")).unwrap();
    let decisions: Vec<(String, String)> =
        db.audit_log(50).unwrap().into_iter().map(|e| (e.action, e.subject)).collect();
    assert!(decisions.contains(&("tool.gate".into(), "exec".into())), "{decisions:?}");
    assert!(decisions.contains(&("tool.execute".into(), "write".into())), "{decisions:?}");
    // The write was decided at the gateway and again, by ticket, at the hook:
    // one approval in all (the exec's).
    assert_eq!(db.approvals(None, 50).unwrap().len(), 1, "{decisions:?}");
}

#[test]
fn the_plugin_type_checks_strictly() {
    // TypeScript and Node's types come with OpenClaw's own dependencies.
    let oc = openclaw_dir();
    let modules = oc.join("app/node_modules");
    let tsc = modules.join("typescript/bin/tsc");
    assert!(tsc.exists(), "no TypeScript under {}: run tests/setup.sh", modules.display());
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integrations/openclaw");
    let out = Command::new(oc.join("node/bin/node"))
        .arg(&tsc)
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "--types",
            "node",
        ])
        .arg("--typeRoots")
        .arg(modules.join("@types"))
        .arg(plugin.join("index.ts"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tsc:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
