//! Placeholders within one conversation, and putting values back.
//!
//! A [`Session`] maps each redacted value to a placeholder such as
//! `[EMAIL_1]`, the same one every time the value comes back, so the model
//! can still reason about "the same address". [`Session::rehydrate`] puts the
//! originals back into the model's answer for the agent.
//!
//! Values found by the exact layer (vault secrets) are **never** rehydrated:
//! the agent must not receive a secret it was never given, even if a tool
//! result carried one into the conversation.
//!
//! The session holds plaintext; its values are zeroed when it is dropped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use zeroize::Zeroize;

use crate::{Finding, Layer};

/// The longest placeholder: `[` + 48-byte label + `_` + 10 digits + `]`.
pub const MAX_PLACEHOLDER_LEN: usize = 1 + 48 + 1 + 10 + 1;

#[derive(Debug)]
struct Entry {
    value: String,
    rehydrate: bool,
}

/// Placeholder state for one conversation.
#[derive(Debug, Default)]
pub struct Session {
    by_value: HashMap<String, Arc<str>>,
    by_placeholder: HashMap<Arc<str>, Entry>,
    counters: HashMap<String, u32>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for (mut k, _) in self.by_value.drain() {
            k.zeroize();
        }
        for (_, mut e) in self.by_placeholder.drain() {
            e.value.zeroize();
        }
    }
}

impl Session {
    /// An empty session.
    pub fn new() -> Session {
        Session::default()
    }

    /// Number of distinct values redacted so far.
    pub fn len(&self) -> usize {
        self.by_placeholder.len()
    }

    /// Whether nothing has been redacted yet.
    pub fn is_empty(&self) -> bool {
        self.by_placeholder.is_empty()
    }

    /// The placeholder for `value`, created on first sight. A vault secret
    /// (the exact layer) has one placeholder whatever form it was found in
    /// (raw, JSON-escaped, percent-encoded): it is keyed by its label.
    pub fn placeholder(&mut self, label: &str, value: &str, layer: Layer) -> Arc<str> {
        let exact_key;
        let key = if layer == Layer::Exact {
            exact_key = format!("\0{label}");
            exact_key.as_str()
        } else {
            value
        };
        if let Some(p) = self.by_value.get(key) {
            return p.clone();
        }
        let n = self.counters.entry(label.to_string()).or_insert(0);
        *n += 1;
        let p: Arc<str> = Arc::from(format!("[{label}_{n}]"));
        self.by_value.insert(key.to_string(), p.clone());
        self.by_placeholder.insert(p.clone(), Entry { value: value.to_string(), rehydrate: layer != Layer::Exact });
        p
    }

    /// Replace `findings` (sorted, non-overlapping) in `text` by placeholders.
    pub fn apply(&mut self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in findings {
            out.push_str(&text[at..f.start]);
            out.push_str(&self.placeholder(&f.label, &text[f.start..f.end], f.layer));
            at = f.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The original values this session redacted (vault secrets included):
    /// what must not leave in a link the model writes (the gateway's output
    /// guard looks for them).
    pub fn originals(&self) -> impl Iterator<Item = &str> {
        self.by_placeholder.values().map(|e| e.value.as_str())
    }

    /// Put original values back where `text` has this session's
    /// placeholders. Unknown placeholders, and those of vault secrets, stay.
    pub fn rehydrate<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.by_placeholder.is_empty() {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        let mut at = 0;
        for open in memchr::memchr_iter(b'[', bytes) {
            if open < at {
                continue;
            }
            let Some(len) = placeholder_len(&bytes[open..]) else { continue };
            let Some(entry) = self.by_placeholder.get(&text[open..open + len]) else { continue };
            if !entry.rehydrate {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[at..open]);
            o.push_str(&entry.value);
            at = open + len;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut o) => {
                o.push_str(&text[at..]);
                Cow::Owned(o)
            }
        }
    }
}

/// If `s` starts with something shaped like a placeholder, its length.
pub(crate) fn placeholder_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s.iter().take(MAX_PLACEHOLDER_LEN).position(|&b| b == b']')?;
    let inner = &s[1..close];
    let us = inner.iter().rposition(|&b| b == b'_')?;
    let (label, num) = (&inner[..us], &inner[us + 1..]);
    let ok = !label.is_empty()
        && !num.is_empty()
        && label.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && num.iter().all(u8::is_ascii_digit);
    ok.then_some(close + 1)
}

/// Rehydrates a streamed answer chunk by chunk, holding back only a possible
/// placeholder cut by a chunk boundary (at most [`MAX_PLACEHOLDER_LEN`] bytes).
#[derive(Debug, Default)]
pub struct StreamRehydrator {
    held: String,
}

impl StreamRehydrator {
    /// A new rehydrator.
    pub fn new() -> StreamRehydrator {
        StreamRehydrator::default()
    }

    /// Feed a chunk; returns what can be released now.
    pub fn push(&mut self, session: &Session, chunk: &str) -> String {
        self.held.push_str(chunk);
        // Hold back from the last `[` that could still open a placeholder.
        let cut = match self.held.rfind('[') {
            Some(i) if self.held.len() - i < MAX_PLACEHOLDER_LEN && !self.held[i..].contains(']') => i,
            _ => self.held.len(),
        };
        let rest = self.held.split_off(cut);
        let out = session.rehydrate(&self.held).into_owned();
        self.held = rest;
        out
    }

    /// Release whatever is held.
    pub fn finish(mut self, session: &Session) -> String {
        session.rehydrate(&std::mem::take(&mut self.held)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_placeholder_and_back() {
        let mut s = Session::new();
        let a = s.placeholder("EMAIL", "a@x.io", Layer::Pattern);
        let b = s.placeholder("EMAIL", "b@x.io", Layer::Pattern);
        assert_eq!(&*a, "[EMAIL_1]");
        assert_eq!(&*b, "[EMAIL_2]");
        assert_eq!(s.placeholder("EMAIL", "a@x.io", Layer::Pattern), a);
        assert_eq!(s.rehydrate("to [EMAIL_1], cc [EMAIL_2], [EMAIL_3] [x]"), "to a@x.io, cc b@x.io, [EMAIL_3] [x]");
    }

    #[test]
    fn vault_secrets_are_never_rehydrated() {
        let mut s = Session::new();
        let p = s.placeholder("SECRET_GH", "ghp_value", Layer::Exact);
        assert_eq!(s.rehydrate(&format!("token {p}")), format!("token {p}"));
    }

    #[test]
    fn streaming_rehydration_matches_whole() {
        let mut s = Session::new();
        s.placeholder("EMAIL", "a@x.io", Layer::Pattern);
        let text = "Write to [EMAIL_1] today [not one] [EMAIL_1]";
        for cut in 0..text.len() {
            let mut r = StreamRehydrator::new();
            let mut out = r.push(&s, &text[..cut]);
            out += &r.push(&s, &text[cut..]);
            out += &r.finish(&s);
            assert_eq!(out, s.rehydrate(text), "cut at {cut}");
        }
    }
}
