//! The tool-call gate: decide whether an agent's tool call runs, hold the
//! calls that wait for a human as approvals, and take the human's answer.
//!
//! Domain values in, domain values out: the control API maps them to HTTP,
//! and the gateway (which judges tool calls written by the model) can call
//! the same [`Gate`]. Nothing here knows about HTTP; the policy in force
//! comes in through the [`Policy`] trait, metrics go out through
//! [`Observer`], state lives in [`warden_store::Store`].
//!
//! A call goes through these steps ([`Gate::execute`]):
//! 1. validated into a [`Call`] with canonical arguments (object keys
//!    sorted), which identify "the same call" for grants and retries;
//! 2. judged by the policy (tier, decision, reason) and its arguments
//!    redacted with the same policy's engine (secrets become placeholders;
//!    contact details stay, the external gate decides on those calls);
//! 3. matched against what a human already said about the same call: an
//!    `allow-always` grant, a pending approval (a retry joins it), an
//!    unconsumed `allow-once` (this call takes its one run), a denial;
//! 4. recorded durably (audit row, approval, idempotent reply) through the
//!    group commit before the answer is given.
//!
//! Waiting clients long-poll one approval ([`Gate::watch`]); a decision wakes
//! only the waiters of that approval.

#![deny(missing_docs)]

mod args;
mod call;
mod commit;
mod error;
mod gate;
mod tickets;
mod view;
mod waiters;

pub use call::{canonical_json, Call, ExecuteRequest};
pub use error::{ErrorKind, GateError};
pub use gate::{ExecuteReply, Gate, IdemKey, ModelCallContext, Observer, Policy, Reader, Settings, Verdict};
pub use view::ApprovalView;

#[cfg(test)]
mod tests;
