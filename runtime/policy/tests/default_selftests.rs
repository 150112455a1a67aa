//! The default policy's self-tests (`policies/default/tests/*.toml`) pass
//! with this crate's engine and tool gate (no plugins: the default has none).
//! The server runs the same files through its compiled policy.

use warden_policy::selftest::{self, Subject};
use warden_policy::{Decision, PolicySource, Tier, ToolGate};
use warden_redact::{Engine, Session};

struct Policy {
    engine: Engine,
    gate: ToolGate,
}

impl Subject for Policy {
    fn redact(&self, input: &str) -> Result<String, String> {
        let mut session = Session::new();
        self.engine.redact(input, &mut session).map(|r| r.text).map_err(|e| e.to_string())
    }

    fn decide(&self, tool: &str, args_json: &str) -> Result<(Decision, Tier), String> {
        let v = self.gate.classify(tool, args_json);
        Ok((if v.deny { Decision::Deny } else { self.gate.decide(v.tier) }, v.tier))
    }
}

#[test]
fn the_default_policy_passes_its_self_tests() {
    let src = PolicySource::embedded().unwrap();
    let policy = Policy { engine: src.compile().unwrap(), gate: src.tool_gate().unwrap() };
    let files = src.test_files();
    let report = selftest::run(files.iter().map(|(p, t)| (*p, t.as_str())), &policy);
    assert!(report.failures.is_empty(), "{report:?}");
}
