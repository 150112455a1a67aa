//! Redacting a call's arguments before they are stored, shown to the
//! approver or handed back to the agent.

use serde_json::{Map, Value};
use warden_redact::{Engine, Finding, Session};

use crate::error::GateError;

/// Labels of personal data that a tool call may legitimately carry (the
/// address an email goes to, the number a message is sent to): they stay
/// in the arguments, since the external gate decides whether such calls run
/// at all. Every other finding is a secret and is redacted.
const CONTACT_LABELS: &[&str] = &["EMAIL", "PHONE", "IP_ADDRESS", "MAC_ADDRESS"];

/// Redacts the strings of one call (values and object keys) with one
/// [`Session`], so a value that appears twice gets one placeholder.
pub(crate) struct ArgRedactor<'e> {
    engine: &'e Engine,
    session: Session,
    found: Vec<Finding>,
}

impl<'e> ArgRedactor<'e> {
    pub(crate) fn new(engine: &'e Engine) -> ArgRedactor<'e> {
        ArgRedactor { engine, session: Session::new(), found: Vec::new() }
    }

    /// One text, secrets replaced.
    pub(crate) fn text(&mut self, s: &str) -> Result<String, GateError> {
        let (out, findings) = self.redact(s)?;
        self.found.extend(findings);
        Ok(out)
    }

    /// A text made from the call (a verdict's reason quotes its arguments),
    /// redacted with the same placeholders; its findings are not counted
    /// again.
    pub(crate) fn derived(&mut self, s: &str) -> Result<String, GateError> {
        Ok(self.redact(s)?.0)
    }

    fn redact(&mut self, s: &str) -> Result<(String, Vec<Finding>), GateError> {
        let mut findings = self
            .engine
            .find(s)
            .map_err(|e| GateError::unavailable(format!("redaction failed ({e}); the call is not decided")))?;
        findings.retain(|f| !CONTACT_LABELS.contains(&&*f.label));
        if findings.is_empty() {
            return Ok((s.to_string(), findings));
        }
        let out = self.session.apply(s, &findings);
        Ok((out, findings))
    }

    /// A JSON value with every string (and every object key) redacted.
    pub(crate) fn value(&mut self, v: &Value) -> Result<Value, GateError> {
        Ok(match v {
            Value::String(s) => Value::String(self.text(s)?),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(i)).collect::<Result<_, _>>()?),
            Value::Object(map) => {
                let mut out = Map::with_capacity(map.len());
                for (k, i) in map {
                    out.insert(self.text(k)?, self.value(i)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// What was found.
    pub(crate) fn into_findings(self) -> Vec<Finding> {
        self.found
    }
}
