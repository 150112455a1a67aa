//! A bundle's self-tests: `tests/*.toml`, run before a bundle goes live.
//!
//! ```toml
//! [[redact]]
//! name = "an AWS key in a prompt"
//! input = "deploy with AKIAIOSFODNN7EXAMPLE please"
//! output = "deploy with [AWS_ACCESS_KEY_1] please"   # exact, optional
//! hidden = ["AKIAIOSFODNN7EXAMPLE"]                  # must not remain
//! kept = ["deploy"]                                  # must remain
//!
//! [[tool]]
//! name = "rm -rf waits for a human"
//! tool = "exec"
//! args = { command = "rm -rf /" }
//! decision = "gate"      # execute | deny | gate
//! tier = "RED"           # optional
//! ```
//!
//! The runner is generic over [`Subject`], so the same tests run against
//! whatever compiled the bundle (rules alone here, rules and plugins in the
//! server) and cannot drift from what serves requests.

use serde::Deserialize;

use crate::tools::{Decision, Tier};

/// One self-test file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Redaction cases.
    #[serde(default)]
    pub redact: Vec<RedactCase>,
    /// Tool-call cases.
    #[serde(default)]
    pub tool: Vec<ToolCase>,
}

/// `[[redact]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactCase {
    /// Shown on failure.
    pub name: String,
    /// The text to redact.
    pub input: String,
    /// The exact expected output.
    #[serde(default)]
    pub output: Option<String>,
    /// Substrings that must not survive.
    #[serde(default)]
    pub hidden: Vec<String>,
    /// Substrings that must survive.
    #[serde(default)]
    pub kept: Vec<String>,
}

/// `[[tool]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCase {
    /// Shown on failure.
    pub name: String,
    /// Tool name.
    pub tool: String,
    /// Arguments (any TOML value; sent as JSON).
    #[serde(default)]
    pub args: Option<toml::Value>,
    /// Expected decision.
    pub decision: Decision,
    /// Expected tier.
    #[serde(default)]
    pub tier: Option<Tier>,
}

/// What self-tests run against.
pub trait Subject {
    /// Redact `input` in a fresh session.
    fn redact(&self, input: &str) -> Result<String, String>;
    /// Decide a tool call (`args_json` compact JSON).
    fn decide(&self, tool: &str, args_json: &str) -> Result<(Decision, Tier), String>;
}

/// A failed case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `tests/x.toml`.
    pub file: String,
    /// The case's name.
    pub case: String,
    /// What went wrong (never the unredacted input itself: a self-test
    /// input may be a realistic secret, and failures are logged).
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.case, self.message)
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases: usize,
    /// Those that failed.
    pub failures: Vec<Failure>,
}

/// Parse one test file.
pub fn parse(path: &str, text: &str) -> Result<TestFile, String> {
    toml::from_str(text).map_err(|e| format!("{path}: {e}"))
}

/// Run every case of `files` (`(path, text)`) against `subject`. A file that
/// does not parse is one failure.
pub fn run<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>, subject: &dyn Subject) -> Report {
    let mut report = Report::default();
    for (path, text) in files {
        let file = match parse(path, text) {
            Ok(f) => f,
            Err(e) => {
                report.cases += 1;
                report.failures.push(Failure { file: path.into(), case: "(file)".into(), message: e });
                continue;
            }
        };
        for case in &file.redact {
            report.cases += 1;
            if let Err(message) = check_redact(case, subject) {
                report.failures.push(Failure { file: path.into(), case: case.name.clone(), message });
            }
        }
        for case in &file.tool {
            report.cases += 1;
            if let Err(message) = check_tool(case, subject) {
                report.failures.push(Failure { file: path.into(), case: case.name.clone(), message });
            }
        }
    }
    report
}

fn check_redact(case: &RedactCase, subject: &dyn Subject) -> Result<(), String> {
    let out = subject.redact(&case.input).map_err(|e| format!("redaction failed: {e}"))?;
    for (i, h) in case.hidden.iter().enumerate() {
        if out.contains(h.as_str()) {
            return Err(format!("hidden[{i}] is still in the output"));
        }
    }
    for k in &case.kept {
        if !out.contains(k.as_str()) {
            return Err(format!("kept {k:?} is missing from the output: {out:?}"));
        }
    }
    if let Some(want) = &case.output {
        if &out != want {
            return Err(format!("output {out:?}, expected {want:?}"));
        }
    }
    Ok(())
}

fn check_tool(case: &ToolCase, subject: &dyn Subject) -> Result<(), String> {
    let args = match &case.args {
        Some(v) => serde_json::to_string(v).map_err(|e| format!("args: {e}"))?,
        None => "{}".to_string(),
    };
    let (decision, tier) = subject.decide(&case.tool, &args)?;
    if decision != case.decision {
        return Err(format!("decision {}, expected {}", decision.as_str(), case.decision.as_str()));
    }
    if let Some(want) = case.tier {
        if tier != want {
            return Err(format!("tier {}, expected {}", tier.as_str(), want.as_str()));
        }
    }
    Ok(())
}
