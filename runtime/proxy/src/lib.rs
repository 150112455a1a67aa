//! Warden's egress side. So far: the pure core of the LLM gateway, which
//! redacts what the model would read in a provider request ([`json`]) and
//! rehydrates placeholders in the answer, streamed ([`sse`]) or not.
//!
//! The crate depends on the redaction engine only; the HTTP layers and the
//! vault are wired around it by the server.

pub mod json;
pub mod sse;
