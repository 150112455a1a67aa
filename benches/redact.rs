//! Redaction benchmarks with the full default rule set, on one core.
//!
//! `taskset -c 1 cargo bench -p warden-policy --bench redact`
//!
//! - `scan/{engine,naive,memchr}/{0,1}pct/{64KiB,1MiB}`: throughput of the
//!   engine against the naive baseline (every rule's regex, compiled with
//!   the regex engine's default configuration, prefilters and all, run over
//!   the whole text) and against `memchr` for one byte, the floor of any
//!   scan. Corpora are generated (prose, code, JSON, logs) with 0% and 1%
//!   of lines carrying a secret from the rules' own examples. For 1 MiB the
//!   three are also timed back to back and printed as `ratios scan ...`:
//!   on a shared machine the ratios move less than the absolute figures.
//! - `chat4k`: one 4 KiB chat message; the p50/p99 of 20,000 single calls is
//!   printed as `latency chat4k ...` (engine, naive and memchr).
//! - `compile`: parsing and compiling the default rules.
//!
//! Each case checks its own result before it is timed: at least one finding
//! per secret line, and everything the naive baseline finds.

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

/// Median wall time of `f` over `runs` calls.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn mib_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn scan(c: &mut Criterion) {
    let engine = warden_policy::default_engine().unwrap();
    let baseline = Naive::new();
    let secrets = secrets();
    let mut group = c.benchmark_group("scan");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (pct, density) in [(0, 0.0), (1, 0.01)] {
        for (name, size) in [("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
            let (text, secret_lines) = corpus::generate(size, density, &secrets, 1 + pct as u64);
            let found = engine.find(&text).unwrap();
            // The generated benign lines carry near-misses on purpose; a
            // stray finding or two at 0% is the rules' business (the eval
            // measures false alarms), not the benchmark's.
            assert!(found.len() >= secret_lines, "{} findings for {secret_lines} secret lines", found.len());
            let naive = engine.find_naive(&text).unwrap();
            assert!(
                naive.iter().all(|n| found.iter().any(|f| f.start <= n.start && n.end <= f.end)),
                "the engine misses something the baseline finds"
            );
            group.throughput(Throughput::Bytes(text.len() as u64));
            let id = format!("{pct}pct/{name}");
            group.bench_with_input(BenchmarkId::new("engine", &id), &text, |b, t| b.iter(|| engine.find(t).unwrap()));
            if size == 1 << 20 {
                group.bench_with_input(BenchmarkId::new("naive", &id), &text, |b, t| b.iter(|| baseline.scan(t)));
                group.bench_with_input(BenchmarkId::new("memchr", &id), &text, |b, t| {
                    b.iter(|| memchr::memchr_iter(b'@', t.as_bytes()).count())
                });
                // The same three, timed back to back, as ratios: the machine is
                // shared, so absolute figures move between runs; ratios less.
                let e = median(15, || drop(std::hint::black_box(engine.find(&text).unwrap())));
                let n = median(3, || {
                    std::hint::black_box(baseline.scan(&text));
                });
                let m = median(31, || {
                    std::hint::black_box(memchr::memchr_iter(b'@', text.as_bytes()).count());
                });
                eprintln!(
                    "ratios scan {id}: engine {:.0} MiB/s, naive {:.1} MiB/s, memchr {:.0} MiB/s; \
                     engine/naive {:.1}x, engine/memchr {:.3}",
                    mib_s(text.len(), e),
                    mib_s(text.len(), n),
                    mib_s(text.len(), m),
                    n.as_secs_f64() / e.as_secs_f64(),
                    m.as_secs_f64() / e.as_secs_f64(),
                );
            }
        }
    }
    group.finish();
}

fn chat4k(c: &mut Criterion) {
    let engine = warden_policy::default_engine().unwrap();
    let baseline = Naive::new();
    let msg = corpus::chat_message(4 << 10, 99);
    for (name, f) in [
        ("engine", &(|t: &str| engine.find(t).unwrap().len()) as &dyn Fn(&str) -> usize),
        ("naive", &|t: &str| baseline.scan(t)),
        ("memchr", &|t: &str| memchr::memchr_iter(b'@', t.as_bytes()).count()),
    ] {
        let n = if name == "naive" { 500 } else { 20_000 };
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
