//! The tenant's watchman (issue 17): checks whose results the hub should
//! not have to recompute. Each check gives a [`Severity`]; the heartbeat
//! carries them under `alerts`, `/metrics` as `warden_alert_level{check}`.
//!
//! - [`levels`]: disk and memory use against configured thresholds;
//! - [`backup`]: the tenant's backup report, once a day at a local time,
//!   kept in the state database (a restart keeps the last verdict) and
//!   pushed to the hub as an alert;
//! - [`tls`]: certificate expiry of `host:port` targets and PEM files, at
//!   start and daily.

pub mod backup;
pub mod levels;
pub mod tls;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use warden_store::Store;

pub use backup::{BackupResult, Clock, SystemClock, TimeOfDay};
pub use levels::{Level, Thresholds};
pub use tls::CertResult;

use crate::policy::Activator;

/// How often certificates are checked again.
const TLS_EVERY: Duration = Duration::from_secs(86_400);

/// The `node_meta` key of the last backup verdict.
const BACKUP_META: &str = "checks.backup";
/// The `node_meta` key of the `checked_at` of the last verdict the hub took.
const BACKUP_PUSHED_META: &str = "checks.backup.pushed";
/// Largest backup report read.
const MAX_REPORT: u64 = 1 << 20;

/// `[checks] backup_status` and `backup_at`.
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// The report the backup job writes.
    pub path: PathBuf,
    /// When to read it, local time.
    pub at: TimeOfDay,
}

/// How bad a check's result is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing to do.
    Ok,
    /// Someone should look soon (a threshold crossed, one backup failed).
    Medium,
    /// Act now (all backups failed, a certificate expired or unreadable).
    Hard,
}

impl Severity {
    /// The value of `warden_alert_level`: 0, 1 or 2.
    pub fn gauge(self) -> i64 {
        match self {
            Severity::Ok => 0,
            Severity::Medium => 1,
            Severity::Hard => 2,
        }
    }
}

/// Every check's latest result, as the heartbeat's `alerts` carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// The state directory's file system; `None` when it cannot be measured.
    pub disk: Option<Level>,
    /// The machine's memory; `None` when it cannot be measured.
    pub memory: Option<Level>,
    /// The last backup verdict; `None` when no report is configured or none was read yet.
    pub backup: Option<BackupResult>,
    /// The last certificate checks, one per target and file.
    pub tls: Vec<CertResult>,
}

impl Report {
    /// `(check, severity)` of every check that has a result.
    pub fn severities(&self) -> Vec<(&'static str, Severity)> {
        let mut out = Vec::new();
        if let Some(d) = &self.disk {
            out.push(("disk", d.level));
        }
        if let Some(m) = &self.memory {
            out.push(("memory", m.level));
        }
        if let Some(b) = &self.backup {
            out.push(("backup", b.level));
        }
        if let Some(worst) = self.tls.iter().map(|c| c.level).max() {
            out.push(("tls", worst));
        }
        out
    }
}

/// `[checks] tls`, `tls_files`, `tls_alert_days`.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// `host:port` targets.
    pub targets: Vec<String>,
    /// PEM files.
    pub files: Vec<PathBuf>,
    /// Alert below this many days left.
    pub alert_days: i64,
}

/// The checks of one node.
pub struct Checks {
    thresholds: Thresholds,
    /// The state directory: its file system is the disk that matters.
    root: PathBuf,
    store: Arc<Store>,
    backup: Option<BackupSettings>,
    last_backup: Mutex<Option<BackupResult>>,
    tls: TlsSettings,
    last_tls: Mutex<Vec<CertResult>>,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checks").field("thresholds", &self.thresholds).field("backup", &self.backup).finish()
    }
}

impl Checks {
    /// Checks with these thresholds, measuring the disk under `root`; the
    /// last backup verdict is read back from `store`.
    pub fn new(
        thresholds: Thresholds,
        root: PathBuf,
        store: Arc<Store>,
        backup: Option<BackupSettings>,
        tls: TlsSettings,
    ) -> Checks {
        let last = match store.meta(BACKUP_META) {
            Ok(Some(json)) => serde_json::from_str(&json).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the last backup verdict");
                None
            }
        };
        Checks { thresholds, root, store, backup, last_backup: Mutex::new(last), tls, last_tls: Mutex::default() }
    }

    /// Measure now (blocking: `statvfs`, `/proc/meminfo`).
    pub fn report(&self) -> Report {
        let (_, total, available) = crate::hub::memory();
        Report {
            disk: crate::hub::disk(&self.root)
                .and_then(|(total, free)| Level::of(total - free.min(total), total, self.thresholds.disk_percent)),
            memory: Level::of(total - available.min(total), total, self.thresholds.memory_percent),
            backup: self.backup.as_ref().and(self.last_backup.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            tls: self.last_tls.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Read and judge the backup report now, and keep the verdict
    /// (blocking). `None` when no report is configured.
    pub fn check_backup(&self, now: SystemTime) -> Option<BackupResult> {
        let settings = self.backup.as_ref()?;
        let bytes = read_report(&settings.path);
        let result = backup::assess(bytes.as_deref().map_err(Clone::clone), now);
        tracing::info!(level = ?result.level, problems = ?result.problems, "backup report checked");
        let json = serde_json::to_string(&result).expect("a result serialises");
        if let Err(e) = self.store.set_meta(BACKUP_META, &json, "warden") {
            tracing::error!(error = %e, "cannot keep the backup verdict");
        }
        *self.last_backup.lock().unwrap_or_else(|e| e.into_inner()) = Some(result.clone());
        Some(result)
    }

    /// The backup verdict the hub has not taken yet, if any.
    pub fn backup_unpushed(&self) -> Option<BackupResult> {
        let last = self.last_backup.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let pushed = self.store.meta(BACKUP_PUSHED_META).ok().flatten();
        (pushed.as_deref() != Some(last.checked_at.as_str())).then_some(last)
    }

    /// The hub took the verdict checked at `checked_at`.
    pub fn backup_pushed(&self, checked_at: &str) {
        if let Err(e) = self.store.set_meta(BACKUP_PUSHED_META, checked_at, "hub") {
            tracing::error!(error = %e, "cannot record the pushed backup verdict");
        }
    }

    /// Check the backup report at every slot (and at once when the last
    /// slot was missed), until `stopping`.
    pub async fn run_backups(self: Arc<Self>, clock: Arc<dyn Clock>, mut stopping: watch::Receiver<bool>) {
        let Some(at) = self.backup.as_ref().map(|b| b.at) else {
            return;
        };
        loop {
            let now = clock.now();
            let last = self.last_backup.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(checked_at);
            if backup::missed(last, now, at, &*clock) {
                let this = self.clone();
                let _ = tokio::task::spawn_blocking(move || this.check_backup(now)).await;
                continue;
            }
            let wait = backup::next_run(now, at, &*clock).duration_since(now).unwrap_or(Duration::from_secs(1));
            tokio::select! {
                // Woken at least hourly, so a clock step or a zone change is caught up.
                _ = tokio::time::sleep(wait.min(Duration::from_secs(3600))) => {}
                _ = stopping.changed() => return,
            }
        }
    }
}

impl Checks {
    /// Check every certificate now, against the policy in force.
    pub async fn check_tls(&self, activator: &Activator, now: SystemTime) -> Vec<CertResult> {
        let days = self.tls.alert_days;
        let files = self.tls.files.clone();
        let mut results = tokio::task::spawn_blocking(move || {
            files.iter().map(|f| tls::check_file(f, now, days)).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let policy = activator.current();
        let allowed = tls::Allowed { hosts: &policy.egress_allow, ranges: &policy.allow_ranges };
        for target in &self.tls.targets {
            results.push(tls::check_target(target, &allowed, now, days).await);
        }
        for r in results.iter().filter(|r| r.level != Severity::Ok) {
            tracing::warn!(target = %r.target, level = ?r.level, days_left = ?r.days_left, error = ?r.error, "certificate check");
        }
        *self.last_tls.lock().unwrap_or_else(|e| e.into_inner()) = results.clone();
        results
    }

    /// Check certificates at start and once a day, until `stopping`.
    pub async fn run_tls(self: Arc<Self>, activator: Arc<Activator>, mut stopping: watch::Receiver<bool>) {
        if self.tls.targets.is_empty() && self.tls.files.is_empty() {
            return;
        }
        loop {
            self.check_tls(&activator, SystemTime::now()).await;
            tokio::select! {
                _ = tokio::time::sleep(TLS_EVERY) => {}
                _ = stopping.changed() => return,
            }
        }
    }
}

fn checked_at(r: &BackupResult) -> Option<SystemTime> {
    warden_policy::bundle::manifest::parse_rfc3339(&r.checked_at).ok()
}

/// The report's bytes, or why it cannot be read.
fn read_report(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_REPORT).read_to_end(&mut bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes)
}
