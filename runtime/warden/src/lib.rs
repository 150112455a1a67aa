//! Warden, the sidecar: configuration, state, the policy in force and the
//! server. The `warden` binary's subcommands are thin layers over this.

pub mod bootstrap;
pub mod checks;
pub mod config;
mod control;
pub mod egress;
pub mod hub;
pub mod judge;
pub mod metrics;
pub mod policy;
pub mod serve;
pub mod state;
