//! Warden's egress side. So far: the LLM gateway ([`gateway`]), whose core
//! redacts what the model would read in a provider request ([`json`]) and
//! rehydrates placeholders in the answer, streamed ([`sse`]) or not.
//!
//! The crate depends on the redaction engine only; the server supplies the
//! policy, the vault's credentials and the usage store through
//! [`gateway::Context`].

pub mod calls;
pub mod exact;
pub mod exfil;
pub mod forward;
pub mod gateway;
pub mod json;
pub mod screen;
pub mod server;
pub mod sse;
pub mod ssrf;
