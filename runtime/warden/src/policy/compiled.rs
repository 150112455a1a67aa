//! One policy, compiled: the redaction engine with its plugin detectors, the
//! tool gate with its classifier plugins, and what bundle it came from.
//!
//! A `CompiledPolicy` is immutable; the server holds the active one behind an
//! `ArcSwap`, so a request takes one `Arc` at its start and uses that policy
//! to its end, whatever is activated meanwhile.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use serde::Deserialize;
use warden_plugin_host::{ClassifierPlugin, DetectorPlugin, Limits, PluginHost, ToolCall, World};
use warden_policy::bundle::Verified;
use warden_policy::selftest::{self, Subject};
use warden_policy::tools::glob_match;
use warden_policy::{Decision, PolicySource, Tier, ToolGate};
use warden_redact::{Engine, Session};

/// Where a policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleMeta {
    /// Bundle name (`default` for the embedded one).
    pub name: String,
    /// Revision; 0 for the embedded default.
    pub revision: u64,
    /// SHA-256 of the manifest; `embedded` for the embedded default.
    pub digest: String,
    /// Key id of the signer; empty for the embedded default.
    pub signed_by: String,
    /// End of validity; `None` for the embedded default.
    pub expires_at: Option<SystemTime>,
}

impl BundleMeta {
    /// The embedded default policy's identity.
    pub fn embedded() -> BundleMeta {
        BundleMeta {
            name: "default".into(),
            revision: 0,
            digest: "embedded".into(),
            signed_by: String::new(),
            expires_at: None,
        }
    }

    /// A verified bundle's identity.
    pub fn of(v: &Verified) -> BundleMeta {
        BundleMeta {
            name: v.manifest.name.clone(),
            revision: v.manifest.revision,
            digest: v.digest.clone(),
            signed_by: v.signed_by.clone(),
            expires_at: v.manifest.expires_at().ok(),
        }
    }

    /// Whether it is past its `expires_at`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// What the gate says about one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateVerdict {
    /// The decision.
    pub decision: Decision,
    /// The tier.
    pub tier: Tier,
    /// Why, for the approver and the audit log.
    pub reason: String,
}

/// A compiled policy.
pub struct CompiledPolicy {
    /// Where it came from.
    pub meta: BundleMeta,
    /// Rules, settings and files.
    pub source: PolicySource,
    /// The redaction engine, plugin detectors included.
    pub engine: Engine,
    /// The engine of the rules alone, and the hash of what it was compiled
    /// from: the next activation reuses it when its rules are the same.
    rules_engine: (Engine, [u8; 32]),
    /// The tool rules.
    pub gate: ToolGate,
    /// Classifier plugins, in policy order, with the tool globs each classifies.
    pub classifiers: Vec<(ClassifierPlugin, Vec<String>)>,
    /// Detector plugin names, in policy order.
    pub detectors: Vec<String>,
    /// Where CONNECT tunnels may go: host pattern and port.
    pub egress_allow: Vec<(warden_vault::HostPattern, u16)>,
    /// IP ranges the SSRF guard lets through.
    pub allow_ranges: Vec<warden_proxy::ssrf::IpRange>,
    /// Hosts links in model answers may carry data to (`[output]
    /// allow_hosts`, by default the `[egress] allow` hosts).
    pub output_hosts: Arc<Vec<String>>,
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy").field("meta", &self.meta).finish_non_exhaustive()
    }
}

impl CompiledPolicy {
    /// Compile `source`: rules, tool rules, then every plugin binding through
    /// `host` (cached compiled code is reused by content hash). When
    /// `previous` was compiled from the same rule files and redaction
    /// settings, its rule engine is reused instead of compiled again: most
    /// bundle updates change tiers, allowlists or plugins, not rules.
    pub fn compile(
        source: PolicySource,
        meta: BundleMeta,
        host: &PluginHost,
        previous: Option<&CompiledPolicy>,
    ) -> anyhow::Result<CompiledPolicy> {
        let key = rules_key(&source);
        let rules_engine = match previous {
            Some(p) if p.rules_engine.1 == key => p.rules_engine.0.clone(),
            _ => source.compile()?,
        };
        let mut engine = rules_engine.clone();
        let gate = source.tool_gate()?;
        let egress = &source.settings.egress;
        let mut egress_allow = Vec::new();
        for entry in &egress.allow {
            let (host, port) = match entry.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (
                    h,
                    p.parse::<u16>().map_err(|_| anyhow::anyhow!("policy.toml: egress.allow {entry:?}: bad port"))?,
                ),
                _ => (entry.as_str(), 443),
            };
            let pattern = warden_vault::HostPattern::parse(host)
                .map_err(|e| anyhow::anyhow!("policy.toml: egress.allow {entry:?}: {e}"))?;
            egress_allow.push((pattern, port));
        }
        let output_hosts = Arc::new(match &source.settings.output.allow_hosts {
            Some(hosts) => hosts.clone(),
            None => egress
                .allow
                .iter()
                .map(|e| match e.rsplit_once(':') {
                    Some((h, _)) if !h.contains(':') => h.to_string(),
                    _ => e.clone(),
                })
                .collect(),
        });
        let allow_ranges = egress
            .allow_ranges
            .iter()
            .map(|r| {
                warden_proxy::ssrf::IpRange::parse(r)
                    .map_err(|e| anyhow::anyhow!("policy.toml: egress.allow_ranges: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut classifiers = Vec::new();
        let mut detectors = Vec::new();
        for binding in &source.settings.plugins {
            let ctx = || format!("plugin {:?} ({})", binding.name, binding.path);
            let bytes = source.files.get(&binding.path).with_context(ctx)?;
            let limits = Limits::deserialize(toml::Value::Table(binding.limits.clone()))
                .map_err(|e| anyhow::anyhow!("limits: {e}"))
                .with_context(ctx)?;
            let loaded = host.load(&binding.name, bytes).with_context(ctx)?;
            match loaded.world {
                World::Detector => {
                    let plugin = DetectorPlugin::new(host, &loaded, limits).with_context(ctx)?;
                    engine = engine.with_detector(Arc::new(plugin));
                    detectors.push(binding.name.clone());
                }
                World::Classifier => {
                    let plugin = ClassifierPlugin::new(host, &loaded, limits).with_context(ctx)?;
                    classifiers.push((plugin, binding.tools.clone()));
                }
            }
        }
        Ok(CompiledPolicy {
            meta,
            source,
            engine,
            rules_engine: (rules_engine, key),
            gate,
            classifiers,
            detectors,
            egress_allow,
            allow_ranges,
            output_hosts,
        })
    }

    /// Run the policy's own self-tests (`tests/*.toml`).
    pub fn self_test(&self) -> selftest::Report {
        let files = self.source.test_files();
        selftest::run(files.iter().map(|(p, t)| (*p, t.as_str())), self)
    }

    /// Classify and decide a tool call: the first matching tool rule sets the
    /// tier, classifier plugins may only raise it, and a classifier that fails
    /// sends the call to a human.
    pub fn gate_call(&self, tool: &str, args_json: &str, agent_id: &str) -> GateVerdict {
        let by_rule = self.gate.classify(tool, args_json);
        if by_rule.deny {
            return GateVerdict { decision: Decision::Deny, tier: by_rule.tier, reason: by_rule.reason };
        }
        let (mut tier, mut reason) = (by_rule.tier, by_rule.reason);
        let call = ToolCall { tool_name: tool.into(), arguments: args_json.into(), agent_id: agent_id.into() };
        for (c, tools) in &self.classifiers {
            if !tools.is_empty() && !tools.iter().any(|g| glob_match(g, tool)) {
                continue;
            }
            match c.classify(&call) {
                Ok(v) => {
                    let t = v.tier;
                    if t > tier {
                        tier = t;
                        reason = v.reason;
                    }
                }
                Err(e) => {
                    return GateVerdict {
                        decision: Decision::Gate,
                        tier,
                        reason: format!("classifier {} failed ({}): a human decides", c.name(), e.kind.as_str()),
                    }
                }
            }
        }
        GateVerdict { decision: self.gate.decide(tier), tier, reason }
    }
}

/// SHA-256 over everything the rule engine is compiled from: each rules
/// file's path and bytes, and the redaction settings.
fn rules_key(source: &PolicySource) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, data) in warden_policy::bundle::files_in(&source.files, "rules", ".toml") {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    h.update(format!("{:?}", source.settings.redaction).as_bytes());
    h.finalize().into()
}

impl Subject for CompiledPolicy {
    fn redact(&self, input: &str) -> Result<String, String> {
        let mut session = Session::new();
        self.engine.redact(input, &mut session).map(|r| r.text).map_err(|e| e.to_string())
    }

    fn decide(&self, tool: &str, args_json: &str) -> Result<(Decision, Tier), String> {
        let v = self.gate_call(tool, args_json, "self-test");
        Ok((v.decision, v.tier))
    }
}
