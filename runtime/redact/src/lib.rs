//! Warden's redaction engine.
//!
//! Rules (data, see [`RuleSpec`]) compile into an [`Engine`] that finds
//! secrets and personal data in text, layer by layer:
//!
//! | layer | finds | cost |
//! |---|---|---|
//! | exact | registered literal values (vault secrets), any shape | one Aho-Corasick pass, only when values are registered |
//! | pattern | credential formats and PII, by rules | one keyword pass; regexes only near keyword hits or digits |
//! | entropy | long random-looking tokens | a strided probe, ~1/32 of the bytes |
//! | keys | string values under sensitive JSON keys | rides the keyword pass |
//! | context | values named by a credential word (`FOO_API_KEY=`, `--password x`) | rides the keyword pass |
//! | plugin | whatever a [`Detector`] finds | the detector's |
//!
//! A [`Session`] turns findings into placeholders (`[EMAIL_1]`), the same for
//! the same value within a conversation, and puts the values back into the
//! model's answer. [`StreamRedactor`] does the same for chunked bodies, with
//! output identical to whole-text redaction.
//!
//! The crate does no I/O, has no async and depends on nothing else of
//! Warden's: it is the pure core that the proxy, the policy bundles and the
//! plugin host build on.
//!
//! ```
//! use warden_redact::{Engine, RuleSpec, Session};
//! let rule: RuleSpec = RuleSpec {
//!     id: "demo-token".into(),
//!     label: "DEMO_TOKEN".into(),
//!     keywords: vec!["demo_".into()],
//!     regex: r"demo_[A-Za-z0-9]{16}".into(),
//!     ..RuleSpec::minimal()
//! };
//! let engine = Engine::new([rule]).unwrap();
//! let mut session = Session::new();
//! let out = engine.redact("key demo_abcdefgh12345678 and a@b.io", &mut session).unwrap();
//! assert_eq!(out.text, "key [DEMO_TOKEN_1] and a@b.io");
//! assert_eq!(session.rehydrate("use [DEMO_TOKEN_1]"), "use demo_abcdefgh12345678");
//! ```
#![deny(missing_docs)]

use std::sync::Arc;

mod context;
mod detector;
mod engine;
mod entropy;
mod error;
pub mod eval;
mod exact;
mod keys;
mod prefilter;
mod resolve;
pub mod rule;
mod session;
mod stream;
mod test_examples;
pub mod validate;

pub use detector::Detector;
pub use engine::{valid_label, Builder, Engine, RuleInfo, MAX_MATCH_LEN, MAX_NESTED_REPETITION};
pub use error::Error;
pub use exact::{ExactSet, MIN_EXACT_LEN};
pub use resolve::resolve;
pub use rule::{Allowlist, Anchor, ContextConfig, EntropyConfig, Examples, KeysConfig, Layer, RuleSpec, Validator};
pub use session::{Session, StreamRehydrator, MAX_PLACEHOLDER_LEN};
pub use stream::StreamRedactor;
pub use test_examples::ExampleFailure;

/// A sensitive span of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the first byte (on a UTF-8 boundary).
    pub start: usize,
    /// Byte offset one past the last byte (on a UTF-8 boundary).
    pub end: usize,
    /// The layer that found it.
    pub layer: Layer,
    /// Rule id (`github-pat`, `entropy`, `json-key`, `secret:NAME`, ...).
    pub rule: Arc<str>,
    /// Placeholder label (`GITHUB_TOKEN`).
    pub label: Arc<str>,
    /// Overlaps go to the higher priority.
    pub priority: i32,
}

/// Redacted text and what was found in the input.
#[derive(Clone, Debug)]
pub struct Redacted {
    /// The text with placeholders.
    pub text: String,
    /// Findings, with offsets into the *input*.
    pub findings: Vec<Finding>,
}

impl RuleSpec {
    /// A rule with every optional field at its default and empty required
    /// ones: a base for struct-update syntax in code and tests.
    pub fn minimal() -> RuleSpec {
        RuleSpec {
            id: String::new(),
            description: String::new(),
            layer: Layer::Pattern,
            label: String::new(),
            keywords: Vec::new(),
            regex: String::new(),
            validator: None,
            allowlist: Allowlist::default(),
            priority: 100,
            anchor: None,
            block_end: None,
            block_max: None,
            examples: Examples::default(),
        }
    }
}

impl Engine {
    /// Find and replace in one go, placeholders from `session`.
    pub fn redact(&self, text: &str, session: &mut Session) -> Result<Redacted, Error> {
        let findings = self.find(text)?;
        let text = session.apply(text, &findings);
        Ok(Redacted { text, findings })
    }

    /// A streaming redactor over this engine.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor::new(self)
    }
}
