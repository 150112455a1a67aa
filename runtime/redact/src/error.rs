//! Errors of the engine.
//!
//! Building can fail on bad rules (the message names the rule and what to
//! fix); scanning can fail only when an external [`crate::Detector`] fails,
//! and then the caller must fail closed.
//!
//! [`Error`] is opaque (issue 11): its kind is private so that variants can
//! change without breaking callers; accessors give what callers need.

/// An error from building or running the engine.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Kind,
}

/// What went wrong. Private: callers use [`Error`]'s accessors.
#[derive(Debug, thiserror::Error)]
enum Kind {
    #[error("rule {id}: {msg}")]
    Rule { id: String, msg: String },
    #[error("rule id {0} is used twice; ids must be unique")]
    DuplicateRule(String),
    #[error("redaction setting {name}: {msg}")]
    Config { name: &'static str, msg: String },
    /// The message never contains the input text.
    #[error("detector {name} failed: {msg}")]
    Detector { name: String, msg: String },
    #[error("detector {name} returned an invalid finding: {msg}")]
    InvalidFinding { name: String, msg: String },
    #[error("input is not valid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("a finding starting at byte {at} has not ended after {limit} bytes; refusing to release it")]
    HeldTooLong { at: usize, limit: usize },
}

impl Error {
    pub(crate) fn rule(id: &str, msg: impl Into<String>) -> Error {
        Error { kind: Kind::Rule { id: id.to_string(), msg: msg.into() } }
    }
    pub(crate) fn duplicate(id: &str) -> Error {
        Error { kind: Kind::DuplicateRule(id.to_string()) }
    }
    pub(crate) fn config(name: &'static str, msg: impl Into<String>) -> Error {
        Error { kind: Kind::Config { name, msg: msg.into() } }
    }
    pub(crate) fn detector(name: &str, msg: String) -> Error {
        Error { kind: Kind::Detector { name: name.to_string(), msg } }
    }
    pub(crate) fn invalid_finding(name: &str, msg: String) -> Error {
        Error { kind: Kind::InvalidFinding { name: name.to_string(), msg } }
    }
    pub(crate) fn utf8(at: usize) -> Error {
        Error { kind: Kind::Utf8(at) }
    }
    pub(crate) fn held_too_long(at: usize, limit: usize) -> Error {
        Error { kind: Kind::HeldTooLong { at, limit } }
    }

    /// The rule that failed to compile or is duplicated, if that is the
    /// error.
    pub fn rule_id(&self) -> Option<&str> {
        match &self.kind {
            Kind::Rule { id, .. } | Kind::DuplicateRule(id) => Some(id),
            _ => None,
        }
    }

    /// The external detector that failed or misbehaved, if that is the
    /// error: the text must then be treated as unredactable.
    pub fn detector_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Detector { name, .. } | Kind::InvalidFinding { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The byte offset of invalid UTF-8 in streamed input, if that is the
    /// error.
    pub fn utf8_offset(&self) -> Option<usize> {
        match self.kind {
            Kind::Utf8(at) => Some(at),
            _ => None,
        }
    }
}
