//! Warden policy: rule files and settings as they sit in a bundle, and the
//! default bundle embedded in the binary.
//!
//! A policy directory holds `policy.toml` (settings) and `rules/*.toml`
//! (detection rules, each file a list of `[[rule]]` tables as described by
//! [`warden_redact::RuleSpec`]). This crate turns those files into a compiled
//! [`Engine`]; signing, verification and activation come with bundles.

use std::path::Path;

use serde::Deserialize;
use warden_redact::{EntropyConfig, Engine, KeysConfig, RuleSpec};

/// The default bundle, as compiled into the binary.
pub mod defaults {
    /// `(path inside the bundle, contents)` of each default rules file.
    pub static RULE_FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));
    /// The default `policy.toml`.
    pub static POLICY_TOML: &str = include!(concat!(env!("OUT_DIR"), "/default_policy.rs"));
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
    /// The policy has no rules at all: almost certainly the wrong directory.
    #[error("{0}: no rules found (expected rules/*.toml)")]
    NoRules(String),
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
}

/// `[redaction]` in `policy.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionSettings {
    /// `[redaction.entropy]`.
    #[serde(default)]
    pub entropy: EntropyConfig,
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

/// A policy's rules and settings, parsed but not compiled.
#[derive(Clone, Debug)]
pub struct PolicySource {
    /// Every rule, in file order (files sorted by name).
    pub rules: Vec<RuleSpec>,
    /// Settings.
    pub settings: PolicySettings,
}

impl PolicySource {
    /// The embedded default policy.
    pub fn embedded() -> Result<PolicySource, PolicyError> {
        let mut rules = Vec::new();
        for (path, text) in defaults::RULE_FILES {
            rules.extend(parse_rules(path, text)?);
        }
        let settings = parse_settings("policy.toml", defaults::POLICY_TOML)?;
        Ok(PolicySource { rules, settings })
    }

    /// A policy directory on disk: `DIR/policy.toml` (optional) and
    /// `DIR/rules/*.toml`.
    pub fn from_dir(dir: &Path) -> Result<PolicySource, PolicyError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| PolicyError::Io { path: p.display().to_string(), source: e })
        };
        let rules_dir = dir.join("rules");
        let mut files: Vec<_> = std::fs::read_dir(&rules_dir)
            .map_err(|e| PolicyError::Io { path: rules_dir.display().to_string(), source: e })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut rules = Vec::new();
        for f in &files {
            rules.extend(parse_rules(&f.display().to_string(), &read(f)?)?);
        }
        if rules.is_empty() {
            return Err(PolicyError::NoRules(dir.display().to_string()));
        }
        let policy = dir.join("policy.toml");
        let settings = if policy.exists() {
            parse_settings(&policy.display().to_string(), &read(&policy)?)?
        } else {
            PolicySettings::default()
        };
        Ok(PolicySource { rules, settings })
    }

    /// Compile into an engine.
    pub fn compile(&self) -> Result<Engine, PolicyError> {
        Ok(Engine::builder()
            .rules(self.rules.iter().cloned())
            .entropy(self.settings.redaction.entropy.clone())
            .keys(self.settings.redaction.keys.clone())
            .build()?)
    }
}

/// The engine of the embedded default policy.
pub fn default_engine() -> Result<Engine, PolicyError> {
    PolicySource::embedded()?.compile()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policy_compiles_and_has_the_rules() {
        let src = PolicySource::embedded().unwrap();
        assert!(src.rules.len() >= 150, "{} rules", src.rules.len());
        src.compile().unwrap();
    }

    #[test]
    fn parse_errors_name_the_file_and_line() {
        let err = parse_rules("rules/x.toml", "[[rule]]\nid = \"a\"\nlabel = 1\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("rules/x.toml:"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        let err = parse_rules("rules/y.toml", "[[rule]]\nid = \"a\"\nlabel = \"A\"\nregex = \"a\"\ncolour = 1\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
