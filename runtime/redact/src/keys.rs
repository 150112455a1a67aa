//! The keys layer: string values under sensitive JSON keys.
//!
//! The key names ride in the same keyword automaton as the rules, so this
//! layer costs no pass of its own: a hit on `password` is checked to be inside
//! a quoted JSON key followed by `:` and a string, and that string's content
//! is reported whatever it looks like.

use std::sync::Arc;

use crate::rule::KeysConfig;
use crate::{Error, Finding, Layer};

pub(crate) const KEYS_PRIORITY: i32 = 60;

/// The longest key looked at around a hit.
const MAX_KEY_LEN: usize = 64;

#[derive(Clone, Debug)]
pub(crate) struct KeysLayer {
    /// Lowercased names as written: the automaton's keywords.
    pub(crate) keywords: Vec<String>,
    /// Names with `_`, `-`, `.` removed: what a key must end with.
    normalized: Vec<Vec<u8>>,
    max_value_len: usize,
    rule: Arc<str>,
    label: Arc<str>,
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn normalize(s: &[u8]) -> Vec<u8> {
    s.iter().filter(|b| !matches!(b, b'_' | b'-' | b'.')).map(|b| b.to_ascii_lowercase()).collect()
}

impl KeysLayer {
    pub(crate) fn new(cfg: &KeysConfig) -> Result<KeysLayer, Error> {
        let mut keywords = Vec::new();
        let mut normalized = Vec::new();
        for name in &cfg.names {
            if name.len() < 3 || !name.bytes().all(is_key_byte) {
                return Err(Error::config(
                    "keys.names",
                    format!("{name:?}: a key name needs 3 or more of A-Z a-z 0-9 _ - ."),
                ));
            }
            keywords.push(name.to_ascii_lowercase());
            let n = normalize(name.as_bytes());
            if !normalized.contains(&n) {
                normalized.push(n);
            }
        }
        if cfg.max_value_len == 0 {
            return Err(Error::config("keys.max_value_len", "must be > 0"));
        }
        Ok(KeysLayer {
            keywords,
            normalized,
            max_value_len: cfg.max_value_len,
            rule: Arc::from("json-key"),
            label: Arc::from("SECRET"),
        })
    }

    /// Whether a whole key (as parsed, unquoted) is sensitive.
    pub(crate) fn is_sensitive(&self, key: &str) -> bool {
        // Parsed keys may hold any character: keep letters and digits only,
        // so `db password` and `DB-Password` count like `db_password`.
        let key: Vec<u8> = key.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase()).collect();
        self.normalized.iter().any(|n| key.ends_with(n))
    }

    /// Context this layer needs on each side of a finding. A longer value
    /// is still found whole (see [`KeysLayer::check_hit`]); this is how far
    /// a streaming redactor must look back to see its key.
    pub(crate) fn max_len(&self) -> usize {
        2 * MAX_KEY_LEN + self.max_value_len + 16
    }

    /// Check a keyword hit at `hs..he` and report the value it keys.
    pub(crate) fn check_hit(&self, text: &[u8], hs: usize, he: usize, out: &mut Vec<Finding>) {
        // The key: back to an opening quote, forward to a closing one.
        let mut q0 = hs;
        while q0 > 0 && hs - q0 < MAX_KEY_LEN && is_key_byte(text[q0 - 1]) {
            q0 -= 1;
        }
        if q0 == 0 || text[q0 - 1] != b'"' {
            return;
        }
        let mut q1 = he;
        while q1 < text.len() && q1 - q0 < MAX_KEY_LEN && is_key_byte(text[q1]) {
            q1 += 1;
        }
        if q1 >= text.len() || text[q1] != b'"' {
            return;
        }
        let key = normalize(&text[q0..q1]);
        if !self.normalized.iter().any(|n| key.ends_with(n)) {
            return;
        }
        // `"key"` then optional blanks, `:`, optional blanks, `"`.
        let mut p = q1 + 1;
        let skip_ws = |mut p: usize| {
            while p < text.len() && matches!(text[p], b' ' | b'\t' | b'\r' | b'\n') {
                p += 1;
            }
            p
        };
        p = skip_ws(p);
        if p >= text.len() || text[p] != b':' {
            return;
        }
        p = skip_ws(p + 1);
        if p >= text.len() || text[p] != b'"' {
            return;
        }
        // The value runs to its closing quote, however far: a value longer
        // than `max_value_len` is still redacted whole (issue 14: its tail
        // used to pass). With no closing quote in `text` the finding runs to
        // the end, so a streaming caller holds the rest until the quote comes.
        let v0 = p + 1;
        let mut v1 = v0;
        while v1 < text.len() && text[v1] != b'"' {
            v1 += if text[v1] == b'\\' { 2 } else { 1 };
        }
        let v1 = v1.min(text.len());
        if v1 > v0 {
            out.push(Finding {
                start: v0,
                end: v1,
                layer: Layer::Keys,
                rule: self.rule.clone(),
                label: self.label.clone(),
                priority: KEYS_PRIORITY,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let layer = KeysLayer::new(&KeysConfig::default()).unwrap();
        let lower = text.to_ascii_lowercase();
        let mut out = Vec::new();
        for kw in &layer.keywords {
            for (i, _) in lower.match_indices(kw.as_str()) {
                layer.check_hit(text.as_bytes(), i, i + kw.len(), &mut out);
            }
        }
        out.iter().map(|f| &text[f.start..f.end]).collect()
    }

    #[test]
    fn values_under_sensitive_keys() {
        assert_eq!(find(r#"{"user": "bob", "password": "hunter2"}"#), vec!["hunter2"]);
        assert_eq!(find(r#"{"DB_PASSWORD" :"a\"b"}"#), vec![r#"a\"b"#]);
        assert_eq!(find(r#"{"X-Api-Key": "k"}"#), vec!["k"]);
    }

    #[test]
    fn whole_keys_as_parsed() {
        let layer = KeysLayer::new(&KeysConfig::default()).unwrap();
        for k in ["password", "DB_PASSWORD", "db password", "X-Api-Key", "client.secret"] {
            assert!(layer.is_sensitive(k), "{k}");
        }
        for k in ["password_hint", "max_tokens", "model", ""] {
            assert!(!layer.is_sensitive(k), "{k}");
        }
    }

    #[test]
    fn long_values_are_redacted_whole() {
        let long = "x".repeat(40_000);
        let text = format!(r#"{{"password": "{long}", "user": "bob"}}"#);
        assert_eq!(find(&text), vec![long.as_str()]);
        // No closing quote (yet): the finding runs to the end of the text.
        let open = format!(r#"{{"password": "{long}"#);
        assert_eq!(find(&open), vec![long.as_str()]);
    }

    #[test]
    fn ignores_other_keys_and_non_strings() {
        assert!(find(r#"{"password_hint": "my dog", "max_tokens": 10}"#).is_empty());
        assert!(find(r#"{"password": 1234, "token": null}"#).is_empty());
        assert!(find(r#"the password is "x""#).is_empty());
    }
}
