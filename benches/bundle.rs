//! Bundle activation: verify + activate a bundle of the 283 default rules
//! and two plugins (the BIP-39 detector and the shell classifier).
//!
//! - `verify`: unpack the .tar.gz and run every check (signature, hashes).
//! - `compile-rules`: the baseline, compiling the rules alone.
//! - `activate/new-rules`: the whole activation (verify, anti-rollback,
//!   compile rules and plugins, self-tests, durable write, SQLite commit,
//!   swap) of a bundle whose rules changed, with the plugins' compiled code in
//!   the on-disk cache. Target <= 50 ms.
//! - `activate/same-rules`: the same when only the rest changed (tiers,
//!   plugins, tests): the compiled rules of the active policy are reused.
//! - `activate/cold`: new rules and an empty plugin cache.
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

/// The bundle at `revision`: a rules file that changes with it (so the rules
/// must be compiled again), or a self-test that does (so only the rest does).
fn changed(files: &warden_policy::Files, revision: u64, rules: bool) -> warden_policy::Files {
    let mut f = files.clone();
    let (path, body) = if rules {
        ("rules/zz-revision.toml", format!("# revision {revision}\n"))
    } else {
        ("tests/zz-revision.toml", format!("# revision {revision}\n"))
    };
    f.insert(path.into(), body.into_bytes());
    f
}

fn benches(c: &mut Criterion) {
    if std::env::var_os("WARDEN_BENCH_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter("info").with_writer(std::io::stderr).init();
    }
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
    for (name, new_rules) in [("activate/new-rules", true), ("activate/same-rules", false)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    revision += 1;
                    let next = signed_archive(changed(&files, revision, new_rules), revision, &key);
                    let t = Instant::now();
                    let out = a.activate_archive(&next, "bench").unwrap();
                    total += t.elapsed();
                    assert!(matches!(out, Outcome::Activated { .. }));
                }
                total
            })
        });
    }
    g.sample_size(10);
    g.bench_function("activate/cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = TempDir::new("bench-cold");
                let a = activator(&d, &key, &d.join("plugin-cache"));
                let next = signed_archive(changed(&files, 1, true), 1, &key);
                let t = Instant::now();
                a.activate_archive(&next, "bench").unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(bundle_benches, benches);
criterion_main!(bundle_benches);
