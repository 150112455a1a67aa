//! The gateway's view of the running server: the policy in force, the
//! vault's values as the exact layer, credentials, usage.

use std::sync::{Arc, Mutex};

use warden_proxy::gateway::{Context, Upstream};
use warden_proxy::json::Usage;
use warden_redact::{Engine, ExactSet};
use warden_vault::Vault;
use zeroize::Zeroizing;

use crate::policy::Activator;

/// Implements [`Context`] over the activator and the vault.
pub struct EgressContext {
    activator: Arc<Activator>,
    vault: Arc<Vault>,
    /// The vault's exact layer, rebuilt when the secrets change (the stamp
    /// is a cheap query that any write or delete moves).
    exact: Mutex<((i64, i64, i64), ExactSet)>,
}

impl EgressContext {
    /// Wire the gateway to `activator` and `vault`.
    pub fn new(activator: Arc<Activator>, vault: Arc<Vault>) -> anyhow::Result<EgressContext> {
        let stamp = activator.store().secrets_stamp()?;
        let exact = vault.exact_set()?;
        Ok(EgressContext { activator, vault, exact: Mutex::new((stamp, exact)) })
    }

    fn exact(&self) -> Result<ExactSet, String> {
        let stamp = self.activator.store().secrets_stamp().map_err(|e| e.to_string())?;
        let mut cached = self.exact.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 != stamp {
            // A vault that cannot be read fails closed: no request goes out
            // without the exact layer.
            let set = self.vault.exact_set().map_err(|e| format!("vault: {e}"))?;
            *cached = (stamp, set);
        }
        Ok(cached.1.clone())
    }
}

impl Context for EgressContext {
    fn engine(&self) -> Result<Engine, String> {
        self.activator.egress_allowed()?;
        Ok(self.activator.current().engine.with_exact(self.exact()?))
    }

    fn upstream(&self, name: &str) -> Option<Upstream> {
        let policy = self.activator.current();
        let spec = policy.source.settings.gateway.upstreams.iter().find(|u| u.name == name)?;
        Some(Upstream {
            name: spec.name.clone(),
            base_url: reqwest::Url::parse(&spec.base_url).ok()?,
            secret: spec.secret.clone(),
        })
    }

    fn credential(&self, secret: &str, host: &str) -> Result<(String, Zeroizing<String>), String> {
        let s = self.vault.get(secret).map_err(|e| match e {
            warden_vault::VaultError::NotFound(_) => format!(
                "no secret named {secret} in the vault (warden secrets set {secret} --host {host} --header 'Authorization: Bearer {{}}')"
            ),
            other => other.to_string(),
        })?;
        if !s.bound_to(host) {
            tracing::warn!(secret, host, "refused: secret not bound to the upstream host");
            return Err(format!("secret {secret} is not bound to {host}"));
        }
        s.info.inject.render(&s.value).ok_or_else(|| format!("secret {secret} has no header template (--header)"))
    }

    fn record_usage(&self, agent: &str, model: &str, usage: Usage) {
        if let Err(e) = self.activator.store().add_usage(agent, model, usage.input, usage.output) {
            tracing::error!(error = %e, "could not record token usage");
        }
    }
}
