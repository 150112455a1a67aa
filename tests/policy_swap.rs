//! The active policy under load: 100 activations while requests run.
//! Every request takes the policy once and must see exactly one policy from
//! start to end: its label, its revision and its gate all from the same
//! bundle. Zero requests may fail.

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use support::{signed_archive, small_policy, TempDir};
use warden::policy::{Activator, Outcome, Settings};
use warden_plugin_host::{HostConfig, PluginHost};
use warden_policy::bundle::{Keyring, SecretKey};
use warden_policy::Decision;
use warden_store::Store;

fn activator(dir: &TempDir, key: &SecretKey) -> Arc<Activator> {
    let store = Arc::new(Store::open(&dir.join("warden.db")).unwrap());
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let settings = Settings { keyring: Keyring::new([key.public()]), tenant: None, max_staleness: None };
    Arc::new(Activator::start(store, dir.join("bundles"), host, settings).unwrap())
}

/// Odd revisions label tokens `ODD` and run `exec` (autonomy 2), even ones
/// label them `EVEN` and gate `exec` (autonomy 1).
fn bundle(revision: u64, key: &SecretKey) -> Vec<u8> {
    let odd = revision % 2 == 1;
    let mut files = small_policy(if odd { "ODD" } else { "EVEN" });
    files.insert("policy.toml".into(), format!("[tools]\nautonomy = {}\n", if odd { 2 } else { 1 }).into_bytes());
    signed_archive(files, revision, key)
}

#[test]
fn a_hundred_swaps_under_load_every_request_sees_one_policy() {
    let dir = TempDir::new("swap");
    let key = SecretKey::generate().unwrap();
    let a = activator(&dir, &key);
    let bundles: Vec<Vec<u8>> = (1..=101).map(|r| bundle(r, &key)).collect();
    assert!(matches!(a.activate_archive(&bundles[0], "test").unwrap(), Outcome::Activated { revision: 1, .. }));

    let stop = Arc::new(AtomicBool::new(false));
    let (done, mixed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (a, stop, done, mixed) = (a.clone(), stop.clone(), done.clone(), mixed.clone());
            std::thread::spawn(move || {
                let mut revisions = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    // One request: take the policy once, use it throughout.
                    let p = a.current();
                    let out = warden_policy::selftest::Subject::redact(&*p, "key tok_abcdefgh and tok_12345678")
                        .expect("a request never fails");
                    let verdict = p.gate_call("exec", r#"{"command":"ls"}"#, "agent");
                    let odd = p.meta.revision % 2 == 1;
                    let want = if odd { "key [ODD_1] and [ODD_2]" } else { "key [EVEN_1] and [EVEN_2]" };
                    let want_gate = if odd { Decision::Execute } else { Decision::Gate };
                    if out != want || verdict.decision != want_gate {
                        mixed.fetch_add(1, Ordering::Relaxed);
                    }
                    revisions.insert(p.meta.revision);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                revisions
            })
        })
        .collect();

    for (i, b) in bundles.iter().enumerate().skip(1) {
        let outcome = a.activate_archive(b, "test").unwrap();
        assert_eq!(
            outcome,
            Outcome::Activated {
                revision: i as u64 + 1,
                digest: match &outcome {
                    Outcome::Activated { digest, .. } => digest.clone(),
                    _ => unreachable!(),
                }
            }
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for w in workers {
        seen.extend(w.join().expect("no request panicked"));
    }
    assert_eq!(mixed.load(Ordering::Relaxed), 0, "a request saw parts of two policies");
    assert_eq!(a.current().meta.revision, 101);
    assert!(done.load(Ordering::Relaxed) > 1000, "{} requests", done.load(Ordering::Relaxed));
    assert!(seen.len() > 10, "requests ran across the swaps: revisions seen {}", seen.len());
    assert_eq!(a.store().history().unwrap().len(), 101);
}

#[test]
fn max_staleness_fails_egress_closed_and_a_confirmation_reopens_it() {
    let dir = TempDir::new("stale");
    let key = SecretKey::generate().unwrap();
    let store = Arc::new(Store::open(&dir.join("warden.db")).unwrap());
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let settings = Settings {
        keyring: Keyring::new([key.public()]),
        tenant: None,
        max_staleness: Some(std::time::Duration::from_millis(200)),
    };
    let a = Activator::start(store, dir.join("bundles"), host, settings).unwrap();
    a.activate_archive(&bundle(1, &key), "test").unwrap();
    assert!(a.egress_allowed().is_ok());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let err = a.egress_allowed().unwrap_err();
    assert!(err.contains("stale"), "{err}");
    assert!(a.status().stale);
    a.confirm();
    assert!(a.egress_allowed().is_ok());
}
