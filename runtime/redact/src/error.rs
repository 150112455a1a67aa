//! Errors of the engine.
//!
//! Building can fail on bad rules (the message names the rule and what to
//! fix); scanning can fail only when an external [`crate::Detector`] fails,
//! and then the caller must fail closed.

/// An error from building or running the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule could not be compiled.
    #[error("rule {id}: {msg}")]
    Rule {
        /// The rule's id.
        id: String,
        /// What is wrong and what to do.
        msg: String,
    },
    /// Two rules share an id.
    #[error("rule id {0} is used twice; ids must be unique")]
    DuplicateRule(String),
    /// A setting is out of range.
    #[error("redaction setting {name}: {msg}")]
    Config {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// An external detector failed; the text must be treated as unredactable.
    #[error("detector {name} failed: {msg}")]
    Detector {
        /// The detector's name.
        name: String,
        /// Why (never the input text).
        msg: String,
    },
    /// A detector returned a finding that does not fit the text.
    #[error("detector {name} returned an invalid finding: {msg}")]
    InvalidFinding {
        /// The detector's name.
        name: String,
        /// What was wrong with it.
        msg: String,
    },
    /// Streamed input was not UTF-8.
    #[error("input is not valid UTF-8 at byte {0}")]
    Utf8(usize),
}

impl Error {
    pub(crate) fn rule(id: &str, msg: impl Into<String>) -> Error {
        Error::Rule { id: id.to_string(), msg: msg.into() }
    }
}
