//! Paths of the plugin components built from `plugins/` by this crate's
//! build script, for tests and benchmarks.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// Read a component's bytes.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
