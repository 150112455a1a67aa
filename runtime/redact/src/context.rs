//! The context layer: a credential named by its context, whatever its shape.
//!
//! `FOO_API_KEY="..."`, `service_token: ...`, `'password' => '...'`,
//! `--password x`, `Password=...;`, `?access_token=...`, `<apiKey>...</apiKey>`,
//! `Authorization: Bearer ...`, `ACME SECRET ...`: a credential word ends an
//! identifier, a separator follows within a few bytes, and the value after it
//! is plausible as a credential. Only the value is reported.
//!
//! # Cost
//!
//! The words ride the engine's one keyword automaton, so the layer adds no
//! pass over the text: each hit costs an identifier expansion (at most
//! [`MAX_IDENT`] bytes each way) and, rarely, a value check. Short words such
//! as `key` hit often in code, but most hits die at the first test (the word
//! is not the identifier's last part, or no separator follows).
//!
//! # What counts as a value
//!
//! Thresholds come from the generated corpus (`eval::gen`, tuning seed 2):
//! - not a placeholder (`${X}`, `$X`, `{{x}}`, `<your-key>`, `xxxx`, `***`,
//!   `your_api_key_here`, `changeme`, `None`, ...) nor a code reference
//!   (`os.environ[...]`, `process.env.X`, a call, an index, a dotted path);
//! - passwords (`password`, `pwd`, `pass`, ...): 6+ bytes with a digit or a
//!   symbol or mixed case;
//! - other credentials: 12+ bytes, two character classes or 16+ hex, and
//!   Shannon entropy at least [`MIN_ENTROPY_RATIO`] of what its length and
//!   alphabet allow.

use std::sync::Arc;

use crate::validate::shannon_entropy;
use crate::{Finding, Layer};

/// Findings of this layer lose overlaps to provider rules (100) and PII.
pub(crate) const CONTEXT_PRIORITY: i32 = 45;
/// The longest identifier looked at around a hit.
const MAX_IDENT: usize = 64;
/// The longest gap between the identifier and the value.
const MAX_GAP: usize = 16;
/// The longest value reported.
const MAX_VALUE: usize = 256;
/// Entropy of a non-password value, relative to the most its length and
/// alphabet allow. Random base62/hex values of 12+ bytes reach 0.85-0.98;
/// words, repeated characters and counters stay below.
const MIN_ENTROPY_RATIO: f64 = 0.7;

/// Words the keyword automaton looks for (lowercase). Each hit is checked.
pub(crate) const WORDS: &[&str] =
    &["key", "secret", "token", "pass", "pwd", "auth", "credential", "creds", "sig", "dsn", "bearer", "cookie"];

/// What stood between the key and the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sep {
    /// Blanks only.
    Blank,
    /// `=`, `:`, `=>`, `,`, ...
    Explicit,
    /// The value was quoted.
    Quoted,
}

/// What a credential word says about its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Human-chosen: any shape, checked only against placeholders.
    Password,
    /// Generated: must look random.
    Token,
}

/// The last part of an identifier that names a credential.
fn cred_part(part: &[u8]) -> Option<Kind> {
    Some(match part {
        b"password" | b"passwd" | b"pwd" | b"pass" | b"passphrase" | b"pw" | b"passcode" | b"dbpass" => Kind::Password,
        b"key" | b"apikey" | b"secret" | b"secrets" | b"token" | b"tokens" | b"auth" | b"authorization"
        | b"credential" | b"credentials" | b"creds" | b"sig" | b"signature" | b"dsn" | b"bearer" | b"cookie"
        | b"secretkey" | b"accesskey" | b"accesstoken" | b"authtoken" | b"privatekey" | b"apitoken" | b"apisecret"
        | b"clientsecret" | b"authkey" | b"sessiontoken" | b"refreshtoken" | b"secretaccesskey" => Kind::Token,
        _ => return None,
    })
}

/// `<word> key` parts that are not secrets.
fn benign_key_qualifier(prev: &[u8]) -> bool {
    matches!(
        prev,
        b"public"
            | b"primary"
            | b"foreign"
            | b"sort"
            | b"partition"
            | b"cache"
            | b"hash"
            | b"dict"
            | b"map"
            | b"lookup"
            | b"index"
            | b"routing"
            | b"idempotency"
            | b"unique"
            | b"row"
            | b"object"
            | b"group"
            | b"keyboard"
            | b"ssh"
            | b"pub"
            | b"max"
            | b"min"
            | b"num"
            | b"count"
    )
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The context layer.
#[derive(Clone, Debug)]
pub(crate) struct ContextLayer {
    rule: Arc<str>,
    label: Arc<str>,
}

impl ContextLayer {
    pub(crate) fn new() -> ContextLayer {
        ContextLayer { rule: Arc::from("context"), label: Arc::from("SECRET") }
    }

    /// How far from a finding the layer looks.
    pub(crate) fn max_len(&self) -> usize {
        2 * MAX_IDENT + 2 * MAX_GAP + MAX_VALUE + 16
    }

    /// Check a keyword hit at `hs` and report the value it names.
    pub(crate) fn check_hit(&self, text: &[u8], hs: usize, out: &mut Vec<Finding>) {
        let mut s = hs;
        while s > 0 && hs - s < MAX_IDENT && is_ident_byte(text[s - 1]) {
            s -= 1;
        }
        let mut e = hs;
        while e < text.len() && e - s < MAX_IDENT && is_ident_byte(text[e]) {
            e += 1;
        }
        // Trailing dots and dashes are punctuation (`the key.`).
        while e > hs && matches!(text[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if e <= hs {
            return;
        }
        let Some(kind) = ident_kind(&text[s..e]) else { return };
        self.value_after(text, e, kind, 0, out);
    }

    fn value_after(&self, text: &[u8], e: usize, kind: Kind, depth: u8, out: &mut Vec<Finding>) {
        let Some((v0, v1, sep)) = find_value(text, e) else { return };
        let value = &text[v0..v1];
        if plausible(value, kind, sep) {
            out.push(Finding {
                start: v0,
                end: v1,
                layer: Layer::Context,
                rule: self.rule.clone(),
                label: self.label.clone(),
                priority: CONTEXT_PRIORITY,
            });
            return;
        }
        // `<add key="ApiKey" value="...">`, `("api_key", "...")`: the first
        // "value" names the credential; look once more after it.
        if depth == 0 {
            if let Some(k) = ident_kind(value) {
                self.value_after(text, v1, k, 1, out);
            }
        }
    }
}

/// What the identifier names, from its last part (split at `_ - .`, camel
/// case humps and digits).
fn ident_kind(ident: &[u8]) -> Option<Kind> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for (i, &b) in ident.iter().enumerate() {
        if matches!(b, b'_' | b'-' | b'.') || b.is_ascii_digit() {
            if !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let hump = b.is_ascii_uppercase() && i > 0 && ident[i - 1].is_ascii_lowercase();
        if hump && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
        cur.push(b.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    let last = parts.last()?;
    let kind = cred_part(last)?;
    if last == b"key" && parts.len() >= 2 && benign_key_qualifier(&parts[parts.len() - 2]) {
        return None;
    }
    Some(kind)
}

/// After an identifier ending at `e`: the separator, then the value's span
/// and whether it was quoted.
fn find_value(text: &[u8], e: usize) -> Option<(usize, usize, Sep)> {
    let mut p = e;
    let limit = (e + MAX_GAP).min(text.len());
    let mut seen_sep = false;
    let mut quote = None;
    while p < limit {
        let b = text[p];
        match b {
            b' ' | b'\t' => p += 1,
            b'"' | b'\'' | b'`' => {
                // A quote after a separator opens the value; before one, it
                // closes the key (`"api_key": "..."`).
                if seen_sep || text.get(p + 1).is_some_and(|c| !b"=:,>| \t)]".contains(c)) {
                    quote = Some(b);
                    p += 1;
                    break;
                }
                p += 1;
            }
            b'=' | b':' | b'>' | b',' | b'|' | b']' | b')' => {
                seen_sep = true;
                p += 1;
            }
            // `is`, `value` between key and value (prose, XML attributes).
            b'i' if text[p..].starts_with(b"is ") => {
                seen_sep = true;
                p += 3;
            }
            b'v' if text[p..].starts_with(b"value=") => p += 5,
            // `Authorization: Bearer x`, `token: Basic x`.
            b'B' | b'b' if seen_sep && (text[p..].starts_with(b"Bearer ") || text[p..].starts_with(b"Basic ")) => {
                p += if text[p + 1] == b'e' { 7 } else { 6 }
            }
            _ => break,
        }
    }
    if p >= text.len() || p == e && quote.is_none() {
        // Glued to the identifier (`keyboard` was cut before; `key123`).
        return None;
    }
    let v0 = p;
    let cap = (v0 + MAX_VALUE).min(text.len());
    let mut v1 = v0;
    match quote {
        Some(q) => {
            while v1 < cap && text[v1] != q && text[v1] != b'\n' {
                v1 += if text[v1] == b'\\' { 2 } else { 1 };
            }
            v1 = v1.min(cap);
            if v1 >= cap || text[v1] != q {
                return None;
            }
        }
        None => {
            while v1 < cap && !is_unquoted_end(text[v1]) {
                v1 += 1;
            }
            // Prose: a sentence's full stop is not part of the value.
            while v1 > v0 && matches!(text[v1 - 1], b'.' | b':') {
                v1 -= 1;
            }
        }
    }
    // Only blanks between key and value (prose, `--flag value`): weaker
    // evidence, reported as unquoted-without-separator.
    let strength = if quote.is_some() {
        Sep::Quoted
    } else if seen_sep {
        Sep::Explicit
    } else {
        Sep::Blank
    };
    (v1 > v0).then_some((v0, v1, strength))
}

fn is_unquoted_end(b: u8) -> bool {
    b.is_ascii_whitespace() || b"\"'`;,&<>)}]|".contains(&b)
}

/// Whether `v` may be a credential of `kind`.
fn plausible(v: &[u8], kind: Kind, sep: Sep) -> bool {
    // PERF: the shape tests below are cheap and refuse most candidates;
    // the placeholder and code tests, which scan for dozens of words, run
    // only on what passes them. The result is the conjunction either way.
    if v.len() > MAX_VALUE || !plausible_shape(v, kind, sep) {
        return false;
    }
    !placeholder(v) && !code_reference(v, sep == Sep::Quoted)
}

fn plausible_shape(v: &[u8], kind: Kind, sep: Sep) -> bool {
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    let symbol = v.iter().any(|b| !b.is_ascii_alphanumeric());
    match kind {
        // After blanks only (`the password branch?`), a word with a
        // punctuation mark is prose: ask for a digit.
        Kind::Password if sep == Sep::Blank => v.len() >= 6 && digit && (lower || upper || symbol),
        Kind::Password => v.len() >= 6 && (digit || symbol || (lower && upper)) && !v.iter().all(u8::is_ascii_digit),
        Kind::Token => {
            if v.len() < 12 || v.iter().all(u8::is_ascii_digit) && v.len() < 16 {
                return false;
            }
            let hex = v.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-');
            let classes = usize::from(lower) + usize::from(upper) + usize::from(digit);
            if classes < 2 && !(hex && v.len() >= 16) {
                return false;
            }
            // Letters and underscores only: an identifier, not a value.
            if !digit && v.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_') {
                return false;
            }
            let alphabet = 26.0 * (f64::from(u8::from(lower)) + f64::from(u8::from(upper)))
                + 10.0 * f64::from(u8::from(digit))
                + 10.0 * f64::from(u8::from(symbol));
            let best = alphabet.min(v.len() as f64).log2();
            shannon_entropy(v) >= MIN_ENTROPY_RATIO * best
        }
    }
}

/// Placeholders and templates: `${X}`, `$X`, `{{x}}`, `<your-key>`, `xxxx`,
/// `***`, `your_api_key_here`, `changeme`, `None`, `%(x)s`.
fn placeholder(v: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"xxxx",
        b"****",
        b"....",
        b"your_",
        b"your-",
        b"yourkey",
        b"here",
        b"example",
        b"changeme",
        b"change_me",
        b"placeholder",
        b"redacted",
        b"replace",
        b"dummy",
        b"sample",
        b"todo",
        b"fixme",
        b"${",
        b"{{",
        b"%(",
        b"<",
        b">",
        b"secret_value",
        b"insert",
    ];
    const EXACT: &[&[u8]] =
        &[b"none", b"null", b"nil", b"true", b"false", b"undefined", b"required", b"optional", b"string"];
    let lower = v.to_ascii_lowercase();
    if EXACT.contains(&lower.as_slice()) || lower.iter().all(|&b| b == lower[0]) {
        return true;
    }
    if v[0] == b'$' && v.get(1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'{') {
        return true;
    }
    WORDS.iter().any(|w| contains(&lower, w))
}

/// Whether `needle` occurs in `hay`: for values of a few hundred bytes at
/// most, where building a SIMD searcher per call costs more than it saves.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Code, not a value: a call, an index, an environment lookup, a dotted
/// path, a file path.
fn code_reference(v: &[u8], quoted: bool) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"os.",
        b"process.",
        b"env.",
        b"env[",
        b"settings.",
        b"config.",
        b"self.",
        b"this.",
        b"system.",
        b"request.",
        b"params.",
        b"props.",
        b"args.",
        b"options.",
        b"opts.",
        b"secrets.",
        b"vars.",
        b"import.",
    ];
    let lower = v.to_ascii_lowercase();
    if PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    if contains(v, b"::") {
        return true;
    }
    if !quoted && (v.contains(&b'(') || v.contains(&b'[')) {
        return true;
    }
    if v[0] == b'/' || v.starts_with(b"./") || v.starts_with(b"~/") || contains(v, b"://") {
        return true;
    }
    // `foo.bar.baz`: a dotted path of words, no digits.
    v.contains(&b'.') && v.iter().all(|b| b.is_ascii_alphabetic() || matches!(b, b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let layer = ContextLayer::new();
        let lower = text.to_ascii_lowercase();
        let mut out = Vec::new();
        for w in WORDS {
            for (i, _) in lower.match_indices(w) {
                layer.check_hit(text.as_bytes(), i, &mut out);
            }
        }
        let mut v: Vec<&str> = out.iter().map(|f| &text[f.start..f.end]).collect();
        v.dedup();
        v
    }

    #[test]
    fn values_named_by_context() {
        assert_eq!(find("ZENPAY_API_KEY=Zk29dQViJyfDQceJGg54"), vec!["Zk29dQViJyfDQceJGg54"]);
        assert_eq!(find("  fluxToken: \"a8f0c1d2e3b4a5968778695a4b3c2d1e\""), vec!["a8f0c1d2e3b4a5968778695a4b3c2d1e"]);
        assert_eq!(find("'password' => 'Dragon42!',"), vec!["Dragon42!"]);
        assert_eq!(find("pg_dump --password Summer2024# db"), vec!["Summer2024#"]);
        assert_eq!(find("Server=x;User ID=sa;Password=Orion-maple-7;Encrypt=True"), vec!["Orion-maple-7"]);
        assert_eq!(find("GET /v1?limit=5&access_token=Qm9vbGVhbjEyMzQ1Njc4&x=1"), vec!["Qm9vbGVhbjEyMzQ1Njc4"]);
        assert_eq!(find("<apiKey>7Hq2LmZ8vB4nR7tY1wE5</apiKey>"), vec!["7Hq2LmZ8vB4nR7tY1wE5"]);
        assert_eq!(find("<add key=\"NovaApiKey\" value=\"7Hq2LmZ8vB4nR7tY1wE5\" />"), vec!["7Hq2LmZ8vB4nR7tY1wE5"]);
        assert_eq!(find("Authorization: Bearer 7Hq2LmZ8vB4nR7tY1wE5uI3o"), vec!["7Hq2LmZ8vB4nR7tY1wE5uI3o"]);
        assert_eq!(find("The brihex api key is 7Hq2LmZ8vB4nR7tY1wE5."), vec!["7Hq2LmZ8vB4nR7tY1wE5"]);
    }

    #[test]
    fn placeholders_references_and_prose_are_not_values() {
        for t in [
            "API_KEY=${API_KEY}",
            "api_key: {{ .Values.key }}",
            "token = os.environ[\"TOKEN\"]",
            "const apiKey = process.env.API_KEY;",
            "password: <your-password>",
            "secret = \"xxxxxxxxxxxxxxxx\"",
            "api_key = \"your_api_key_here\"",
            "password = ********",
            "max_tokens=4096",
            "public_key = 7Hq2LmZ8vB4nR7tY1wE5",
            "secret: my_secret_variable_name",
            "The password must contain at least 8 characters.",
            "key: app.settings.timeout",
            "auth = OAuthHandler(consumer_key, consumer_secret)",
            "keyboard = 7Hq2LmZ8vB4nR7tY1wE5",
        ] {
            assert!(find(t).is_empty(), "{t}: {:?}", find(t));
        }
    }
}
