//! Signed policy bundles: build, sign, verify.
//!
//! ```text
//! manifest.json   what the bundle is; every file with its sha-256 and size
//! manifest.sig    ed25519 signatures over the exact bytes of manifest.json
//! policy.toml     settings: redaction, tools, plugins
//! programs.toml   the tool gate's capability table (optional; the embedded
//!                 default applies without it)
//! rules/*.toml    detection rules
//! plugins/*.wasm  components
//! tests/*.toml    self-tests
//! ```
//!
//! [`verify`] runs every check and returns a [`Verified`] bundle or the first
//! check that failed, named: nothing of a bundle is used before all of it has
//! been verified, so a half-good bundle is never half-used. Whether a
//! signature is required never depends on the bundle: it always is.

pub mod archive;
pub mod keys;
pub mod manifest;

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

pub use archive::{ArchiveError, Files, Limits};
pub use keys::{Keyring, PublicKey, SecretKey, SignatureError, SignatureFile};
pub use manifest::{FileEntry, Manifest, SCHEMA};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The signature file's name.
pub const SIGNATURE: &str = "manifest.sig";

/// How far a bundle's `not_before` may be ahead of our clock: hub and node
/// clocks disagree a little.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The check a bundle failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The files could not be read.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// No `manifest.json`.
    #[error("missing manifest: the bundle has no manifest.json")]
    MissingManifest,
    /// No `manifest.sig`.
    #[error("missing signature: the bundle has no manifest.sig (sign it with `warden bundle sign`)")]
    MissingSignature,
    /// `manifest.sig` is not valid.
    #[error("bad signature file: manifest.sig: {0}")]
    SignatureFile(String),
    /// The signature check failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// `manifest.json` does not parse or breaks the schema.
    #[error("bad manifest: {0}")]
    Manifest(String),
    /// A listed file is missing.
    #[error("missing file: {0} is listed in the manifest but not in the bundle")]
    MissingFile(String),
    /// A file's size differs from the manifest's (so its hash does too).
    #[error("hash mismatch for {path}: the file has {actual} bytes, the manifest says {expected}")]
    SizeMismatch {
        /// The file.
        path: String,
        /// Size in the manifest.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A file's hash differs from the manifest's.
    #[error("hash mismatch for {0}")]
    HashMismatch(String),
    /// A file the manifest does not list.
    #[error("unlisted file: {0} is in the bundle but not in the manifest")]
    UnlistedFile(String),
    /// Past `expires_at`.
    #[error("expired: the bundle expired at {0}")]
    Expired(String),
    /// Before `not_before`.
    #[error("not yet valid: the bundle is valid from {0}")]
    NotYetValid(String),
    /// Needs a newer Warden.
    #[error("runtime too old: the bundle needs Warden {needed}, this is {ours}")]
    RuntimeTooOld {
        /// `min_runtime`.
        needed: String,
        /// Our version.
        ours: String,
    },
    /// For another tenant.
    #[error("wrong tenant: the bundle is for tenant {bundle:?}, this node is {ours:?}")]
    WrongTenant {
        /// The bundle's tenant.
        bundle: String,
        /// Ours.
        ours: String,
    },
}

/// What [`verify`] checks against besides the keyring.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The time to check validity at.
    pub now: SystemTime,
    /// This runtime's version.
    pub runtime_version: String,
    /// This node's tenant; `None` skips the tenant check (the CLI).
    pub tenant: Option<String>,
    /// Accept an expired bundle (to keep serving the active one after a
    /// restart: an expired active bundle is reported, not dropped).
    pub allow_expired: bool,
}

impl VerifyOptions {
    /// Now, this crate's version, no tenant.
    pub fn now() -> VerifyOptions {
        VerifyOptions {
            now: SystemTime::now(),
            runtime_version: env!("CARGO_PKG_VERSION").to_string(),
            tenant: None,
            allow_expired: false,
        }
    }
}

/// A bundle that passed every check.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The manifest.
    pub manifest: Manifest,
    /// SHA-256 of the manifest bytes, hex: the bundle's identity. The
    /// manifest pins every file by hash, so equal digests mean equal content,
    /// whoever signed it.
    pub digest: String,
    /// The key that signed it.
    pub signed_by: String,
    /// Whether it is past `expires_at` (only with `allow_expired`).
    pub expired: bool,
    /// Every file, `manifest.json` and `manifest.sig` included.
    pub files: Files,
}

impl Verified {
    /// A file's contents.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The files under `dir/` whose names end in `ext`, sorted.
    pub fn files_in<'a>(&'a self, dir: &'a str, ext: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        files_in(&self.files, dir, ext)
    }
}

/// The files under `dir/` whose names end in `ext`, sorted by path.
pub fn files_in<'a>(files: &'a Files, dir: &'a str, ext: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
    files.iter().filter_map(move |(p, d)| {
        let name = p.strip_prefix(dir)?.strip_prefix('/')?;
        (!name.contains('/') && name.ends_with(ext)).then_some((p.as_str(), d.as_slice()))
    })
}

/// SHA-256, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Run every check on a bundle's files, in this order: manifest and
/// signature present, signature by a trusted key over the exact manifest
/// bytes, manifest schema, every listed file present with its size and hash,
/// no unlisted file, validity window, runtime version, tenant.
pub fn verify(files: Files, keyring: &Keyring, opts: &VerifyOptions) -> Result<Verified, VerifyError> {
    let manifest_bytes = files.get(MANIFEST).ok_or(VerifyError::MissingManifest)?;
    let sig_bytes = files.get(SIGNATURE).ok_or(VerifyError::MissingSignature)?;
    let sigs: SignatureFile =
        serde_json::from_slice(sig_bytes).map_err(|e| VerifyError::SignatureFile(e.to_string()))?;
    let signed_by = keyring.verify(manifest_bytes, &sigs)?;

    let manifest: Manifest =
        serde_json::from_slice(manifest_bytes).map_err(|e| VerifyError::Manifest(e.to_string()))?;
    check_manifest_shape(&manifest).map_err(VerifyError::Manifest)?;

    for entry in &manifest.files {
        let data = files.get(&entry.path).ok_or_else(|| VerifyError::MissingFile(entry.path.clone()))?;
        if data.len() as u64 != entry.size {
            return Err(VerifyError::SizeMismatch {
                path: entry.path.clone(),
                expected: entry.size,
                actual: data.len() as u64,
            });
        }
        // Constant-time compare is not needed: the hash is public.
        if sha256_hex(data) != entry.sha256 {
            return Err(VerifyError::HashMismatch(entry.path.clone()));
        }
    }
    for path in files.keys() {
        if path != MANIFEST && path != SIGNATURE && !manifest.files.iter().any(|f| &f.path == path) {
            return Err(VerifyError::UnlistedFile(path.clone()));
        }
    }

    let not_before = manifest.not_before().map_err(VerifyError::Manifest)?;
    let expires_at = manifest.expires_at().map_err(VerifyError::Manifest)?;
    if not_before > opts.now + CLOCK_SKEW {
        return Err(VerifyError::NotYetValid(manifest.not_before.clone()));
    }
    let expired = expires_at <= opts.now;
    if expired && !opts.allow_expired {
        return Err(VerifyError::Expired(manifest.expires_at.clone()));
    }
    let needed = manifest::parse_version(&manifest.min_runtime);
    let ours = manifest::parse_version(&opts.runtime_version);
    if needed > ours {
        return Err(VerifyError::RuntimeTooOld {
            needed: manifest.min_runtime.clone(),
            ours: opts.runtime_version.clone(),
        });
    }
    if let Some(tenant) = &opts.tenant {
        if manifest.tenant != "*" && &manifest.tenant != tenant {
            return Err(VerifyError::WrongTenant { bundle: manifest.tenant.clone(), ours: tenant.clone() });
        }
    }
    let digest = sha256_hex(manifest_bytes);
    Ok(Verified { manifest, digest, signed_by, expired, files })
}

fn check_manifest_shape(m: &Manifest) -> Result<(), String> {
    if m.schema != SCHEMA {
        return Err(format!("schema {:?} is not supported (expected {SCHEMA:?})", m.schema));
    }
    if m.revision < 1 {
        return Err("revision must be at least 1".into());
    }
    if m.name.is_empty() || m.tenant.is_empty() {
        return Err("name and tenant must not be empty".into());
    }
    if manifest::parse_version(&m.min_runtime).is_none() {
        return Err(format!("min_runtime {:?} is not MAJOR.MINOR.PATCH", m.min_runtime));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &m.files {
        let clean = archive::clean_path(&f.path).map_err(|e| e.to_string())?;
        if clean != f.path || f.path == MANIFEST || f.path == SIGNATURE {
            return Err(format!("file path {:?} is not allowed", f.path));
        }
        if !seen.insert(&f.path) {
            return Err(format!("{} is listed twice", f.path));
        }
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("{}: sha256 must be 64 lowercase hex digits", f.path));
        }
    }
    Ok(())
}

/// What `bundle build` puts in a manifest besides the files.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Bundle name.
    pub name: String,
    /// Tenant, or `*`.
    pub tenant: String,
    /// Revision >= 1.
    pub revision: u64,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub expires_at: SystemTime,
    /// Oldest runtime that may run it.
    pub min_runtime: String,
}

/// Make a bundle from a policy directory's files: add `manifest.json` listing
/// every file (any old manifest and signatures are dropped). The result is
/// unsigned.
pub fn build(mut files: Files, opts: &BuildOptions) -> Result<Files, String> {
    files.remove(MANIFEST);
    files.remove(SIGNATURE);
    if opts.revision < 1 {
        return Err("--revision must be at least 1".into());
    }
    if opts.expires_at <= opts.not_before {
        return Err("the bundle would expire before it becomes valid".into());
    }
    if !files.contains_key("policy.toml") && files_in(&files, "rules", ".toml").next().is_none() {
        return Err("no policy.toml and no rules/*.toml: is this a policy directory?".into());
    }
    let manifest = Manifest {
        schema: SCHEMA.into(),
        name: opts.name.clone(),
        tenant: opts.tenant.clone(),
        revision: opts.revision,
        not_before: manifest::format_time(opts.not_before),
        expires_at: manifest::format_time(opts.expires_at),
        min_runtime: opts.min_runtime.clone(),
        files: files
            .iter()
            .map(|(path, data)| FileEntry { path: path.clone(), sha256: sha256_hex(data), size: data.len() as u64 })
            .collect(),
    };
    check_manifest_shape(&manifest)?;
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    bytes.push(b'\n');
    files.insert(MANIFEST.into(), bytes);
    Ok(files)
}

/// Add `key`'s signature over the exact manifest bytes. The files must match
/// the manifest first: signing a bundle whose contents drifted from its
/// manifest would only produce a bundle that every node refuses.
pub fn sign(mut files: Files, key: &SecretKey) -> Result<Files, VerifyError> {
    let manifest_bytes = files.get(MANIFEST).ok_or(VerifyError::MissingManifest)?.clone();
    let mut sigs: SignatureFile = match files.get(SIGNATURE) {
        Some(b) => serde_json::from_slice(b).map_err(|e| VerifyError::SignatureFile(e.to_string()))?,
        None => SignatureFile::default(),
    };
    sigs.add(key.sign(&manifest_bytes));
    let mut sig_bytes = serde_json::to_vec_pretty(&sigs).expect("signatures serialise");
    sig_bytes.push(b'\n');
    files.insert(SIGNATURE.into(), sig_bytes);
    // Everything but validity: an operator may sign a bundle that becomes valid later.
    let ring = Keyring::new([key.public()]);
    let now = serde_json::from_slice::<Manifest>(&manifest_bytes)
        .ok()
        .and_then(|m| m.not_before().ok())
        .unwrap_or_else(SystemTime::now);
    let opts = VerifyOptions { now, allow_expired: true, ..VerifyOptions::now() };
    verify(files, &ring, &opts).map(|v| v.files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(revision: u64) -> Files {
        let mut files = Files::new();
        files.insert("policy.toml".into(), b"# settings\n".to_vec());
        files.insert("rules/a.toml".into(), b"# rules\n".to_vec());
        let now = SystemTime::now();
        let opts = BuildOptions {
            name: "t".into(),
            tenant: "*".into(),
            revision,
            not_before: now - Duration::from_secs(60),
            expires_at: now + Duration::from_secs(3600),
            min_runtime: "0.1.0".into(),
        };
        build(files, &opts).unwrap()
    }

    #[test]
    fn build_sign_verify_and_each_tamper_is_named() {
        let key = SecretKey::generate().unwrap();
        let ring = Keyring::new([key.public()]);
        let signed = sign(built(3), &key).unwrap();
        let v = verify(signed.clone(), &ring, &VerifyOptions::now()).unwrap();
        assert_eq!(v.manifest.revision, 3);
        assert_eq!(v.signed_by, key.public().id());

        let mut t = signed.clone();
        t.insert("rules/a.toml".into(), b"# ruleZ\n".to_vec());
        assert!(
            matches!(verify(t, &ring, &VerifyOptions::now()), Err(VerifyError::HashMismatch(p)) if p == "rules/a.toml")
        );

        let mut t = signed.clone();
        t.insert("rules/b.toml".into(), b"".to_vec());
        assert!(matches!(verify(t, &ring, &VerifyOptions::now()), Err(VerifyError::UnlistedFile(_))));

        let mut t = signed.clone();
        let m = t.get_mut(MANIFEST).unwrap();
        let s = String::from_utf8(m.clone()).unwrap().replace("\"revision\": 3", "\"revision\": 4");
        *m = s.into_bytes();
        assert!(matches!(verify(t, &ring, &VerifyOptions::now()), Err(VerifyError::Signature(SignatureError::Bad(_)))));

        let mut t = signed.clone();
        t.remove(SIGNATURE);
        assert!(matches!(verify(t, &ring, &VerifyOptions::now()), Err(VerifyError::MissingSignature)));

        let other = Keyring::new([SecretKey::generate().unwrap().public()]);
        assert!(matches!(
            verify(signed.clone(), &other, &VerifyOptions::now()),
            Err(VerifyError::Signature(SignatureError::UnknownKey { .. }))
        ));

        let later = VerifyOptions { now: SystemTime::now() + Duration::from_secs(7200), ..VerifyOptions::now() };
        assert!(matches!(verify(signed.clone(), &ring, &later), Err(VerifyError::Expired(_))));
        let earlier = VerifyOptions { now: SystemTime::now() - Duration::from_secs(3600), ..VerifyOptions::now() };
        assert!(matches!(verify(signed.clone(), &ring, &earlier), Err(VerifyError::NotYetValid(_))));
        let old = VerifyOptions { runtime_version: "0.0.9".into(), ..VerifyOptions::now() };
        assert!(matches!(verify(signed, &ring, &old), Err(VerifyError::RuntimeTooOld { .. })));
    }

    #[test]
    fn resigning_keeps_the_digest() {
        let (a, b) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
        let one = sign(built(1), &a).unwrap();
        let both = sign(one.clone(), &b).unwrap();
        let ring = Keyring::new([b.public()]);
        let v1 = verify(one, &Keyring::new([a.public()]), &VerifyOptions::now()).unwrap();
        let v2 = verify(both, &ring, &VerifyOptions::now()).unwrap();
        assert_eq!(v1.digest, v2.digest);
    }
}
