//! Commands a heartbeat answer carries (fetch a bundle, roll back, answer an
//! approval): parse each, apply them in order, and answer each with an ack
//! that goes out with the next heartbeat.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HubLink;

/// A command from a heartbeat answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Fetch the bundle now; done when `revision` (or later) is active.
    FetchBundle {
        /// Command id, echoed in the ack.
        id: String,
        /// The revision the hub published.
        revision: u64,
    },
    /// Re-activate an accepted bundle.
    Rollback {
        /// Command id.
        id: String,
        /// The bundle's digest.
        digest: String,
    },
    /// Answer an approval.
    ResolveApproval {
        /// Command id.
        id: String,
        /// The approval.
        approval_id: String,
        /// `allow-once`, `allow-always` or `deny`.
        decision: String,
        /// Who decided at the hub.
        by: String,
    },
}

/// The answer to a command, sent with the next heartbeat.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Ack {
    /// The command's id.
    pub id: String,
    /// Whether it was applied.
    pub ok: bool,
    /// What happened.
    pub detail: String,
}

impl HubLink {
    /// Apply commands in order; each gets an ack.
    pub(super) async fn apply(&self, commands: Vec<Value>) -> Vec<Ack> {
        let mut acks = Vec::new();
        for raw in commands {
            let id = raw.get("id").and_then(Value::as_str).unwrap_or("").to_string();
            let ack = match serde_json::from_value::<Command>(raw) {
                Ok(cmd) => self.apply_one(cmd).await,
                Err(e) => Ack { id, ok: false, detail: format!("command not understood: {e}") },
            };
            tracing::info!(command = %ack.id, ok = ack.ok, detail = %ack.detail, "hub command applied");
            acks.push(ack);
        }
        acks
    }

    async fn apply_one(&self, cmd: Command) -> Ack {
        match cmd {
            Command::FetchBundle { id, revision } => {
                let (ok, detail) = self.fetch_bundle(revision).await;
                Ack { id, ok, detail }
            }
            Command::Rollback { id, digest } => {
                let a = self.activator.clone();
                let r = tokio::task::spawn_blocking(move || a.rollback(&digest, "hub")).await;
                match r {
                    Ok(Ok(outcome)) => Ack { id, ok: true, detail: format!("{outcome:?}") },
                    Ok(Err(refused)) => Ack { id, ok: false, detail: refused.0 },
                    Err(e) => Ack { id, ok: false, detail: e.to_string() },
                }
            }
            Command::ResolveApproval { id, approval_id, decision, by } => {
                let gate = self.gate.clone();
                let by = format!("hub:{}", by.trim());
                let r = match decision.parse::<warden_domain::Answer>() {
                    Ok(answer) => {
                        tokio::task::spawn_blocking(move || gate.answer(&approval_id, answer, &by, None)).await
                    }
                    Err(e) => return Ack { id, ok: false, detail: e.to_string() },
                };
                match r {
                    Ok(Ok(_)) => Ack { id, ok: true, detail: "decided".into() },
                    Ok(Err(e)) => Ack { id, ok: false, detail: e.to_string() },
                    Err(e) => Ack { id, ok: false, detail: e.to_string() },
                }
            }
        }
    }

    /// Trigger the bundle poller and wait (up to the fetch timeout and 5 s)
    /// until `revision` is active or the poller's attempt failed.
    async fn fetch_bundle(&self, revision: u64) -> (bool, String) {
        let active = || self.activator.current().meta.revision;
        if active() >= revision {
            return (true, format!("revision {} is active", active()));
        }
        let Some(now) = &self.fetch_now else {
            return (false, "no policy.bundle_url is configured on this node".into());
        };
        let asked = warden_store::now_ms();
        now.trigger();
        let deadline = Instant::now() + self.settings.fetch_timeout + Duration::from_secs(5);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if active() >= revision {
                return (true, format!("revision {} is active", active()));
            }
            let store = self.activator.store().clone();
            if let Ok(Ok(Some(a))) = tokio::task::spawn_blocking(move || store.last_attempt()).await {
                if a.at >= asked && a.outcome != "activated" {
                    return (false, format!("revision {revision} not activated: {}", a.error.unwrap_or(a.outcome)));
                }
            }
        }
        (false, format!("revision {revision} did not arrive from the bundle URL within the fetch timeout"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn commands_parse_by_type() {
        let c: Command = serde_json::from_value(json!({"id": "c1", "type": "fetch_bundle", "revision": 3})).unwrap();
        assert!(matches!(c, Command::FetchBundle { revision: 3, .. }));
        let c: Command = serde_json::from_value(
            json!({"id": "c2", "type": "resolve_approval", "approval_id": "apr_1", "decision": "deny", "by": "ann"}),
        )
        .unwrap();
        assert!(matches!(c, Command::ResolveApproval { .. }));
        assert!(serde_json::from_value::<Command>(json!({"id": "c3", "type": "reboot"})).is_err());
    }
}
