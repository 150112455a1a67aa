//! Group commit for tool decisions.
//!
//! Every decision is durable (its audit row, its approval, its idempotent
//! reply) before the agent hears it, and with `synchronous = FULL` that is an
//! fsync per commit. One commit at a time behind the store's lock let one
//! slow fsync queue every decision behind it (measured on a slow-disk run:
//! p99 20-80 ms at 500 requests/s while a lone commit's p99 was 3-4 ms). A
//! writer thread instead takes whatever decisions are waiting and commits
//! them in one transaction, so a burst costs one fsync, and each caller waits
//! only for the commit that holds its decision.

use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

use warden_store::{DecisionRecord, Recorded, Store, StoreError};

/// Most decisions in one transaction.
const MAX_BATCH: usize = 256;

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommitError {
    /// The batch's transaction failed: nothing of it was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer thread is gone (it panicked, or the gate is shutting down).
    #[error("the decision writer has stopped")]
    Stopped,
    /// Another decision in the same batch failed the transaction.
    #[error("the batch holding this decision failed: {0}")]
    Batch(String),
}

type Reply = Result<Recorded, CommitError>;
type Job = (DecisionRecord, SyncSender<Reply>);

/// The writer's handle.
pub(crate) struct GroupCommit {
    tx: Sender<Job>,
}

impl GroupCommit {
    /// Start the writer thread on `store`. It ends when the handle is dropped.
    pub(crate) fn start(store: Arc<Store>) -> std::io::Result<GroupCommit> {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new().name("warden-decisions".into()).spawn(move || writer(&store, &rx))?;
        Ok(GroupCommit { tx })
    }

    /// Record one decision and wait until it is committed.
    pub(crate) fn record(&self, d: DecisionRecord) -> Reply {
        let (done, wait) = sync_channel(1);
        self.tx.send((d, done)).map_err(|_| CommitError::Stopped)?;
        wait.recv().map_err(|_| CommitError::Stopped)?
    }
}

fn writer(store: &Store, rx: &Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (records, waiting): (Vec<DecisionRecord>, Vec<SyncSender<Reply>>) = jobs.into_iter().unzip();
        match store.record_tool_decisions(&records) {
            Ok(replies) => {
                for (w, r) in waiting.into_iter().zip(replies) {
                    let _ = w.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, decisions = records.len(), "could not record tool decisions");
                let msg = e.to_string();
                for w in waiting {
                    let _ = w.send(Err(CommitError::Batch(msg.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_decisions_are_all_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("w.db")).unwrap());
        let commit = Arc::new(GroupCommit::start(store.clone()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let commit = commit.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let d = DecisionRecord {
                            actor: format!("agent:{t}"),
                            action: "tool.execute".into(),
                            subject: "exec".into(),
                            detail: format!("{i}"),
                            hold: None,
                            idem: None,
                        };
                        assert!(matches!(commit.record(d), Ok(Recorded::Done(None))));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.audit_log(1000).unwrap().len(), 400);
    }
}
