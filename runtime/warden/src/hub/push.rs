//! Pushes: approvals, usage buckets and alerts (the backup verdict) the hub
//! has not acknowledged, in batches, marked as pushed only after the hub
//! took them (so an outage or a restart loses nothing).

use serde_json::json;

use super::client::CallError;
use super::HubLink;

/// Most rows pushed in one call.
const PUSH_BATCH: usize = 500;

impl HubLink {
    /// Push approvals, usage and alerts the hub has not acknowledged.
    pub(super) async fn push(&self, node: &str, key: &str) -> Result<(), CallError> {
        let store = self.activator.store().clone();
        let owed = tokio::task::spawn_blocking(move || {
            Ok::<_, warden_store::StoreError>((
                store.approvals_unpushed(PUSH_BATCH)?,
                store.usage_unpushed(PUSH_BATCH)?,
            ))
        })
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?
        .map_err(|e| CallError::Transport(e.to_string()))?;
        let (approvals, usage) = owed;
        if !approvals.is_empty() {
            let body =
                json!({"approvals": approvals.iter().map(warden_gate::ApprovalView::for_hub).collect::<Vec<_>>()});
            self.client.call("approvals", &format!("/api/v1/nodes/{node}/approvals"), Some(key), &body).await?;
            let sent: Vec<_> = approvals.into_iter().map(|a| (a.id, a.status)).collect();
            let store = self.activator.store().clone();
            let _ = tokio::task::spawn_blocking(move || store.approvals_pushed(&sent)).await;
        }
        if !usage.is_empty() {
            let buckets: Vec<_> = usage
                .iter()
                .map(|b| {
                    json!({"hour": warden_util::rfc3339_ms(b.hour * 1000), "agent": b.agent, "model": b.model,
                        "requests": b.requests, "input_tokens": b.input_tokens, "output_tokens": b.output_tokens})
                })
                .collect();
            let body = json!({"buckets": buckets});
            self.client.call("usage", &format!("/api/v1/nodes/{node}/usage"), Some(key), &body).await?;
            let store = self.activator.store().clone();
            let _ = tokio::task::spawn_blocking(move || store.usage_pushed(&usage)).await;
        }
        let checks = self.checks.clone();
        let backup = tokio::task::spawn_blocking(move || checks.backup_unpushed()).await.ok().flatten();
        if let Some(b) = backup {
            let alert = json!({"check": "backup", "level": b.level, "at": b.checked_at, "detail": b});
            let path = format!("/api/v1/nodes/{node}/alerts");
            match self.client.call("alerts", &path, Some(key), &json!({"alerts": [alert]})).await {
                Ok(_) => {}
                // A hub without alerts still reads the verdict in the heartbeat:
                // not a failure that should hold back approvals.
                Err(CallError::Status(404 | 405, _)) => {
                    tracing::debug!("hub: no alerts endpoint; the backup verdict goes in heartbeats only")
                }
                Err(e) => return Err(e),
            }
            let checks = self.checks.clone();
            let _ = tokio::task::spawn_blocking(move || checks.backup_pushed(&b.checked_at)).await;
        }
        Ok(())
    }
}
