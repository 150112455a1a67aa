//! Checking every rule against the examples it ships with.

use crate::engine::CompiledRule;
use crate::Engine;

fn covered_by_same_label(rule: &CompiledRule, ex: &str, found: &[crate::Finding]) -> bool {
    let mut alone = Vec::new();
    rule.scan_all(ex.as_bytes(), &mut alone);
    !alone.is_empty()
        && alone.iter().all(|a| found.iter().any(|f| f.label == rule.label && f.start <= a.start && f.end >= a.end))
}

/// A rule example that did not behave as it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleFailure {
    /// The rule.
    pub rule: String,
    /// What went wrong, in a sentence.
    pub message: String,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

impl Engine {
    /// Run every rule's examples through the whole engine: a positive example
    /// must yield a finding of that rule, a negative one none. A rule with no
    /// positive or no negative example fails too. Empty means all passed.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        for rule in self.compiled_rules() {
            let mut fail = |message: String| failures.push(ExampleFailure { rule: rule.id.to_string(), message });
            if rule.examples.positive.is_empty() {
                fail("has no positive example".into());
            }
            if rule.examples.negative.is_empty() {
                fail("has no negative example".into());
            }
            for ex in &rule.examples.positive {
                if let Ok(found) = self.find_all(ex) {
                    // A finding that begins or ends with a blank or a quote
                    // swallowed context (a boundary byte left out of group 1).
                    let edge = |b: u8| b.is_ascii_whitespace() || b"\"'`".contains(&b);
                    for f in found.iter().filter(|f| f.rule == rule.id) {
                        let v = &ex.as_bytes()[f.start..f.end];
                        if edge(v[0]) || edge(v[v.len() - 1]) {
                            fail(format!("finding {:?} in {ex:?} includes context at its edge", &ex[f.start..f.end]));
                        }
                    }
                }
                match self.find_all(ex) {
                    Ok(found) if found.iter().any(|f| f.rule == rule.id) => {}
                    // Keyword-less rules share one multi-pattern pass, which
                    // reports one rule per position: another rule with the
                    // same label covering the span is as good.
                    Ok(found) if covered_by_same_label(rule, ex, &found) => {}
                    Ok(_) => fail(format!("missed positive example {ex:?}")),
                    Err(e) => fail(format!("error on {ex:?}: {e}")),
                }
            }
            for ex in &rule.examples.negative {
                match self.find_all(ex) {
                    Ok(found) => {
                        if let Some(f) = found.iter().find(|f| f.rule == rule.id) {
                            fail(format!("reported {:?} in negative example {ex:?}", &ex[f.start..f.end]))
                        }
                    }
                    Err(e) => fail(format!("error on {ex:?}: {e}")),
                }
            }
        }
        failures
    }
}
