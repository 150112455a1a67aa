//! Activation: verify -> anti-rollback -> compile -> self-test -> persist ->
//! swap. The one place a bundle becomes the policy in force.
//!
//! Crash safety comes from the order of the two durable writes: the bundle
//! archive is written to `bundles/<digest>.tar.gz` (temp file, fsync, rename,
//! fsync of the directory) *before* the SQLite transaction that points
//! `policy_active` at it commits. A crash before the commit leaves the old
//! pointer and the old archive; after it, the new pointer and a complete new
//! archive. Start-up verifies the archive it loads again, so a damaged file is
//! refused, never half-used.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;
use warden_plugin_host::PluginHost;
use warden_policy::bundle::{self, archive, Files, Keyring, Verified, VerifyOptions};
use warden_policy::PolicySource;
use warden_store::{now_ms, ActivationKind, BundleRecord, Store};

use super::compiled::{BundleMeta, CompiledPolicy};

/// What an activation attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The bundle is now active.
    Activated {
        /// Its revision.
        revision: u64,
        /// Its digest.
        digest: String,
    },
    /// It is the active bundle already.
    Unchanged,
}

/// Why an attempt was refused. The message names the failed check.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Where the policy in force was loaded from at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadedFrom {
    /// The embedded default (no bundle accepted yet).
    Embedded,
    /// The last-good bundle in the state directory.
    LastGood,
    /// The embedded default because the last-good bundle failed to load.
    EmbeddedFallback,
}

/// Settings for the activator.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Trusted signing keys.
    pub keyring: Keyring,
    /// This node's tenant, if set: bundles for other tenants are refused.
    pub tenant: Option<String>,
    /// Past this long without the bundle source confirming the active
    /// bundle, egress fails closed. `None`: never.
    pub max_staleness: Option<Duration>,
}

/// The active policy, and everything that changes it.
pub struct Activator {
    active: ArcSwap<CompiledPolicy>,
    store: Arc<Store>,
    bundles_dir: PathBuf,
    host: PluginHost,
    settings: Settings,
    /// One activation at a time: the anti-rollback check and the swap must
    /// not interleave with another activation's.
    serial: Mutex<()>,
    status: Mutex<RuntimeStatus>,
}

#[derive(Clone, Debug)]
struct RuntimeStatus {
    loaded_from: LoadedFrom,
    load_error: Option<String>,
    activated_at: i64,
    /// Last time the bundle source confirmed the active bundle (ms).
    confirmed_at: i64,
}

/// `GET /api/v1/policy`.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyStatus {
    /// Bundle name.
    pub name: String,
    /// Active revision (0: the embedded default).
    pub revision: u64,
    /// Active digest (`embedded` for the default).
    pub digest: String,
    /// Key that signed it.
    pub signed_by: String,
    /// When it became active (RFC 3339).
    pub activated_at: String,
    /// When it expires (RFC 3339), if it does.
    pub expires_at: Option<String>,
    /// Past `expires_at`: still serving, but reported.
    pub expired: bool,
    /// Past `max_staleness`: egress fails closed.
    pub stale: bool,
    /// How the active policy was loaded at start-up.
    pub loaded_from: LoadedFrom,
    /// Why the last-good bundle did not load, if it did not.
    pub load_error: Option<String>,
    /// The highest revision ever accepted.
    pub highest_revision: Option<u64>,
    /// Rules and plugins in force.
    pub rules: usize,
    /// Plugin names.
    pub plugins: Vec<String>,
    /// The last activation attempt.
    pub last_attempt: Option<AttemptStatus>,
}

/// The last attempt, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptStatus {
    /// When (RFC 3339).
    pub at: String,
    /// From where.
    pub source: String,
    /// `activated`, `unchanged`, `refused`.
    pub outcome: String,
    /// Why it was refused.
    pub error: Option<String>,
}

impl Activator {
    /// Start: load the last-good bundle from the state directory, or the
    /// embedded default when there is none. Needs no network.
    pub fn start(
        store: Arc<Store>,
        bundles_dir: PathBuf,
        host: PluginHost,
        settings: Settings,
    ) -> anyhow::Result<Activator> {
        // Mode 0700 like the state directory around it: the accepted bundles
        // (files 0600) are nobody else's to list, even if the parent loosens.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&bundles_dir)?;
        remove_partial_writes(&bundles_dir);
        let (policy, loaded_from, load_error, activated_at) = match store.active()? {
            None => (embedded(&host)?, LoadedFrom::Embedded, None, now_ms()),
            Some(active) => match load_last_good(&bundles_dir, &active.bundle.digest, &host, &settings) {
                Ok(p) => (p, LoadedFrom::LastGood, None, active.activated_at),
                Err(e) => {
                    let msg = format!("last-good bundle {} did not load: {e:#}", active.bundle.digest);
                    tracing::error!(error = %msg, "falling back to the embedded default policy");
                    (embedded(&host)?, LoadedFrom::EmbeddedFallback, Some(msg), now_ms())
                }
            },
        };
        Ok(Activator {
            active: ArcSwap::from_pointee(policy),
            store,
            bundles_dir,
            host,
            settings,
            serial: Mutex::new(()),
            status: Mutex::new(RuntimeStatus { loaded_from, load_error, activated_at, confirmed_at: activated_at }),
        })
    }

    /// The policy in force. Hold the `Arc` for the length of one request.
    pub fn current(&self) -> Arc<CompiledPolicy> {
        self.active.load_full()
    }

    /// The state store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Plugin call and failure counters (every policy shares the host).
    pub fn plugin_stats(&self) -> &warden_plugin_host::PluginStats {
        self.host.stats()
    }

    /// Activate a `.tar.gz` bundle received from `source`.
    pub fn activate_archive(&self, bytes: &[u8], source: &str) -> Result<Outcome, Refused> {
        let files =
            archive::read_tar_gz(bytes, &bundle::Limits::default()).map_err(|e| self.refuse(source, e.to_string()));
        self.activate_files(files?, Some(bytes), source)
    }

    /// Activate a bundle from its files; `archive` is its packed form if the
    /// caller has it (so what is persisted is exactly what was received).
    pub fn activate_files(&self, files: Files, packed: Option<&[u8]>, source: &str) -> Result<Outcome, Refused> {
        let _one = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let mut clock = Phases::start();
        let opts = VerifyOptions { tenant: self.settings.tenant.clone(), ..VerifyOptions::now() };
        let verified =
            bundle::verify(files, &self.settings.keyring, &opts).map_err(|e| self.refuse(source, e.to_string()))?;
        if verified.digest == self.current().meta.digest {
            self.confirm();
            let _ = self.store.record_attempt(source, "unchanged", None);
            return Ok(Outcome::Unchanged);
        }
        self.check_revision(&verified).map_err(|e| self.refuse(source, e))?;
        clock.lap("verify");
        let policy = compile_verified(&verified, &self.host, Some(&self.current()))
            .map_err(|e| self.refuse(source, format!("{e:#}")))?;
        clock.lap("compile");
        let report = policy.self_test();
        clock.lap("self_test");
        if !report.failures.is_empty() {
            let list: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
            return Err(self.refuse(
                source,
                format!("self-test failed ({} of {}): {}", list.len(), report.cases, list.join("; ")),
            ));
        }
        let owned;
        let packed = match packed {
            Some(p) => p,
            None => {
                owned = archive::write_tar_gz(&verified.files);
                &owned
            }
        };
        persist(&self.bundles_dir, &verified.digest, packed)
            .map_err(|e| self.refuse(source, format!("persist: {e}")))?;
        clock.lap("persist");
        let record = BundleRecord {
            digest: verified.digest.clone(),
            name: verified.manifest.name.clone(),
            revision: verified.manifest.revision,
            signed_by: verified.signed_by.clone(),
            accepted_at: now_ms(),
            source: source.to_string(),
        };
        let detail = format!("revision {} signed by {}", record.revision, record.signed_by);
        match self.store.activate(&record, "warden", ActivationKind::Activate, &detail) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(self.refuse(source, why.to_string())),
            Err(e) => return Err(self.refuse(source, e.to_string())),
        }
        clock.lap("commit");
        retire(self.swap(policy));
        clock.lap("swap");
        tracing::info!(revision = record.revision, digest = %record.digest, source, phases = %clock, "policy bundle activated");
        Ok(Outcome::Activated { revision: record.revision, digest: record.digest })
    }

    /// Re-activate a bundle already in the accepted history (a local,
    /// audited rollback). `digest` may be a unique prefix of at least 8 hex
    /// digits.
    pub fn rollback(&self, digest: &str, actor: &str) -> Result<Outcome, Refused> {
        let _one = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let source = format!("rollback by {actor}");
        let record = self.find_accepted(digest).map_err(|e| self.refuse(&source, e))?;
        if record.digest == self.current().meta.digest {
            return Ok(Outcome::Unchanged);
        }
        let policy = load_last_good(&self.bundles_dir, &record.digest, &self.host, &self.settings)
            .map_err(|e| self.refuse(&source, format!("{e:#}")))?;
        let detail = format!("re-activated revision {} by {actor}", record.revision);
        match self.store.activate(&record, actor, ActivationKind::Rollback, &detail) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(self.refuse(&source, why.to_string())),
            Err(e) => return Err(self.refuse(&source, e.to_string())),
        }
        retire(self.swap(policy));
        tracing::warn!(revision = record.revision, digest = %record.digest, actor, "policy rolled back");
        Ok(Outcome::Activated { revision: record.revision, digest: record.digest })
    }

    /// Pick up an activation made by another process on the same state
    /// directory (the `warden policy` commands). Returns whether it swapped.
    pub fn sync_with_store(&self) -> anyhow::Result<bool> {
        let _one = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let Some(active) = self.store.active()? else { return Ok(false) };
        if active.bundle.digest == self.current().meta.digest {
            return Ok(false);
        }
        let policy = load_last_good(&self.bundles_dir, &active.bundle.digest, &self.host, &self.settings)?;
        retire(self.swap(policy));
        tracing::info!(revision = active.bundle.revision, digest = %active.bundle.digest, "picked up a policy activated by another process");
        Ok(true)
    }

    fn find_accepted(&self, digest: &str) -> Result<BundleRecord, String> {
        if digest.len() < 8 {
            return Err("rollback: give at least 8 hex digits of the digest".into());
        }
        let matches: Vec<_> = self
            .store
            .history()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|r| r.digest.starts_with(digest))
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().unwrap()),
            0 => Err(format!("rollback: {digest} is not in the accepted history")),
            _ => Err(format!("rollback: {digest} matches several accepted bundles; give more digits")),
        }
    }

    fn check_revision(&self, v: &Verified) -> Result<(), String> {
        let rev = v.manifest.revision;
        if let Some(known) = self.store.by_revision(rev).map_err(|e| e.to_string())? {
            if known.digest != v.digest {
                return Err(format!(
                    "same revision, different content: revision {rev} was accepted before with digest {}",
                    known.digest
                ));
            }
        }
        if let Some(h) = self.store.highest_revision().map_err(|e| e.to_string())? {
            if rev < h {
                return Err(format!("downgrade: revision {rev} is below the highest accepted revision {h}"));
            }
        }
        Ok(())
    }

    /// Make `policy` the active one; the old one is returned to be dropped
    /// by the caller (requests still holding it keep it alive until they end).
    fn swap(&self, policy: CompiledPolicy) -> Arc<CompiledPolicy> {
        let old = self.active.swap(Arc::new(policy));
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.activated_at = now_ms();
        st.confirmed_at = st.activated_at;
        st.loaded_from = LoadedFrom::LastGood;
        st.load_error = None;
        old
    }

    /// The bundle source answered and the active bundle is current (an
    /// HTTP 304, or the same bundle again).
    pub fn confirm(&self) {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).confirmed_at = now_ms();
    }

    /// Record a failed fetch (network, HTTP status) as the last attempt.
    pub fn record_failure(&self, source: &str, error: &str) {
        tracing::warn!(source, error, "policy bundle fetch failed");
        let _ = self.store.record_attempt(source, "refused", Some(error));
    }

    fn refuse(&self, source: &str, msg: String) -> Refused {
        tracing::warn!(source, error = %msg, "policy bundle refused; the active policy stays");
        if let Err(e) = self.store.record_attempt(source, "refused", Some(&msg)) {
            tracing::error!(error = %e, "could not record the refused attempt");
        }
        Refused(msg)
    }

    /// Whether egress may proceed under `max_staleness`: `Err` with the
    /// reason once the active bundle has gone unconfirmed for too long.
    pub fn egress_allowed(&self) -> Result<(), String> {
        let Some(max) = self.settings.max_staleness else { return Ok(()) };
        let confirmed = self.status.lock().unwrap_or_else(|e| e.into_inner()).confirmed_at;
        let age = Duration::from_millis((now_ms() - confirmed).max(0) as u64);
        if age > max {
            return Err(format!(
                "policy is stale: not confirmed for {}s (max_staleness {}s)",
                age.as_secs(),
                max.as_secs()
            ));
        }
        Ok(())
    }

    /// The status report.
    pub fn status(&self) -> PolicyStatus {
        let p = self.current();
        let st = self.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let last = self.store.last_attempt().ok().flatten();
        PolicyStatus {
            name: p.meta.name.clone(),
            revision: p.meta.revision,
            digest: p.meta.digest.clone(),
            signed_by: p.meta.signed_by.clone(),
            activated_at: warden_util::rfc3339_ms(st.activated_at),
            expires_at: p.meta.expires_at.map(bundle::manifest::format_time),
            expired: p.meta.expired(SystemTime::now()),
            stale: self.egress_allowed().is_err(),
            loaded_from: st.loaded_from,
            load_error: st.load_error,
            highest_revision: self.store.highest_revision().ok().flatten(),
            rules: p.source.rules.len(),
            plugins: p.source.settings.plugins.iter().map(|b| b.name.clone()).collect(),
            last_attempt: last.map(|a| AttemptStatus {
                at: warden_util::rfc3339_ms(a.at),
                source: a.source,
                outcome: a.outcome,
                error: a.error,
            }),
        }
    }
}

/// Drop a replaced policy off the activation's path: freeing 283 compiled
/// regexes and the plugin instances takes ~10 ms (`WARDEN_BENCH_LOG=1 cargo
/// bench -p warden --bench bundle`), which nobody needs to wait for. Requests
/// still holding the old policy keep it alive until they end either way.
fn retire(old: Arc<CompiledPolicy>) {
    let spawned = std::thread::Builder::new().name("warden-retire".into()).spawn(move || drop(old));
    // No thread to be had: the Arc was dropped with the failed closure, here.
    let _ = spawned;
}

/// Where an activation's time went, for the log line.
struct Phases {
    last: std::time::Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn start() -> Phases {
        Phases { last: std::time::Instant::now(), laps: Vec::new() }
    }

    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, d)) in self.laps.iter().enumerate() {
            write!(f, "{}{name}={:.1}ms", if i > 0 { " " } else { "" }, d.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}

/// The embedded default, compiled.
pub fn embedded(host: &PluginHost) -> anyhow::Result<CompiledPolicy> {
    CompiledPolicy::compile(PolicySource::embedded()?, BundleMeta::embedded(), host, None)
}

/// Compile a verified bundle (its files minus manifest and signature),
/// reusing what `previous` compiled from identical inputs.
pub fn compile_verified(
    v: &Verified,
    host: &PluginHost,
    previous: Option<&CompiledPolicy>,
) -> anyhow::Result<CompiledPolicy> {
    let mut files = v.files.clone();
    files.remove(bundle::MANIFEST);
    files.remove(bundle::SIGNATURE);
    let source =
        PolicySource::from_files(files, &format!("bundle {} revision {}", v.manifest.name, v.manifest.revision))?;
    CompiledPolicy::compile(source, BundleMeta::of(v), host, previous)
}

fn archive_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join(format!("{digest}.tar.gz"))
}

/// Load an accepted bundle from the state directory, verifying it again
/// (expired is fine: an expired active bundle keeps serving and is reported).
fn load_last_good(dir: &Path, digest: &str, host: &PluginHost, settings: &Settings) -> anyhow::Result<CompiledPolicy> {
    let path = archive_path(dir, digest);
    let files = archive::read_path(&path, &bundle::Limits::default())?;
    let opts = VerifyOptions { tenant: settings.tenant.clone(), allow_expired: true, ..VerifyOptions::now() };
    let v = bundle::verify(files, &settings.keyring, &opts)?;
    anyhow::ensure!(v.digest == digest, "{} holds digest {}, not {digest}", path.display(), v.digest);
    compile_verified(&v, host, None)
}

/// A crash during `persist` leaves a `.tmp*` file behind; it was never
/// pointed at, so it goes.
fn remove_partial_writes(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Write `bytes` as `dir/<digest>.tar.gz`, durably: temp file, fsync,
/// rename, fsync the directory.
fn persist(dir: &Path, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = archive_path(dir, digest);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}
