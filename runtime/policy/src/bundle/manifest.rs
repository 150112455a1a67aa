//! `manifest.json`: what a bundle is and what it holds.
//!
//! The manifest is signed as the exact bytes on disk, so this type is only
//! ever *read* from those bytes after the signature checks out, or *written*
//! once by `bundle build`. Nothing re-serialises a manifest and signs or
//! verifies the result.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The manifest schema this runtime reads.
pub const SCHEMA: &str = "warden.bundle/v1";

/// The manifest of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The bundle's name (the policy stream it belongs to).
    pub name: String,
    /// The tenant it is for; `*` for any tenant.
    pub tenant: String,
    /// Revision, an integer >= 1; higher is newer.
    pub revision: u64,
    /// RFC 3339 time before which the bundle must not be used.
    pub not_before: String,
    /// RFC 3339 time after which the bundle is expired.
    pub expires_at: String,
    /// The oldest Warden version that can run it (`MAJOR.MINOR.PATCH`).
    pub min_runtime: String,
    /// Every file of the bundle but `manifest.json` and `manifest.sig`.
    pub files: Vec<FileEntry>,
}

/// One file a manifest lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the bundle, `/`-separated, relative.
    pub path: String,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl Manifest {
    /// `not_before` as a time.
    pub fn not_before(&self) -> Result<SystemTime, String> {
        parse_time("not_before", &self.not_before)
    }

    /// `expires_at` as a time.
    pub fn expires_at(&self) -> Result<SystemTime, String> {
        parse_time("expires_at", &self.expires_at)
    }
}

fn parse_time(field: &str, s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(s).map_err(|e| format!("manifest field {field} = {s:?} is not an RFC 3339 time: {e}"))
}

/// An RFC 3339 time in UTC, to the second.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parse an RFC 3339 time given on a command line or in config.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

/// Parse a duration such as `90d`, `12h` or `30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration (e.g. 90d, 12h): {e}"))
}

/// `MAJOR.MINOR.PATCH` as numbers; anything after `-` or `+` is ignored.
pub fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    let core = s.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("0.10.0") > parse_version("0.9.9"));
        assert_eq!(parse_version("1.2.3-beta"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
    }

    #[test]
    fn times_round_trip() {
        let t = parse_rfc3339("2026-11-22T10:00:00Z").unwrap();
        assert_eq!(format_time(t), "2026-11-22T10:00:00Z");
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
