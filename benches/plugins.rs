//! Plugin host benchmarks, each against the same logic called natively.
//!
//! `cargo bench -p warden-plugin-host --bench plugins`
//!
//! - `trivial-1KiB/warm`: a call on an existing instance (fuel and deadline
//!   reset, text copied in, findings lifted and validated);
//! - `trivial-1KiB/fresh`: what every production call does: a fresh instance
//!   from the `InstancePre` out of the pooling allocator, then the call;
//! - `instantiate`: the fresh instance alone;
//! - `bip39-64KiB/{plugin,native}`: the BIP-39 detector's throughput, and the
//!   same scanner (`plugins/bip39/src/scan.rs`) compiled natively.

extern crate alloc;

#[path = "../plugins/bip39/src/scan.rs"]
mod bip39_scan;
#[path = "corpus.rs"]
mod corpus;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use warden_plugin_fixtures as fx;
use warden_plugin_host::{DetectorPlugin, HostConfig, Limits, PluginHost};

fn plugin(host: &PluginHost, path: &str, name: &str) -> DetectorPlugin {
    let loaded = host.load(name, &fx::bytes(path)).unwrap();
    DetectorPlugin::new(host, &loaded, Limits::default()).unwrap()
}

fn trivial(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let p = plugin(&host, fx::TRIVIAL, "trivial");
    let text = corpus::chat_message(1024, 5)[..1024].to_string() + " hunter2";
    let native = |t: &str| t.match_indices("hunter2").map(|(i, _)| (i, i + 7)).collect::<Vec<_>>();
    assert_eq!(p.call(&text).unwrap().len(), native(&text).len());

    let mut g = c.benchmark_group("trivial-1KiB");
    g.throughput(Throughput::Bytes(text.len() as u64));
    let mut warm = p.warm().unwrap();
    g.bench_function("warm", |b| b.iter(|| warm.detect(&text).unwrap()));
    g.bench_function("fresh", |b| b.iter(|| p.call(&text).unwrap()));
    g.bench_function("native", |b| b.iter(|| native(std::hint::black_box(&text))));
    g.finish();

    c.bench_function("instantiate", |b| b.iter(|| p.warm().unwrap()));
}

fn bip39(c: &mut Criterion) {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let p = plugin(&host, fx::BIP39, "bip39");
    let (mut text, _) = corpus::generate(64 << 10, 0.0, &[], 3);
    text.push_str(&format!("seed: {} about\n", "abandon ".repeat(11)));
    let native = bip39_scan::find(&text);
    assert_eq!(native.len(), 1);
    assert_eq!(p.call(&text).unwrap().len(), 1);

    let mut g = c.benchmark_group("bip39-64KiB");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("plugin", |b| b.iter(|| p.call(&text).unwrap()));
    g.bench_function("native", |b| b.iter(|| bip39_scan::find(std::hint::black_box(&text))));
    g.finish();
}

criterion_group!(benches, trivial, bip39);
criterion_main!(benches);
