//! Disk and memory alert levels: the heartbeat already carries the raw
//! bytes; the level says whether the configured threshold is crossed
//! (`[checks] disk_alert_percent`, 85 by default; `memory_alert_percent`,
//! 90), so every hub and dashboard reads the same verdict.

use serde::Serialize;

use super::Severity;

/// Default disk threshold: past 85 % a busy database and its WAL can fill
/// the rest within hours.
pub const DEFAULT_DISK_PERCENT: f64 = 85.0;
/// Default memory threshold: past 90 % the kernel starts reclaiming hard.
pub const DEFAULT_MEMORY_PERCENT: f64 = 90.0;

/// The thresholds, in percent used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Disk of the state directory.
    pub disk_percent: f64,
    /// The machine's memory (total minus available).
    pub memory_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { disk_percent: DEFAULT_DISK_PERCENT, memory_percent: DEFAULT_MEMORY_PERCENT }
    }
}

/// One resource against its threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Level {
    /// Percent used, one decimal.
    pub used_percent: f64,
    /// The threshold it is compared with.
    pub threshold_percent: f64,
    /// `medium` above the threshold, else `ok`.
    pub level: Severity,
}

impl Level {
    /// `used` of `total` against `threshold` percent; `None` when the total
    /// is unknown (0).
    pub fn of(used: u64, total: u64, threshold: f64) -> Option<Level> {
        if total == 0 {
            return None;
        }
        let pct = used.min(total) as f64 * 100.0 / total as f64;
        let level = if pct > threshold { Severity::Medium } else { Severity::Ok };
        Some(Level { used_percent: (pct * 10.0).round() / 10.0, threshold_percent: threshold, level })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn above_the_threshold_is_an_alert_at_it_is_not() {
        assert_eq!(Level::of(85, 100, 85.0).unwrap().level, Severity::Ok);
        let l = Level::of(8_612, 10_000, 85.0).unwrap();
        assert_eq!((l.level, l.used_percent, l.threshold_percent), (Severity::Medium, 86.1, 85.0));
        assert_eq!(Level::of(95, 100, 99.5).unwrap().level, Severity::Ok);
        assert!(Level::of(1, 0, 85.0).is_none());
        assert_eq!(Level::of(200, 100, 85.0).unwrap().used_percent, 100.0);
    }
}
