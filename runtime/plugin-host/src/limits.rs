//! Per-plugin limits, as a bundle's policy sets them.

use std::time::Duration;

use serde::Deserialize;

/// Limits for one plugin. Every field has a default; a bundle overrides any.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel per call: a deterministic instruction budget (default 50 million,
    /// tens of milliseconds of work).
    pub fuel: u64,
    /// Wall-clock deadline per call, in milliseconds (default 200). Catches
    /// what fuel cannot: time spent in the host or outside metered code.
    pub deadline_ms: u64,
    /// Linear memory cap per instance, in bytes (default 32 MiB).
    pub memory_bytes: usize,
    /// Largest input accepted, in bytes (default 1 MiB).
    pub max_input: usize,
    /// Most findings one call may return (default 1000).
    pub max_findings: usize,
    /// Longest finding, in bytes (default 4096). Bounds the streaming
    /// hold-back of the redaction engine.
    pub max_finding_len: usize,
    /// Labels the plugin may use; empty means any `A-Z 0-9 _` label.
    pub labels: Vec<String>,
    /// Overlap priority of its findings against the built-in layers
    /// (default 50: below specific rules, above entropy).
    pub priority: i32,
    /// Count and log failures but ignore them instead of failing closed.
    pub observe_only: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 50_000_000,
            deadline_ms: 200,
            memory_bytes: 32 << 20,
            max_input: 1 << 20,
            max_findings: 1000,
            max_finding_len: 4096,
            labels: Vec::new(),
            priority: 50,
            observe_only: false,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}
