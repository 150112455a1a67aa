//! Wake-ups for long polls, one per approval.
//!
//! Waking every waiter on every change made each new gated call cost a
//! database read per open long poll (measured from outside: 1,000 open
//! polls took a gated call from 4 ms to 63 ms). Here a decision wakes only
//! the waiters of that approval, and opening an approval wakes nobody.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// Entries kept before dead ones (no waiter left) are swept out.
const SWEEP_AT: usize = 1024;

/// One `Notify` per approval that someone waits on.
#[derive(Default)]
pub(crate) struct Waiters {
    map: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Waiters {
    /// The wake-up for approval `id`, shared by everyone waiting on it.
    pub(crate) fn watch(&self, id: &str) -> Arc<Notify> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(id).and_then(Weak::upgrade) {
            return n;
        }
        if map.len() >= SWEEP_AT {
            map.retain(|_, w| w.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        map.insert(id.to_string(), Arc::downgrade(&n));
        n
    }

    /// Wake whoever waits on `id` (nobody: nothing to do).
    pub(crate) fn wake(&self, id: &str) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(id).and_then(Weak::upgrade) {
            n.notify_waiters();
        }
    }

    /// Approvals someone waits on now.
    #[cfg(test)]
    pub(crate) fn watched(&self) -> usize {
        self.map.lock().unwrap().values().filter(|w| w.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_only_that_approvals_waiters() {
        let w = Waiters::default();
        let (a, b) = (w.watch("a"), w.watch("b"));
        assert!(Arc::ptr_eq(&w.watch("a"), &a), "waiters of one approval share one Notify");
        {
            let (fa, fb) = (a.notified(), b.notified());
            tokio::pin!(fa, fb);
            fa.as_mut().enable();
            fb.as_mut().enable();
            w.wake("a");
            w.wake("nobody");
            tokio::time::timeout(std::time::Duration::from_secs(5), fa).await.expect("a woke");
            assert!(tokio::time::timeout(std::time::Duration::from_millis(50), fb).await.is_err(), "b must sleep on");
        }
        drop((a, b));
        assert_eq!(w.watched(), 0);
    }
}
