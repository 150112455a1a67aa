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
    /// Refused egress attempts by kind (`ssrf`, `connect`, `secret_ref`).
    refusals: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl EgressContext {
    /// Wire the gateway to `activator` and `vault`.
    pub fn new(activator: Arc<Activator>, vault: Arc<Vault>) -> anyhow::Result<EgressContext> {
        let stamp = activator.store().secrets_stamp()?;
        let exact = vault.exact_set()?;
        Ok(EgressContext { activator, vault, exact: Mutex::new((stamp, exact)), refusals: Mutex::default() })
    }

    /// Refused egress attempts so far, by kind.
    pub fn refusals(&self) -> std::collections::BTreeMap<String, u64> {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner()).clone()
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

    fn destination_allowed(&self, host: &str, port: u16) -> Result<(), String> {
        let policy = self.activator.current();
        if policy.egress_allow.iter().any(|(p, allowed)| *allowed == port && p.matches(host)) {
            return Ok(());
        }
        Err(format!("{host}:{port} is not in the egress allowlist (policy.toml [egress] allow)"))
    }

    fn allow_ranges(&self) -> Vec<warden_proxy::ssrf::IpRange> {
        self.activator.current().allow_ranges.clone()
    }

    fn secret_ref(&self, name: &str, host: &str) -> Result<Zeroizing<String>, String> {
        let refuse = |why: String| {
            self.refused("secret_ref", &format!("SECRET_REF({name}) toward {host}: {why}"));
            Err(format!("refused: SECRET_REF({name}) may not go to {host} ({why})"))
        };
        match self.vault.get(name) {
            Ok(s) if s.bound_to(host) => Ok(s.value),
            Ok(_) => refuse("not bound to this host".into()),
            Err(warden_vault::VaultError::NotFound(_)) => refuse("no such secret".into()),
            Err(e) => Err(format!("vault: {e}")),
        }
    }

    fn refused(&self, kind: &str, detail: &str) {
        tracing::warn!(kind, detail, "egress refused");
        *self.refusals.lock().unwrap_or_else(|e| e.into_inner()).entry(kind.to_string()).or_insert(0) += 1;
        if let Err(e) = self.activator.store().audit("warden", &format!("egress.refuse.{kind}"), "egress", detail) {
            tracing::error!(error = %e, "could not audit a refused egress attempt");
        }
    }

    fn record_usage(&self, agent: &str, model: &str, usage: Usage) {
        if let Err(e) = self.activator.store().add_usage(agent, model, usage.input, usage.output) {
            tracing::error!(error = %e, "could not record token usage");
        }
    }
}
