//! The tool-call gate's policy: tiers from rules, decisions from tiers.
//!
//! `[tools]` in `policy.toml` sets the autonomy level, the external gate and
//! an ordered list of rules; the first rule whose tool name (and, if given,
//! argument pattern) matches a call sets its tier. Classifier plugins may
//! raise a tier, never lower it; that merge happens where the plugins run.
//!
//! | tier | level 1 | level 2 | level 3 |
//! |---|---|---|---|
//! | GREEN | execute | execute | execute |
//! | YELLOW | gate | execute | execute |
//! | YELLOW_EXTERNAL | gate | execute if the external gate is unlocked | same |
//! | RED | gate | gate | execute |
//! | CRITICAL_RED | gate | gate | gate |

use regex_automata::meta::Regex;
use serde::Deserialize;

pub use warden_domain::{Decision, Tier};

/// `[tools]` in `policy.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolSettings {
    /// Autonomy level, 1 (cautious) to 3 (trusted). Default 1.
    pub autonomy: u8,
    /// Whether YELLOW_EXTERNAL calls may run without approval (at level 2+).
    /// Default false: outbound communication waits for a human.
    pub external_unlocked: bool,
    /// Tier of a call no rule matches. Default YELLOW.
    pub default_tier: Tier,
    /// Ordered rules; the first match sets the tier.
    pub rules: Vec<ToolRule>,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings { autonomy: 1, external_unlocked: false, default_tier: Tier::Yellow, rules: Vec::new() }
    }
}

/// `[[tools.rules]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    /// Tool name; `*` matches any run of characters (`browser_*`).
    pub tool: String,
    /// A regex over the call's arguments as compact JSON; the rule matches
    /// only if it finds a match.
    #[serde(default)]
    pub args: Option<String>,
    /// The tier the rule sets.
    pub tier: Tier,
    /// Refuse matching calls outright.
    #[serde(default)]
    pub deny: bool,
    /// Why, shown to the approver.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A rule set ready to classify calls.
#[derive(Clone, Debug)]
pub struct ToolGate {
    settings: ToolSettings,
    args: Vec<Option<Regex>>,
}

/// A call's tier by the rules, before any classifier plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleVerdict {
    /// The tier.
    pub tier: Tier,
    /// Whether a deny rule matched.
    pub deny: bool,
    /// Why.
    pub reason: String,
}

impl ToolGate {
    /// Check and compile `[tools]`.
    pub fn new(settings: ToolSettings) -> Result<ToolGate, String> {
        if !(1..=3).contains(&settings.autonomy) {
            return Err(format!("tools.autonomy must be 1, 2 or 3, not {}", settings.autonomy));
        }
        let mut args = Vec::new();
        for (i, rule) in settings.rules.iter().enumerate() {
            if rule.tool.is_empty() {
                return Err(format!("tools.rules[{i}]: tool must not be empty"));
            }
            args.push(match &rule.args {
                Some(re) => Some(compile_args(re).map_err(|e| {
                    let why = e.syntax_error().map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
                    format!("tools.rules[{i}] ({}): args: {why}", rule.tool)
                })?),
                None => None,
            });
        }
        Ok(ToolGate { settings, args })
    }

    /// The settings.
    pub fn settings(&self) -> &ToolSettings {
        &self.settings
    }

    /// The tier the rules give a call. `args_json` is the arguments as
    /// compact JSON.
    pub fn classify(&self, tool: &str, args_json: &str) -> RuleVerdict {
        for (rule, re) in self.settings.rules.iter().zip(&self.args) {
            if glob_match(&rule.tool, tool) && re.as_ref().is_none_or(|re| re.is_match(args_json)) {
                let reason = rule.reason.clone().unwrap_or_else(|| format!("policy rule for {}", rule.tool));
                return RuleVerdict { tier: rule.tier, deny: rule.deny, reason };
            }
        }
        RuleVerdict {
            tier: self.settings.default_tier,
            deny: false,
            reason: format!("no rule matches {tool:?}: default tier"),
        }
    }

    /// The decision for a tier at this policy's autonomy and external gate.
    pub fn decide(&self, tier: Tier) -> Decision {
        decide(tier, self.settings.autonomy, self.settings.external_unlocked)
    }
}

/// The decision for `tier` at autonomy `level` (1-3) with the external gate
/// locked or not. See the module table.
pub fn decide(tier: Tier, level: u8, external_unlocked: bool) -> Decision {
    let runs = match tier {
        Tier::Green => true,
        Tier::Yellow => level >= 2,
        Tier::YellowExternal => external_unlocked && level >= 2,
        Tier::Red => level >= 3,
        Tier::CriticalRed => false,
    };
    if runs {
        Decision::Execute
    } else {
        Decision::Gate
    }
}

/// Argument patterns are ASCII-minded (`\s`, `\w`, `\b` and case folding
/// are ASCII; `.` and negated classes match any byte), which is what shell
/// commands and JSON keys need, and keeps them on the fast engines.
fn compile_args(re: &str) -> Result<Regex, Box<regex_automata::meta::BuildError>> {
    use regex_automata::util::syntax;
    Regex::builder()
        .configure(Regex::config().utf8_empty(false))
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .build(re)
        .map_err(Box::new)
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    if parts.is_empty() {
        return rest.is_empty();
    }
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("exec", "exec"));
        assert!(!glob_match("exec", "exec2"));
        assert!(glob_match("browser_*", "browser_open"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abcd"));
    }

    #[test]
    fn the_external_gate_holds_at_every_level_while_locked() {
        for level in 1..=3 {
            assert_eq!(decide(Tier::YellowExternal, level, false), Decision::Gate);
            assert_eq!(decide(Tier::CriticalRed, level, true), Decision::Gate);
            assert_eq!(decide(Tier::Green, level, false), Decision::Execute);
        }
        assert_eq!(decide(Tier::YellowExternal, 2, true), Decision::Execute);
        assert_eq!(decide(Tier::Red, 2, true), Decision::Gate);
        assert_eq!(decide(Tier::Red, 3, false), Decision::Execute);
    }

    #[test]
    fn first_matching_rule_wins() {
        let settings: ToolSettings = toml::from_str(
            r#"
            autonomy = 2
            [[rules]]
            tool = "exec"
            args = 'rm\s+-rf'
            tier = "RED"
            [[rules]]
            tool = "exec"
            tier = "YELLOW"
            "#,
        )
        .unwrap();
        let gate = ToolGate::new(settings).unwrap();
        assert_eq!(gate.classify("exec", r#"{"command":"rm -rf /"}"#).tier, Tier::Red);
        assert_eq!(gate.classify("exec", r#"{"command":"ls"}"#).tier, Tier::Yellow);
        assert_eq!(gate.classify("other", "{}").tier, Tier::Yellow);
        assert!(ToolGate::new(ToolSettings { autonomy: 4, ..Default::default() }).is_err());
    }
}
