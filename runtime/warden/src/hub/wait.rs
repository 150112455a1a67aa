//! The commands long poll (issue 19): while an approval waits for a human,
//! the link holds `GET /api/v1/nodes/{id}/commands?wait=25` open, so the
//! hub hands a `resolve_approval` over the moment the human answers instead
//! of in the answer to the next heartbeat (up to a whole period later:
//! 30 s by default, while the agent's tool call is blocked).
//!
//! - Armed only while an approval is pending: with nothing to wait for, the
//!   heartbeat alone talks to the hub, as before.
//! - Re-armed at once after an answer that carried commands; an empty answer
//!   that came back early (a hub that ignores `wait`) is followed by a short
//!   pause, so such a hub is asked at most once a second, not in a loop.
//! - Errors back off like the other hub calls (doubling, jittered, capped),
//!   and a heartbeat that gets through again ends the wait early: a decision
//!   made during a hub outage arrives as soon as the hub is back.
//! - A hub without the endpoint (404 or 405) is asked again only after
//!   [`UNSUPPORTED_RETRY`]; meanwhile commands arrive with heartbeats.
//!
//! The acks of the commands applied here go out with a heartbeat that the
//! run loop sends at once (the endpoint is a GET: it carries no body).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch, Notify};
use warden_util::Backoff;
use zeroize::Zeroizing;

use super::client::CallError;
use super::commands::Ack;
use super::run::MAX_BACKOFF;
use super::HubLink;

/// How long the hub may hold the request, in seconds (`?wait=`).
pub(super) const WAIT_S: u64 = 25;
/// Beyond the hub's wait, how long an answer may take before the request
/// counts as lost (a dead connection must not hold the link forever).
const WAIT_SLACK: Duration = Duration::from_secs(10);
/// After a 404 or 405, when the hub is asked again (it may have been upgraded).
pub(super) const UNSUPPORTED_RETRY: Duration = Duration::from_secs(600);
/// Shortest time between two long polls whose answers carried nothing:
/// caps a hub that answers at once instead of waiting.
const MIN_EMPTY_INTERVAL: Duration = Duration::from_secs(1);

/// What one long poll got.
#[derive(Debug)]
pub(super) enum Polled {
    /// Commands (maybe none: the hub's wait ran out).
    Commands(Vec<Value>),
    /// The hub has no commands endpoint.
    Unsupported,
}

/// What the long poll shares with the run loop.
pub(super) struct WaitLink {
    /// Acks of the commands the poll applied, for the next heartbeat.
    pub(super) acks: mpsc::UnboundedSender<Vec<Ack>>,
    /// Notified when a heartbeat got through: ends an error backoff early.
    pub(super) hub_up: Arc<Notify>,
    /// Set when the link stops.
    pub(super) stopping: watch::Receiver<bool>,
}

impl HubLink {
    /// One long poll for commands.
    pub(super) async fn wait_commands(&self, node: &str, key: &str) -> Result<Polled, CallError> {
        let wait = WAIT_S.to_string();
        let path = format!("/api/v1/nodes/{node}/commands");
        let timeout = Duration::from_secs(WAIT_S) + WAIT_SLACK;
        match self.client.get("commands", &path, &[("wait", &wait)], key, timeout).await {
            Ok(answer) => Ok(Polled::Commands(super::telemetry::commands_of(answer))),
            Err(CallError::Status(404 | 405, _)) => Ok(Polled::Unsupported),
            Err(e) => Err(e),
        }
    }

    /// Approvals waiting for a human (0 when the store cannot say: the
    /// heartbeat still carries the answers).
    async fn pending(&self) -> u64 {
        let store = self.activator.store().clone();
        match tokio::task::spawn_blocking(move || store.approvals_pending()).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "hub: cannot count pending approvals");
                0
            }
            Err(_) => 0,
        }
    }

    /// Long-poll for commands while approvals are pending, until the link stops.
    pub(super) async fn wait_loop(self: Arc<Self>, node: String, key: Zeroizing<String>, mut link: WaitLink) {
        let mut changed = self.gate.subscribe_changes();
        let mut backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
        loop {
            if *link.stopping.borrow() {
                return;
            }
            // Marked seen before counting, so a change after the count wakes us.
            changed.borrow_and_update();
            if self.pending().await == 0 {
                tokio::select! {
                    _ = changed.changed() => continue,
                    _ = link.stopping.changed() => return,
                }
            }
            let asked = tokio::time::Instant::now();
            let polled = tokio::select! {
                r = self.wait_commands(&node, &key) => r,
                _ = link.stopping.changed() => return,
            };
            let pause = match polled {
                Ok(Polled::Commands(commands)) if !commands.is_empty() => {
                    backoff.reset();
                    let acks = self.apply(commands).await;
                    let _ = link.acks.send(acks);
                    Duration::ZERO
                }
                Ok(Polled::Commands(_)) => {
                    backoff.reset();
                    MIN_EMPTY_INTERVAL.saturating_sub(asked.elapsed())
                }
                Ok(Polled::Unsupported) => {
                    tracing::info!(
                        retry_in_s = UNSUPPORTED_RETRY.as_secs(),
                        "hub: no commands long poll (404/405); approvals are answered with heartbeats"
                    );
                    UNSUPPORTED_RETRY
                }
                Err(e) => {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "hub: commands long poll failed");
                    wait
                }
            };
            if pause.is_zero() {
                continue;
            }
            let failing = backoff.failures() > 0;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                // The hub is back: ask at once rather than at the end of the backoff.
                _ = link.hub_up.notified(), if failing => {}
                _ = link.stopping.changed() => return,
            }
        }
    }
}
