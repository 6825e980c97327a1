//! The bell: how the feed learns of this process's commits as they happen, before any read of the log.

use std::sync::Arc;

use tokio::sync::{Mutex, broadcast};

use crate::change::{Change, CommitSink};

/// How many committed changes a follower of a [`Bell`] may fall behind before it misses some. Past that the
/// oldest are dropped for that follower (it gets `RecvError::Lagged(n)`) and it must catch up from the log;
/// writers never wait for followers.
pub const COMMIT_CHANNEL_CAPACITY: usize = 1024;

/// Every commit reported by the stores that report to it ([`Store::report_to`]), in seq order, to any number
/// of in-process followers. The feed of a [`Live`](crate::Live) is one such follower; tests and applications
/// may add their own with [`Bell::subscribe`].
///
/// The bell is only a fast path: a follower that lags, that needs writes made by other processes, or that
/// started late reads the log ([`Store::events_after`]).
///
/// [`Store::report_to`]: crate::Store::report_to
/// [`Store::events_after`]: crate::Store::events_after
#[derive(Debug)]
pub struct Bell {
    sender: broadcast::Sender<Arc<Change>>,
    order: Mutex<()>,
}

impl Bell {
    /// A bell nobody follows yet.
    pub fn new() -> Arc<Bell> {
        let (sender, _) = broadcast::channel(COMMIT_CHANNEL_CAPACITY);
        Arc::new(Bell { sender, order: Mutex::new(()) })
    }

    /// Every change committed from now on, in seq order (see [`COMMIT_CHANNEL_CAPACITY`] for a follower that
    /// falls behind).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }
}

impl CommitSink for Bell {
    fn order(&self) -> &Mutex<()> {
        &self.order
    }

    fn committed(&self, changes: &[Arc<Change>]) {
        // Nobody follows: nothing to do (an error below would only say the same).
        if self.sender.receiver_count() == 0 {
            return;
        }
        for change in changes {
            let _ = self.sender.send(Arc::clone(change));
        }
    }
}
