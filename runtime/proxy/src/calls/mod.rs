//! Tool calls written by the model, judged on their way back to the agent.
//!
//! Every tool call an agent runs was first written by the model, and every
//! model answer passes through the gateway: so the gateway assembles each
//! call (OpenAI chat `tool_calls`, responses API `function_call` items,
//! Anthropic `tool_use` blocks; whole or streamed, arguments in pieces) and
//! asks the server ([`crate::gateway::Context::judge_call`]) what to do with
//! it. A call that may run passes byte for byte; a refused call is removed
//! and replaced by assistant text that says why, in the shape each API and
//! its SDKs expect (finish and stop reasons, indexes, content blocks).
//!
//! The crate knows nothing of the gate: the server's `Context` implements
//! the judgement, and this module only assembles and rewrites.
//!
//! - [`whole`]: a non-streamed answer, rewritten as one JSON document.
//! - [`stream`]: an SSE answer. Events pass as they come until a call
//!   starts; only the call's own events (and whatever arrives while it is
//!   open) wait until its arguments are complete and judged.

pub mod stream;
pub mod whole;

/// One tool call the model wrote, assembled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelCall {
    /// The provider's call id (`call_…`, `toolu_…`).
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments as the model wrote them: JSON text, usually an object
    /// (empty for a call without arguments).
    pub arguments: String,
}

/// Untrusted content in the conversation that screening flagged: the
/// session is tainted by it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Taint {
    /// The tool whose result carried it (empty when unknown).
    pub tool: String,
    /// The call id of that result.
    pub call_id: String,
    /// A short excerpt around the marker, secrets redacted.
    pub excerpt: String,
    /// What screening saw (`instruction`, `role-tag`, `hidden-text`...).
    pub reasons: Vec<&'static str>,
    /// The screen's score.
    pub score: u32,
}

impl std::fmt::Display for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tool = if self.tool.is_empty() { "a tool" } else { &self.tool };
        write!(f, "untrusted content from {tool}")?;
        if !self.call_id.is_empty() {
            write!(f, " (call {})", self.call_id)?;
        }
        write!(f, " looks like a prompt injection [{}]: {:?}", self.reasons.join(", "), self.excerpt)
    }
}

/// Whose answer it is: what the gate needs besides the call.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `x-warden-agent` (empty when absent: the gate says `default`).
    pub agent: String,
    /// `x-warden-session` (empty when absent).
    pub session: String,
    /// Flagged untrusted content in the request's conversation.
    pub taint: Option<Taint>,
}

/// What happens to one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallVerdict {
    /// It reaches the agent unchanged.
    Pass,
    /// It is removed; the agent reads this text instead.
    Refuse(String),
}

impl CallVerdict {
    /// Whether the call passes.
    pub fn passes(&self) -> bool {
        matches!(self, CallVerdict::Pass)
    }
}
