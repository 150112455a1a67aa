//! Rehydrating a streamed (SSE) model answer event by event.
//!
//! Text arrives in small deltas, so a placeholder such as `[EMAIL_1]` may be
//! cut across two events. Each delta stream (one per choice, content block
//! or output item, and per field) has its own [`StreamRehydrator`], which
//! holds back only a possible placeholder prefix (at most
//! `MAX_PLACEHOLDER_LEN` bytes): the stream is never buffered whole. What a
//! stream still holds when it ends (a `finish_reason`, a `*_stop` or `*.done`
//! event, `[DONE]`, the end of the body) is released as one extra delta
//! event, shaped like that stream's last event, just before the event that
//! ended it. Every other string in an event (whole messages in
//! `message_start`, `response.completed`...) is rehydrated in place.

use std::collections::BTreeMap;

use serde_json::Value;
use warden_redact::{Session, StreamRehydrator};

use crate::exfil::{GuardStream, OutputGuard};
use crate::json::{usage, Usage};

/// Fields inside a delta that name things rather than carry text.
const STRUCTURAL: &[&str] = &["type", "role", "id", "name", "call_id", "item_id"];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Pos(usize),
}

/// One delta stream: its rehydrator and the last event that fed it, as the
/// template for a flush.
struct Stream {
    rehydrator: StreamRehydrator,
    /// Non-data lines of the template event (`event: ...`).
    lines: Vec<String>,
    template: Value,
    leaf: Vec<Seg>,
    /// For answer text, when links are guarded.
    guard: Option<GuardStream>,
}

/// Rehydrates an SSE body chunk by chunk.
pub struct SseRehydrator {
    line: Vec<u8>,
    event: Vec<String>,
    streams: BTreeMap<String, Stream>,
    /// The last `usage` seen (the final event of a stream carries the totals).
    pub usage: Option<Usage>,
    /// The model named by the events.
    pub model: Option<String>,
    /// Links that carry data out are neutralised in answer text.
    guard: Option<OutputGuard>,
    /// The event being read is a responses-API text delta (its `delta` is
    /// answer text, not arguments).
    text_event: bool,
}

impl Default for SseRehydrator {
    fn default() -> Self {
        SseRehydrator::new()
    }
}

impl SseRehydrator {
    /// A new stream.
    pub fn new() -> SseRehydrator {
        SseRehydrator {
            line: Vec::new(),
            event: Vec::new(),
            streams: BTreeMap::new(),
            usage: None,
            model: None,
            guard: None,
            text_event: false,
        }
    }

    /// Also neutralise links that carry data out of answer text
    /// ([`crate::exfil`]).
    pub fn with_guard(mut self, guard: OutputGuard) -> SseRehydrator {
        self.guard = Some(guard);
        self
    }

    /// Feed a chunk of the body; returns the bytes to send on now.
    pub fn push(&mut self, session: &Session, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in chunk {
            self.line.push(b);
            if b == b'\n' {
                let raw = std::mem::take(&mut self.line);
                let text = String::from_utf8_lossy(&raw);
                let line = text.trim_end_matches(['\r', '\n']).to_string();
                if line.is_empty() {
                    let event = std::mem::take(&mut self.event);
                    self.emit(session, event, &mut out);
                } else {
                    self.event.push(line);
                }
            }
        }
        out
    }

    /// The body ended: release everything held.
    pub fn finish(&mut self, session: &Session) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let raw = std::mem::take(&mut self.line);
            self.event.push(String::from_utf8_lossy(&raw).trim_end_matches('\r').to_string());
        }
        if !self.event.is_empty() {
            let event = std::mem::take(&mut self.event);
            self.emit(session, event, &mut out);
        }
        self.flush(session, |_| true, &mut out);
        out
    }

    fn emit(&mut self, session: &Session, lines: Vec<String>, out: &mut Vec<u8>) {
        let mut data = String::new();
        let mut other = Vec::new();
        let mut has_data = false;
        for l in &lines {
            if let Some(d) = l.strip_prefix("data:") {
                if has_data {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
                has_data = true;
            } else {
                other.push(l.clone());
            }
        }
        let parsed = if has_data { serde_json::from_str::<Value>(&data).ok() } else { None };
        let Some(mut doc) = parsed else {
            // Not JSON (`[DONE]`, comments, pings): the end of everything
            // when it is `[DONE]`; passed through as it came.
            if data.trim() == "[DONE]" {
                self.flush(session, |_| true, out);
            }
            write_event(out, &lines);
            return;
        };
        // Anthropic sends input tokens first and output tokens last: merge.
        if let Some(u) = usage(&doc) {
            let cur = self.usage.get_or_insert_with(Usage::default);
            if u.input > 0 {
                cur.input = u.input;
            }
            if u.output > 0 {
                cur.output = u.output;
            }
        }
        if let Some(m) = crate::json::model(&doc) {
            self.model.get_or_insert_with(|| m.to_string());
        }
        // Streams this event ends are flushed before it.
        let ending = ends(&doc);
        if let Some(pred) = &ending {
            self.flush(session, |k| pred(k), out);
        }
        let ty = doc.get("type").and_then(Value::as_str).unwrap_or("");
        self.text_event = ty == "response.output_text.delta" || ty == "response.refusal.delta";
        let scope = scope_of(&doc);
        let mut path = Vec::new();
        self.rehydrate(session, &mut doc, &mut path, &scope, &other);
        let mut lines = other;
        lines.push(format!("data: {doc}"));
        write_event(out, &lines);
    }

    fn rehydrate(&mut self, session: &Session, v: &mut Value, path: &mut Vec<Seg>, scope: &str, lines: &[String]) {
        match v {
            Value::String(s) => {
                let structural = matches!(path.last(), Some(Seg::Key(k)) if STRUCTURAL.contains(&k.as_str()));
                let streaming =
                    !structural && path.iter().any(|p| matches!(p, Seg::Key(k) if k == "delta" || k == "partial_json"));
                let text = !structural && answer_text(path, self.text_event);
                if !streaming {
                    if let std::borrow::Cow::Owned(o) = session.rehydrate(s) {
                        *s = o;
                    }
                    if let (Some(g), true) = (&self.guard, text) {
                        if let Some(o) = g.neutralise(s) {
                            *s = o;
                        }
                    }
                    return;
                }
                let key = format!("{scope}{}", key_of(path));
                let guarded = self.guard.is_some() && text;
                let stream = self.streams.entry(key).or_insert_with(|| Stream {
                    rehydrator: StreamRehydrator::new(),
                    lines: Vec::new(),
                    template: Value::Null,
                    leaf: Vec::new(),
                    guard: guarded.then(GuardStream::new),
                });
                let mut released = stream.rehydrator.push(session, s);
                if let (Some(gs), Some(g)) = (&mut stream.guard, &self.guard) {
                    released = gs.push(g, &released);
                }
                *s = released;
                stream.lines = lines.to_vec();
                stream.leaf = path.clone();
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let seg = item.get("index").and_then(Value::as_u64).map_or(Seg::Pos(i), |n| Seg::Pos(n as usize));
                    path.push(seg);
                    self.rehydrate(session, item, path, scope, lines);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    path.push(Seg::Key(k.clone()));
                    self.rehydrate(session, item, path, scope, lines);
                    path.pop();
                }
            }
            _ => {}
        }
        if path.is_empty() {
            // The whole event is done: remember it as the template of every
            // stream it fed (with the released text, later replaced).
            let doc = v.clone();
            for s in self.streams.values_mut() {
                if s.lines.as_slice() == lines && !s.leaf.is_empty() && leaf_exists(&doc, &s.leaf) {
                    s.template = doc.clone();
                }
            }
        }
    }

    /// Release what the streams matching `pred` hold, as extra events.
    fn flush(&mut self, session: &Session, pred: impl Fn(&str) -> bool, out: &mut Vec<u8>) {
        let keys: Vec<String> = self.streams.keys().filter(|k| pred(k)).cloned().collect();
        for k in keys {
            let s = self.streams.remove(&k).expect("key listed");
            let mut held = s.rehydrator.finish(session);
            if let (Some(mut gs), Some(g)) = (s.guard, &self.guard) {
                held = gs.push(g, &held);
                held.push_str(&gs.finish(g));
            }
            if held.is_empty() || s.template.is_null() {
                continue;
            }
            let mut doc = s.template;
            if let Value::Object(m) = &mut doc {
                m.remove("usage");
            }
            blank_deltas(&mut doc, &mut Vec::new());
            if let Some(slot) = leaf_mut(&mut doc, &s.leaf) {
                *slot = Value::String(held);
            }
            let mut lines = s.lines;
            lines.push(format!("data: {doc}"));
            write_event(out, &lines);
        }
    }
}

/// Whether the string at `path` is answer text (where links are guarded):
/// chat `content`, Anthropic and responses `text`, a responses text delta;
/// never tool-call arguments.
fn answer_text(path: &[Seg], text_event: bool) -> bool {
    if path.iter().any(|p| matches!(p, Seg::Key(k) if crate::exfil::CALL_KEYS.contains(&k.as_str()))) {
        return false;
    }
    match path.last() {
        Some(Seg::Key(k)) => {
            k == "content" || k == "text" || k == "refusal" || (k == "delta" && path.len() == 1 && text_event)
        }
        _ => false,
    }
}

fn write_event(out: &mut Vec<u8>, lines: &[String]) {
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Root-level fields that tell streams apart in APIs that put them beside
/// the delta rather than in an array (Anthropic `index`, OpenAI responses
/// `output_index`, `content_index`, `item_id`).
fn scope_of(doc: &Value) -> String {
    let mut s = String::new();
    for k in ["index", "output_index", "content_index", "item_id"] {
        if let Some(v) = doc.get(k) {
            s.push_str(&format!("{k}={v};"));
        }
    }
    s.push('|');
    s
}

fn key_of(path: &[Seg]) -> String {
    let mut s = String::new();
    for p in path {
        match p {
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Pos(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A predicate over stream keys.
type KeyFilter = Box<dyn Fn(&str) -> bool>;

/// Which streams an event ends, as a predicate over stream keys.
fn ends(doc: &Value) -> Option<KeyFilter> {
    let ty = doc.get("type").and_then(Value::as_str).unwrap_or("");
    if ty == "message_stop" || ty == "response.completed" || ty == "response.done" {
        return Some(Box::new(|_| true));
    }
    if ty.ends_with("_stop") || ty.ends_with(".done") {
        let scope = scope_of(doc);
        return Some(Box::new(move |k: &str| k.starts_with(&scope)));
    }
    // OpenAI chat: a choice with a finish_reason ends that choice's streams.
    let finished: Vec<String> = doc
        .get("choices")?
        .as_array()?
        .iter()
        .enumerate()
        .filter(|(_, c)| c.get("finish_reason").is_some_and(|f| !f.is_null()))
        .map(|(i, c)| format!(".choices[{}]", c.get("index").and_then(Value::as_u64).unwrap_or(i as u64)))
        .collect();
    if finished.is_empty() {
        return None;
    }
    let scope = scope_of(doc);
    Some(Box::new(move |k: &str| finished.iter().any(|f| k.starts_with(&format!("{scope}{f}")))))
}

fn leaf_exists(v: &Value, path: &[Seg]) -> bool {
    let mut cur = v;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => match m.get(k) {
                Some(x) => x,
                None => return false,
            },
            (Seg::Pos(i), Value::Array(a)) => match find_pos(a, *i) {
                Some(x) => &a[x],
                None => return false,
            },
            _ => return false,
        };
    }
    cur.is_string()
}

fn find_pos(a: &[Value], i: usize) -> Option<usize> {
    a.iter()
        .position(|x| x.get("index").and_then(Value::as_u64) == Some(i as u64))
        .or_else(|| (i < a.len() && a[i].get("index").is_none()).then_some(i))
}

fn leaf_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = v;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Pos(i), Value::Array(a)) => {
                let at = find_pos(a, *i)?;
                &mut a[at]
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Empty every streamed string of a template, so a flush event carries only
/// the held text.
fn blank_deltas(v: &mut Value, path: &mut Vec<String>) {
    match v {
        Value::String(s)
            if !path.last().is_some_and(|k| STRUCTURAL.contains(&k.as_str()))
                && path.iter().any(|k| k == "delta" || k == "partial_json") =>
        {
            s.clear()
        }
        Value::Array(items) => items.iter_mut().for_each(|i| blank_deltas(i, path)),
        Value::Object(m) => {
            for (k, item) in m.iter_mut() {
                path.push(k.clone());
                blank_deltas(item, path);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_redact::Layer;

    fn session() -> Session {
        let mut s = Session::new();
        s.placeholder("EMAIL", "jane@acme.io", Layer::Pattern);
        s
    }

    fn run(body: &str, chunk: usize) -> String {
        let s = session();
        let mut r = SseRehydrator::new();
        let mut out = Vec::new();
        for c in body.as_bytes().chunks(chunk) {
            out.extend(r.push(&s, c));
        }
        out.extend(r.finish(&s));
        String::from_utf8(out).unwrap()
    }

    /// The concatenated text of every OpenAI chat delta.
    fn openai_text(out: &str) -> String {
        out.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(String::from))
            .collect()
    }

    #[test]
    fn a_placeholder_cut_across_openai_deltas_is_rehydrated() {
        let mut body = String::new();
        for piece in ["Mail ", "[EMA", "IL_1", "] now", " [EM"] {
            body.push_str(&format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
                serde_json::json!(piece)
            ));
        }
        body.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n");
        for chunk in [1, 7, 4096] {
            let out = run(&body, chunk);
            assert_eq!(openai_text(&out), "Mail jane@acme.io now [EM", "chunk {chunk}: {out}");
            assert!(out.ends_with("data: [DONE]\n\n"));
            assert!(!out.contains("[EMAIL_1]"));
        }
    }

    #[test]
    fn anthropic_blocks_flush_at_their_stop() {
        let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"to [EMAIL\"}}\n\n\
            event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":12}}\n\n";
        let s = session();
        let mut r = SseRehydrator::new();
        let mut out = r.push(&s, body.as_bytes());
        out.extend(r.finish(&s));
        let out = String::from_utf8(out).unwrap();
        // "[EMAIL" could still have become a placeholder: held, then released
        // as it was, before the block's stop.
        let texts: Vec<&str> = out.lines().filter(|l| l.contains("text_delta")).collect();
        assert_eq!(texts.len(), 2, "{out}");
        assert!(texts[0].contains("\"text\":\"to \"") && texts[1].contains("\"text\":\"[EMAIL\""), "{out}");
        let stop = out.find("content_block_stop").unwrap();
        assert!(out.rfind("text_delta").unwrap() < stop);
        assert_eq!(r.usage, Some(Usage { input: 9, output: 12 }));
        assert_eq!(r.model.as_deref(), Some("claude"));
    }
}
