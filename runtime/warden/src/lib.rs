//! Warden, the sidecar: configuration, state, the policy in force and the
//! server. The `warden` binary's subcommands are thin layers over this.

pub mod commit;
pub mod config;
mod control;
pub mod egress;
pub mod gate;
pub mod hub;
pub mod metrics;
pub mod policy;
pub mod serve;
pub mod state;
