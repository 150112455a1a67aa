//! Redaction and rehydration of model-provider JSON.
//!
//! A request is redacted by walking the parsed document and redacting every
//! string the model could read, whatever API shaped it (OpenAI chat and
//! responses, Anthropic messages: message content, system prompts, tool
//! results, tool-call arguments, and anything new a provider adds). Only the
//! values of a few structural keys are left alone (`model`, `role`, `type`,
//! ids, tool names): they steer the API and carry nothing of the user's.
//! Object keys are never changed.

use serde_json::Value;
use warden_redact::{Engine, Finding, Session};

/// Keys whose string values are structure, not content.
const STRUCTURAL: &[&str] =
    &["model", "role", "type", "id", "tool_call_id", "call_id", "object", "name", "tool_choice"];

/// What redacting one request found.
#[derive(Debug, Default)]
pub struct RequestReport {
    /// Every finding, with offsets into the string it was found in.
    pub findings: Vec<Finding>,
    /// Strings scanned.
    pub strings: usize,
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
}

/// Redact a request body in place.
pub fn redact_request(doc: &mut Value, engine: &Engine, session: &mut Session) -> Result<RequestReport, RequestError> {
    let mut report = RequestReport::default();
    walk_redact(doc, None, engine, session, &mut report)?;
    Ok(report)
}

/// Parse a request body.
pub fn parse(body: &[u8]) -> Result<Value, RequestError> {
    serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))
}

fn walk_redact(
    v: &mut Value,
    key: Option<&str>,
    engine: &Engine,
    session: &mut Session,
    report: &mut RequestReport,
) -> Result<(), RequestError> {
    match v {
        Value::String(s) => {
            if key.is_some_and(|k| STRUCTURAL.contains(&k)) {
                return Ok(());
            }
            report.strings += 1;
            let out = engine.redact(s, session).map_err(|e| RequestError::Redaction(e.to_string()))?;
            if !out.findings.is_empty() {
                *s = out.text;
                report.findings.extend(out.findings);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk_redact(item, None, engine, session, report)?;
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                walk_redact(item, Some(k), engine, session, report)?;
            }
        }
        _ => {}
    }
    Ok(())
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
