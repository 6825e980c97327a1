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
//!
//! Delivery is tracked in *batches* (docs/protocol.md §6.5): every event written to the client belongs to the
//! batch open at the time, and every connect reply closes it. A client that acknowledges (CometD's ack
//! extension, `ext.ack`) says which batch it received last; the session keeps the events written after it,
//! by reference, and writes them again when the client comes back on another connection. A client that does
//! not acknowledge confirms a reply implicitly by sending its next connect (a new message id); when it comes
//! back on another connection with events written since its last confirmed reply, those events may be lost,
//! so the session ends and the client handshakes again and resumes.

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
    /// What was written to the client, and what it confirmed.
    delivery: Delivery,
}

/// The batches of a session (see the module's documentation).
#[derive(Debug)]
struct Delivery {
    /// The client acknowledges batches (it asked with `ext.ack: true` at handshake).
    acks: bool,
    /// The batch that events written now belong to; each connect reply closes it and opens the next.
    batch: u64,
    /// The last batch the client is known to have received.
    confirmed: u64,
    /// The batch of the last event written (0: none yet).
    written: u64,
    /// The connection (a WebSocket, or one HTTP request) that the current connect came on: events are
    /// written to it, and a connect on the same connection follows them on the same ordered stream.
    connection: u64,
    /// With acks: events written after the confirmed batch, with their batch, in the order written.
    unconfirmed: VecDeque<(u64, Event)>,
    /// The message id (if it had one) of the connect whose reply closed the last batch, for implicit
    /// confirmation; `None` before the first reply.
    answered: Option<Option<serde_json::Value>>,
}

impl Delivery {
    fn new() -> Self {
        Self {
            acks: false,
            batch: 1,
            confirmed: 0,
            written: 0,
            connection: 0,
            unconfirmed: VecDeque::new(),
            answered: None,
        }
    }

    /// Records that `event` went out in the open batch; true when it is the batch's first.
    fn wrote(&mut self, event: impl FnOnce() -> Event) -> bool {
        let first = self.written != self.batch;
        self.written = self.batch;
        if self.acks {
            self.unconfirmed.push_back((self.batch, event()));
        }
        first
    }

    /// The client has every event of batches up to `batch`.
    fn confirm(&mut self, batch: u64) {
        let batch = batch.min(self.batch - 1);
        if batch <= self.confirmed {
            return;
        }
        self.confirmed = batch;
        while self.unconfirmed.front().is_some_and(|(of, _)| *of <= batch) {
            self.unconfirmed.pop_front();
        }
        if self.unconfirmed.is_empty() && self.unconfirmed.capacity() > 64 {
            // A burst is over: an idle session should not keep its high-water mark.
            self.unconfirmed = VecDeque::new();
        }
    }
}

/// A `/meta/connect` as the session sees it (docs/protocol.md §6.5).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'a> {
    /// The connection it came on ([`Context::connection`](super::Context::connection)).
    pub(crate) connection: u64,
    /// Its message id.
    pub(crate) id: Option<&'a serde_json::Value>,
    /// `ext.ack`: the last batch the client received, if it acknowledges.
    pub(crate) ack: Option<u64>,
}

/// How many unacknowledged events make a held connect due at once: half the queue bound, so that the client
/// acknowledges them before the session overflows.
fn ack_threshold(limit: usize) -> usize {
    (limit / 2).max(1)
}

/// When a held connect should be answered so that its client acknowledges ([`Session::ack_due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckDue {
    /// At the end of the hold, as for any client (no acks, or nothing written in the open batch).
    Later,
    /// Within the ack interval: events went out in the open batch, and confirming them soon keeps what an
    /// outage would send again small.
    Soon,
    /// Now: the unacknowledged events reached half the queue bound.
    Now,
}

/// What [`Session::connected`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connected {
    /// Carry on; this many connects came before this one.
    Ok {
        /// Connects seen before this one.
        before: u64,
    },
    /// The client came back on another connection, events written to the old one are not confirmed, and it
    /// does not acknowledge: they may be lost, so the session must end (the client resumes after a new
    /// handshake).
    Lost,
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
            delivery: Delivery::new(),
        };
        Self { key, id, state: Mutex::new(state) }
    }

    /// The client acknowledges batches (it sent `ext.ack: true` at handshake).
    pub(crate) fn enable_acks(&self) {
        lock(&self.state).delivery.acks = true;
    }

    /// Closes the open batch for the reply to the connect `id`, and returns its number when the client
    /// acknowledges: every event written so far belongs to a batch up to it.
    pub(crate) fn close_batch(&self, id: Option<&serde_json::Value>) -> Option<u64> {
        let mut state = lock(&self.state);
        let delivery = &mut state.delivery;
        let closed = delivery.batch;
        delivery.batch += 1;
        delivery.answered = Some(id.cloned());
        delivery.acks.then_some(closed)
    }

    /// When the held connect of a client that acknowledges should be answered (docs/protocol.md §6.5); one
    /// look at the session, for the socket's task after every wake-up.
    pub(crate) fn ack_due(&self, limit: usize) -> AckDue {
        let state = lock(&self.state);
        let delivery = &state.delivery;
        if !delivery.acks {
            AckDue::Later
        } else if delivery.unconfirmed.len() >= ack_threshold(limit) {
            AckDue::Now
        } else if delivery.written == delivery.batch {
            AckDue::Soon
        } else {
            AckDue::Later
        }
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
        if state.queue.len() + state.delivery.unconfirmed.len() >= limit {
            return Push::Overflow;
        }
        // In order: only when nothing is queued before it. The session stays locked during the write, so
        // the consumer cannot be writing queued events at the same time.
        if state.queue.is_empty()
            && let Some(direct) = &state.direct
        {
            let sent = direct.try_send(event);
            if sent != Sent::NotNow {
                let first = state.delivery.wrote(|| event.clone());
                // Wake the consumer to write the rest of a partly written frame, or, for a client that
                // acknowledges, to close the batch soon (its first event) or at once (many events to
                // acknowledge).
                let ack_due =
                    state.delivery.acks && (first || state.delivery.unconfirmed.len() == ack_threshold(limit));
                if (sent == Sent::Partly || ack_due)
                    && let Some(consumer) = &state.consumer
                {
                    consumer.notify_one();
                }
                return Push::Queued;
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

    /// Records a connect and refreshes liveness. `arrival` is `None` for a connect that delivers nothing
    /// (an EventSource heartbeat).
    ///
    /// The client's acknowledgement, or for a client without acks a connect with a new message id, confirms
    /// the batches it received. When the connect came on another connection than the events still
    /// unconfirmed, those may be lost: with acks they are queued again, first, marked as re-sent; without,
    /// the session is [`Connected::Lost`]. Either way the current consumer is superseded at once, so the old
    /// connection writes nothing more.
    pub(crate) fn connected(&self, arrival: Option<Arrival<'_>>) -> Connected {
        let mut state = lock(&self.state);
        state.last_seen = Instant::now();
        state.connects += 1;
        let before = state.connects - 1;
        let Some(arrival) = arrival else { return Connected::Ok { before } };
        let delivery = &mut state.delivery;
        if delivery.acks {
            if let Some(ack) = arrival.ack {
                delivery.confirm(ack);
            }
        } else {
            // faye and CometD send a connect only once the previous one is answered, and faye re-sends an
            // unanswered one as it was: a new id (or a client that sends none) means the last reply arrived.
            let arrived = match &delivery.answered {
                Some(Some(id)) => arrival.id != Some(id),
                Some(None) => true,
                None => false,
            };
            if arrived {
                let last = delivery.batch - 1;
                delivery.confirm(last);
            }
        }
        if arrival.connection == delivery.connection {
            return Connected::Ok { before };
        }
        delivery.connection = arrival.connection;
        let lost = !delivery.acks && delivery.written > delivery.confirmed;
        let resend: Vec<Event> = delivery.unconfirmed.drain(..).map(|(_, event)| event.resent()).collect();
        // Whatever the old connection was doing, it stops writing now.
        state.generation += 1;
        state.direct = None;
        if let Some(previous) = state.consumer.take() {
            previous.notify_one();
        }
        if lost {
            return Connected::Lost;
        }
        for event in resend.into_iter().rev() {
            state.queue.push_front(event);
        }
        Connected::Ok { before }
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
        state.delivery.unconfirmed = VecDeque::new();
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

    /// The subscriptions that are `channel` itself or a filtered subscription of it (`channel?...`).
    pub(crate) fn subscriptions_of(&self, channel: &str) -> Vec<Arc<str>> {
        let state = lock(&self.state);
        state
            .subscriptions
            .iter()
            .filter(|name| name.strip_prefix(channel).is_some_and(|rest| rest.is_empty() || rest.starts_with('?')))
            .cloned()
            .collect()
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
            let state = &mut *state;
            for event in state.queue.drain(..written) {
                state.delivery.wrote(|| event);
            }
        }
        Poll::Ready(Ok(Take::Events(Vec::new())))
    }

    /// Takes every queued event if this consumer is still current, for a stream that has no connect
    /// replies to count batches by (EventSource).
    pub(crate) fn take(&self) -> Take {
        self.take_with(false)
    }

    /// Takes every queued event if this consumer is still current, as written in the open batch, which the
    /// reply they go out with closes ([`Session::close_batch`]).
    pub(crate) fn take_written(&self) -> Take {
        self.take_with(true)
    }

    fn take_with(&self, counted: bool) -> Take {
        let mut state = lock(&self.session.state);
        if state.closed {
            Take::Closed { disconnected: state.disconnected }
        } else if state.generation != self.generation {
            Take::Superseded
        } else {
            let events: Vec<Event> = state.queue.drain(..).collect();
            if counted {
                for event in &events {
                    state.delivery.wrote(|| event.clone());
                }
            }
            Take::Events(events)
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

    /// A connect as the transports report it.
    fn arrive(session: &Session, connection: u64, id: &str, ack: Option<u64>) -> Connected {
        let id = serde_json::Value::from(id);
        session.connected(Some(Arrival { connection, id: Some(&id), ack }))
    }

    /// The events a long-polling reply takes, closing the batch like the reply to connect `id`.
    fn reply(session: &Arc<Session>, id: &str) -> (Vec<Event>, Option<u64>) {
        let events = match session.attach().take_written() {
            Take::Events(events) => events,
            other => panic!("expected events, got {other:?}"),
        };
        (events, session.close_batch(Some(&serde_json::Value::from(id))))
    }

    #[test]
    fn unacknowledged_events_are_sent_again_in_order_on_a_new_connection() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        session.enable_acks();
        assert_eq!(arrive(&session, 1, "1", None), Connected::Ok { before: 0 });
        assert_eq!(reply(&session, "1"), (vec![], Some(1)));
        session.push(event(1), 10);
        session.push(event(2), 10);
        assert_eq!(arrive(&session, 1, "2", Some(1)), Connected::Ok { before: 1 });
        assert_eq!(reply(&session, "2"), (vec![event(1), event(2)], Some(2)));
        session.push(event(3), 10);
        // The reply of batch 2 never arrived: the client acknowledges batch 1 from another connection.
        assert_eq!(arrive(&session, 2, "3", Some(1)), Connected::Ok { before: 2 });
        let (events, batch) = reply(&session, "3");
        assert_eq!(events, vec![event(1).resent(), event(2).resent(), event(3)]);
        assert_eq!(batch, Some(3));
        // Acknowledged on the same connection: nothing is kept, nothing comes again.
        assert_eq!(arrive(&session, 3, "4", Some(3)), Connected::Ok { before: 3 });
        assert_eq!(reply(&session, "4"), (vec![], Some(4)));
        assert!(lock(&session.state).delivery.unconfirmed.is_empty());
    }

    #[test]
    fn an_acknowledgement_from_the_future_confirms_only_what_was_sent() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        session.enable_acks();
        arrive(&session, 1, "1", None);
        session.push(event(1), 10);
        assert_eq!(reply(&session, "1"), (vec![event(1)], Some(1)));
        session.push(event(2), 10);
        // Batch 2 is still open: an ack of 99 confirms batch 1 only, and event 2 is not forgotten.
        arrive(&session, 1, "2", Some(99));
        assert_eq!(lock(&session.state).delivery.unconfirmed.len(), 0, "event 2 is still queued, not written");
        assert_eq!(reply(&session, "2"), (vec![event(2)], Some(2)));
        arrive(&session, 2, "3", Some(99));
        assert_eq!(reply(&session, "3"), (vec![], Some(3)));
    }

    #[test]
    fn without_acks_a_new_connection_with_unconfirmed_events_is_lost() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        arrive(&session, 1, "1", None);
        assert_eq!(reply(&session, "1"), (vec![], None));
        session.push(event(1), 10);
        // A new id confirms the reply before it, on any connection; that reply carried nothing.
        assert_eq!(arrive(&session, 2, "2", None), Connected::Ok { before: 1 });
        assert_eq!(reply(&session, "2"), (vec![event(1)], None));
        // The next connect, with a new id, says the reply with event 1 arrived.
        assert_eq!(arrive(&session, 3, "3", None), Connected::Ok { before: 2 });
        session.push(event(2), 10);
        assert_eq!(reply(&session, "3"), (vec![event(2)], None));
        // The same connect again on a new request: the reply with event 2 was lost.
        assert_eq!(arrive(&session, 4, "3", None), Connected::Lost);
    }

    #[test]
    fn unconfirmed_events_count_against_the_queue_limit() {
        let session = Arc::new(Session::new(1, ClientId::random()));
        session.enable_acks();
        arrive(&session, 1, "1", None);
        session.push(event(1), 2);
        session.push(event(2), 2);
        assert_eq!(session.ack_due(2), AckDue::Later, "queued, not yet written");
        assert_eq!(reply(&session, "1").0.len(), 2);
        assert_eq!(session.ack_due(2), AckDue::Now);
        assert_eq!(session.push(event(3), 2), Push::Overflow, "two written and not yet acknowledged");
        arrive(&session, 1, "2", Some(1));
        assert_eq!(session.ack_due(2), AckDue::Later);
        assert_eq!(session.push(event(3), 2), Push::Queued);
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
