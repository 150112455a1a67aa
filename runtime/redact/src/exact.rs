//! The exact layer: literal values registered at run time (vault secrets).
//!
//! One Aho-Corasick automaton over every value and the forms in which it
//! travels (JSON-escaped, percent-encoded), so a secret is caught wherever it
//! appears and whatever it looks like. Building it is independent of the
//! rules, so the vault can change without recompiling them.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::{Error, Finding, Layer};

/// Values shorter than this are refused: they would match ordinary words.
pub const MIN_EXACT_LEN: usize = 6;

/// A compiled set of literal values. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ExactSet {
    ac: Option<AhoCorasick>,
    /// Per automaton pattern: the value's name (rule id) and label.
    owners: Vec<(Arc<str>, Arc<str>)>,
    /// The literals, for the naive reference.
    patterns: Vec<String>,
    max_len: usize,
}

impl ExactSet {
    /// An empty set.
    pub fn empty() -> ExactSet {
        ExactSet { ac: None, owners: Vec::new(), patterns: Vec::new(), max_len: 0 }
    }

    /// Build from `(name, value)` pairs. The name shows up as the rule id
    /// (`secret:NAME`) and in the placeholder label (`SECRET_NAME`).
    pub fn new<'a, I>(values: I) -> Result<ExactSet, Error>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pats: Vec<String> = Vec::new();
        let mut owners = Vec::new();
        for (name, value) in values {
            if value.len() < MIN_EXACT_LEN {
                return Err(Error::config(
                    "exact",
                    format!("value of {name} is shorter than {MIN_EXACT_LEN} bytes and would match ordinary text"),
                ));
            }
            let rule: Arc<str> = Arc::from(format!("secret:{name}"));
            let label: Arc<str> = Arc::from(format!("SECRET_{}", label_part(name)));
            for form in forms(value) {
                if !pats.contains(&form) {
                    pats.push(form);
                    owners.push((rule.clone(), label.clone()));
                }
            }
        }
        if pats.is_empty() {
            return Ok(ExactSet::empty());
        }
        let max_len = pats.iter().map(|p| p.len()).max().unwrap_or(0);
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&pats)
            .map_err(|e| Error::config("exact", e.to_string()))?;
        Ok(ExactSet { ac: Some(ac), owners, patterns: pats, max_len })
    }

    /// Each literal searched for on its own (the reference for tests).
    pub(crate) fn find_naive(&self, text: &[u8], out: &mut Vec<Finding>) {
        for (i, pat) in self.patterns.iter().enumerate() {
            let (rule, label) = &self.owners[i];
            for at in memchr::memmem::find_iter(text, pat.as_bytes()) {
                out.push(Finding {
                    start: at,
                    end: at + pat.len(),
                    layer: Layer::Exact,
                    rule: rule.clone(),
                    label: label.clone(),
                    priority: EXACT_PRIORITY,
                });
            }
        }
    }

    /// Whether no value is registered.
    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// The longest literal, which bounds the streaming hold-back.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Every match in `bytes` (which need not be UTF-8): start, end and
    /// the placeholder label. For bodies Warden cannot parse (binary
    /// uploads, streamed answers), where vault values are still caught.
    pub fn find_bytes(&self, bytes: &[u8]) -> Vec<(usize, usize, Arc<str>)> {
        let Some(ac) = &self.ac else { return Vec::new() };
        ac.find_iter(bytes).map(|m| (m.start(), m.end(), self.owners[m.pattern().as_usize()].1.clone())).collect()
    }

    pub(crate) fn find(&self, text: &[u8], out: &mut Vec<Finding>) {
        let Some(ac) = &self.ac else { return };
        for m in ac.find_iter(text) {
            let (rule, label) = &self.owners[m.pattern().as_usize()];
            out.push(Finding {
                start: m.start(),
                end: m.end(),
                layer: Layer::Exact,
                rule: rule.clone(),
                label: label.clone(),
                priority: EXACT_PRIORITY,
            });
        }
    }
}

/// Vault values always win an overlap.
pub(crate) const EXACT_PRIORITY: i32 = 1000;

/// The forms a value travels in: as is, JSON-escaped, percent-encoded.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    let mut json = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if (c as u32) < 0x20 => json.push_str(&format!("\\u{:04x}", c as u32)),
            c => json.push(c),
        }
    }
    let mut pct = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            pct.push(b as char);
        } else {
            pct.push_str(&format!("%{b:02X}"));
        }
    }
    for f in [json, pct] {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// Uppercase ASCII letters, digits and `_`; anything else becomes `_`.
pub(crate) fn label_part(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_value_and_its_encoded_forms() {
        let set = ExactSet::new([("db", "p@ss w\"rd!")]).unwrap();
        let mut out = Vec::new();
        let text = br#"a p@ss w"rd! b {"x":"p@ss w\"rd!"} c p%40ss%20w%22rd%21"#;
        set.find(text, &mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| &*f.label == "SECRET_DB" && &*f.rule == "secret:db"));
    }

    #[test]
    fn refuses_short_values() {
        assert!(ExactSet::new([("x", "abc")]).is_err());
    }
}
