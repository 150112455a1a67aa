//! The daily backup check (issue 17 point 2): once a day at a local time
//! (`[checks] backup_at`, 06:00 by default) Warden reads the report the
//! tenant's backup job writes (`[checks] backup_status`) and judges it:
//!
//! - `hard`: the file is missing, unparseable, its `last_run` is older than
//!   48 h (or absent), every database backup failed, or the remote sync
//!   failed (or is absent);
//! - `medium`: some database backup failed;
//! - `ok` otherwise.
//!
//! A status counts as succeeded when it is `ok` or `success` (any case).
//! The report's own `error` texts are never copied (a failed dump's error may
//! hold a connection string): the result names the databases that failed.
//!
//! Time comes from a [`Clock`], so tests move it instead of waiting for
//! 06:00; [`next_run`] and [`missed`] are pure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Severity;

/// A report older than this is a failed backup, whatever it says.
pub const MAX_AGE: Duration = Duration::from_secs(48 * 3600);

/// The time, and the local time zone's offset.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
    /// Seconds east of UTC of local time at `t`.
    fn utc_offset(&self, t: SystemTime) -> i64;
}

/// The system's clock and time zone (`localtime_r`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    #[allow(clippy::unnecessary_cast)] // `tm_gmtoff` is a C long: 32 bits on some targets
    fn utc_offset(&self, t: SystemTime) -> i64 {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as libc::time_t;
        let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
        // SAFETY: both pointers are valid for the call; localtime_r is the
        // thread-safe variant and fills `tm` when it returns non-null.
        let ok = unsafe { !libc::localtime_r(&secs, tm.as_mut_ptr()).is_null() };
        if !ok {
            return 0;
        }
        // SAFETY: localtime_r succeeded, so `tm` is initialised.
        let tm = unsafe { tm.assume_init() };
        tm.tm_gmtoff as i64
    }
}

/// A local time of day, `HH:MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    /// Seconds after local midnight.
    secs: i64,
}

impl std::str::FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<TimeOfDay, String> {
        let bad = || format!("{s:?} is not a time of day: use HH:MM, e.g. 06:00");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(0..24).contains(&h) || !(0..60).contains(&m) {
            return Err(bad());
        }
        Ok(TimeOfDay { secs: h * 3600 + m * 60 })
    }
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn at_unix(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

/// The latest slot (`at`, local time) at or before `now`.
fn last_slot(now: SystemTime, at: TimeOfDay, clock: &dyn Clock) -> SystemTime {
    let offset = clock.utc_offset(now);
    let local = unix(now) + offset;
    let mut slot = local.div_euclid(86_400) * 86_400 + at.secs;
    if slot > local {
        slot -= 86_400;
    }
    at_unix(slot - offset)
}

/// The first slot strictly after `now`.
pub fn next_run(now: SystemTime, at: TimeOfDay, clock: &dyn Clock) -> SystemTime {
    last_slot(now, at, clock) + Duration::from_secs(86_400)
}

/// Whether a check is owed now: none has run since the latest slot (a node
/// that was down at 06:00 checks when it starts).
pub fn missed(last_checked: Option<SystemTime>, now: SystemTime, at: TimeOfDay, clock: &dyn Clock) -> bool {
    last_checked.is_none_or(|t| t < last_slot(now, at, clock))
}

/// One check's result, as the heartbeat, the metrics and the hub see it
/// (and as it is kept across restarts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupResult {
    /// The verdict.
    pub level: Severity,
    /// When Warden checked (RFC 3339).
    pub checked_at: String,
    /// The report's `last_run`, when it had a readable one.
    pub last_run: Option<String>,
    /// Hours between `last_run` and the check.
    pub age_hours: Option<f64>,
    /// Databases in the report, and those whose backup failed.
    pub databases: usize,
    /// The names of the databases whose backup failed.
    pub failed: Vec<String>,
    /// What is wrong, in Warden's words (empty when ok).
    pub problems: Vec<String>,
}

fn succeeded(status: Option<&Value>) -> bool {
    status.and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success"))
}

/// Judge a backup report read at `now` (`None`: the file is missing or
/// unreadable, `why` says which).
pub fn assess(report: Result<&[u8], String>, now: SystemTime) -> BackupResult {
    let mut r = BackupResult {
        level: Severity::Ok,
        checked_at: warden_util::rfc3339_ms(unix(now) * 1000),
        last_run: None,
        age_hours: None,
        databases: 0,
        failed: Vec::new(),
        problems: Vec::new(),
    };
    fn hard(r: &mut BackupResult, why: String) {
        r.level = Severity::Hard;
        r.problems.push(why);
    }
    let doc: Value = match report.and_then(|b| serde_json::from_slice(b).map_err(|e| format!("not JSON ({e})"))) {
        Ok(Value::Object(doc)) => Value::Object(doc),
        Ok(_) => {
            hard(&mut r, "the report is not a JSON object".into());
            return r;
        }
        Err(why) => {
            hard(&mut r, format!("the backup report: {why}"));
            return r;
        }
    };
    match doc.get("last_run").and_then(Value::as_str).map(|s| (s, parse_time(s))) {
        Some((s, Some(t))) => {
            r.last_run = Some(s.to_string());
            let age = now.duration_since(t).unwrap_or_default();
            r.age_hours = Some((age.as_secs_f64() / 360.0).round() / 10.0);
            if age > MAX_AGE {
                hard(&mut r, format!("the last backup ran {:.0} h ago (more than 48 h)", age.as_secs_f64() / 3600.0));
            }
        }
        Some((_, None)) => hard(&mut r, "last_run is not an RFC 3339 time".into()),
        None => hard(&mut r, "the report has no last_run".into()),
    }
    match doc.get("databases").and_then(Value::as_object) {
        Some(dbs) if !dbs.is_empty() => {
            r.databases = dbs.len();
            r.failed = dbs.iter().filter(|(_, d)| !succeeded(d.get("status"))).map(|(n, _)| n.clone()).collect();
            if r.failed.len() == dbs.len() {
                hard(&mut r, "every database backup failed".into());
            } else if !r.failed.is_empty() {
                r.problems.push(format!("database backup failed: {}", r.failed.join(", ")));
                r.level = r.level.max(Severity::Medium);
            }
        }
        _ => hard(&mut r, "the report lists no databases".into()),
    }
    match doc.get("remote_sync") {
        Some(sync) if succeeded(sync.get("status")) => {}
        Some(_) => hard(&mut r, "the remote sync failed".into()),
        None => hard(&mut r, "the report has no remote_sync".into()),
    }
    r
}

/// RFC 3339 with `Z`, a numeric offset, or none (UTC).
fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (base, offset) = match s.len().checked_sub(6).map(|i| s.split_at(i)) {
        Some((base, off)) if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) && &off[3..4] == ":" => {
            let (h, m): (i64, i64) = (off[1..3].parse().ok()?, off[4..6].parse().ok()?);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            (base, sign * (h * 3600 + m * 60))
        }
        _ => (s, 0),
    };
    let t = warden_policy::bundle::manifest::parse_rfc3339(base).ok()?;
    Some(at_unix(unix(t) - offset))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A clock fixed at a time, in a fixed zone.
    struct Fixed(SystemTime, i64);

    impl Clock for Fixed {
        fn now(&self) -> SystemTime {
            self.0
        }
        fn utc_offset(&self, _: SystemTime) -> i64 {
            self.1
        }
    }

    fn t(s: &str) -> SystemTime {
        parse_time(s).unwrap()
    }

    #[test]
    fn the_next_run_is_the_next_local_slot() {
        let six: TimeOfDay = "06:00".parse().unwrap();
        let utc = Fixed(t("2026-12-02T05:59:00Z"), 0);
        assert_eq!(next_run(utc.0, six, &utc), t("2026-12-02T06:00:00Z"));
        let after = Fixed(t("2026-12-02T06:00:00Z"), 0);
        assert_eq!(next_run(after.0, six, &after), t("2026-12-03T06:00:00Z"));
        // 06:00 in UTC+2 is 04:00 UTC; just past midnight local is still the day before in UTC.
        let east = Fixed(t("2026-12-01T22:30:00Z"), 7200);
        assert_eq!(next_run(east.0, six, &east), t("2026-12-02T04:00:00Z"));
        let west = Fixed(t("2026-12-02T08:00:00Z"), -5 * 3600);
        assert_eq!(next_run(west.0, six, &west), t("2026-12-02T11:00:00Z"));
        assert!("24:00".parse::<TimeOfDay>().is_err() && "6".parse::<TimeOfDay>().is_err());
    }

    #[test]
    fn a_node_down_at_the_slot_checks_when_it_starts() {
        let six: TimeOfDay = "06:00".parse().unwrap();
        let c = Fixed(t("2026-12-02T09:00:00Z"), 0);
        assert!(missed(None, c.0, six, &c));
        assert!(missed(Some(t("2026-12-01T06:00:01Z")), c.0, six, &c));
        assert!(!missed(Some(t("2026-12-02T06:00:01Z")), c.0, six, &c));
        let early = Fixed(t("2026-12-02T05:00:00Z"), 0);
        assert!(!missed(Some(t("2026-12-01T06:00:01Z")), early.0, six, &early));
    }

    fn report(dbs: Value, sync: &str, last_run: &str) -> Vec<u8> {
        json!({"last_run": last_run, "duration_seconds": 42, "databases": dbs,
            "remote_sync": {"status": sync, "uploaded_mb": 12}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn reports_are_judged_ok_medium_or_hard() {
        let now = t("2026-12-02T06:00:00Z");
        let ok = json!({"main": {"status": "ok", "size_mb": 120}, "logs": {"status": "success", "size_mb": 3}});
        let r = assess(Ok(&report(ok.clone(), "ok", "2026-12-02T05:10:00+01:00")), now);
        assert_eq!((r.level, r.databases, r.age_hours), (Severity::Ok, 2, Some(1.8)), "{r:?}");
        assert!(r.problems.is_empty());

        let one = json!({"main": {"status": "ok"}, "logs": {"status": "failed", "error": "pg_dump: postgres://u:hunter2@db"}});
        let r = assess(Ok(&report(one, "ok", "2026-12-02T05:00:00Z")), now);
        assert_eq!((r.level, r.failed.clone()), (Severity::Medium, vec!["logs".to_string()]));
        assert!(!serde_json::to_string(&r).unwrap().contains("hunter2"), "the report's error is never copied");

        let all = json!({"main": {"status": "error"}, "logs": {"status": "failed"}});
        assert_eq!(assess(Ok(&report(all, "ok", "2026-12-02T05:00:00Z")), now).level, Severity::Hard);
        assert_eq!(assess(Ok(&report(ok.clone(), "failed", "2026-12-02T05:00:00Z")), now).level, Severity::Hard);
        let old = assess(Ok(&report(ok.clone(), "ok", "2026-11-30T05:59:00Z")), now);
        assert_eq!(old.level, Severity::Hard);
        assert!(old.problems[0].contains("more than 48 h"), "{old:?}");
        assert_eq!(assess(Ok(&report(ok, "ok", "2026-11-30T06:00:00Z")), now).level, Severity::Ok);
        assert_eq!(assess(Ok(b"{not json"), now).level, Severity::Hard);
        assert_eq!(assess(Ok(b"[]"), now).level, Severity::Hard);
        let missing = assess(Err("no such file".into()), now);
        assert_eq!((missing.level, missing.problems[0].as_str()), (Severity::Hard, "the backup report: no such file"));
    }
}
