//! Registration: trade the one-time token for a node id and an API key,
//! once. The key lives in the vault, the id in `node_meta`, so a restart
//! keeps both.

use serde_json::{json, Value};
use warden_vault::{HostPattern, Injection};
use zeroize::Zeroizing;

use super::{HubLink, API_KEY_SECRET};

/// The `node_meta` key of this node's id at the hub.
const NODE_ID: &str = "hub.node_id";

impl HubLink {
    /// This node's id and API key, registering first when it has none.
    pub(super) async fn credentials(&self) -> anyhow::Result<(String, Zeroizing<String>)> {
        let store = self.activator.store().clone();
        let vault = self.vault.clone();
        let known = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let id = store.meta(NODE_ID)?;
            let key = match vault.get(API_KEY_SECRET) {
                Ok(s) => Some(s.value),
                Err(warden_vault::VaultError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            Ok(id.zip(key))
        })
        .await??;
        if let Some(creds) = known {
            return Ok(creds);
        }
        let Some(token) = &self.settings.registration_token else {
            anyhow::bail!(
                "this node is not registered with the hub: set hub.registration_token (WARDEN_HUB_REGISTRATION_TOKEN)"
            );
        };
        let body = json!({
            "registration_token": token.as_str(),
            "node_name": self.settings.node_name,
            "tenant": self.settings.tenant,
            "version": env!("CARGO_PKG_VERSION"),
        });
        let answer = self.client.call("register", "/api/v1/nodes/register", None, &body).await?;
        let node_id = answer.get("node_id").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 128);
        let api_key = answer.get("api_key").and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(node_id), Some(api_key)) = (node_id, api_key) else {
            anyhow::bail!("the hub's registration answer lacks node_id or api_key");
        };
        let (node_id, api_key) = (node_id.to_string(), Zeroizing::new(api_key.to_string()));
        let host = self.settings.url.host_str().unwrap_or_default().to_string();
        let (store, vault, id, key) =
            (self.activator.store().clone(), self.vault.clone(), node_id.clone(), api_key.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            // The key first: a node id without a key would never be usable,
            // a key without an id is simply registered again.
            vault.set(
                API_KEY_SECRET,
                key,
                vec![HostPattern::parse(&host)?],
                Injection::header("Authorization: Bearer {}")?,
                "hub",
            )?;
            store.set_meta(NODE_ID, &id, "hub")?;
            Ok(())
        })
        .await??;
        tracing::info!(node_id = %node_id, "registered with the hub; the API key is in the vault");
        Ok((node_id, api_key))
    }
}
