//! System probes for the heartbeat: memory and CPU from `/proc`, disk from
//! `statvfs`, the database's size, the host name. Each reads what Linux
//! offers and answers 0 (or `None`) rather than failing the heartbeat.

use crate::state::StateDir;

/// `warden.db` plus its WAL.
pub(super) fn db_size(dir: &StateDir) -> u64 {
    let db = dir.db();
    let wal = db.with_extension("db-wal");
    [db, wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// Total and free bytes of the file system holding `path`.
pub fn disk(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid C string and `s` is written by statvfs on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    let frsize = s.f_frsize;
    Some((s.f_blocks * frsize, s.f_bavail * frsize))
}

/// This process's resident memory, and the machine's total and available, in bytes.
pub fn memory() -> (u64, u64, u64) {
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    (field(&status, "VmRSS:"), field(&meminfo, "MemTotal:"), field(&meminfo, "MemAvailable:"))
}

/// CPU seconds this process has used (user + system).
pub(super) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: utime is the 14th
    // field overall, the 12th after it.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

/// The one-minute load average.
pub(super) fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(0.0)
}

/// The host name, for `hub.node_name`'s default.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "warden".into())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn proc_readings_are_plausible() {
        let (rss, total, avail) = memory();
        assert!(rss > 0 && total > rss && avail <= total);
        let (t, f) = disk(std::path::Path::new("/")).unwrap();
        assert!(t >= f && t > 0);
        assert!(!host_name().is_empty());
    }

    /// The CPU reading follows work: burn CPU until it has risen by 50 ms
    /// (five clock ticks). A reader that parsed the wrong fields, or none,
    /// stays put and fails after the deadline.
    #[test]
    fn cpu_seconds_rise_with_work() {
        let before = cpu_seconds();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut x = 0u64;
        loop {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
            let now = cpu_seconds();
            if now >= before + 0.05 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cpu_seconds stayed at {now} (from {before}) while this test burned CPU"
            );
        }
    }
}
