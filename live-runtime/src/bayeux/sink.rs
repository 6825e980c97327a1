//! The seam between the core and a transport that writes events itself, in place (WebSocket).
//!
//! Most transports take events from their session's queue when they are ready ([`Consumer::take`]). A
//! transport that owns a socket can do better: while the session's queue is empty, a publisher hands the
//! event straight to its [`Sink`], which writes it without blocking and without waking the connection's
//! task, or declines and the event is queued as usual. The connection's task later writes queued events
//! through the same sink, in order ([`Consumer::poll_write_queue`]). The core never frames anything: the
//! sink adds whatever its protocol needs (a WebSocket frame header), once per event, through
//! [`Event::encoded`].
//!
//! Both calls take events by reference: a sink that has written an event may keep it (a clone is a
//! reference count) until the client acknowledges it, and the session moves written events out of its
//! queue only when the sink says how many it took.
//!
//! [`Consumer::take`]: super::session::Consumer::take
//! [`Consumer::poll_write_queue`]: super::session::Consumer::poll_write_queue

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::task::{Context, Poll, Waker};

use super::event::Event;

/// A transport's socket as a destination of events.
pub(crate) trait Sink: Send + Sync + fmt::Debug {
    /// Writes `event` now if the socket can take it without waiting. Called by publishers, with the
    /// session locked and its queue empty.
    fn try_send(&self, event: &Event) -> Sent;

    /// Writes the events at the front of `queue`, each whole, as many as the socket takes; `Ready(Ok(n))`
    /// when `n > 0` were written (the caller removes them from the queue), `Pending` when the socket cannot
    /// take one now (the task is woken when it can). Called by the connection's task with the session locked.
    fn poll_send(&self, cx: &mut Context<'_>, queue: &VecDeque<Event>) -> Poll<io::Result<usize>>;
}

/// What [`Sink::try_send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Written.
    Done,
    /// Accepted, but part of it waits in the sink's backlog: the consumer must be woken to write it.
    Partly,
    /// Nothing written (the socket is busy or failing): queue the event.
    NotNow,
}

/// Runs `f` outside tokio's cooperative budget. A fan-out writes to many sinks in place; tokio's per-task
/// I/O budget (128 operations) must not make the rest of a large fan-out report `Pending` and fall back to
/// queued events merely because the publishing task used up its budget.
pub(crate) fn outside_io_budget(f: impl FnOnce()) {
    let mut f = Some(f);
    let once = tokio::task::unconstrained(std::future::poll_fn(move |_| {
        if let Some(f) = f.take() {
            f();
        }
        Poll::Ready(())
    }));
    let mut once = std::pin::pin!(once);
    // The future is ready at its first poll; the waker is never used.
    let _ = once.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}
