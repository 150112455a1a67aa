//! Calls the gateway let through, so the agent's own hook does not decide
//! them a second time.
//!
//! A call the model writes is judged at the gateway before the agent sees
//! it; with the OpenClaw plugin also installed, the agent's
//! `before_tool_call` hook then asks about the same call. Deciding it again
//! would open a second approval for a call a human already allowed once
//! (the gateway took that one run). So the gateway leaves a ticket for each
//! call it passes, and the hook's request for the same canonical call takes
//! it instead of a new approval.
//!
//! "The same call": tool and canonical arguments, the same agent and
//! session when the gateway knew them (a model request names neither unless
//! the agent sets `x-warden-agent` / `x-warden-session`). A ticket serves
//! one request and lives [`TTL`]: the hook runs right after the answer
//! arrives. Tickets live in memory: after a restart the hook decides alone,
//! as it did before the gateway judged calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::call::{digest, Call};

/// How long a ticket waits for the hook.
pub(crate) const TTL: Duration = Duration::from_secs(600);

/// Most tickets kept: a burst beyond it drops the oldest.
const MAX: usize = 4096;

struct Ticket {
    agent: String,
    session: String,
    reason: String,
    until: Instant,
}

/// The tickets, by tool and canonical arguments.
#[derive(Default)]
pub(crate) struct Tickets {
    by_call: Mutex<HashMap<String, Vec<Ticket>>>,
}

fn key(call: &Call) -> String {
    digest(&[&call.tool, call.canonical_args()])
}

impl Tickets {
    /// The gateway passed `call` because of `reason`.
    pub(crate) fn leave(&self, call: &Call, gateway_agent_named: bool, reason: &str) {
        let now = Instant::now();
        let mut map = self.by_call.lock().unwrap_or_else(|e| e.into_inner());
        if map.values().map(Vec::len).sum::<usize>() >= MAX {
            map.retain(|_, v| {
                v.retain(|t| t.until > now);
                !v.is_empty()
            });
            if map.values().map(Vec::len).sum::<usize>() >= MAX {
                map.clear();
            }
        }
        map.entry(key(call)).or_default().push(Ticket {
            agent: if gateway_agent_named { call.agent_id.clone() } else { String::new() },
            session: call.session_id.clone(),
            reason: reason.to_string(),
            until: now + TTL,
        });
    }

    /// Take the ticket the gateway left for `call`, if any: its reason.
    pub(crate) fn take(&self, call: &Call) -> Option<String> {
        let now = Instant::now();
        let mut map = self.by_call.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(call);
        let list = map.get_mut(&k)?;
        list.retain(|t| t.until > now);
        let at = list.iter().position(|t| {
            (t.agent.is_empty() || t.agent == call.agent_id) && (t.session.is_empty() || t.session == call.session_id)
        });
        let reason = at.map(|i| list.remove(i).reason);
        if list.is_empty() {
            map.remove(&k);
        }
        reason
    }
}
