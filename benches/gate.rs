//! Tool-gate benchmarks: the shell classifier with the default policy.
//!
//! `cargo bench -p warden-policy --bench gate`
//!
//! - `classify/{typical,pipeline,wrapped}`: one `exec` call, as the server
//!   judges it (JSON arguments in, tier and reason out). Before timing, the
//!   p50/p99 of 20,000 single calls cycling through the benign evaluation
//!   set (380 everyday commands) are printed as `latency gate benign set ...`
//!   (issue 12 asks for p99 <= 50 µs).
//! - `classify/64KiB`: a 64 KiB command (many short commands in a list),
//!   the largest the gate parses.
//!
//! Each case checks its verdict before it is timed.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use warden_policy::{PolicySource, Tier};

fn bench(c: &mut Criterion) {
    let gate = PolicySource::embedded().unwrap().tool_gate().unwrap();
    let cases: [(&str, String, Tier); 3] = [
        ("typical", r#"{"command":"git log --oneline -n 20 -- src/main.rs"}"#.into(), Tier::Yellow),
        (
            "pipeline",
            r#"{"command":"ps aux | grep -v grep | grep nginx | awk '{print $2}' | sort -n | head -5"}"#.into(),
            Tier::Yellow,
        ),
        ("wrapped", r#"{"command":"sudo timeout 5 bash -c 'rm -rf /srv/data'"}"#.into(), Tier::CriticalRed),
    ];
    for (name, args, want) in &cases {
        assert_eq!(gate.classify("exec", args).tier, *want, "{name}");
    }
    // Typical commands: the benign evaluation set, each a different call, so
    // no cache sees the same words twice in a row.
    let set = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gate/benign.jsonl")).unwrap();
    let calls: Vec<&str> = set.lines().filter(|l| !l.trim().is_empty()).collect();
    let n = 20_000;
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let call = calls[i % calls.len()];
            let t = Instant::now();
            std::hint::black_box(gate.classify("exec", call));
            t.elapsed()
        })
        .collect();
    times.sort();
    let q = |p: f64| times[((n as f64 * p) as usize).min(n - 1)];
    eprintln!("latency gate benign set: p50 {:?} p99 {:?} (n={n}, {} distinct calls)", q(0.50), q(0.99), calls.len());

    let mut group = c.benchmark_group("classify");
    for (name, args, _) in &cases {
        group.bench_function(*name, |b| b.iter(|| gate.classify("exec", std::hint::black_box(args))));
    }
    let big: String = "ls -la /tmp; ".repeat(64 * 1024 / 13);
    let big = serde_json::json!({ "command": big }).to_string();
    assert_eq!(gate.classify("exec", &big).tier, Tier::Yellow);
    group.sample_size(10);
    group.bench_function("64KiB", |b| b.iter(|| gate.classify("exec", std::hint::black_box(&big))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
