//! Measuring a redaction engine on labelled text.
//!
//! A [`Case`] is a text with what must disappear from it: `secrets` (strings
//! that must not survive redaction) and `spans` (byte ranges of personal
//! data, with a kind). A case with neither is a negative: any finding in it
//! is a false alarm (near-miss negatives) or noise (benign corpora, counted
//! per MB). [`score`] runs any finder over the cases and returns a
//! [`Report`] with the figures of issue 13, overall, per group of cases and
//! per layer of the engine (each layer's findings on their own).
//!
//! [`gen`] builds a labelled corpus from a seed; the same figures can be had
//! on an operator's own data through `warden rules eval FILE.jsonl`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Finding, Layer};

pub mod gen;
pub mod national;

/// A labelled span of personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// `email`, `phone`, `card`, `iban`, `ssn`, `ip`, ...
    pub kind: String,
}

/// One labelled text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The text as it would reach the model.
    pub text: String,
    /// Strings that must not be visible after redaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Personal data that must be covered by findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    /// A name for the breakdown (`context/env`, `negative/placeholder`,
    /// `benign/rust`); optional.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
}

impl Case {
    /// Whether the case has nothing to find.
    pub fn is_negative(&self) -> bool {
        self.secrets.is_empty() && self.spans.is_empty()
    }

    /// Whether the case is benign corpus text (group `benign...`): counted
    /// for findings per MB, not as a near-miss false alarm.
    pub fn is_benign(&self) -> bool {
        self.is_negative() && self.group.starts_with("benign")
    }
}

/// Why a line of labelled data could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ParseError {
    line: usize,
    msg: String,
}

impl ParseError {
    /// The 1-based line number.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// Read JSON Lines of cases; blank lines are skipped. Spans must lie on
/// character boundaries inside the text.
pub fn parse_jsonl(text: &str) -> Result<Vec<Case>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| ParseError { line: i + 1, msg };
        let case: Case = serde_json::from_str(line).map_err(|e| bad(format!("not a case: {e}")))?;
        for s in &case.spans {
            if s.start >= s.end || s.end > case.text.len() || !case.text.is_char_boundary(s.start) {
                return Err(bad(format!("span {}..{} does not fit the {}-byte text", s.start, s.end, case.text.len())));
            }
        }
        out.push(case);
    }
    Ok(out)
}

/// Write cases as JSON Lines.
pub fn to_jsonl(cases: &[Case]) -> String {
    let mut s = String::new();
    for c in cases {
        s += &serde_json::to_string(c).expect("a case serialises");
        s.push('\n');
    }
    s
}

/// Counts from which the figures are computed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Cases with secrets.
    pub positives: usize,
    /// ... of which at least one finding.
    pub found: usize,
    /// ... of which some secret is still visible after redaction.
    pub visible: usize,
    /// Near-miss negatives.
    pub negatives: usize,
    /// ... with at least one finding.
    pub false_alarms: usize,
    /// Benign bytes scanned.
    pub benign_bytes: usize,
    /// Findings on them.
    pub benign_findings: usize,
    /// PII spans per kind: (labelled, covered).
    pub spans: BTreeMap<String, (usize, usize)>,
}

impl Tally {
    /// Positives with at least one finding.
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.positives)
    }
    /// Positives whose secret is still visible.
    pub fn visible_rate(&self) -> f64 {
        ratio(self.visible, self.positives)
    }
    /// Near-miss negatives with a finding.
    pub fn false_alarm_rate(&self) -> f64 {
        ratio(self.false_alarms, self.negatives)
    }
    /// Findings per MB (10^6 bytes) of benign text.
    pub fn findings_per_mb(&self) -> f64 {
        if self.benign_bytes == 0 {
            return 0.0;
        }
        self.benign_findings as f64 * 1e6 / self.benign_bytes as f64
    }
    /// Span recall over every kind.
    pub fn span_recall(&self) -> f64 {
        let (n, k) = self.spans.values().fold((0, 0), |(n, k), (a, b)| (n + a, k + b));
        ratio(k, n)
    }
    /// Span recall of one kind.
    pub fn span_recall_of(&self, kind: &str) -> f64 {
        self.spans.get(kind).map_or(0.0, |&(n, k)| ratio(k, n))
    }

    fn add(&mut self, case: &Case, findings: &[Finding]) {
        if case.is_benign() {
            self.benign_bytes += case.text.len();
            self.benign_findings += findings.len();
            return;
        }
        if case.is_negative() {
            self.negatives += 1;
            self.false_alarms += usize::from(!findings.is_empty());
            return;
        }
        if !case.secrets.is_empty() {
            self.positives += 1;
            self.found += usize::from(!findings.is_empty());
            let masked = mask(&case.text, findings);
            self.visible += usize::from(case.secrets.iter().any(|s| !s.is_empty() && masked.contains(s.as_str())));
        }
        for s in &case.spans {
            let e = self.spans.entry(s.kind.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(covered(s.start, s.end, findings));
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Whether `start..end` is covered by the union of the findings.
fn covered(start: usize, end: usize, findings: &[Finding]) -> bool {
    let mut spans: Vec<(usize, usize)> = findings.iter().map(|f| (f.start, f.end)).collect();
    spans.sort_unstable();
    let mut at = start;
    for (s, e) in spans {
        if s <= at && e > at {
            at = e;
        }
        if at >= end {
            return true;
        }
    }
    at >= end
}

/// The text with every finding replaced by `[#]` (what a reader would see,
/// up to the placeholder names).
pub fn mask(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<(usize, usize)> = findings.iter().map(|f| (f.start, f.end)).collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e) in spans {
        if s < at {
            // Overlaps the span before: one marker for both.
            at = at.max(e);
            continue;
        }
        out += &text[at..s];
        out += "[#]";
        at = e;
    }
    out += &text[at..];
    out
}

/// The figures of one run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every finding counted.
    pub all: Tally,
    /// Per case group.
    pub groups: BTreeMap<String, Tally>,
    /// Each layer's findings alone.
    pub layers: BTreeMap<&'static str, Tally>,
    /// Findings per rule on benign text and near-miss negatives: who makes
    /// the noise.
    pub noisy_rules: BTreeMap<String, usize>,
}

/// Run `find` over every case and tally. `find` returns resolved findings
/// (as [`crate::Engine::find`] does).
pub fn score(cases: &[Case], mut find: impl FnMut(&str) -> Vec<Finding>) -> Report {
    let found: Vec<Vec<Finding>> = cases.iter().map(|c| find(&c.text)).collect();
    let mut r = Report::default();
    let mut layers: Vec<Layer> = found.iter().flatten().map(|f| f.layer).collect();
    layers.sort_unstable();
    layers.dedup();
    for (case, f) in cases.iter().zip(&found) {
        r.all.add(case, f);
        let group = case.group.split('/').next().unwrap_or("").to_string();
        r.groups.entry(group).or_default().add(case, f);
        for &layer in &layers {
            let mine: Vec<Finding> = f.iter().filter(|x| x.layer == layer).cloned().collect();
            r.layers.entry(layer.as_str()).or_default().add(case, &mine);
        }
        if case.is_negative() {
            for x in f {
                *r.noisy_rules.entry(x.rule.to_string()).or_default() += 1;
            }
        }
    }
    r
}

fn line(out: &mut String, name: &str, t: &Tally) {
    use std::fmt::Write;
    let pii = if t.spans.is_empty() { "-".to_string() } else { format!("{:.3}", t.span_recall()) };
    let _ = writeln!(
        out,
        "{name:<14} {:>6} {:>7.3} {:>8.1}% {:>6} {:>7.3} {:>7} {:>9.2}",
        t.positives,
        t.recall(),
        100.0 * t.visible_rate(),
        t.negatives,
        t.false_alarm_rate(),
        pii,
        t.findings_per_mb()
    );
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        out += &format!(
            "{:<14} {:>6} {:>7} {:>9} {:>6} {:>7} {:>7} {:>9}\n",
            "", "pos", "recall", "visible", "neg", "f.alarm", "pii", "find/MB"
        );
        line(&mut out, "ALL", &self.all);
        out += "-- by group\n";
        for (g, t) in &self.groups {
            line(&mut out, if g.is_empty() { "(none)" } else { g }, t);
        }
        out += "-- by layer (its findings alone)\n";
        for (l, t) in &self.layers {
            line(&mut out, l, t);
        }
        if !self.all.spans.is_empty() {
            out += "-- PII span recall by kind\n";
            for (k, (n, c)) in &self.all.spans {
                out += &format!("{k:<14} {c:>6}/{n:<6} {:.3}\n", ratio(*c, *n));
            }
        }
        if !self.noisy_rules.is_empty() {
            let mut noisy: Vec<(&String, &usize)> = self.noisy_rules.iter().collect();
            noisy.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            out += "-- findings on negatives, by rule (top 10)\n";
            for (rule, n) in noisy.into_iter().take(10) {
                out += &format!("{rule:<40} {n}\n");
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn finding(start: usize, end: usize) -> Finding {
        Finding { start, end, layer: Layer::Pattern, rule: Arc::from("r"), label: Arc::from("X"), priority: 1 }
    }

    #[test]
    fn tallies_recall_visibility_false_alarms_and_spans() {
        let cases = vec![
            Case { text: "k=abcdef".into(), secrets: vec!["abcdef".into()], ..Case::default() },
            Case { text: "k=abcdef".into(), secrets: vec!["abcdef".into()], ..Case::default() },
            Case { text: "nothing".into(), ..Case::default() },
            Case {
                text: "call 555".into(),
                spans: vec![Span { start: 5, end: 8, kind: "phone".into() }],
                ..Case::default()
            },
        ];
        let mut n = 0;
        let r = score(&cases, |t| {
            n += 1;
            match (t, n % 4) {
                ("k=abcdef", 1) => vec![finding(2, 8)],
                ("k=abcdef", _) => vec![finding(0, 1)],
                ("nothing", _) => vec![finding(0, 2)],
                _ => vec![finding(4, 6), finding(6, 8)],
            }
        });
        assert_eq!(r.all.positives, 2);
        assert_eq!(r.all.found, 2);
        assert_eq!(r.all.visible, 1);
        assert_eq!(r.all.false_alarms, 1);
        assert_eq!(r.all.spans["phone"], (1, 1));
    }

    #[test]
    fn jsonl_round_trip_and_bad_spans() {
        let cases = vec![Case { text: "a".into(), secrets: vec!["a".into()], group: "g".into(), ..Case::default() }];
        assert_eq!(parse_jsonl(&to_jsonl(&cases)).unwrap(), cases);
        let err = parse_jsonl("\n{\"text\":\"ab\",\"spans\":[{\"start\":1,\"end\":9,\"kind\":\"x\"}]}").unwrap_err();
        assert_eq!(err.line(), 2);
    }

    #[test]
    fn coverage_needs_the_whole_span() {
        assert!(covered(2, 6, &[finding(0, 3), finding(3, 6)]));
        assert!(!covered(2, 6, &[finding(0, 3), finding(4, 6)]));
        assert_eq!(mask("abcdef", &[finding(1, 3), finding(2, 4)]), "a[#]ef");
    }
}
