//! The bundle reader on arbitrary bytes: gzip + tar with the caps, then the
//! manifest and signature checks. Nothing may panic, and whatever passes
//! must be signed by the trusted key (the seed corpus holds bundles signed
//! with it, so the fuzzer starts past the signature).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_policy::bundle::{self, archive, Keyring, SecretKey, VerifyOptions};

/// The fuzz key (not a secret: the seeds in corpus/bundle_reader are signed with it).
pub const FUZZ_KEY: &str = "warden-signing-key:ed25519:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| Keyring::new([SecretKey::parse(FUZZ_KEY).unwrap().public()]))
}

fuzz_target!(|data: &[u8]| {
    // Small caps: the fuzzer should hit them, not run out of memory first.
    let limits = archive::Limits { max_archive: 1 << 20, max_total: 4 << 20, max_file: 1 << 20, max_entries: 256 };
    let Ok(files) = archive::read_tar_gz(data, &limits) else { return };
    let total: usize = files.values().map(Vec::len).sum();
    assert!(files.len() <= limits.max_entries && total as u64 <= limits.max_total, "caps not applied");
    for name in files.keys() {
        assert!(!name.starts_with('/') && !name.split('/').any(|p| p == ".." || p.is_empty()), "{name:?} got through");
    }
    let mut opts = VerifyOptions::now();
    opts.allow_expired = true;
    let _ = bundle::verify(files, keyring(), &opts);
});
