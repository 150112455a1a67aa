//! Bundle activation: verify + activate a bundle of the 283 default rules
//! and two plugins (the BIP-39 detector and the shell classifier).
//!
//! - `verify`: unpack the .tar.gz and run every check (signature, hashes).
//! - `compile-rules`: the baseline, compiling the rules alone.
//! - `activate/cached`: the whole activation (verify, anti-rollback, compile
//!   rules and plugins, self-tests, durable write, SQLite commit, swap) with
//!   the plugins' compiled code in the on-disk cache. Target <= 50 ms.
//! - `activate/cold`: the same with an empty plugin cache.
//!
//! `cargo bench -p warden --bench bundle`

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use support::{policy_with_plugins, signed_archive, TempDir};
use warden::policy::{Activator, Outcome, Settings};
use warden_plugin_host::{HostConfig, PluginHost};
use warden_policy::bundle::{self, archive, Keyring, SecretKey, VerifyOptions};
use warden_policy::PolicySource;
use warden_store::Store;

fn activator(dir: &TempDir, key: &SecretKey, cache: &std::path::Path) -> Activator {
    let store = Arc::new(Store::open(&dir.join("warden.db")).unwrap());
    let host = PluginHost::new(HostConfig { cache_dir: Some(cache.to_path_buf()), ..HostConfig::default() }).unwrap();
    let settings = Settings { keyring: Keyring::new([key.public()]), tenant: None, max_staleness: None };
    Activator::start(store, dir.join("bundles"), host, settings).unwrap()
}

fn benches(c: &mut Criterion) {
    let key = SecretKey::generate().unwrap();
    let files = policy_with_plugins();
    let rules = PolicySource::from_files(files.clone(), "bench").unwrap().rules.len();
    assert!(rules >= 200);
    let one = signed_archive(files.clone(), 1, &key);
    let ring = Keyring::new([key.public()]);

    let mut g = c.benchmark_group(format!("bundle-{rules}-rules-2-plugins"));
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("verify", |b| {
        b.iter(|| {
            let f = archive::read_tar_gz(&one, &Default::default()).unwrap();
            bundle::verify(f, &ring, &VerifyOptions::now()).unwrap()
        })
    });
    let src = PolicySource::from_files(files.clone(), "bench").unwrap();
    g.bench_function("compile-rules", |b| b.iter(|| src.compile().unwrap()));

    let dir = TempDir::new("bench-activate");
    let cache = dir.join("plugin-cache");
    let a = activator(&dir, &key, &cache);
    let mut revision = 1u64;
    // Warm the cache.
    a.activate_archive(&signed_archive(files.clone(), revision, &key), "bench").unwrap();
    g.bench_function("activate/cached", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                revision += 1;
                let next = signed_archive(files.clone(), revision, &key);
                let t = Instant::now();
                let out = a.activate_archive(&next, "bench").unwrap();
                total += t.elapsed();
                assert!(matches!(out, Outcome::Activated { .. }));
            }
            total
        })
    });
    g.sample_size(10);
    g.bench_function("activate/cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = TempDir::new("bench-cold");
                let a = activator(&d, &key, &d.join("plugin-cache"));
                let t = Instant::now();
                a.activate_archive(&one, "bench").unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(bundle_benches, benches);
criterion_main!(bundle_benches);
