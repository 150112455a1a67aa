//! The link to the hub: register once, heartbeat with telemetry, apply the
//! commands a heartbeat answer carries, and push approvals and usage until
//! the hub has acknowledged them. Plus an optional Uptime Kuma push.
//!
//! The protocol is in `runtime/warden/api/hub.openapi.json`. What must
//! reach the hub lives in SQLite (approvals with the status the hub last
//! acknowledged, usage buckets with the count it acknowledged), so a hub
//! outage or a restart loses nothing: it is sent when the hub is back, with
//! exponential backoff and jitter so a fleet does not return in step.
//!
//! One job per module: [`client`] (HTTP calls), [`register`], [`run`] (the
//! loop), [`wait`] (the commands long poll while approvals are pending),
//! [`commands`], [`push`], [`telemetry`] (the heartbeat), [`kuma`] (Uptime
//! Kuma) and [`probes`] (`/proc`, `statvfs`, host name).

use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_vault::Vault;
use zeroize::Zeroizing;

use crate::checks::Checks;
use crate::metrics::Metrics;
use crate::policy::poller::FetchNow;
use crate::policy::Activator;
use crate::state::StateDir;
use warden_gate::Gate;

pub(crate) mod client;
mod commands;
mod kuma;
mod probes;
mod push;
mod register;
mod run;
mod telemetry;
mod wait;

pub use commands::{Ack, Command};
pub use kuma::uptime_kuma;
pub use probes::{disk, host_name, memory};

/// The vault secret holding the hub's API key for this node.
pub const API_KEY_SECRET: &str = "warden-hub-api-key";

/// What the hub link needs to know.
#[derive(Clone, Debug)]
pub struct HubSettings {
    /// Base URL.
    pub url: reqwest::Url,
    /// One-time registration token.
    pub registration_token: Option<Zeroizing<String>>,
    /// This node's name.
    pub node_name: String,
    /// The tenant, if configured.
    pub tenant: Option<String>,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// How long a `fetch_bundle` command may take.
    pub fetch_timeout: Duration,
}

/// The running link.
pub struct HubLink {
    settings: HubSettings,
    client: client::HubClient,
    activator: Arc<Activator>,
    vault: Arc<Vault>,
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    checks: Arc<Checks>,
    dir: StateDir,
    fetch_now: Option<FetchNow>,
    started: Instant,
}

impl HubLink {
    /// A link; `fetch_now` is the bundle poller's trigger, when there is one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: HubSettings,
        activator: Arc<Activator>,
        vault: Arc<Vault>,
        gate: Arc<Gate>,
        metrics: Arc<Metrics>,
        checks: Arc<Checks>,
        dir: StateDir,
        fetch_now: Option<FetchNow>,
    ) -> anyhow::Result<HubLink> {
        let client = client::HubClient::new(settings.url.clone(), metrics.clone())?;
        Ok(HubLink {
            settings,
            client,
            activator,
            vault,
            gate,
            metrics,
            checks,
            dir,
            fetch_now,
            started: Instant::now(),
        })
    }
}
