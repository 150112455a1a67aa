//! The policy in force: compiled bundles, activation, polling the hub.

pub mod activation;
pub mod compiled;
pub mod poller;

pub use activation::{Activator, Outcome, PolicyStatus, Refused, Settings};
pub use compiled::{BundleMeta, CompiledPolicy, GateVerdict};
