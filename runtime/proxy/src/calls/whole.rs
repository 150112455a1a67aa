//! Tool calls in a whole (non-streamed) answer: found in document order,
//! and the refused ones replaced by text.
//!
//! | API | a call | a refusal becomes | reason fixed |
//! |---|---|---|---|
//! | OpenAI chat | `choices[].message.tool_calls[]` | text appended to `message.content` | `finish_reason` `tool_calls` -> `stop` when none is left |
//! | OpenAI responses | `output[]` item `function_call` | an assistant `message` item in its place | none |
//! | Anthropic messages | `content[]` block `tool_use` | a `text` block in its place | `stop_reason` `tool_use` -> `end_turn` when none is left |

use serde_json::{json, Value};

use super::{CallVerdict, ModelCall};

/// Every tool call in `doc`, in document order.
pub fn calls(doc: &Value) -> Vec<ModelCall> {
    let mut out = Vec::new();
    if let Some(choices) = doc.get("choices").and_then(Value::as_array) {
        for c in choices {
            for tc in c.pointer("/message/tool_calls").and_then(Value::as_array).into_iter().flatten() {
                out.push(ModelCall {
                    id: str_at(tc, "/id"),
                    name: str_at(tc, "/function/name"),
                    arguments: str_at(tc, "/function/arguments"),
                });
            }
        }
    } else if let Some(items) = doc.get("output").and_then(Value::as_array) {
        for item in items.iter().filter(|i| is_function_call(i)) {
            out.push(ModelCall {
                id: str_at(item, "/call_id"),
                name: str_at(item, "/name"),
                arguments: str_at(item, "/arguments"),
            });
        }
    } else if let Some(blocks) = doc.get("content").and_then(Value::as_array) {
        for b in blocks.iter().filter(|b| is_tool_use(b)) {
            out.push(ModelCall {
                id: str_at(b, "/id"),
                name: str_at(b, "/name"),
                arguments: b.get("input").map(Value::to_string).unwrap_or_default(),
            });
        }
    }
    out
}

/// Apply `verdicts` (one per call, in the order of [`calls`]).
pub fn apply(doc: &mut Value, verdicts: &[CallVerdict]) {
    if verdicts.iter().all(CallVerdict::passes) {
        return;
    }
    let mut next = verdicts.iter();
    if let Some(choices) = doc.get_mut("choices").and_then(Value::as_array_mut) {
        for c in choices {
            let Some(tcs) = c.pointer_mut("/message/tool_calls").and_then(Value::as_array_mut) else { continue };
            let mut texts = Vec::new();
            tcs.retain(|_| match next.next() {
                Some(CallVerdict::Refuse(t)) => {
                    texts.push(t.clone());
                    false
                }
                _ => true,
            });
            let left = tcs.len();
            if texts.is_empty() {
                continue;
            }
            let msg = c.get_mut("message").and_then(Value::as_object_mut).expect("a message held tool calls");
            if left == 0 {
                msg.remove("tool_calls");
            }
            let mut content = msg.get("content").and_then(Value::as_str).unwrap_or("").to_string();
            for t in texts {
                if !content.is_empty() {
                    content.push_str("\n\n");
                }
                content.push_str(&t);
            }
            msg.insert("content".into(), Value::String(content));
            if left == 0 && c.get("finish_reason").and_then(Value::as_str) == Some("tool_calls") {
                c["finish_reason"] = json!("stop");
            }
        }
    } else if let Some(items) = doc.get_mut("output").and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter(|i| is_function_call(i)) {
            if let Some(CallVerdict::Refuse(t)) = next.next() {
                *item = message_item(&str_at(item, "/call_id"), t, "completed");
            }
        }
    } else if let Some(blocks) = doc.get_mut("content").and_then(Value::as_array_mut) {
        let mut left = 0;
        for b in blocks.iter_mut().filter(|b| is_tool_use(b)) {
            match next.next() {
                Some(CallVerdict::Refuse(t)) => *b = json!({"type": "text", "text": t}),
                _ => left += 1,
            }
        }
        if left == 0 && doc.get("stop_reason").and_then(Value::as_str) == Some("tool_use") {
            doc["stop_reason"] = json!("end_turn");
        }
    }
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("").to_string()
}

pub(crate) fn is_function_call(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some("function_call")
}

pub(crate) fn is_tool_use(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) == Some("tool_use")
}

/// The responses API's assistant message item carrying `text`, standing in
/// for the refused call `call_id`.
pub(crate) fn message_item(call_id: &str, text: &str, status: &str) -> Value {
    let content = if status == "completed" {
        json!([{"type": "output_text", "text": text, "annotations": []}])
    } else {
        json!([])
    };
    json!({
        "type": "message",
        "id": format!("msg_warden_{call_id}"),
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuse() -> CallVerdict {
        CallVerdict::Refuse("refused: no".into())
    }

    #[test]
    fn chat_keeps_passing_calls_and_appends_refusals() {
        let mut doc = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "exec", "arguments": "{\"command\":\"rm -rf /\"}"}},
            {"id": "c2", "type": "function", "function": {"name": "read", "arguments": "{}"}}]}}]});
        let found = calls(&doc);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].name.as_str(), found[0].arguments.as_str()), ("exec", "{\"command\":\"rm -rf /\"}"));
        apply(&mut doc, &[refuse(), CallVerdict::Pass]);
        assert_eq!(doc["choices"][0]["message"]["tool_calls"].as_array().unwrap().len(), 1);
        assert_eq!(doc["choices"][0]["message"]["tool_calls"][0]["id"], "c2");
        assert_eq!(doc["choices"][0]["message"]["content"], "refused: no");
        assert_eq!(doc["choices"][0]["finish_reason"], "tool_calls");
        apply(&mut doc, &[refuse()]);
        assert!(doc["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(doc["choices"][0]["message"]["content"], "refused: no\n\nrefused: no");
        assert_eq!(doc["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn responses_and_anthropic_replace_in_place() {
        let mut r = json!({"object": "response", "output": [
            {"type": "message", "id": "m1", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
            {"type": "function_call", "id": "fc1", "call_id": "call_1", "name": "exec", "arguments": "{}"}]});
        assert_eq!(calls(&r)[0].id, "call_1");
        apply(&mut r, &[refuse()]);
        assert_eq!(r["output"][1]["type"], "message");
        assert_eq!(r["output"][1]["content"][0]["text"], "refused: no");

        let mut a = json!({"type": "message", "role": "assistant", "stop_reason": "tool_use", "content": [
            {"type": "text", "text": "Let me"}, {"type": "tool_use", "id": "toolu_1", "name": "exec", "input": {"command": "ls"}}]});
        assert_eq!(calls(&a)[0].arguments, "{\"command\":\"ls\"}");
        apply(&mut a, &[refuse()]);
        assert_eq!(a["content"][1], json!({"type": "text", "text": "refused: no"}));
        assert_eq!(a["stop_reason"], "end_turn");
    }
}
