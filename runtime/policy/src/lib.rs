//! Warden policy: what a bundle holds and how it is checked.
//!
//! A policy is a set of files: `policy.toml` (settings: redaction, tools,
//! plugins), `programs.toml` (what each program a shell command names can
//! do, see [`programs`]; optional), `rules/*.toml` (detection rules, each file a list of `[[rule]]`
//! tables as described by [`warden_redact::RuleSpec`]) and `tests/*.toml`
//! (self-tests, see [`selftest`]). As a signed bundle it also carries
//! `manifest.json` and `manifest.sig` (see [`bundle`]). This crate reads,
//! verifies and compiles those files; it does no network or database I/O,
//! and it does not run plugins (the server and CLI do, through the plugin
//! host).

use std::path::Path;

use serde::Deserialize;
use warden_redact::{Engine, EntropyConfig, KeysConfig, RuleSpec};

pub mod bundle;
pub mod probe;
pub mod programs;
pub mod selftest;
pub mod shell;
pub mod tools;

pub use bundle::Files;
pub use programs::Programs;
pub use tools::{CommandVerdict, Decision, Tier, ToolGate, ToolSettings, Verdict};

/// The capability table's path inside a bundle.
pub const PROGRAMS_FILE: &str = "programs.toml";

/// The default bundle, as compiled into the binary.
pub mod defaults {
    /// `(path inside the bundle, contents)` of every file of `policies/default`.
    pub static FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/default_bundle.rs"));

    /// The default bundle's files.
    pub fn files() -> super::Files {
        FILES.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())).collect()
    }

    /// The default capability table (`programs.toml`), as text.
    pub const PROGRAMS: &str = include_str!("../../../policies/default/programs.toml");

    /// The default capability table, compiled once.
    pub fn programs() -> std::sync::Arc<super::Programs> {
        static TABLE: std::sync::OnceLock<std::sync::Arc<super::Programs>> = std::sync::OnceLock::new();
        TABLE
            .get_or_init(|| {
                std::sync::Arc::new(
                    super::Programs::parse("programs.toml", PROGRAMS).expect("the embedded programs.toml compiles"),
                )
            })
            .clone()
    }
}

/// An error loading a policy; says which file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not valid TOML or does not fit the schema.
    #[error("{path}: {msg}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        msg: String,
    },
    /// The rules or settings do not compile.
    #[error("{0}")]
    Compile(#[from] warden_redact::Error),
    /// The `[tools]` settings do not compile.
    #[error("policy.toml: {0}")]
    Tools(String),
    /// The capability table (`programs.toml`) does not parse or compile.
    #[error("{0}")]
    Programs(String),
    /// The policy has no rules at all: almost certainly the wrong directory.
    #[error("{0}: no rules found (expected rules/*.toml)")]
    NoRules(String),
    /// The directory or archive could not be read.
    #[error("{0}")]
    Archive(#[from] bundle::ArchiveError),
    /// A plugin binding names a file the policy does not have.
    #[error("policy.toml: plugin {name:?}: {path} is not in the bundle")]
    MissingPlugin {
        /// The plugin.
        name: String,
        /// Its path.
        path: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// The settings in `policy.toml` that this crate understands.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Redaction layer settings.
    #[serde(default)]
    pub redaction: RedactionSettings,
    /// The tool-call gate.
    #[serde(default)]
    pub tools: ToolSettings,
    /// Wasm plugins and their limits.
    #[serde(default)]
    pub plugins: Vec<PluginBinding>,
    /// The LLM gateway's upstreams.
    #[serde(default)]
    pub gateway: GatewaySettings,
    /// The forward proxy's allowlist and SSRF exceptions.
    #[serde(default)]
    pub egress: EgressSettings,
    /// What model answers may carry out in links.
    #[serde(default)]
    pub output: OutputSettings,
}

/// `[output]` in `policy.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSettings {
    /// Hosts that links in model answers may carry data to (a query
    /// string, long path segments, a redacted value): `host` or `*.suffix`,
    /// `"*"` for any. Unset: the `[egress] allow` hosts. Links with data to
    /// any other host are neutralised before the agent sees them.
    #[serde(default)]
    pub allow_hosts: Option<Vec<String>>,
}

/// `[egress]` in `policy.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressSettings {
    /// Where CONNECT tunnels may go: `host`, `*.suffix`, each with an
    /// optional `:port` (default 443).
    #[serde(default)]
    pub allow: Vec<String>,
    /// IP ranges (CIDR) the SSRF guard lets through, e.g. an internal API.
    #[serde(default)]
    pub allow_ranges: Vec<String>,
}

/// `[gateway]` in `policy.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// `[[gateway.upstreams]]`: the providers the agent may reach through
    /// `/llm/<name>/...`.
    #[serde(default)]
    pub upstreams: Vec<UpstreamSpec>,
    /// Binary parts embedded in a model request (images, PDFs), which no
    /// layer but the exact one can read: `"pass"` (default, counted) or
    /// `"refuse"`.
    #[serde(default = "default_binary_parts")]
    pub binary_parts: String,
}

fn default_binary_parts() -> String {
    "pass".into()
}

/// A policy without `[gateway]` gets the same defaults as an empty one.
impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings { upstreams: Vec::new(), binary_parts: default_binary_parts() }
    }
}

/// One model provider behind the gateway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// The path segment: `/llm/<name>/...`.
    pub name: String,
    /// Where requests go: `https://api.openai.com`; the rest of the path
    /// after `/llm/<name>` is appended.
    pub base_url: String,
    /// `openai` or `anthropic`: the provider's API family, for operators and
    /// logs (the gateway reads both shapes whatever this says).
    pub api: String,
    /// The vault secret holding the provider key, injected as that secret's
    /// header; the agent's own key header is always dropped.
    #[serde(default)]
    pub secret: Option<String>,
}

/// `[[plugins]]` in `policy.toml`: a component of the bundle and its limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginBinding {
    /// Name, used in metrics and errors.
    pub name: String,
    /// Path of the component inside the bundle (`plugins/x.wasm`).
    pub path: String,
    /// For a classifier: the tools it classifies (globs, `*` any run of
    /// characters); empty means every tool. Ignored for detectors.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Limits, as the plugin host reads them (fuel, deadline_ms,
    /// memory_bytes, ...); missing keys take the host's defaults.
    #[serde(default)]
    pub limits: toml::Table,
}

/// `[redaction]` in `policy.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionSettings {
    /// `[redaction.entropy]`.
    #[serde(default)]
    pub entropy: EntropyConfig,
    /// `[redaction.context]`.
    #[serde(default)]
    pub context: warden_redact::ContextConfig,
    /// `[redaction.keys]`.
    #[serde(default)]
    pub keys: KeysConfig,
}

/// Parse one rules file; `path` names it in errors.
pub fn parse_rules(path: &str, text: &str) -> Result<Vec<RuleSpec>, PolicyError> {
    let file: RuleFile =
        toml::from_str(text).map_err(|e| PolicyError::Parse { path: path.to_string(), msg: e.to_string() })?;
    Ok(file.rule)
}

/// Parse `policy.toml`.
pub fn parse_settings(path: &str, text: &str) -> Result<PolicySettings, PolicyError> {
    toml::from_str(text).map_err(|e| PolicyError::Parse { path: path.to_string(), msg: e.to_string() })
}

/// A policy's files, parsed but not compiled.
#[derive(Clone, Debug)]
pub struct PolicySource {
    /// Every rule, in file order (files sorted by name).
    pub rules: Vec<RuleSpec>,
    /// Settings.
    pub settings: PolicySettings,
    /// Every file of the policy (rules, tests, plugins...), by path.
    pub files: Files,
}

impl PolicySource {
    /// The embedded default policy.
    pub fn embedded() -> Result<PolicySource, PolicyError> {
        PolicySource::from_files(defaults::files(), "the embedded default policy")
    }

    /// A policy directory on disk: `DIR/policy.toml` (optional) and
    /// `DIR/rules/*.toml`, plus whatever else it holds.
    pub fn from_dir(dir: &Path) -> Result<PolicySource, PolicyError> {
        if !dir.join("rules").is_dir() {
            return Err(PolicyError::NoRules(dir.display().to_string()));
        }
        let files = bundle::archive::read_dir(dir, &bundle::Limits::default())?;
        PolicySource::from_files(files, &dir.display().to_string())
    }

    /// A policy from its files (`origin` names it in errors).
    pub fn from_files(files: Files, origin: &str) -> Result<PolicySource, PolicyError> {
        let text = |path: &str, data: &[u8]| {
            std::str::from_utf8(data)
                .map(str::to_string)
                .map_err(|_| PolicyError::Parse { path: path.to_string(), msg: "not UTF-8".into() })
        };
        let mut rules = Vec::new();
        for (path, data) in bundle::files_in(&files, "rules", ".toml") {
            rules.extend(parse_rules(path, &text(path, data)?)?);
        }
        if rules.is_empty() {
            return Err(PolicyError::NoRules(origin.to_string()));
        }
        let settings = match files.get("policy.toml") {
            Some(data) => parse_settings("policy.toml", &text("policy.toml", data)?)?,
            None => PolicySettings::default(),
        };
        for u in &settings.gateway.upstreams {
            check_upstream(u).map_err(|msg| PolicyError::Parse { path: "policy.toml".into(), msg })?;
        }
        if let Some(data) = files.get(PROGRAMS_FILE) {
            Programs::parse(PROGRAMS_FILE, &text(PROGRAMS_FILE, data)?).map_err(PolicyError::Programs)?;
        }
        if !matches!(settings.gateway.binary_parts.as_str(), "pass" | "refuse") {
            return Err(PolicyError::Parse {
                path: "policy.toml".into(),
                msg: "[gateway] binary_parts must be \"pass\" or \"refuse\"".into(),
            });
        }
        for p in &settings.plugins {
            if !files.contains_key(&p.path) {
                return Err(PolicyError::MissingPlugin { name: p.name.clone(), path: p.path.clone() });
            }
        }
        Ok(PolicySource { rules, settings, files })
    }

    /// Compile the rules into an engine.
    pub fn compile(&self) -> Result<Engine, PolicyError> {
        Ok(Engine::builder()
            .rules(self.rules.iter().cloned())
            .entropy(self.settings.redaction.entropy.clone())
            .keys(self.settings.redaction.keys.clone())
            .context(self.settings.redaction.context.clone())
            .build()?)
    }

    /// Compile the `[tools]` rules with the bundle's capability table
    /// (`programs.toml`), or the embedded one when the bundle has none.
    pub fn tool_gate(&self) -> Result<ToolGate, PolicyError> {
        let programs = match self.files.get(PROGRAMS_FILE) {
            Some(data) => {
                let text = std::str::from_utf8(data)
                    .map_err(|_| PolicyError::Parse { path: PROGRAMS_FILE.into(), msg: "not UTF-8".into() })?;
                std::sync::Arc::new(Programs::parse(PROGRAMS_FILE, text).map_err(PolicyError::Programs)?)
            }
            None => defaults::programs(),
        };
        ToolGate::with_programs(self.settings.tools.clone(), programs).map_err(PolicyError::Tools)
    }

    /// The self-test files, `(path, text)`.
    pub fn test_files(&self) -> Vec<(&str, String)> {
        bundle::files_in(&self.files, "tests", ".toml")
            .map(|(p, d)| (p, String::from_utf8_lossy(d).into_owned()))
            .collect()
    }
}

fn check_upstream(u: &UpstreamSpec) -> Result<(), String> {
    let at = format!("gateway upstream {:?}", u.name);
    if u.name.is_empty()
        || !u.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!("{at}: name must be lowercase letters, digits, - or _"));
    }
    if !matches!(u.api.as_str(), "openai" | "anthropic") {
        return Err(format!("{at}: api must be \"openai\" or \"anthropic\""));
    }
    // Parsed, not prefix-matched: `http://127.0.0.1.attacker.example` starts
    // like loopback and is not.
    let url = url::Url::parse(&u.base_url).map_err(|e| format!("{at}: base_url is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{at}: base_url must be scheme://host[:port][/path]"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("{at}: base_url must be https:// (plain http only to loopback)")),
    }
}

/// The engine of the embedded default policy.
pub fn default_engine() -> Result<Engine, PolicyError> {
    PolicySource::embedded()?.compile()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 (10): a base URL is parsed; plain http only to loopback.
    #[test]
    fn issue_14_base_url_is_parsed_not_prefix_matched() {
        let spec =
            |url: &str| UpstreamSpec { name: "p".into(), base_url: url.into(), api: "openai".into(), secret: None };
        for bad in [
            "http://127.0.0.1.attacker.example",
            "http://localhostattacker.example:8080",
            "http://localhost.attacker.example/v1",
            "http://10.0.0.1",
            "http://user@127.0.0.1",
            "https://api.example.com/?k=v",
            "ftp://127.0.0.1",
            "https://",
        ] {
            assert!(check_upstream(&spec(bad)).is_err(), "{bad} must be refused");
        }
        for good in [
            "https://api.openai.com",
            "https://api.anthropic.com/v1",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(check_upstream(&spec(good)).is_ok(), "{good}");
        }
    }

    #[test]
    fn embedded_policy_compiles_and_has_the_rules() {
        let src = PolicySource::embedded().unwrap();
        assert!(src.rules.len() >= 150, "{} rules", src.rules.len());
        src.compile().unwrap();
    }

    /// The national-id rules ship outside the default policy (off unless a
    /// policy copies the file into its `rules/`); added to it they compile
    /// and every example holds.
    #[test]
    fn optional_national_id_rules_are_off_by_default_and_pass_their_examples() {
        const NATIONAL: &str = include_str!("../../../policies/optional/national-ids.toml");
        let default = PolicySource::embedded().unwrap();
        let ids: Vec<String> = parse_rules("national-ids.toml", NATIONAL).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 8);
        assert!(default.rules.iter().all(|r| !ids.contains(&r.id)), "a national-id rule is on by default");
        let mut files = defaults::files();
        files.insert("rules/national-ids.toml".to_string(), NATIONAL.as_bytes().to_vec());
        let engine = PolicySource::from_files(files, "default + national ids").unwrap().compile().unwrap();
        assert_eq!(engine.check_examples(), vec![]);
        let found = engine.find("BSN: 111222333, Steuer-ID 86095742719, NI AB123456C").unwrap();
        for label in ["NL_BSN", "DE_TAX_ID", "UK_NINO"] {
            assert!(found.iter().any(|f| &*f.label == label), "{label} missing in {found:?}");
        }
    }

    #[test]
    fn parse_errors_name_the_file_and_line() {
        let err = parse_rules("rules/x.toml", "[[rule]]\nid = \"a\"\nlabel = 1\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("rules/x.toml:"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        let err = parse_rules("rules/y.toml", "[[rule]]\nid = \"a\"\nlabel = \"A\"\nregex = \"a\"\ncolour = 1\n")
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
