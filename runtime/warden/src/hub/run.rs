//! The run loop: register, heartbeat on a period, push what the hub has not
//! acknowledged, each with its own backoff; a new or decided approval wakes
//! the push early. Once registered, it starts the commands long poll
//! ([`super::wait`]) beside it and sends the acks of what that applied with
//! a heartbeat at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use warden_util::Backoff;

use super::commands::Ack;
use super::wait::WaitLink;
use super::HubLink;

/// Longest wait between retries.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl HubLink {
    /// Run until `stopping` (or until the task is aborted: the long poll
    /// it started ends with it).
    pub async fn run(self, mut stopping: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Vec<Ack>>();
        let hub_up = Arc::new(Notify::new());
        let mut _waiting: Option<AbortOnDrop> = None;
        let mut creds = None;
        let mut acks: Vec<Ack> = Vec::new();
        let mut beat_backoff = Backoff::new(this.settings.heartbeat.min(Duration::from_secs(5)), MAX_BACKOFF);
        let mut push_backoff = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
        let mut next_beat = tokio::time::Instant::now();
        let mut next_push = tokio::time::Instant::now();
        let mut changed = this.gate.subscribe_changes();
        loop {
            let now = tokio::time::Instant::now();
            if creds.is_none() && now >= next_beat {
                match this.credentials().await {
                    Ok((node, key)) => {
                        let link =
                            WaitLink { acks: ack_tx.clone(), hub_up: hub_up.clone(), stopping: stopping.clone() };
                        _waiting =
                            Some(AbortOnDrop(tokio::spawn(this.clone().wait_loop(node.clone(), key.clone(), link))));
                        creds = Some((node, key));
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "hub: registration failed; will retry");
                        next_beat = now + beat_backoff.next_wait();
                    }
                }
            }
            if let Some((node, key)) = &creds {
                if now >= next_beat {
                    match this.heartbeat(node, key, &acks).await {
                        Ok(commands) => {
                            if beat_backoff.failures() > 0 {
                                hub_up.notify_waiters();
                            }
                            beat_backoff.reset();
                            acks.clear();
                            next_beat = now + this.settings.heartbeat;
                            if !commands.is_empty() {
                                acks.extend(this.apply(commands).await);
                                // Report what the commands did at once.
                                next_beat = tokio::time::Instant::now();
                                next_push = next_push.min(tokio::time::Instant::now());
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "hub: heartbeat failed");
                            next_beat = now + beat_backoff.next_wait().min(this.settings.heartbeat);
                        }
                    }
                }
                if now >= next_push {
                    match this.push(node, key).await {
                        Ok(()) => {
                            push_backoff.reset();
                            next_push = now + this.settings.heartbeat;
                        }
                        Err(e) => {
                            let wait = push_backoff.next_wait();
                            tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "hub: push failed; kept for retry");
                            next_push = now + wait;
                        }
                    }
                }
            }
            let wake = next_beat.min(if creds.is_some() { next_push } else { next_beat });
            if wake <= tokio::time::Instant::now() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                // A new or decided approval goes out soon, unless the hub is failing.
                _ = changed.changed() => {
                    if push_backoff.failures() == 0 {
                        next_push = tokio::time::Instant::now();
                    }
                }
                // The long poll applied commands: report them at once.
                Some(more) = ack_rx.recv() => {
                    acks.extend(more);
                    next_beat = tokio::time::Instant::now();
                    next_push = next_push.min(tokio::time::Instant::now());
                }
                _ = stopping.changed() => return,
            }
        }
    }
}

/// A spawned task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub link's backoffs keep their old shape on the shared type:
    /// doubling from the base, jittered into the upper half, capped at five minutes.
    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), MAX_BACKOFF);
        let waits: Vec<_> = (0..12).map(|_| b.next_wait()).collect();
        assert!(waits[0] >= Duration::from_millis(500) && waits[0] <= Duration::from_secs(1));
        assert!(waits[3] >= Duration::from_secs(4) && waits[3] <= Duration::from_secs(8));
        assert!(waits[11] >= MAX_BACKOFF / 2 && waits[11] <= MAX_BACKOFF);
        b.reset();
        assert!(b.next_wait() <= Duration::from_secs(1));
    }
}
