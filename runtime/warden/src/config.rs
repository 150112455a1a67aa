//! `warden.toml`: every key has a default, and a `WARDEN_*` variable
//! overrides it (environment wins over the file). With no file at all Warden
//! runs on loopback with the embedded default policy.
//!
//! ```toml
//! state_dir = "/var/lib/warden"        # WARDEN_STATE_DIR
//! tenant = "acme"                      # WARDEN_TENANT
//! [control]
//! listen = "127.0.0.1:8200"            # WARDEN_CONTROL_LISTEN
//! [egress]
//! listen = "127.0.0.1:8100"            # WARDEN_EGRESS_LISTEN
//! ca_file = "/etc/warden/extra-ca.pem" # WARDEN_EGRESS_CA_FILE (extra upstream CAs)
//! idle_timeout = "300s"                # WARDEN_EGRESS_IDLE_TIMEOUT: longest silence from an upstream
//! token_file = "/etc/warden/egress.token" # WARDEN_EGRESS_TOKEN_FILE: /llm/ requests must send it as their API key
//! [policy]
//! bundle_url = "https://hub.example/v1/bundles/acme.tar.gz"  # WARDEN_POLICY_BUNDLE_URL
//! trust = ["ed25519:...", "/etc/warden/hub.pub"]            # WARDEN_POLICY_TRUST (comma-separated)
//! poll_min = "60s"                     # WARDEN_POLICY_POLL_MIN
//! poll_max = "120s"                    # WARDEN_POLICY_POLL_MAX
//! fetch_timeout = "30s"                # WARDEN_POLICY_FETCH_TIMEOUT
//! max_staleness = "24h"                # WARDEN_POLICY_MAX_STALENESS (unset: never stale)
//! [gate]
//! approval_ttl = "30m"                 # WARDEN_GATE_APPROVAL_TTL: unanswered approvals end as deny
//! agent_can_decide = false             # WARDEN_GATE_AGENT_CAN_DECIDE: true = agent.token may answer too
//! [hub]
//! url = "https://hub.example"          # WARDEN_HUB_URL (unset: no hub link)
//! registration_token = "..."           # WARDEN_HUB_REGISTRATION_TOKEN (used once)
//! node_name = "host-1"                 # WARDEN_HUB_NODE_NAME (default: the host name)
//! heartbeat = "30s"                    # WARDEN_HUB_HEARTBEAT
//! uptime_kuma_url = "https://kuma.example/api/push/XYZ"  # WARDEN_HUB_UPTIME_KUMA_URL
//! [checks]
//! disk_alert_percent = 85              # WARDEN_CHECKS_DISK_ALERT_PERCENT: state dir's disk, alert above
//! memory_alert_percent = 90            # WARDEN_CHECKS_MEMORY_ALERT_PERCENT: machine memory, alert above
//! backup_status = "/var/backups/backup-status.json"  # WARDEN_CHECKS_BACKUP_STATUS (unset: no backup check)
//! backup_at = "06:00"                  # WARDEN_CHECKS_BACKUP_AT: local time of the daily check
//! tls = ["app.acme.example:443"]       # WARDEN_CHECKS_TLS (comma-separated; must pass [egress] allow and the SSRF guard)
//! tls_files = ["/etc/ssl/acme.pem"]    # WARDEN_CHECKS_TLS_FILES (comma-separated)
//! tls_alert_days = 14                  # WARDEN_CHECKS_TLS_ALERT_DAYS
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use warden_policy::bundle::{manifest::parse_duration, Keyring, PublicKey};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// State directory (database, bundles, plugin cache).
    pub state_dir: Option<PathBuf>,
    /// This node's tenant; bundles for other tenants are refused.
    pub tenant: Option<String>,
    /// `[control]`.
    pub control: ControlConfig,
    /// `[policy]`.
    pub policy: PolicyConfig,
    /// `[egress]`.
    pub egress: EgressConfig,
    /// `[gate]`.
    pub gate: GateConfig,
    /// `[hub]`.
    pub hub: HubConfig,
    /// `[checks]`.
    pub checks: ChecksConfig,
}

/// `[checks]`: the watchman's checks and their alert levels.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Percent of the state directory's disk in use above which it alerts.
    pub disk_alert_percent: f64,
    /// Percent of the machine's memory in use (total minus available) above which it alerts.
    pub memory_alert_percent: f64,
    /// The backup job's report; unset: no backup check.
    pub backup_status: Option<PathBuf>,
    /// When the report is read each day, local time (`HH:MM`).
    pub backup_at: String,
    /// `host:port` whose certificate is checked (at start and daily).
    pub tls: Vec<String>,
    /// PEM files whose certificates are checked.
    pub tls_files: Vec<PathBuf>,
    /// Alert when a certificate has fewer days left.
    pub tls_alert_days: i64,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        let t = crate::checks::Thresholds::default();
        ChecksConfig {
            disk_alert_percent: t.disk_percent,
            memory_alert_percent: t.memory_percent,
            backup_status: None,
            backup_at: "06:00".into(),
            tls: Vec::new(),
            tls_files: Vec::new(),
            tls_alert_days: crate::checks::tls::DEFAULT_ALERT_DAYS,
        }
    }
}

impl ChecksConfig {
    /// The thresholds, checked (0-100).
    pub fn thresholds(&self) -> anyhow::Result<crate::checks::Thresholds> {
        for (key, v) in
            [("disk_alert_percent", self.disk_alert_percent), ("memory_alert_percent", self.memory_alert_percent)]
        {
            anyhow::ensure!((0.0..=100.0).contains(&v), "checks.{key} = {v}: use a percentage from 0 to 100");
        }
        Ok(crate::checks::Thresholds {
            disk_percent: self.disk_alert_percent,
            memory_percent: self.memory_alert_percent,
        })
    }

    /// The certificate checks.
    pub fn tls(&self) -> anyhow::Result<crate::checks::TlsSettings> {
        anyhow::ensure!(self.tls_alert_days >= 0, "checks.tls_alert_days must be 0 or more");
        for t in &self.tls {
            anyhow::ensure!(
                t.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()),
                "checks.tls: {t:?} is not host:port"
            );
        }
        Ok(crate::checks::TlsSettings {
            targets: self.tls.clone(),
            files: self.tls_files.clone(),
            alert_days: self.tls_alert_days,
        })
    }

    /// The backup check, when a report is configured.
    pub fn backup(&self) -> anyhow::Result<Option<crate::checks::BackupSettings>> {
        let at = self.backup_at.parse().map_err(|e| anyhow::anyhow!("checks.backup_at: {e}"))?;
        Ok(self.backup_status.clone().map(|path| crate::checks::BackupSettings { path, at }))
    }
}

/// `[gate]`: the tool-call gate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// How long an approval waits for a decision before it ends as a deny.
    pub approval_ttl: String,
    /// Whether `agent.token` may answer approvals (`POST
    /// /api/v1/approvals/{id}`). Default false: the agent asks and waits,
    /// only the operator's `admin.token` and the hub answer. A model with a
    /// shell can read its own agent's config, and so the agent token: a gate
    /// the gated party can open is no gate. Turn it on only where nothing
    /// the model controls can read `agent.token`.
    pub agent_can_decide: bool,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig { approval_ttl: "30m".into(), agent_can_decide: false }
    }
}

/// `[hub]`: the link to the fleet's hub (and an optional Uptime Kuma push).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// The hub's base URL; unset: no hub link.
    pub url: Option<String>,
    /// One-time registration token; only used while the node has no API key.
    pub registration_token: Option<String>,
    /// This node's name (default: the host name).
    pub node_name: Option<String>,
    /// Time between heartbeats.
    pub heartbeat: String,
    /// An Uptime Kuma push URL, called once per heartbeat period.
    pub uptime_kuma_url: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            url: None,
            registration_token: None,
            node_name: None,
            heartbeat: "30s".into(),
            uptime_kuma_url: None,
        }
    }
}

/// `[egress]`: the agent's way out (the LLM gateway).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Listen address; loopback unless set otherwise.
    pub listen: SocketAddr,
    /// PEM file of extra CA certificates trusted for upstreams.
    pub ca_file: Option<PathBuf>,
    /// Longest silence from an upstream before the request fails.
    pub idle_timeout: String,
    /// A file holding the egress token: when set, `/llm/` requests must
    /// carry it as their API key (the agent's provider config sends it), so
    /// no other local process can spend the provider keys.
    pub token_file: Option<PathBuf>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8100)),
            ca_file: None,
            idle_timeout: "300s".into(),
            token_file: None,
        }
    }
}

/// `[control]`: the control API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Listen address; loopback unless set otherwise.
    pub listen: SocketAddr,
}

/// `[policy]`: where bundles come from and whom to trust.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The bundle URL; unset: no polling (the last-good or embedded policy).
    pub bundle_url: Option<String>,
    /// Trusted keys: `ed25519:<base64>` or a path to a `.pub` file.
    pub trust: Vec<String>,
    /// Shortest wait between polls.
    pub poll_min: String,
    /// Longest wait between polls.
    pub poll_max: String,
    /// Timeout of one download.
    pub fetch_timeout: String,
    /// Past this long unconfirmed, egress fails closed.
    pub max_staleness: Option<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8200)) }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            bundle_url: None,
            trust: Vec::new(),
            poll_min: "60s".into(),
            poll_max: "120s".into(),
            fetch_timeout: "30s".into(),
            max_staleness: None,
        }
    }
}

impl Config {
    /// Read `path` (if given), then apply the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("config {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("config {}", p.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("WARDEN_STATE_DIR") {
            self.state_dir = Some(v.into());
        }
        if let Some(v) = get("WARDEN_TENANT") {
            self.tenant = Some(v);
        }
        if let Some(v) = get("WARDEN_CONTROL_LISTEN") {
            self.control.listen = v.parse().with_context(|| format!("WARDEN_CONTROL_LISTEN={v}"))?;
        }
        if let Some(v) = get("WARDEN_EGRESS_LISTEN") {
            self.egress.listen = v.parse().with_context(|| format!("WARDEN_EGRESS_LISTEN={v}"))?;
        }
        if let Some(v) = get("WARDEN_EGRESS_CA_FILE") {
            self.egress.ca_file = Some(v.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("WARDEN_EGRESS_TOKEN_FILE") {
            self.egress.token_file = Some(v.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("WARDEN_POLICY_BUNDLE_URL") {
            self.policy.bundle_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("WARDEN_POLICY_TRUST") {
            self.policy.trust = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        for (key, field) in [
            ("WARDEN_POLICY_POLL_MIN", &mut self.policy.poll_min),
            ("WARDEN_POLICY_POLL_MAX", &mut self.policy.poll_max),
            ("WARDEN_POLICY_FETCH_TIMEOUT", &mut self.policy.fetch_timeout),
            ("WARDEN_EGRESS_IDLE_TIMEOUT", &mut self.egress.idle_timeout),
            ("WARDEN_HUB_HEARTBEAT", &mut self.hub.heartbeat),
            ("WARDEN_GATE_APPROVAL_TTL", &mut self.gate.approval_ttl),
            ("WARDEN_CHECKS_BACKUP_AT", &mut self.checks.backup_at),
        ] {
            if let Some(v) = get(key) {
                *field = v;
            }
        }
        let list =
            |v: String| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
        if let Some(v) = get("WARDEN_CHECKS_TLS") {
            self.checks.tls = list(v);
        }
        if let Some(v) = get("WARDEN_CHECKS_TLS_FILES") {
            self.checks.tls_files = list(v).into_iter().map(PathBuf::from).collect();
        }
        if let Some(v) = get("WARDEN_CHECKS_TLS_ALERT_DAYS") {
            self.checks.tls_alert_days =
                v.parse().with_context(|| format!("WARDEN_CHECKS_TLS_ALERT_DAYS={v}: a number of days"))?;
        }
        if let Some(v) = get("WARDEN_CHECKS_BACKUP_STATUS") {
            self.checks.backup_status = Some(v.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty());
        }
        if let Some(v) = get("WARDEN_POLICY_MAX_STALENESS") {
            self.policy.max_staleness = Some(v).filter(|s| !s.is_empty());
        }
        for (key, field) in [
            ("WARDEN_CHECKS_DISK_ALERT_PERCENT", &mut self.checks.disk_alert_percent),
            ("WARDEN_CHECKS_MEMORY_ALERT_PERCENT", &mut self.checks.memory_alert_percent),
        ] {
            if let Some(v) = get(key) {
                *field = v.parse().with_context(|| format!("{key}={v}: a percentage"))?;
            }
        }
        if let Some(v) = get("WARDEN_GATE_AGENT_CAN_DECIDE") {
            self.gate.agent_can_decide = match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => anyhow::bail!("WARDEN_GATE_AGENT_CAN_DECIDE={v}: use true or false"),
            };
        }
        for (key, field) in [
            ("WARDEN_HUB_URL", &mut self.hub.url),
            ("WARDEN_HUB_REGISTRATION_TOKEN", &mut self.hub.registration_token),
            ("WARDEN_HUB_NODE_NAME", &mut self.hub.node_name),
            ("WARDEN_HUB_UPTIME_KUMA_URL", &mut self.hub.uptime_kuma_url),
        ] {
            if let Some(v) = get(key) {
                *field = Some(v).filter(|s| !s.is_empty());
            }
        }
        Ok(())
    }

    /// The state directory: configured, or the per-user data directory.
    pub fn state_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.state_dir {
            return Ok(d.clone());
        }
        default_state_dir()
    }
}

impl PolicyConfig {
    /// The trusted keys.
    pub fn keyring(&self) -> anyhow::Result<Keyring> {
        let keys = self.trust.iter().map(|t| parse_trust(t)).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Keyring::new(keys))
    }

    /// A duration setting.
    pub fn duration(&self, name: &str, value: &str) -> anyhow::Result<Duration> {
        parse_duration(value).map_err(|e| anyhow::anyhow!("policy.{name}: {e}"))
    }

    /// `max_staleness`, parsed.
    pub fn max_staleness(&self) -> anyhow::Result<Option<Duration>> {
        self.max_staleness.as_deref().map(|v| self.duration("max_staleness", v)).transpose()
    }
}

/// A trusted key: `ed25519:<base64>` itself, or a file holding it.
pub fn parse_trust(text: &str) -> anyhow::Result<PublicKey> {
    if text.trim_start().starts_with("ed25519:") {
        return PublicKey::parse(text).map_err(|e| anyhow::anyhow!("trusted key: {e}"));
    }
    let body = std::fs::read_to_string(text).with_context(|| format!("trusted key file {text}"))?;
    PublicKey::parse(&body).map_err(|e| anyhow::anyhow!("trusted key file {text}: {e}"))
}

/// `$XDG_DATA_HOME/warden`, else `$HOME/.local/share/warden`.
pub fn default_state_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("warden"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("no state directory: set --state-dir, WARDEN_STATE_DIR, state_dir in the config, or HOME")?;
    Ok(PathBuf::from(home).join(".local/share/warden"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut cfg: Config =
            toml::from_str("[control]\nlisten = \"127.0.0.1:1\"\n[policy]\npoll_min = \"5s\"\n").unwrap();
        let env = |k: &str| match k {
            "WARDEN_CONTROL_LISTEN" => Some("127.0.0.1:2".to_string()),
            "WARDEN_POLICY_TRUST" => Some("a, b".to_string()),
            "WARDEN_CHECKS_MEMORY_ALERT_PERCENT" => Some("95.5".to_string()),
            _ => None,
        };
        cfg.apply_env(env).unwrap();
        assert_eq!(
            cfg.checks.thresholds().unwrap(),
            crate::checks::Thresholds { disk_percent: 85.0, memory_percent: 95.5 }
        );
        assert!(toml::from_str::<Config>("[checks]\ndisk_alert_percent = 120.0\n")
            .unwrap()
            .checks
            .thresholds()
            .is_err());
        assert_eq!(cfg.control.listen.port(), 2);
        assert_eq!(cfg.policy.trust, ["a", "b"]);
        assert_eq!(cfg.policy.poll_min, "5s");
        assert!(toml::from_str::<Config>("[policy]\npoll_mn = \"5s\"\n").is_err());
    }
}
