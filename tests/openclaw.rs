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
    let config = openclaw_config(
        &work,
        &format!("127.0.0.1:{}", server.egress),
        &plugin,
        &format!("127.0.0.1:{}", server.control),
        &server.state.join("agent.token"),
        &dir.join("openclaw.log"),
    );
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

    check_openclaw_turn(&provider, &work, &server.state.join("warden.db"), &context);
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
