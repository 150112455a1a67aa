//! The sidecar's footprint and the tool-call gate's latency, each against a
//! baseline measured in the same run:
//!
//! - `tools/execute` p50 / p99 at a fixed 500 requests/s for 10 s (an
//!   executed call and a gated one, which also writes an approval), against
//!   `GET /healthz` on the same server at the same rate (the HTTP floor).
//!   Every decision commits its audit row (`synchronous = FULL`) before the
//!   answer, so one audit commit alone is timed too: the disk's fsync is the
//!   floor of a decision. Target: p99 at 500 requests/s reported.
//! - resident memory idle, after the gate load and after gateway load
//!   (64 KiB prompts at 200 requests/s). Goal: <= 64 MiB.
//! - start-up to ready (`/readyz` 200) with a bundle of the default rules and
//!   two plugins whose compiled code is cached, against the process start
//!   floor (`warden --version`). Goal: <= 200 ms.
//!
//! `cargo bench -p warden --bench serve`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::gateway_env::{activate, launch, start, start_provider, EMAIL};
use support::load::{fixed_rate, ms, pct, rss};
use support::{policy_with_plugins, signed_archive, TempDir};
use warden_policy::bundle::SecretKey;

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    std::env::set_var("WARDEN_TEST_LOG", "warn");
    let provider = start_provider();
    let dir = TempDir::new("bench-serve");
    let server = start(&dir, &provider);
    std::thread::sleep(Duration::from_secs(1));
    let (idle, _) = rss(server.pid());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(256).build().unwrap();
    let control = format!("http://127.0.0.1:{}", server.control);
    let token = server.token("agent");
    println!("sidecar benchmark (one machine, 2 cores shared by client and warden)");
    println!("{:<34} {:>9} {:>9} {:>7}", "case (500 requests/s, 10 s)", "p50 ms", "p99 ms", "errors");
    let executed = serde_json::json!({"session_id": "s", "agent_id": "bench", "tool_name": "exec",
        "tool_args": {"command": "git status --short && ls -la src/"}})
    .to_string();
    let gated = serde_json::json!({"session_id": "s", "agent_id": "bench", "tool_name": "message",
        "tool_args": {"to": EMAIL, "text": "the quarterly numbers are in"}})
    .to_string();
    rt.block_on(async {
        let health = || client.get(format!("{control}/healthz"));
        let tool = |body: &String| {
            let body = body.clone();
            let (client, url, token) = (client.clone(), format!("{control}/api/v1/tools/execute"), token.clone());
            move || client.post(&url).bearer_auth(&token).header("content-type", "application/json").body(body.clone())
        };
        fixed_rate(200, 1, false, tool(&executed)).await; // warm-up
        let mut floor = Duration::ZERO;
        for (name, lat) in [
            ("GET /healthz (baseline)", fixed_rate(500, 10, false, health).await),
            ("tools/execute, decision execute", fixed_rate(500, 10, false, tool(&executed)).await),
            ("tools/execute, decision gate", fixed_rate(500, 10, false, tool(&gated)).await),
        ] {
            let (lat, errors) = lat;
            if floor.is_zero() {
                floor = pct(&lat, 0.99);
            }
            println!(
                "{:<34} {:>9.3} {:>9.3} {:>7}   p99 {:.1}x the baseline",
                name,
                ms(pct(&lat, 0.5)),
                ms(pct(&lat, 0.99)),
                errors,
                ms(pct(&lat, 0.99)) / ms(floor).max(1e-6)
            );
        }
    });
    // The floor of every decision: one durable audit commit (WAL,
    // synchronous = FULL, so one fsync), timed one after another on the
    // same disk.
    let db = warden_store::Store::open(&dir.join("floor.db")).unwrap();
    let mut commits: Vec<Duration> = (0..2000)
        .map(|i| {
            let t = Instant::now();
            db.audit("bench", "tool.execute", "exec", &format!("tier YELLOW call {i}")).unwrap();
            t.elapsed()
        })
        .collect();
    commits.sort();
    println!(
        "{:<34} {:>9.3} {:>9.3} {:>7}   (one audit commit, back to back: the disk's fsync)",
        "durable commit alone",
        ms(pct(&commits, 0.5)),
        ms(pct(&commits, 0.99)),
        0
    );
    let (after_gate, _) = rss(server.pid());
    rt.block_on(async {
        let mut text = format!("Please write to {EMAIL}. ");
        while text.len() < 64 << 10 {
            text.push_str("The team reviewed the roadmap and agreed to ship the next milestone on time. ");
        }
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": text}]}).to_string();
        let url = format!("http://127.0.0.1:{}/llm/fake/v1/chat/completions", server.egress);
        let (_, errors) = fixed_rate(200, 5, false, || {
            client.post(&url).header("content-type", "application/json").body(body.clone())
        })
        .await;
        assert_eq!(errors, 0);
    });
    let (after_gateway, peak) = rss(server.pid());
    println!(
        "resident memory: idle {:.1} MiB, after the gate load {:.1} MiB, after 64 KiB prompts at 200/s {:.1} MiB, peak {:.1} MiB (goal <= 64 MiB)",
        mib(idle),
        mib(after_gate),
        mib(after_gateway),
        mib(peak)
    );
    drop(server);

    // Start-up with two plugins whose code is cached (the activation below
    // compiled them), against the bare process start.
    let dir = TempDir::new("bench-startup");
    let key = SecretKey::generate().unwrap();
    activate(&dir, &key, &signed_archive(policy_with_plugins(), 1, &key));
    let bin = env!("CARGO_BIN_EXE_warden");
    let floor: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            assert!(Command::new(bin).arg("--version").stdout(Stdio::null()).status().unwrap().success());
            t.elapsed()
        })
        .collect();
    let mut times = Vec::new();
    let mut server = launch(&dir, &provider, &key, "", "");
    let _ = server.terminate();
    for _ in 0..10 {
        let t = Instant::now();
        let s = server.restart();
        // `restart` returns once both ports accept; ready is /readyz 200.
        loop {
            let (code, _) = s.control("GET", "/readyz", None, &[], None);
            if code == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(t.elapsed());
        server = s;
        let _ = server.terminate();
    }
    times.sort();
    let mut floor = floor;
    floor.sort();
    println!(
        "start-up to ready, default rules + 2 cached plugins: median {:.1} ms, max {:.1} ms; process start floor (warden --version) median {:.1} ms (goal <= 200 ms)",
        ms(pct(&times, 0.5)),
        ms(pct(&times, 1.0)),
        ms(pct(&floor, 0.5))
    );
}
