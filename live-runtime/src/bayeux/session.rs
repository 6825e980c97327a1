//! Sessions: one per successful handshake, holding the client's subscription set, its bounded queue of
//! undelivered events, and who is currently waiting to deliver them (a held long-poll connect or a bound
//! WebSocket: the *consumer*).
//!
//! Locking: each session has its own `std::sync::Mutex`, never held across `.await`, and taken last (the
//! server's subscription index may be locked while a session is, never the other way round).
//!
//! Queue overflow policy: when a session's queue is full, the session is destroyed. Its held connect, or its
//! next connect, gets a 401 with handshake advice, and the client handshakes again and re-fetches over
//! REST or resumes (docs/protocol.md §6.4). Dropping events silently instead would leave the client with a gap it
//! cannot see.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::event::Event;
use super::sink::{Sent, Sink};

/// Locks `mutex`, ignoring poisoning: session state stays consistent across a panicking holder because
/// every critical section is a few field updates.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A session id: 160 random bits in 32 lowercase base-32 characters (the Bayeux specification asks for at
/// least 128 random bits, alphanumeric: docs/protocol.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// A fresh random id.
    pub(crate) fn random() -> Self {
        // Two v4 UUIDs give 244 random bits; bytes 6 and 8 hold the fixed version and variant bits, so
        // they are skipped and 20 random bytes remain.
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let random = a
            .as_bytes()
            .iter()
            .chain(b.as_bytes().iter())
            .enumerate()
            .filter(|(i, _)| !matches!(i % 16, 6 | 8))
            .map(|(_, byte)| *byte)
            .take(20);
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
        let mut id = String::with_capacity(32);
        let (mut acc, mut bits) = (0u32, 0u32);
        for byte in random {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                id.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
            }
        }
        Self(id.into())
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ClientId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One client session.
#[derive(Debug)]
pub(crate) struct Session {
    /// Small integer key for the subscription index (cheaper to hash than the id string).
    pub(crate) key: u64,
    pub(crate) id: ClientId,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Event>,
    /// Channel names and patterns. Changed only while the server's index is write-locked, so the two agree.
    subscriptions: HashSet<Arc<str>>,
    /// Last sign of life: handshake, the start and end of every connect, a WebSocket unbinding.
    last_seen: Instant,
    /// Connects seen; the first is answered at once (a CometD need).
    connects: u64,
    /// Generation of the latest consumer; a consumer whose generation is older has been superseded.
    generation: u64,
    /// The current consumer's wake-up, if one is attached.
    consumer: Option<Arc<Notify>>,
    /// The current consumer's socket, when it can take events in place (WebSocket): while the queue is
    /// empty, a publish writes to it directly instead of queueing and waking the consumer.
    direct: Option<Arc<dyn Sink>>,
    closed: bool,
    /// Subscriptions being caught up or just caught up, by channel name (see [`Fence`]). Empty for almost
    /// every session, so the publish path pays one emptiness check.
    fences: HashMap<Arc<str>, Fence>,
    /// Whether the client itself ended the session with `/meta/disconnect` (rather than expiry, overflow or
    /// the server closing every session): a bound WebSocket is then closed, as faye does.
    disconnected: bool,
}

/// The seam between a subscription's catch-up (replay or snapshot) and its live events (history.rs).
#[derive(Debug)]
enum Fence {
    /// The catch-up is running: live events with a seq wait here, in publish order.
    Pending(Vec<(i64, Event)>),
    /// The catch-up covered every event up to this seq: later live events at or below it are duplicates.
    /// Removed by the first event above it, since a channel's events are published in seq order.
    Floor(i64),
}

/// What [`Session::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// Queued, and the consumer (if any) woken.
    Queued,
    /// The queue was full: the caller destroys the session.
    Overflow,
    /// The session is already closed; nothing to do.
    Closed,
    /// A duplicate of an event the session's catch-up already covered; dropped.
    Covered,
}

/// What a consumer finds when it looks at its session.
#[derive(Debug)]
pub(crate) enum Take {
    /// Still the consumer: these events (maybe none) are now its to deliver.
    Events(Vec<Event>),
    /// A newer connect took over, on this or another transport.
    Superseded,
    /// The session was destroyed: by the client's disconnect, or by the server (expiry, overflow).
    Closed {
        /// Whether the client disconnected.
        disconnected: bool,
    },
}

impl Session {
    pub(crate) fn new(key: u64, id: ClientId) -> Self {
        let state = State {
            queue: VecDeque::new(),
            subscriptions: HashSet::new(),
            last_seen: Instant::now(),
            connects: 0,
            generation: 0,
            consumer: None,
            direct: None,
            closed: false,
            fences: HashMap::new(),
            disconnected: false,
        };
        Self { key, id, state: Mutex::new(state) }
    }

    /// Queues `event` unless the queue already holds `limit` events.
    #[cfg(test)]
    pub(crate) fn push(&self, event: Event, limit: usize) -> Push {
        self.push_seq(&event, None, limit)
    }

    /// Queues `event`, published on `seq = Some((channel, seq))`, unless the queue already holds `limit`
    /// events; a fenced subscription to `channel` buffers or drops it instead (see [`Fence`]).
    /// The event is only cloned (a reference count) when it is queued or buffered, not when it is written
    /// in place.
    pub(crate) fn push_seq(&self, event: &Event, seq: Option<(&str, i64)>, limit: usize) -> Push {
        let mut state = lock(&self.state);
        if state.closed {
            return Push::Closed;
        }
        if let Some((channel, seq)) = seq
            && !state.fences.is_empty()
        {
            let queued = state.queue.len();
            match state.fences.get_mut(channel) {
                Some(Fence::Pending(buffer)) => {
                    if queued + buffer.len() >= limit {
                        return Push::Overflow;
                    }
                    buffer.push((seq, event.clone()));
                    return Push::Queued;
                }
                Some(Fence::Floor(floor)) if seq <= *floor => return Push::Covered,
                Some(Fence::Floor(_)) => {
                    state.fences.remove(channel);
                }
                None => {}
            }
        }
        if state.queue.len() >= limit {
            return Push::Overflow;
        }
        // In order: only when nothing is queued before it. The session stays locked during the write, so
        // the consumer cannot be writing queued events at the same time.
        if state.queue.is_empty()
            && let Some(direct) = &state.direct
        {
            match direct.try_send(event) {
                Sent::Done => return Push::Queued,
                Sent::Partly => {
                    if let Some(consumer) = &state.consumer {
                        consumer.notify_one();
                    }
                    return Push::Queued;
                }
                Sent::NotNow => {}
            }
        }
        state.queue.push_back(event.clone());
        if let Some(consumer) = &state.consumer {
            // A stored permit covers the case where the consumer is between two waits.
            consumer.notify_one();
        }
        Push::Queued
    }

    /// Starts buffering live events of `channel` for a catch-up; false if one is already running for it.
    /// Call with the index write-locked, in the same step as adding the subscription, so that no event
    /// routed after the subscription exists can bypass the buffer.
    pub(crate) fn begin_fence(&self, channel: &Arc<str>) -> bool {
        let mut state = lock(&self.state);
        if state.closed || matches!(state.fences.get(channel), Some(Fence::Pending(_))) {
            return false;
        }
        state.fences.insert(Arc::clone(channel), Fence::Pending(Vec::new()));
        true
    }

    /// Ends the catch-up of `channel`: queues `replay` (events up to `floor`), then the buffered live
    /// events above `floor`, and drops later live events at or below it. `floor: None` (a reset) lets
    /// every buffered event through. Returns [`Push::Overflow`] when the queue would pass `limit`.
    pub(crate) fn end_fence(&self, channel: &str, replay: Vec<Event>, floor: Option<i64>, limit: usize) -> Push {
        let mut state = lock(&self.state);
        if state.closed {
            return Push::Closed;
        }
        let Some(Fence::Pending(buffer)) = state.fences.remove(channel) else {
            // Unsubscribed meanwhile: nothing to deliver.
            return Push::Closed;
        };
        let floor_seq = floor.unwrap_or(i64::MIN);
        state.queue.extend(replay);
        let mut passed = false;
        for (seq, event) in buffer {
            if seq > floor_seq {
                passed = true;
                state.queue.push_back(event);
            }
        }
        if state.queue.len() > limit {
            return Push::Overflow;
        }
        if let Some(floor) = floor
            && !passed
        {
            state.fences.insert(channel.into(), Fence::Floor(floor));
        }
        if !state.queue.is_empty()
            && let Some(consumer) = &state.consumer
        {
            consumer.notify_one();
        }
        Push::Queued
    }

    /// Records a connect and refreshes liveness; returns how many connects came before this one.
    pub(crate) fn connected(&self) -> u64 {
        let mut state = lock(&self.state);
        state.last_seen = Instant::now();
        state.connects += 1;
        state.connects - 1
    }

    /// Makes a new consumer current and wakes the previous one so it answers at once: the spec allows one
    /// outstanding connect per client (docs/protocol.md §5.2).
    pub(crate) fn attach(self: &Arc<Self>) -> Consumer {
        self.attach_direct(None)
    }

    /// Like [`Session::attach`], for a consumer whose socket publishers may write to directly.
    pub(crate) fn attach_direct(self: &Arc<Self>, direct: Option<Arc<dyn Sink>>) -> Consumer {
        let notify = Arc::new(Notify::new());
        let mut state = lock(&self.state);
        state.generation += 1;
        state.direct = direct;
        if let Some(previous) = state.consumer.replace(Arc::clone(&notify)) {
            previous.notify_one();
        }
        if !state.queue.is_empty() {
            notify.notify_one();
        }
        Consumer { session: Arc::clone(self), generation: state.generation, notify }
    }

    /// Whether a consumer is attached.
    pub(crate) fn is_attached(&self) -> bool {
        lock(&self.state).consumer.is_some()
    }

    /// Whether the session may be expired at `now`: no consumer attached and silent for `expiry`.
    pub(crate) fn is_expired(&self, now: Instant, expiry: std::time::Duration) -> bool {
        let state = lock(&self.state);
        !state.closed && state.consumer.is_none() && now.saturating_duration_since(state.last_seen) >= expiry
    }

    /// Marks the session closed (`disconnected`: at the client's request), wakes its consumer, drops its
    /// queue, and returns its subscriptions so the caller can remove them from the index (which it holds
    /// write-locked).
    pub(crate) fn close(&self, disconnected: bool) -> HashSet<Arc<str>> {
        let mut state = lock(&self.state);
        state.closed = true;
        state.disconnected = disconnected;
        state.queue = VecDeque::new();
        state.fences = HashMap::new();
        state.direct = None;
        if let Some(consumer) = state.consumer.take() {
            consumer.notify_one();
        }
        std::mem::take(&mut state.subscriptions)
    }

    /// Adds `name` to the set; returns whether it was new. Call with the index write-locked.
    pub(crate) fn add_subscription(&self, name: &Arc<str>) -> bool {
        let mut state = lock(&self.state);
        !state.closed && state.subscriptions.insert(Arc::clone(name))
    }

    /// Whether adding `name` would take the set past `limit` entries.
    pub(crate) fn is_full(&self, name: &str, limit: usize) -> bool {
        let state = lock(&self.state);
        !state.subscriptions.contains(name) && state.subscriptions.len() >= limit
    }

    /// Removes `name` from the set; returns whether it was there. Call with the index write-locked.
    pub(crate) fn remove_subscription(&self, name: &str) -> bool {
        let mut state = lock(&self.state);
        state.fences.remove(name);
        state.subscriptions.remove(name)
    }

    /// Puts undelivered events back at the front of the queue (a WebSocket write failed), so the next
    /// connect gets them instead of losing them (docs/protocol.md, pitfall P5).
    pub(crate) fn requeue(&self, events: impl DoubleEndedIterator<Item = Event>) {
        let mut state = lock(&self.state);
        if !state.closed {
            for event in events.rev() {
                state.queue.push_front(event);
            }
        }
    }
}

/// A registered deliverer of a session's events: a held long-poll connect, or a WebSocket bound by its
/// connect. Dropping it (the response was sent, the socket closed, or axum dropped the request future)
/// detaches it, so the session becomes expirable again.
#[derive(Debug)]
pub(crate) struct Consumer {
    session: Arc<Session>,
    generation: u64,
    notify: Arc<Notify>,
}

impl Consumer {
    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Waits until something may have changed: an event, being superseded, the session closing.
    /// Cancel-safe; spurious wake-ups are possible, so callers look again with [`Consumer::take`].
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }

    /// Writes the queued events, in order, through `sink` (the consumer's own, as given to
    /// [`Session::attach_direct`]) while the session is locked, so no publisher writes in between. Events
    /// leave the queue as the sink takes them; `Pending` leaves the rest queued until the sink can take
    /// more. `Ready(Ok(Take::Events(vec![])))` when everything was written.
    pub(crate) fn poll_write_queue(
        &self,
        cx: &mut std::task::Context<'_>,
        sink: &dyn Sink,
    ) -> std::task::Poll<std::io::Result<Take>> {
        use std::task::Poll;
        let mut state = lock(&self.session.state);
        if state.closed {
            return Poll::Ready(Ok(Take::Closed { disconnected: state.disconnected }));
        }
        if state.generation != self.generation {
            return Poll::Ready(Ok(Take::Superseded));
        }
        while !state.queue.is_empty() {
            let written = std::task::ready!(sink.poll_send(cx, &state.queue))?;
            if written == 0 {
                // A sink that takes nothing yet says it is ready would spin this loop for ever.
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            let written = written.min(state.queue.len());
            state.queue.drain(..written);
        }
        Poll::Ready(Ok(Take::Events(Vec::new())))
    }

    /// Takes every queued event if this consumer is still current.
    pub(crate) fn take(&self) -> Take {
        let mut state = lock(&self.session.state);
        if state.closed {
            Take::Closed { disconnected: state.disconnected }
        } else if state.generation != self.generation {
            Take::Superseded
        } else {
            Take::Events(state.queue.drain(..).collect())
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let mut state = lock(&self.session.state);
        if state.generation == self.generation {
            state.consumer = None;
            state.direct = None;
            state.last_seen = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(n: u32) -> Event {
        Event::new("/a", &n).expect("a number serializes")
    }

    #[test]
    fn client_ids_are_long_random_and_alphanumeric() {
        let (a, b) = (ClientId::random(), ClientId::random());
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(a, b);
    }

    #[test]
    fn queue_is_bounded() {
        let session = Session::new(1, ClientId::random());
        assert_eq!(session.push(event(1), 2), Push::Queued);
        assert_eq!(session.push(event(2), 2), Push::Queued);
        assert_eq!(session.push(event(3), 2), Push::Overflow);
        session.close(false);
        assert_eq!(session.push(event(4), 2), Push::Closed);
    }

    #[test]
    fn a_new_consumer_supersedes_the_old_one() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        let old = session.attach();
        session.push(event(1), 10);
        let new = session.attach();
        assert!(matches!(old.take(), Take::Superseded));
        drop(old);
        // Dropping the superseded consumer must not detach the current one.
        assert!(!session.is_expired(Instant::now() + Duration::from_secs(3600), Duration::from_secs(1)));
        match new.take() {
            Take::Events(events) => assert_eq!(events, vec![event(1)]),
            other => panic!("expected events, got {other:?}"),
        }
        drop(new);
        assert!(session.is_expired(Instant::now() + Duration::from_secs(3600), Duration::from_secs(1)));
    }

    fn events(session: &Arc<Session>) -> Vec<Event> {
        match session.attach().take() {
            Take::Events(events) => events,
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[test]
    fn a_fence_puts_the_replay_first_and_drops_what_it_covered() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        let channel: Arc<str> = "/a".into();
        assert!(session.begin_fence(&channel));
        assert!(!session.begin_fence(&channel), "one catch-up per channel at a time");
        // Live events published while the hook reads the log: 5 is also in the replay, 6 is not.
        assert_eq!(session.push_seq(&event(5), Some(("/a", 5)), 10), Push::Queued);
        assert_eq!(session.push_seq(&event(6), Some(("/a", 6)), 10), Push::Queued);
        // Other channels are not held back.
        assert_eq!(session.push_seq(&event(100), Some(("/b", 7)), 10), Push::Queued);
        assert_eq!(session.end_fence("/a", vec![event(4), event(5)], Some(5), 10), Push::Queued);
        assert_eq!(events(&session), vec![event(100), event(4), event(5), event(6)]);
    }

    #[test]
    fn a_floor_drops_late_duplicates_until_a_newer_event_passes() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        let channel: Arc<str> = "/a".into();
        assert!(session.begin_fence(&channel));
        assert_eq!(session.end_fence("/a", vec![event(1), event(2)], Some(2), 10), Push::Queued);
        // The publisher was behind the hook: 2 arrives live after the replay.
        assert_eq!(session.push_seq(&event(2), Some(("/a", 2)), 10), Push::Covered);
        assert_eq!(session.push_seq(&event(3), Some(("/a", 3)), 10), Push::Queued);
        assert_eq!(events(&session), vec![event(1), event(2), event(3)]);
        assert!(lock(&session.state).fences.is_empty(), "the floor is gone once passed");
    }

    #[test]
    fn a_reset_lets_every_buffered_event_through() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        let channel: Arc<str> = "/a".into();
        assert!(session.begin_fence(&channel));
        assert_eq!(session.push_seq(&event(9), Some(("/a", 9)), 10), Push::Queued);
        assert_eq!(session.end_fence("/a", Vec::new(), None, 10), Push::Queued);
        assert_eq!(events(&session), vec![event(9)]);
    }

    #[test]
    fn a_buffer_counts_against_the_queue_limit() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        assert!(session.begin_fence(&"/a".into()));
        assert_eq!(session.push_seq(&event(1), Some(("/a", 1)), 1), Push::Queued);
        assert_eq!(session.push_seq(&event(2), Some(("/a", 2)), 1), Push::Overflow);
    }

    #[test]
    fn requeued_events_keep_their_order() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        session.push(event(3), 10);
        session.requeue([event(1), event(2)].into_iter());
        match session.attach().take() {
            Take::Events(events) => assert_eq!(events, vec![event(1), event(2), event(3)]),
            other => panic!("expected events, got {other:?}"),
        }
    }
}
