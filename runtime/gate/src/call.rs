//! A tool call as the gate sees it: validated, with canonical arguments.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::GateError;

/// Longest tool name, agent id and session id accepted.
pub(crate) const MAX_NAME: usize = 256;

/// `POST /api/v1/tools/execute` body (the hub's tenant API names).
#[derive(Debug, Deserialize)]
pub struct ExecuteRequest {
    /// The agent's session.
    #[serde(default)]
    pub session_id: String,
    /// The agent (`default` when empty).
    #[serde(default)]
    pub agent_id: String,
    /// The tool about to run.
    pub tool_name: String,
    /// Its arguments (an object).
    #[serde(default)]
    pub tool_args: Value,
    /// Free-form context from the agent (run id, tool-call id): not part of
    /// what identifies the call, and not stored.
    #[serde(default)]
    pub context: Value,
}

/// A validated call.
#[derive(Clone, Debug)]
pub struct Call {
    /// The agent's session (may be empty).
    pub session_id: String,
    /// The agent (`default` when the request named none).
    pub agent_id: String,
    /// The tool, trimmed.
    pub tool: String,
    /// The arguments: always an object.
    pub args: Value,
    canonical: String,
}

impl Call {
    /// Check a request: a tool name, ids of sane length, arguments that are
    /// an object (or absent).
    pub fn new(req: ExecuteRequest) -> Result<Call, GateError> {
        let tool = req.tool_name.trim();
        if tool.is_empty() || tool.len() > MAX_NAME {
            return Err(GateError::invalid(format!("tool_name must be 1-{MAX_NAME} characters")));
        }
        if req.session_id.len() > MAX_NAME || req.agent_id.len() > MAX_NAME {
            return Err(GateError::invalid(format!("session_id and agent_id must be at most {MAX_NAME} characters")));
        }
        let args = match req.tool_args {
            Value::Null => Value::Object(Default::default()),
            v @ Value::Object(_) => v,
            _ => return Err(GateError::invalid("tool_args must be a JSON object")),
        };
        let agent_id = if req.agent_id.is_empty() { "default".to_string() } else { req.agent_id };
        Ok(Call {
            canonical: canonical_json(&args),
            session_id: req.session_id,
            agent_id,
            tool: tool.to_string(),
            args,
        })
    }

    /// The arguments as canonical JSON (keys sorted at every depth, no
    /// spaces): two spellings of one object give one text.
    pub fn canonical_args(&self) -> &str {
        &self.canonical
    }

    /// "The same call" for `allow-always`: agent, tool and canonical
    /// arguments (before redaction, so two different secrets never share a
    /// grant, and a grant for `ls` never covers `ls; rm -rf ~`).
    pub fn fingerprint(&self) -> String {
        digest(&[&self.agent_id, &self.tool, &self.canonical])
    }

    /// "The same call again" for retries: the fingerprint's parts and the
    /// session. A retry finds the approval its first attempt opened,
    /// whatever else its request carries (a new tool-call id, say).
    pub fn call_key(&self) -> String {
        digest(&[&self.session_id, &self.agent_id, &self.tool, &self.canonical])
    }
}

/// SHA-256 over length-prefixed parts, hex: no two part lists collide by
/// concatenation.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    warden_util::hex(&h.finalize())
}

/// `v` as canonical JSON: object keys sorted at every depth, no spaces.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(session: &str, args: Value) -> Call {
        Call::new(ExecuteRequest {
            session_id: session.into(),
            agent_id: String::new(),
            tool_name: " exec ".into(),
            tool_args: args,
            context: json!({"tool_call_id": "c1"}),
        })
        .unwrap()
    }

    #[test]
    fn key_order_does_not_make_another_call() {
        let a = call("s", json!({"command": "ls", "opts": {"b": 1, "a": [2, {"y": 1, "x": 0}]}}));
        let b = call("s", json!({"opts": {"a": [2, {"x": 0, "y": 1}], "b": 1}, "command": "ls"}));
        assert_eq!(a.canonical_args(), r#"{"command":"ls","opts":{"a":[2,{"x":0,"y":1}],"b":1}}"#);
        assert_eq!((a.fingerprint(), a.call_key()), (b.fingerprint(), b.call_key()));
        assert_eq!((a.tool.as_str(), a.agent_id.as_str()), ("exec", "default"));
    }

    #[test]
    fn other_arguments_or_sessions_are_other_calls() {
        let ls = call("s", json!({"command": "ls"}));
        let worse = call("s", json!({"command": "ls; rm -rf ~"}));
        assert_ne!(ls.fingerprint(), worse.fingerprint());
        let elsewhere = call("t", json!({"command": "ls"}));
        assert_eq!(ls.fingerprint(), elsewhere.fingerprint(), "a grant is per agent, not per session");
        assert_ne!(ls.call_key(), elsewhere.call_key(), "a retry is per session");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let bad = |args: Value, tool: &str| {
            Call::new(ExecuteRequest {
                session_id: String::new(),
                agent_id: String::new(),
                tool_name: tool.into(),
                tool_args: args,
                context: Value::Null,
            })
            .unwrap_err()
            .to_string()
        };
        assert_eq!(bad(json!([1]), "exec"), "tool_args must be a JSON object");
        assert!(bad(json!({}), "  ").starts_with("tool_name must be"));
        assert!(bad(json!({}), &"x".repeat(300)).starts_with("tool_name must be"));
    }
}
