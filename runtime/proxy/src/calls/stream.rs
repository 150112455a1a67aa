//! Tool calls in a streamed (SSE) answer.
//!
//! [`CallStream`] reads the answer event by event. Events pass at once until
//! a call opens (a chat `tool_calls` delta, an Anthropic `tool_use` block
//! start, a responses `function_call` item); from then on events are held
//! until every open call is complete (the chat choice's `finish_reason`,
//! the block's `content_block_stop`, the item's `response.output_item.done`).
//! The caller then takes the calls ([`CallStream::take_ready`]), has them
//! judged, and hands the verdicts back ([`CallStream::resolve`]): a passing
//! call's events go out unchanged, a refused call's events are replaced by
//! text events at the same index, and the reasons that name tool use
//! (`finish_reason: tool_calls`, `stop_reason: tool_use`) say `stop` /
//! `end_turn` when no call is left. Text before a call is never delayed.
//!
//! Events that arrive while a judgement is pending wait in a backlog and
//! are read after it, in order.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Value};

use super::whole::message_item;
use super::{CallVerdict, ModelCall};

/// One SSE event: its lines as they came, and its data parsed when JSON.
struct Event {
    lines: Vec<String>,
    doc: Option<Value>,
}

impl Event {
    fn write(&self, out: &mut Vec<u8>) {
        for l in &self.lines {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }

    /// The event with its data replaced by `doc` (other lines kept).
    fn write_doc(&self, doc: &Value, out: &mut Vec<u8>) {
        for l in self.lines.iter().filter(|l| !l.starts_with("data:")) {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(format!("data: {doc}\n\n").as_bytes());
    }
}

/// Where an open call lives: a chat choice and tool-call index, or an
/// Anthropic block / responses output index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Slot {
    Chat { choice: u64, index: u64 },
    Block(u64),
    Item(u64),
}

struct Open {
    slot: Slot,
    call: ModelCall,
    /// The responses API's item id (`fc_…`), for `response.completed`.
    item_id: String,
    done: bool,
}

/// Judges tool calls in an SSE answer; see the module docs.
#[derive(Default)]
pub struct CallStream {
    line: Vec<u8>,
    lines: Vec<String>,
    /// Events read while a judgement is pending.
    backlog: VecDeque<Event>,
    /// Events held while calls are open.
    held: Vec<Event>,
    open: Vec<Open>,
    /// Every open call is complete: waiting for verdicts.
    ready: bool,
    /// The body ended.
    ended: bool,
    /// Calls passed so far, per chat choice (their new indexes) or in all.
    passed: HashMap<u64, u64>,
    passed_total: usize,
    refused_total: usize,
    /// Responses API: refused item ids and the message items standing in.
    replaced: HashMap<String, Value>,
}

impl CallStream {
    /// A new answer.
    pub fn new() -> CallStream {
        CallStream::default()
    }

    /// Feed a chunk; returns what may go to the agent now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in chunk {
            self.line.push(b);
            if b == b'\n' {
                let raw = std::mem::take(&mut self.line);
                let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
                if line.is_empty() {
                    let lines = std::mem::take(&mut self.lines);
                    if !lines.is_empty() {
                        self.read(Event { lines, doc: None }, &mut out);
                    }
                } else {
                    self.lines.push(line);
                }
            }
        }
        out
    }

    /// The body ended: whatever it still holds is read; calls left open are
    /// complete (their arguments are what arrived).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let raw = std::mem::take(&mut self.line);
            self.lines.push(String::from_utf8_lossy(&raw).trim_end_matches('\r').to_string());
        }
        let lines = std::mem::take(&mut self.lines);
        if !lines.is_empty() {
            self.read(Event { lines, doc: None }, &mut out);
        }
        self.ended = true;
        self.end_open(&mut out);
        out
    }

    /// The calls waiting for verdicts, in order; `None` when nothing waits.
    pub fn take_ready(&self) -> Option<Vec<ModelCall>> {
        self.ready.then(|| self.open.iter().map(|o| o.call.clone()).collect())
    }

    /// Apply `verdicts` (one per call of [`CallStream::take_ready`]) and
    /// read on; returns what may go to the agent now.
    pub fn resolve(&mut self, verdicts: &[CallVerdict]) -> Vec<u8> {
        let mut out = Vec::new();
        let open = std::mem::take(&mut self.open);
        let held = std::mem::take(&mut self.held);
        self.ready = false;
        // A call without a verdict is refused: nothing runs undecided.
        let missing =
            CallVerdict::Refuse("[Warden] This tool call was not decided; it was removed and did not run.".into());
        let verdict_of: HashMap<Slot, &CallVerdict> =
            open.iter().zip(verdicts.iter().chain(std::iter::repeat(&missing))).map(|(o, v)| (o.slot, v)).collect();
        // Chat: passing calls renumbered per choice; refusals as text.
        let mut renumber: HashMap<Slot, u64> = HashMap::new();
        for o in &open {
            if verdict_of[&o.slot].passes() {
                self.passed_total += 1;
                if let Slot::Chat { choice, .. } = o.slot {
                    let n = self.passed.entry(choice).or_insert(0);
                    renumber.insert(o.slot, *n);
                    *n += 1;
                }
            } else {
                self.refused_total += 1;
            }
        }
        let mut chat_texts: Vec<(u64, String)> = Vec::new();
        for o in &open {
            if let (Slot::Chat { choice, .. }, CallVerdict::Refuse(t)) = (o.slot, verdict_of[&o.slot]) {
                // Set apart from the text before it, as in a whole answer.
                chat_texts.push((choice, format!("\n\n{t}")));
            }
        }
        for ev in held {
            let Some(doc) = &ev.doc else {
                ev.write(&mut out);
                continue;
            };
            if doc.get("choices").is_some() {
                self.rewrite_chat(&ev, doc, &renumber, &mut chat_texts, &mut out);
                continue;
            }
            let ty = doc.get("type").and_then(Value::as_str).unwrap_or("");
            let slot = if ty.starts_with("content_block_") {
                doc.get("index").and_then(Value::as_u64).map(Slot::Block)
            } else if ty.starts_with("response.") {
                doc.get("output_index").and_then(Value::as_u64).map(Slot::Item)
            } else {
                None
            };
            match slot.and_then(|s| verdict_of.get(&s)) {
                None | Some(CallVerdict::Pass) => {
                    self.rewrite_reasons(&ev, doc, &mut out);
                }
                Some(CallVerdict::Refuse(text)) => match (slot, ty) {
                    (Some(Slot::Block(i)), "content_block_start") => anthropic_text(&ev, i, text, &mut out),
                    (Some(Slot::Item(i)), "response.output_item.added") => {
                        let o = open.iter().find(|o| o.slot == Slot::Item(i)).expect("an open item");
                        let item = message_item(&o.call.id, text, "completed");
                        self.replaced.insert(o.item_id.clone(), item.clone());
                        responses_text(&ev, doc, i, &item, text, &mut out);
                    }
                    // The rest of a refused call's events are dropped.
                    _ => {}
                },
            }
        }
        // Anything still waiting (texts of a chat choice that had no finish
        // event) goes out before the backlog.
        for (choice, text) in chat_texts.drain(..) {
            let doc = json!({"object": "chat.completion.chunk", "choices": [{"index": choice, "delta": {"content": text}, "finish_reason": null}]});
            out.extend_from_slice(format!("data: {doc}\n\n").as_bytes());
        }
        while !self.ready {
            let Some(ev) = self.backlog.pop_front() else { break };
            self.read(ev, &mut out);
        }
        if self.backlog.is_empty() && self.ended {
            self.end_open(&mut out);
        }
        out
    }

    /// At the end of the body, open calls are complete as they are.
    fn end_open(&mut self, out: &mut Vec<u8>) {
        if self.ready || !self.backlog.is_empty() {
            return;
        }
        if self.open.is_empty() {
            for ev in std::mem::take(&mut self.held) {
                ev.write(out);
            }
            return;
        }
        self.open.iter_mut().for_each(|o| o.done = true);
        self.ready = true;
    }

    fn read(&mut self, mut ev: Event, out: &mut Vec<u8>) {
        if self.ready {
            self.backlog.push_back(ev);
            return;
        }
        let data = data_of(&ev.lines);
        // PERF: an answer without tool calls is only searched for two
        // literals per event, never parsed (benches/gateway.rs).
        let relevant = self.open.is_empty()
            && (self.refused_total > 0
                || memchr::memmem::find(data.as_bytes(), b"tool").is_some()
                || memchr::memmem::find(data.as_bytes(), b"function_call").is_some());
        if self.open.is_empty() && !relevant {
            ev.write(out);
            return;
        }
        ev.doc = serde_json::from_str::<Value>(&data).ok();
        let Some(doc) = ev.doc.as_ref() else {
            if self.open.is_empty() {
                ev.write(out);
            } else {
                self.held.push(ev);
            }
            return;
        };
        let opened = self.track(doc);
        if self.open.is_empty() && !opened {
            self.rewrite_reasons(&ev, ev.doc.as_ref().expect("parsed"), out);
            return;
        }
        self.held.push(ev);
        if !self.open.is_empty() && self.open.iter().all(|o| o.done) {
            self.ready = true;
        }
    }

    /// Follow the calls an event opens, extends or completes; whether it
    /// belongs to a call.
    fn track(&mut self, doc: &Value) -> bool {
        if let Some(choices) = doc.get("choices").and_then(Value::as_array) {
            let mut belongs = false;
            for (pos, c) in choices.iter().enumerate() {
                let choice = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
                for tc in c.pointer("/delta/tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    let index = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let o = self.open_at(Slot::Chat { choice, index });
                    append(&mut o.call.id, tc.get("id"));
                    append(&mut o.call.name, tc.pointer("/function/name"));
                    append(&mut o.call.arguments, tc.pointer("/function/arguments"));
                    belongs = true;
                }
                if c.get("finish_reason").is_some_and(|f| !f.is_null()) {
                    for o in self.open.iter_mut() {
                        if matches!(o.slot, Slot::Chat { choice: ch, .. } if ch == choice) {
                            o.done = true;
                        }
                    }
                }
            }
            return belongs;
        }
        let ty = doc.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "content_block_start" if doc.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") => {
                let i = doc.get("index").and_then(Value::as_u64).unwrap_or(0);
                let o = self.open_at(Slot::Block(i));
                append(&mut o.call.id, doc.pointer("/content_block/id"));
                append(&mut o.call.name, doc.pointer("/content_block/name"));
                // Input given whole at the start (rare) counts unless deltas follow.
                if let Some(input) =
                    doc.pointer("/content_block/input").filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
                {
                    o.call.arguments = input.to_string();
                    o.item_id = "whole".into();
                }
                true
            }
            "content_block_delta" | "content_block_stop" => {
                let i = doc.get("index").and_then(Value::as_u64).unwrap_or(0);
                let Some(o) = self.open.iter_mut().find(|o| o.slot == Slot::Block(i)) else { return false };
                if ty == "content_block_stop" {
                    o.done = true;
                } else if let Some(p) = doc.pointer("/delta/partial_json").and_then(Value::as_str) {
                    if o.item_id == "whole" {
                        o.call.arguments.clear();
                        o.item_id.clear();
                    }
                    o.call.arguments.push_str(p);
                }
                true
            }
            "response.output_item.added"
                if doc.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
            {
                let i = doc.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                let o = self.open_at(Slot::Item(i));
                append(&mut o.call.id, doc.pointer("/item/call_id"));
                append(&mut o.call.name, doc.pointer("/item/name"));
                append(&mut o.item_id, doc.pointer("/item/id"));
                append(&mut o.call.arguments, doc.pointer("/item/arguments"));
                true
            }
            "response.function_call_arguments.delta"
            | "response.function_call_arguments.done"
            | "response.output_item.done" => {
                let i = doc.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                let Some(o) = self.open.iter_mut().find(|o| o.slot == Slot::Item(i)) else { return false };
                match ty {
                    "response.function_call_arguments.delta" => append(&mut o.call.arguments, doc.get("delta")),
                    // The done events carry the whole arguments: they win.
                    "response.function_call_arguments.done" => {
                        if let Some(a) = doc.get("arguments").and_then(Value::as_str) {
                            o.call.arguments = a.to_string();
                        }
                    }
                    _ => {
                        if let Some(a) = doc.pointer("/item/arguments").and_then(Value::as_str) {
                            o.call.arguments = a.to_string();
                        }
                        o.done = true;
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn open_at(&mut self, slot: Slot) -> &mut Open {
        let at = match self.open.iter().position(|o| o.slot == slot) {
            Some(at) => at,
            None => {
                self.open.push(Open { slot, call: ModelCall::default(), item_id: String::new(), done: false });
                self.open.len() - 1
            }
        };
        &mut self.open[at]
    }

    /// A chat event held with calls: refused calls taken out, passing ones
    /// renumbered, refusal texts before the choice's finish.
    fn rewrite_chat(
        &self,
        ev: &Event,
        doc: &Value,
        renumber: &HashMap<Slot, u64>,
        texts: &mut Vec<(u64, String)>,
        out: &mut Vec<u8>,
    ) {
        let mut doc = doc.clone();
        let mut keep = false;
        let mut changed = false;
        let mut finishing = Vec::new();
        if let Some(choices) = doc.get_mut("choices").and_then(Value::as_array_mut) {
            for (pos, c) in choices.iter_mut().enumerate() {
                let choice = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
                if let Some(delta) = c.get_mut("delta").and_then(Value::as_object_mut) {
                    if let Some(tcs) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        let before = tcs.len();
                        tcs.retain_mut(|tc| {
                            let index = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
                            match renumber.get(&Slot::Chat { choice, index }) {
                                Some(n) => {
                                    if *n != index {
                                        tc["index"] = json!(n);
                                        changed = true;
                                    }
                                    true
                                }
                                None => false,
                            }
                        });
                        changed |= tcs.len() != before;
                        if tcs.is_empty() {
                            delta.remove("tool_calls");
                        }
                    }
                    keep |= delta.iter().any(|(k, v)| {
                        k == "role"
                            || (k == "content" && v.as_str().is_some_and(|s| !s.is_empty()))
                            || k == "tool_calls"
                    });
                }
                if c.get("finish_reason").is_some_and(|f| !f.is_null()) {
                    keep = true;
                    finishing.push(choice);
                    if c.get("finish_reason").and_then(Value::as_str) == Some("tool_calls")
                        && self.passed.get(&choice).copied().unwrap_or(0) == 0
                    {
                        c["finish_reason"] = json!("stop");
                        changed = true;
                    }
                }
            }
        }
        keep |= doc.get("usage").is_some_and(|u| !u.is_null());
        // The refusal texts of a choice go out just before its finish.
        for choice in finishing {
            let mut template = doc.clone();
            if let Some(m) = template.as_object_mut() {
                m.remove("usage");
            }
            texts.retain(|(ch, text)| {
                if *ch != choice {
                    return true;
                }
                template["choices"] = json!([{"index": choice, "delta": {"content": text}, "finish_reason": null}]);
                ev.write_doc(&template, out);
                false
            });
        }
        if !keep {
            return;
        }
        if changed {
            ev.write_doc(&doc, out);
        } else {
            ev.write(out);
        }
    }

    /// An event outside any call: the reasons that name tool use are fixed
    /// when every call was refused, and a responses summary gets the items
    /// that stood in for refused calls.
    fn rewrite_reasons(&self, ev: &Event, doc: &Value, out: &mut Vec<u8>) {
        let none_left = self.refused_total > 0 && self.passed_total == 0;
        let ty = doc.get("type").and_then(Value::as_str).unwrap_or("");
        if ty == "message_delta"
            && none_left
            && doc.pointer("/delta/stop_reason").and_then(Value::as_str) == Some("tool_use")
        {
            let mut d = doc.clone();
            d["delta"]["stop_reason"] = json!("end_turn");
            return ev.write_doc(&d, out);
        }
        if !self.replaced.is_empty() && doc.pointer("/response/output").is_some() {
            let mut d = doc.clone();
            if let Some(items) = d.pointer_mut("/response/output").and_then(Value::as_array_mut) {
                for item in items.iter_mut() {
                    let id = item.get("id").and_then(Value::as_str).unwrap_or("");
                    if let Some(new) = self.replaced.get(id) {
                        *item = new.clone();
                    }
                }
            }
            return ev.write_doc(&d, out);
        }
        if doc.get("choices").is_some() && none_left {
            let mut d = doc.clone();
            let mut changed = false;
            for c in d.get_mut("choices").and_then(Value::as_array_mut).into_iter().flatten() {
                if c.get("finish_reason").and_then(Value::as_str) == Some("tool_calls") {
                    c["finish_reason"] = json!("stop");
                    changed = true;
                }
            }
            if changed {
                return ev.write_doc(&d, out);
            }
        }
        ev.write(out);
    }
}

fn data_of(lines: &[String]) -> String {
    let mut data = String::new();
    for l in lines {
        if let Some(d) = l.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    data
}

fn append(to: &mut String, piece: Option<&Value>) {
    if let Some(s) = piece.and_then(Value::as_str) {
        to.push_str(s);
    }
}

/// An Anthropic text block at index `i` standing in for a refused call.
fn anthropic_text(ev: &Event, i: u64, text: &str, out: &mut Vec<u8>) {
    let named = ev.lines.iter().any(|l| l.starts_with("event:"));
    let mut write = |name: &str, doc: Value| {
        if named {
            out.extend_from_slice(format!("event: {name}\n").as_bytes());
        }
        out.extend_from_slice(format!("data: {doc}\n\n").as_bytes());
    };
    write(
        "content_block_start",
        json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
    );
    write(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": text}}),
    );
    write("content_block_stop", json!({"type": "content_block_stop", "index": i}));
}

/// The responses API's events for a message item at output index `i`
/// standing in for a refused call.
fn responses_text(ev: &Event, added: &Value, i: u64, item: &Value, text: &str, out: &mut Vec<u8>) {
    let named = ev.lines.iter().any(|l| l.starts_with("event:"));
    let seq = added.get("sequence_number").cloned();
    let id = item["id"].clone();
    let part = json!({"type": "output_text", "text": text, "annotations": []});
    let mut in_progress = item.clone();
    in_progress["status"] = json!("in_progress");
    in_progress["content"] = json!([]);
    let events = [
        json!({"type": "response.output_item.added", "output_index": i, "item": in_progress}),
        json!({"type": "response.content_part.added", "item_id": id, "output_index": i, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        json!({"type": "response.output_text.delta", "item_id": id, "output_index": i, "content_index": 0, "delta": text, "logprobs": []}),
        json!({"type": "response.output_text.done", "item_id": id, "output_index": i, "content_index": 0, "text": text, "logprobs": []}),
        json!({"type": "response.content_part.done", "item_id": id, "output_index": i, "content_index": 0, "part": part}),
        json!({"type": "response.output_item.done", "output_index": i, "item": item}),
    ];
    for mut e in events {
        if let (Some(seq), Some(m)) = (&seq, e.as_object_mut()) {
            m.insert("sequence_number".into(), seq.clone());
        }
        if named {
            out.extend_from_slice(format!("event: {}\n", e["type"].as_str().unwrap_or("")).as_bytes());
        }
        out.extend_from_slice(format!("data: {e}\n\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `body` in chunks of `size`, refusing calls named `exec`.
    fn run(body: &str, size: usize) -> (String, Vec<ModelCall>) {
        let mut f = CallStream::new();
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let mut settle = |f: &mut CallStream, out: &mut Vec<u8>| {
            while let Some(calls) = f.take_ready() {
                let v: Vec<CallVerdict> = calls
                    .iter()
                    .map(|c| {
                        if c.name == "exec" {
                            CallVerdict::Refuse(format!("refused {}", c.id))
                        } else {
                            CallVerdict::Pass
                        }
                    })
                    .collect();
                seen.extend(calls);
                out.extend(f.resolve(&v));
            }
        };
        for c in body.as_bytes().chunks(size) {
            out.extend(f.push(c));
            settle(&mut f, &mut out);
        }
        out.extend(f.finish());
        settle(&mut f, &mut out);
        (String::from_utf8(out).unwrap(), seen)
    }

    fn docs(out: &str) -> Vec<Value> {
        out.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
    }

    fn chat_event(delta: Value, finish: Option<&str>) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    }

    #[test]
    fn chat_refused_call_becomes_text_and_the_other_is_renumbered() {
        let mut body = chat_event(json!({"role": "assistant", "content": "Sure. "}), None);
        body += &chat_event(
            json!({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "exec", "arguments": ""}}]}),
            None,
        );
        for piece in ["{\"comm", "and\":\"rm -rf /\"}"] {
            body += &chat_event(json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), None);
        }
        body += &chat_event(
            json!({"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}]}),
            None,
        );
        body += &chat_event(json!({}), Some("tool_calls"));
        body += "data: [DONE]\n\n";
        for size in [1, 5, 4096] {
            let (out, seen) = run(&body, size);
            assert_eq!(seen.len(), 2, "{out}");
            assert_eq!(
                seen[0],
                ModelCall { id: "c1".into(), name: "exec".into(), arguments: "{\"command\":\"rm -rf /\"}".into() }
            );
            let d = docs(&out);
            let text: String = d.iter().filter_map(|v| v["choices"][0]["delta"]["content"].as_str()).collect();
            assert_eq!(text, "Sure. \n\nrefused c1");
            let calls: Vec<&Value> =
                d.iter().filter_map(|v| v["choices"][0]["delta"]["tool_calls"].as_array()).flatten().collect();
            assert_eq!(calls.len(), 1);
            assert_eq!((calls[0]["index"].as_u64(), calls[0]["id"].as_str()), (Some(0), Some("c2")));
            assert_eq!(d.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
            assert!(out.ends_with("data: [DONE]\n\n"));
        }
    }

    #[test]
    fn chat_text_before_a_call_is_not_held() {
        let mut f = CallStream::new();
        let out = f.push(chat_event(json!({"content": "Hello"}), None).as_bytes());
        assert!(String::from_utf8(out).unwrap().contains("Hello"));
        let out = f.push(
            chat_event(
                json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "exec", "arguments": "{}"}}]}),
                None,
            )
            .as_bytes(),
        );
        assert!(out.is_empty(), "the call's own events wait");
        assert!(f.take_ready().is_none());
        let out = f.push(chat_event(json!({}), Some("tool_calls")).as_bytes());
        assert!(out.is_empty());
        assert_eq!(f.take_ready().unwrap().len(), 1);
        let out = String::from_utf8(f.resolve(&[CallVerdict::Refuse("no".into())])).unwrap();
        let d = docs(&out);
        assert_eq!(d.len(), 2, "{out}");
        assert_eq!(d[0]["choices"][0]["delta"]["content"], "\n\nno");
        assert_eq!(d[1]["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn anthropic_tool_use_block_becomes_a_text_block() {
        let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
        let mut body =
            ev("message_start", json!({"type": "message_start", "message": {"role": "assistant", "content": []}}));
        body += &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        body += &ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Running"}}),
        );
        body += &ev("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
        body += &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "exec", "input": {}}}),
        );
        for p in ["{\"command\": \"rm", " -rf /\"}"] {
            body += &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": p}}),
            );
        }
        body += &ev("content_block_stop", json!({"type": "content_block_stop", "index": 1}));
        body += &ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        );
        body += &ev("message_stop", json!({"type": "message_stop"}));
        for size in [3, 4096] {
            let (out, seen) = run(&body, size);
            assert_eq!(seen[0].arguments, "{\"command\": \"rm -rf /\"}");
            let d = docs(&out);
            let kinds: Vec<&str> = d.iter().map(|v| v["type"].as_str().unwrap()).collect();
            assert_eq!(kinds.len(), 9, "{out}");
            assert_eq!(d[4]["content_block"]["type"], "text");
            assert_eq!(d[5]["delta"], json!({"type": "text_delta", "text": "refused toolu_1"}));
            assert_eq!(d[6]["type"], "content_block_stop");
            assert_eq!(d[7]["delta"]["stop_reason"], "end_turn");
            assert!(!out.contains("tool_use"));
        }
    }

    #[test]
    fn responses_function_call_becomes_a_message_item() {
        let ev = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap());
        let item = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec", "arguments": "", "status": "in_progress"});
        let mut body = ev(json!({"type": "response.created", "response": {"id": "r", "output": []}}));
        body += &ev(json!({"type": "response.output_item.added", "output_index": 0, "item": item}));
        body += &ev(
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": "{\"command\":"}),
        );
        body += &ev(
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": "\"rm\"}"}),
        );
        body += &ev(
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 0, "arguments": "{\"command\":\"rm\"}"}),
        );
        let mut done = item.clone();
        done["arguments"] = json!("{\"command\":\"rm\"}");
        done["status"] = json!("completed");
        body += &ev(json!({"type": "response.output_item.done", "output_index": 0, "item": done}));
        body += &ev(json!({"type": "response.completed", "response": {"id": "r", "output": [done]}}));
        let (out, seen) = run(&body, 7);
        assert_eq!(
            seen[0],
            ModelCall { id: "call_1".into(), name: "exec".into(), arguments: "{\"command\":\"rm\"}".into() }
        );
        let d = docs(&out);
        let kinds: Vec<&str> = d.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(d[7]["response"]["output"][0]["type"], "message");
        assert_eq!(d[7]["response"]["output"][0]["content"][0]["text"], "refused call_1");
        assert!(!out.contains("function_call"));
    }

    #[test]
    fn passing_calls_go_out_byte_for_byte() {
        let mut body = chat_event(
            json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "read", "arguments": "{}"}}]}),
            None,
        );
        body += &chat_event(json!({}), Some("tool_calls"));
        body += "data: [DONE]\n\n";
        assert_eq!(run(&body, 2).0, body);
    }
}
