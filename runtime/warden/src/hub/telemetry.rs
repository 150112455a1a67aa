//! The heartbeat: this node's telemetry (memory, disk, CPU, database, policy
//! status, counters) plus the acks of the last commands; its answer carries
//! the next commands.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::CallError;
use super::commands::Ack;
use super::probes::{cpu_seconds, db_size, disk, load1, memory};
use super::HubLink;

/// A heartbeat (or commands long poll) answer.
#[derive(Debug, Default, Deserialize)]
struct BeatAnswer {
    #[serde(default)]
    commands: Vec<Value>,
}

/// The commands in a heartbeat or long poll answer, unparsed: each is
/// parsed on its own, so one bad command does not hide the others.
pub(super) fn commands_of(answer: Value) -> Vec<Value> {
    serde_json::from_value::<BeatAnswer>(answer).unwrap_or_default().commands
}

impl HubLink {
    /// Send one heartbeat; the commands in the answer ([`commands_of`]).
    pub(super) async fn heartbeat(&self, node: &str, key: &str, acks: &[Ack]) -> Result<Vec<Value>, CallError> {
        let mut body = self.telemetry().await;
        body["acks"] = serde_json::to_value(acks).expect("acks serialise");
        let answer =
            self.client.call("heartbeat", &format!("/api/v1/nodes/{node}/heartbeat"), Some(key), &body).await?;
        self.metrics.heartbeat_ok();
        Ok(commands_of(answer))
    }

    /// The heartbeat body.
    async fn telemetry(&self) -> Value {
        let (activator, dir, checks) = (self.activator.clone(), self.dir.clone(), self.checks.clone());
        // The store's reads and the file system's are blocking work.
        let (quick_check, pending, db_size, disk, status, alerts) = match tokio::task::spawn_blocking(move || {
            let store = activator.store();
            let qc = store.quick_check().unwrap_or_else(|e| e.to_string());
            let pending = store.approvals_pending().unwrap_or(0);
            (qc, pending, db_size(&dir), disk(&dir.root), activator.status(), checks.report())
        })
        .await
        {
            Ok(v) => v,
            Err(e) => (e.to_string(), 0, 0, None, self.activator.status(), Default::default()),
        };
        let (requests, errors) = self.metrics.last_hour();
        let failures: u64 = self.activator.plugin_stats().failures().values().sum();
        let mem = memory();
        let (flagged, held) = self.metrics.taint_counts();
        json!({
            "node_name": self.settings.node_name,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs(),
            "ram": {"rss_bytes": mem.0, "total_bytes": mem.1, "available_bytes": mem.2},
            "disk": disk.map(|(total, free)| json!({"total_bytes": total, "free_bytes": free})),
            "cpu": {"process_seconds": cpu_seconds(), "load1": load1(), "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)},
            "db": {"size_bytes": db_size, "quick_check": quick_check},
            "policy": {"revision": status.revision, "digest": status.digest, "expired": status.expired, "stale": status.stale,
                "last_attempt": status.last_attempt},
            "redactions_by_layer": self.metrics.redactions_by_layer(),
            "plugin_failures": failures,
            "approvals_pending": pending,
            "untrusted": {"flagged_requests": flagged, "tainted_holds": held},
            "last_hour": {"requests": requests, "errors": errors},
            "alerts": alerts,
        })
    }
}
