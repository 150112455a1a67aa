//! Redaction benchmarks with the full default rule set, on one core.
//!
//! `cargo bench -p warden-policy --bench redact`
//!
//! - `scan/{engine,naive}/{0,1,10}pct/{4KiB,64KiB,1MiB}`: throughput of the
//!   engine against the naive baseline: every rule's regex, compiled with
//!   the regex engine's default configuration (prefilters and all), run over
//!   the whole text. Measured in the same run. Corpora are
//!   generated (prose, code, JSON, logs) with 0%, 1% and 10% of lines
//!   carrying a secret from the rules' own examples.
//! - `chat4k`: one 4 KiB chat message; the p50/p99 of 20,000 single calls is
//!   printed as `latency chat4k ...`.
//! - `compile`: parsing and compiling the default rules.
//!
//! Each case checks its own result before it is timed: no findings at 0%,
//! at least one per secret line otherwise, and everything the naive
//! baseline finds.

#[path = "corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use regex_automata::meta;
use regex_automata::util::syntax;
use warden_policy::PolicySource;

/// "Run every regex over the whole text": each rule's regex with default
/// settings (but byte-oriented, as the rules are written).
struct Naive(Vec<meta::Regex>);

impl Naive {
    fn new() -> Naive {
        let syn = syntax::Config::new().unicode(false).utf8(false);
        let rules = PolicySource::embedded().unwrap().rules;
        Naive(rules.iter().map(|r| meta::Builder::new().syntax(syn).build(&r.regex).unwrap()).collect())
    }

    fn scan(&self, text: &str) -> usize {
        self.0.iter().map(|re| re.find_iter(text.as_bytes()).count()).sum()
    }
}

fn secrets() -> Vec<String> {
    PolicySource::embedded().unwrap().rules.into_iter().flat_map(|r| r.examples.positive).collect()
}

fn scan(c: &mut Criterion) {
    let engine = warden_policy::default_engine().unwrap();
    let baseline = Naive::new();
    let secrets = secrets();
    let mut group = c.benchmark_group("scan");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (pct, density) in [(0, 0.0), (1, 0.01), (10, 0.10)] {
        for (name, size) in [("4KiB", 4 << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
            let (text, secret_lines) = corpus::generate(size, density, &secrets, 1 + pct as u64);
            let found = engine.find(&text).unwrap();
            if secret_lines == 0 {
                assert!(found.is_empty(), "{} false positives at 0%", found.len());
            } else {
                assert!(found.len() >= secret_lines, "{} findings for {secret_lines} secret lines", found.len());
            }
            let naive = engine.find_naive(&text).unwrap();
            assert!(
                naive.iter().all(|n| found.iter().any(|f| f.start <= n.start && n.end <= f.end)),
                "the engine misses something the baseline finds"
            );
            group.throughput(Throughput::Bytes(text.len() as u64));
            let id = format!("{pct}pct/{name}");
            group.bench_with_input(BenchmarkId::new("engine", &id), &text, |b, t| b.iter(|| engine.find(t).unwrap()));
            group.bench_with_input(BenchmarkId::new("naive", &id), &text, |b, t| b.iter(|| baseline.scan(t)));
        }
    }
    group.finish();
}

fn chat4k(c: &mut Criterion) {
    let engine = warden_policy::default_engine().unwrap();
    let baseline = Naive::new();
    let msg = corpus::chat_message(4 << 10, 99);
    assert!(engine.find(&msg).unwrap().is_empty());
    for (name, f) in [
        ("engine", &(|t: &str| engine.find(t).unwrap().len()) as &dyn Fn(&str) -> usize),
        ("naive", &|t: &str| baseline.scan(t)),
    ] {
        let n = if name == "engine" { 20_000 } else { 500 };
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let t0 = Instant::now();
                std::hint::black_box(f(std::hint::black_box(&msg)));
                t0.elapsed()
            })
            .collect();
        times.sort();
        let q = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        eprintln!("latency chat4k {name}: p50 {:?} p99 {:?} (n={n})", q(0.50), q(0.99));
    }
    let mut group = c.benchmark_group("chat4k");
    group.throughput(Throughput::Bytes(msg.len() as u64));
    group.bench_function("engine", |b| b.iter(|| engine.find(&msg).unwrap()));
    group.finish();
}

fn compile(c: &mut Criterion) {
    let src = PolicySource::embedded().unwrap();
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("default-rules", |b| b.iter(|| src.compile().unwrap()));
    group.bench_function("parse+default-rules", |b| b.iter(|| PolicySource::embedded().unwrap().compile().unwrap()));
    group.finish();
}

criterion_group!(benches, scan, chat4k, compile);
criterion_main!(benches);
