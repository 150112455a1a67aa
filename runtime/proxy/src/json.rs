//! Redaction and rehydration of model-provider JSON.
//!
//! A request is redacted by walking the parsed document: **nothing in it
//! is left unscanned**, whatever API shaped it (OpenAI chat and responses,
//! Anthropic messages, and anything new a provider adds):
//!
//! - every string value, structural ones included (`model`, ids, tool
//!   names: a structural field is still a place an agent can write into);
//! - every object key (a key that carries a finding is replaced by its
//!   redacted text);
//! - every number, read as its decimal text (a card number needs no quotes);
//! - the whole value under a sensitive key (`password`, `api_key`, ... from
//!   the keys layer), whatever its type: a string, a number, or every leaf
//!   of an object or array;
//! - JSON held inside a string (tool-call arguments), parsed and walked the
//!   same way, so `\uXXXX` escapes at any level are decoded before scanning;
//! - percent-encoded and `\u`-escaped text, scanned decoded as well;
//! - embedded documents: `data:` URLs and base64 parts with a media type
//!   (`{"media_type", "data"}`) are decoded; text is redacted and encoded
//!   again, binary (images, PDFs) passes or is refused by policy
//!   ([`BinaryParts`]), is counted, and is refused whenever it holds a vault
//!   value (the exact layer runs on the decoded bytes).

use std::borrow::Cow;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use serde_json::Value;
use warden_redact::{Engine, Finding, Layer, Session};

/// How deep JSON may nest, counting JSON inside strings: deeper documents
/// are refused rather than scanned partly.
const MAX_DEPTH: usize = 128;

/// What to do with a binary embedded part (an image, a PDF) that no layer
/// can read: the exact layer still checks it for vault values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BinaryParts {
    /// Forward it (counted).
    #[default]
    Pass,
    /// Refuse the request.
    Refuse,
}

/// What redacting one request found.
#[derive(Debug, Default)]
pub struct RequestReport {
    /// Every finding, with offsets into the string it was found in.
    pub findings: Vec<Finding>,
    /// Strings scanned.
    pub strings: usize,
    /// Binary embedded parts forwarded unread (images, PDFs).
    pub binary_parts: usize,
}

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Not JSON: it is not forwarded (fail closed).
    #[error("the request body is not valid JSON ({0}); it was not forwarded")]
    NotJson(String),
    /// The engine failed (a plugin failed, fail closed).
    #[error("redaction failed ({0}); the request was not forwarded")]
    Redaction(String),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error(
        "the request nests JSON deeper than {MAX_DEPTH} levels (counting JSON inside strings); it was not forwarded"
    )]
    TooDeep,
    /// A binary part, refused by policy.
    #[error("the request embeds a binary {0} part and the policy refuses those ([gateway] binary_parts = \"refuse\")")]
    BinaryRefused(String),
    /// A binary part that holds a vault value.
    #[error("an embedded {0} part contains a vault secret; it cannot be redacted and was not forwarded")]
    SecretInBinary(String),
}

/// Redact a request body in place.
pub fn redact_request(doc: &mut Value, engine: &Engine, session: &mut Session) -> Result<RequestReport, RequestError> {
    redact_request_with(doc, engine, session, BinaryParts::Pass)
}

/// Redact a request body in place, with a policy for binary parts.
pub fn redact_request_with(
    doc: &mut Value,
    engine: &Engine,
    session: &mut Session,
    binary: BinaryParts,
) -> Result<RequestReport, RequestError> {
    let mut report = RequestReport::default();
    let mut w = Walker { engine, session, report: &mut report, binary };
    w.value(doc, false, 0)?;
    Ok(report)
}

/// Parse a request body.
pub fn parse(body: &[u8]) -> Result<Value, RequestError> {
    serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))
}

struct Walker<'a> {
    engine: &'a Engine,
    session: &'a mut Session,
    report: &'a mut RequestReport,
    binary: BinaryParts,
}

impl Walker<'_> {
    fn value(&mut self, v: &mut Value, sensitive: bool, depth: usize) -> Result<(), RequestError> {
        if depth > MAX_DEPTH {
            return Err(RequestError::TooDeep);
        }
        match v {
            Value::String(s) => {
                if sensitive && !s.is_empty() {
                    *s = self.whole(s);
                } else if let Some(new) = self.string(s, depth)? {
                    *s = new;
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if sensitive {
                    *v = Value::String(self.whole(&text));
                } else if let Some(new) = self.string(&text, depth)? {
                    *v = Value::String(new);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.value(item, sensitive, depth + 1)?;
                }
            }
            Value::Object(map) => {
                let media = ["media_type", "mime_type", "mimeType"]
                    .iter()
                    .find_map(|k| map.get(*k).and_then(Value::as_str))
                    .map(str::to_string);
                let old = std::mem::take(map);
                for (k, mut item) in old {
                    let key_sensitive = sensitive || self.engine.is_sensitive_key(&k);
                    match (&media, &mut item) {
                        (Some(media), Value::String(data)) if k == "data" && !key_sensitive => {
                            match self.media_part(media, data, depth)? {
                                Some(Some(new)) => *data = new,
                                Some(None) => {}
                                None => {
                                    if let Some(new) = self.string(data, depth)? {
                                        *data = new;
                                    }
                                }
                            }
                        }
                        _ => self.value(&mut item, key_sensitive, depth + 1)?,
                    }
                    let key = self.string(&k, depth)?.unwrap_or(k);
                    map.insert(key, item);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
        Ok(())
    }

    /// A whole value under a sensitive key: one placeholder.
    fn whole(&mut self, value: &str) -> String {
        let p = self.session.placeholder("SECRET", value, Layer::Keys);
        self.report.findings.push(Finding {
            start: 0,
            end: value.len(),
            layer: Layer::Keys,
            rule: Arc::from("json-key"),
            label: Arc::from("SECRET"),
            priority: 60,
        });
        p.to_string()
    }

    /// Scan one string in every view; the redacted text if anything was
    /// found, `None` if it goes out unchanged.
    fn string(&mut self, s: &str, depth: usize) -> Result<Option<String>, RequestError> {
        self.report.strings += 1;
        // A decoded document was scanned whole: its encoding is not text
        // for the layers (entropy would take a clean blob for a token).
        if let Some(handled) = self.data_url(s, depth)? {
            return Ok(handled);
        }
        let mut text: Cow<str> = Cow::Borrowed(s);
        let mut changed = false;
        if let Some(new) = self.nested_json(s, depth)? {
            text = Cow::Owned(new);
            changed = true;
        } else if let Some(new) = self.bare_base64(s, depth)? {
            text = Cow::Owned(new);
            changed = true;
        } else {
            // Encoded views: when a decoded form carries a finding, the
            // decoded form goes out, redacted.
            for view in [percent_decoded(s), json_unescaped(s)].into_iter().flatten() {
                if !self.find(&view)?.is_empty() {
                    text = Cow::Owned(view);
                    changed = true;
                    break;
                }
            }
        }
        let out = self.engine.redact(&text, self.session).map_err(|e| RequestError::Redaction(e.to_string()))?;
        if !out.findings.is_empty() {
            self.report.findings.extend(out.findings);
            return Ok(Some(out.text));
        }
        Ok(changed.then(|| text.into_owned()))
    }

    fn find(&self, text: &str) -> Result<Vec<Finding>, RequestError> {
        self.engine.find(text).map_err(|e| RequestError::Redaction(e.to_string()))
    }

    /// JSON inside a string (tool-call arguments, documents): walked, and
    /// written back compactly when something in it was redacted.
    fn nested_json(&mut self, s: &str, depth: usize) -> Result<Option<String>, RequestError> {
        let t = s.trim_start();
        if !(t.starts_with('{') || t.starts_with('[')) {
            return Ok(None);
        }
        let Ok(mut inner) = serde_json::from_str::<Value>(s) else { return Ok(None) };
        let before = (self.report.findings.len(), self.report.binary_parts);
        self.value(&mut inner, false, depth + 1)?;
        if self.report.findings.len() == before.0 {
            return Ok(None);
        }
        Ok(Some(serde_json::to_string(&inner).expect("a parsed document serialises")))
    }

    /// `data:<media>;base64,<payload>`: the payload decoded and handled as
    /// a media part. `None` when `s` is no such URL; `Some(new)` when it
    /// was handled (`new` is `None` when it goes out unchanged).
    fn data_url(&mut self, s: &str, depth: usize) -> Result<Option<Option<String>>, RequestError> {
        if !s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
            return Ok(None);
        }
        let Some((meta, payload)) = s[5..].split_once(',') else { return Ok(None) };
        let lower = meta.to_ascii_lowercase();
        let Some(media) = lower.strip_suffix(";base64") else {
            // A percent-encoded data URL: its decoded text is scanned by the
            // percent view of the caller.
            return Ok(None);
        };
        let media = media.split(';').next().unwrap_or("").to_string();
        Ok(self.media_part(&media, payload, depth)?.map(|new| new.map(|p| format!("data:{meta},{p}"))))
    }

    /// A base64 payload of type `media`. Text (whatever the label says,
    /// when it decodes to UTF-8) is scanned and encoded again; binary is
    /// checked by the exact layer, counted, and passed or refused. `None`
    /// when the payload is not base64 (the caller scans it as text).
    fn media_part(&mut self, media: &str, payload: &str, depth: usize) -> Result<Option<Option<String>>, RequestError> {
        let compact: String = payload.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let (bytes, url_safe) = match STANDARD.decode(&compact) {
            Ok(b) => (b, false),
            Err(_) => match URL_SAFE.decode(&compact) {
                Ok(b) => (b, true),
                // Not base64 after all: the caller scans it as text.
                Err(_) => return Ok(None),
            },
        };
        match String::from_utf8(bytes) {
            Ok(text) => {
                let new = self.string(&text, depth + 1)?;
                Ok(Some(new.map(|t| if url_safe { URL_SAFE.encode(t) } else { STANDARD.encode(t) })))
            }
            Err(e) => {
                let bytes = e.into_bytes();
                let kind = if media.is_empty() { "binary" } else { media };
                if !self.engine.exact().find_bytes(&bytes).is_empty() {
                    return Err(RequestError::SecretInBinary(kind.to_string()));
                }
                if self.binary == BinaryParts::Refuse {
                    return Err(RequestError::BinaryRefused(kind.to_string()));
                }
                self.report.binary_parts += 1;
                Ok(Some(None))
            }
        }
    }

    /// A string that is all base64 (no media type said so): text inside is
    /// scanned, binary is checked for vault values.
    fn bare_base64(&mut self, s: &str, depth: usize) -> Result<Option<String>, RequestError> {
        if s.len() < 16
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='))
        {
            return Ok(None);
        }
        let decoded = STANDARD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s));
        let Ok(bytes) = decoded else { return Ok(None) };
        match String::from_utf8(bytes) {
            Ok(text) if text.chars().all(|c| !c.is_control() || c.is_whitespace()) => {
                let Some(new) = self.string(&text, depth + 1)? else { return Ok(None) };
                let url = s.contains(['-', '_']);
                let pad = s.ends_with('=');
                use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
                Ok(Some(match (url, pad) {
                    (false, true) => STANDARD.encode(new),
                    (false, false) => STANDARD_NO_PAD.encode(new),
                    (true, true) => URL_SAFE.encode(new),
                    (true, false) => URL_SAFE_NO_PAD.encode(new),
                }))
            }
            Ok(_) => Ok(None),
            Err(e) => {
                if !self.engine.exact().find_bytes(e.as_bytes()).is_empty() {
                    return Err(RequestError::SecretInBinary("base64".into()));
                }
                Ok(None)
            }
        }
    }
}

/// `s` with `%XX` escapes decoded (`None` when it has none, or the result
/// is not UTF-8 text).
pub fn percent_decoded(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut any = false;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                any = true;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    if !any {
        return None;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `s` with JSON string escapes (`\uXXXX`, `\"`, ...) decoded, when it
/// has any and they are valid.
pub fn json_unescaped(s: &str) -> Option<String> {
    if !s.contains('\\') {
        return None;
    }
    // Escape bare quotes and control characters so that only the
    // backslash escapes already there are interpreted.
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            c if (c as u32) < 0x20 => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    serde_json::from_str::<String>(&quoted).ok().filter(|d| d != s)
}

/// Put this session's placeholders back into every string of a response.
pub fn rehydrate(v: &mut Value, session: &Session) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(out) = session.rehydrate(s) {
                *s = out;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rehydrate(i, session)),
        Value::Object(map) => map.values_mut().for_each(|i| rehydrate(i, session)),
        _ => {}
    }
}

/// Token usage read from a response or a streamed event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt / input tokens.
    pub input: u64,
    /// Completion / output tokens.
    pub output: u64,
}

/// The `usage` of an OpenAI (`prompt_tokens`, `completion_tokens`;
/// responses API `input_tokens`, `output_tokens`) or Anthropic
/// (`input_tokens`, `output_tokens`, also inside `message`) document.
pub fn usage(v: &Value) -> Option<Usage> {
    let u = v
        .get("usage")
        .or_else(|| v.get("message").and_then(|m| m.get("usage")))
        .or_else(|| v.get("response").and_then(|r| r.get("usage")))?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let input = n("prompt_tokens").or_else(|| n("input_tokens"));
    let output = n("completion_tokens").or_else(|| n("output_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage { input: input.unwrap_or(0), output: output.unwrap_or(0) })
}

/// The model a request or response names.
pub fn model(v: &Value) -> Option<&str> {
    v.get("model")
        .and_then(Value::as_str)
        .or_else(|| v.get("message").and_then(|m| m.get("model")).and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_redact::RuleSpec;

    fn engine() -> Engine {
        let email = RuleSpec {
            id: "email".into(),
            label: "EMAIL".into(),
            keywords: vec!["@".into()],
            regex: r"[a-z0-9.]{1,32}@[a-z0-9.-]{1,32}\.[a-z]{2,8}".into(),
            ..RuleSpec::minimal()
        };
        Engine::new([email]).unwrap()
    }

    #[test]
    fn every_api_shape_is_redacted_and_structure_kept() {
        let mut doc: Value = serde_json::from_str(
            r#"{
              "model": "gpt-x",
              "system": [{"type": "text", "text": "operator is op@corp.io"}],
              "messages": [
                {"role": "user", "content": "mail jane@acme.io"},
                {"role": "user", "content": [{"type": "text", "text": "cc jane@acme.io"}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                  "function": {"name": "send", "arguments": "{\"to\":\"bob@x.io\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sent to bob@x.io"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "ok eve@y.io"}]}]}
              ],
              "input": [{"type": "function_call_output", "call_id": "c2", "output": "got zed@z.io"}]
            }"#,
        )
        .unwrap();
        let mut session = Session::new();
        let report = redact_request(&mut doc, &engine(), &mut session).unwrap();
        let text = doc.to_string();
        for addr in ["op@corp.io", "jane@acme.io", "bob@x.io", "eve@y.io", "zed@z.io"] {
            assert!(!text.contains(addr), "{addr} leaked: {text}");
        }
        assert_eq!(doc["model"], "gpt-x");
        assert_eq!(doc["messages"][2]["tool_calls"][0]["function"]["name"], "send");
        assert_eq!(doc["messages"][1]["content"][0]["text"], "cc [EMAIL_2]");
        assert_eq!(report.findings.len(), 7);
        let mut answer =
            serde_json::json!({"choices": [{"message": {"content": "Done: wrote [EMAIL_2] and \"[EMAIL_3]\""}}]});
        rehydrate(&mut answer, &session);
        assert_eq!(answer["choices"][0]["message"]["content"], "Done: wrote jane@acme.io and \"bob@x.io\"");
    }

    #[test]
    fn usage_of_each_provider() {
        let oa = serde_json::json!({"usage": {"prompt_tokens": 10, "completion_tokens": 3}});
        let an = serde_json::json!({"type": "message_start", "message": {"model": "c", "usage": {"input_tokens": 7, "output_tokens": 1}}});
        assert_eq!(usage(&oa), Some(Usage { input: 10, output: 3 }));
        assert_eq!(usage(&an), Some(Usage { input: 7, output: 1 }));
        assert_eq!(usage(&serde_json::json!({"usage": null})), None);
    }
}
