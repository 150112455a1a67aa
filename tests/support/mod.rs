//! Shared by the bundle tests: policy directories, bundles signed in
//! memory, and tar archives written by hand (to build the broken ones a
//! real `tar` would refuse to make).

#![allow(dead_code)]

pub mod gateway_env;
pub mod hub;
pub mod load;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use warden_policy::bundle::{self, archive, BuildOptions, Files, SecretKey};

/// A fresh directory under the target dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = std::sync::atomic::AtomicUsize::new(0);
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for i in 0.. {
            let p = base.join(format!(
                "{name}-{}-{i}-{}",
                std::process::id(),
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            if std::fs::create_dir_all(p.parent().unwrap()).is_ok() && std::fs::create_dir(&p).is_ok() {
                return TempDir(p);
            }
        }
        unreachable!()
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small policy: one rule that labels `tok_xxxxxxxx` as `label`, and a
/// self-test that checks it.
pub fn small_policy(label: &str) -> Files {
    let mut f = Files::new();
    f.insert(
        "rules/tok.toml".into(),
        format!("[[rule]]\nid = \"tok\"\nlabel = \"{label}\"\nkeywords = [\"tok_\"]\nregex = 'tok_[a-z0-9]{{8}}'\n")
            .into_bytes(),
    );
    f.insert("policy.toml".into(), b"[tools]\nautonomy = 2\n".to_vec());
    f.insert(
        "tests/tok.toml".into(),
        format!("[[redact]]\nname = \"tok\"\ninput = \"a tok_abcdefgh b\"\noutput = \"a [{label}_1] b\"\n")
            .into_bytes(),
    );
    f
}

/// The default policy plus the BIP-39 detector and the shell classifier,
/// with self-tests that need both plugins.
pub fn policy_with_plugins() -> Files {
    let mut f: Files = warden_policy::defaults::files();
    f.insert("plugins/bip39.wasm".into(), std::fs::read(warden_plugin_fixtures::BIP39).unwrap());
    f.insert("plugins/shell.wasm".into(), std::fs::read(warden_plugin_fixtures::SHELL_CLASSIFIER).unwrap());
    let mut policy = String::from_utf8(f["policy.toml"].clone()).unwrap();
    policy.push_str(
        "\n[[plugins]]\nname = \"bip39\"\npath = \"plugins/bip39.wasm\"\nlimits = { labels = [\"SEED_PHRASE\"] }\n\
         \n[[plugins]]\nname = \"shell\"\npath = \"plugins/shell.wasm\"\ntools = [\"exec\"]\n",
    );
    f.insert("policy.toml".into(), policy.into_bytes());
    let seed = format!("{} about", "abandon ".repeat(11).trim_end());
    f.insert(
        "tests/plugins.toml".into(),
        format!(
            "[[redact]]\nname = \"a seed phrase\"\ninput = \"my wallet: {seed}\"\nhidden = [\"abandon\"]\n\
             \n[[tool]]\nname = \"the classifier raises a disk format\"\ntool = \"exec\"\n\
             args = {{ command = \"wipefs -a /dev/sdb\" }}\ndecision = \"gate\"\ntier = \"CRITICAL_RED\"\n"
        )
        .into_bytes(),
    );
    f
}

/// Write `files` under `dir`.
pub fn write_dir(dir: &Path, files: &Files) {
    for (p, d) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, d).unwrap();
    }
}

/// Build options valid from a minute ago for a day.
pub fn opts(revision: u64) -> BuildOptions {
    let now = SystemTime::now();
    BuildOptions {
        name: "test".into(),
        tenant: "*".into(),
        revision,
        not_before: now - Duration::from_secs(60),
        expires_at: now + Duration::from_secs(86400),
        min_runtime: "0.1.0".into(),
    }
}

/// Build and sign in memory.
pub fn signed(files: Files, revision: u64, key: &SecretKey) -> Files {
    bundle::sign(bundle::build(files, &opts(revision)).unwrap(), key).unwrap()
}

/// Build, sign and pack.
pub fn signed_archive(files: Files, revision: u64, key: &SecretKey) -> Vec<u8> {
    archive::write_tar_gz(&signed(files, revision, key))
}

/// Raw tar entries for hand-made archives.
pub enum Raw<'a> {
    File(&'a [u8], &'a [u8]),
    Symlink(&'a [u8], &'a str),
}

/// A `.tar.gz` written header by header, with names set byte for byte so
/// that `../` and absolute paths get through.
pub fn raw_tar_gz(entries: &[Raw<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_old();
        let (name, data): (&[u8], &[u8]) = match e {
            Raw::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                (n, d)
            }
            Raw::Symlink(n, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(target).unwrap();
                (n, b"")
            }
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append(&h, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Run the real `warden` with `args` on state directory `state`, feeding
/// `stdin`. A command refused before it reads stdin closes the pipe: not an
/// error here.
pub fn warden(state: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env("WARDEN_STATE_DIR", state)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}
