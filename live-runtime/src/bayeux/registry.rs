//! The registry: every live session by id, and the subscription index that routes a publish to the sessions
//! subscribed to its channel.
//!
//! Routing: subscriptions live in one index from channel name or pattern to the sessions subscribed, so a
//! publish looks up the handful of keys that can cover its channel (`/a/b`, `/a/*`, `/a/**`, `/**`) instead
//! of scanning sessions, and each session is reached once even when several of its subscriptions match
//! (docs/protocol.md §4.3). The event is serialized once by the caller and shared by every queue.
//!
//! Locking: two `std::sync::RwLock`s, never held across `.await`. A session's own lock may be taken while
//! the index is locked, never the other way round; a session's subscription set changes only while the index
//! is write-locked, so the two always agree.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::channel;
use super::error::Error;
use super::event::Event;
use super::session::{ClientId, Push, Session};
use super::sink::outside_io_budget;

/// Sessions subscribed to one name or pattern, by session key.
type Subscribers = HashMap<u64, Arc<Session>>;

/// The subscription index: the sessions subscribed to each name or pattern, and how many plain names
/// are subscribed one segment below each channel, so that a publisher can ask cheaply whether anyone
/// listens below a channel (a record channel below its collection, docs/live.md) before it builds
/// the name and the event.
///
/// A filtered subscription (docs/live.md, "Filtered subscriptions") is indexed under its own key, the
/// channel, `?`, then the filter's canonical text: no channel name holds a `?`, so no publish on a
/// channel reaches it by name, and `filtered` lists the keys of each channel for the publisher to judge.
#[derive(Default)]
struct Index {
    keys: HashMap<Arc<str>, Subscribers>,
    below: HashMap<Arc<str>, usize>,
    filtered: HashMap<Arc<str>, Vec<Arc<str>>>,
}

/// The channel a plain name is one segment below; `None` for a pattern, a root channel or a filtered key.
fn parent_of(name: &str) -> Option<&str> {
    if name.ends_with("/*") || name.ends_with("/**") || name.contains('?') {
        return None;
    }
    name.rfind('/').filter(|&slash| slash > 0).map(|slash| &name[..slash])
}

impl Index {
    fn insert(&mut self, name: Arc<str>, session: &Arc<Session>) {
        if !self.keys.contains_key(&name) {
            if let Some(parent) = parent_of(&name) {
                *self.below.entry(parent.into()).or_default() += 1;
            }
            if let Some((channel, _)) = name.split_once('?') {
                self.filtered.entry(channel.into()).or_default().push(Arc::clone(&name));
            }
        }
        self.keys.entry(name).or_default().insert(session.key, Arc::clone(session));
    }

    fn remove(&mut self, name: &str, key: u64) {
        let Some(subscribers) = self.keys.get_mut(name) else { return };
        subscribers.remove(&key);
        if !subscribers.is_empty() {
            return;
        }
        self.keys.remove(name);
        if let Some(parent) = parent_of(name)
            && let Some(count) = self.below.get_mut(parent)
        {
            *count -= 1;
            if *count == 0 {
                self.below.remove(parent);
            }
        }
        if let Some((channel, _)) = name.split_once('?')
            && let Some(keys) = self.filtered.get_mut(channel)
        {
            keys.retain(|key| &**key != name);
            if keys.is_empty() {
                self.filtered.remove(channel);
            }
        }
    }
}

/// Sessions and subscriptions.
#[derive(Default)]
pub(crate) struct Registry {
    sessions: RwLock<HashMap<Arc<str>, Arc<Session>>>,
    index: RwLock<Index>,
    next_key: AtomicU64,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    /// A new session with a fresh random id.
    pub(crate) fn create(&self) -> Arc<Session> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(Session::new(key, ClientId::random()));
        write(&self.sessions).insert(session.id.as_str().into(), Arc::clone(&session));
        session
    }

    /// The live session named `client_id`.
    pub(crate) fn get(&self, client_id: &str) -> Option<Arc<Session>> {
        read(&self.sessions).get(client_id).cloned()
    }

    /// The live session named `client_id`, or the protocol's 401.
    pub(crate) fn session(&self, client_id: &str) -> Result<Arc<Session>, Error> {
        self.get(client_id).ok_or_else(|| Error::UnknownClient(client_id.to_owned()))
    }

    /// How many sessions are alive.
    pub(crate) fn len(&self) -> usize {
        read(&self.sessions).len()
    }

    /// Every live session.
    pub(crate) fn all(&self) -> Vec<Arc<Session>> {
        read(&self.sessions).values().cloned().collect()
    }

    /// Sessions with no consumer that have been silent for `expiry` at `now`.
    pub(crate) fn expired(&self, now: Instant, expiry: Duration) -> Vec<Arc<Session>> {
        read(&self.sessions).values().filter(|session| session.is_expired(now, expiry)).cloned().collect()
    }

    /// Subscribes `session` to `names`, which are valid, in order, up to the first that would take the session past
    /// `max` subscriptions (a 403; the names before it stay subscribed). A repeated subscribe is a no-op: faye 1.4.3
    /// sends one subscribe per `subscribe()` call but a single unsubscribe (docs/protocol.md, pitfall P12).
    pub(crate) fn subscribe(&self, session: &Arc<Session>, names: &[String], max: usize) -> Result<(), Error> {
        let mut index = write(&self.index);
        for name in names {
            if session.is_full(name, max) {
                return Err(too_many(name));
            }
            let name: Arc<str> = name.as_str().into();
            if session.add_subscription(&name) {
                index.insert(name, session);
            }
        }
        Ok(())
    }

    /// Subscribes `session` to `name` and, in the same step, starts buffering its live events for a
    /// catch-up (see `catchup.rs`), so that no event routed once the subscription exists can bypass the
    /// buffer. Returns whether the subscription is new.
    pub(crate) fn subscribe_fenced(&self, session: &Arc<Session>, name: &Arc<str>, max: usize) -> Result<bool, Error> {
        let mut index = write(&self.index);
        if session.is_full(name, max) {
            return Err(too_many(name));
        }
        if !session.begin_fence(name) {
            return Err(Error::custom(409, [&**name], "A catch-up of this channel is running"));
        }
        let added = session.add_subscription(name);
        if added {
            index.insert(Arc::clone(name), session);
        }
        Ok(added)
    }

    /// Drops the subscriptions `names` of `session` (those it does not hold are ignored), and with a
    /// channel name its filtered subscription of that channel.
    pub(crate) fn unsubscribe<S: AsRef<str>>(&self, session: &Session, names: &[S]) {
        let mut index = write(&self.index);
        for name in names {
            let name = name.as_ref();
            let mut held = vec![Arc::<str>::from(name)];
            if !name.contains('?') {
                held.extend(session.subscriptions_of(name).into_iter().filter(|held| &**held != name));
            }
            for held in held {
                if session.remove_subscription(&held) {
                    index.remove(&held, session.key);
                }
            }
        }
    }

    /// Drops `session`'s other subscriptions of the channel `key` subscribes to (the plain one, or one
    /// with another filter): a session holds one subscription per channel, so a new filter replaces the
    /// old one rather than adding a second copy of each event.
    pub(crate) fn replace_others(&self, session: &Session, channel: &str, key: &str) {
        let mut others = session.subscriptions_of(channel);
        others.retain(|held| &**held != key);
        // The usual case, a first subscribe of the channel: no write lock on the index.
        if others.is_empty() {
            return;
        }
        let mut index = write(&self.index);
        for held in others {
            if session.remove_subscription(&held) {
                index.remove(&held, session.key);
            }
        }
    }

    /// In one look at the index: whether a plain channel one segment below `channel` is subscribed, and
    /// the filtered subscription keys of `channel`, each once.
    pub(crate) fn beyond(&self, channel: &str) -> (bool, Vec<Arc<str>>) {
        let index = read(&self.index);
        (index.below.contains_key(channel), index.filtered.get(channel).cloned().unwrap_or_default())
    }

    /// Removes `session` and its subscriptions, and wakes whoever waits on it; `disconnected` says the client
    /// asked for it.
    pub(crate) fn remove(&self, session: &Arc<Session>, disconnected: bool) {
        {
            let mut sessions = write(&self.sessions);
            if sessions.get(session.id.as_str()).is_some_and(|s| Arc::ptr_eq(s, session)) {
                sessions.remove(session.id.as_str());
            }
        }
        let mut index = write(&self.index);
        for name in session.close(disconnected) {
            index.remove(&name, session.key);
        }
    }

    /// Queues `event` (at stream position `seq`, if it has one) for every session whose subscriptions cover
    /// the plain channel `name`, each once; a session whose queue overflows is removed (its client handshakes
    /// again). Returns how many sessions took the event.
    pub(crate) fn route(&self, name: &str, event: &Event, seq: Option<i64>, limit: usize) -> usize {
        self.route_keys(name, event, seq, limit, true)
    }

    /// Like [`route`](Self::route), for the sessions subscribed to exactly `name`: no pattern covers it.
    pub(crate) fn route_exact(&self, name: &str, event: &Event, seq: Option<i64>, limit: usize) -> usize {
        self.route_keys(name, event, seq, limit, false)
    }

    /// Whether any session is subscribed to exactly `name`.
    pub(crate) fn has_name(&self, name: &str) -> bool {
        read(&self.index).keys.contains_key(name)
    }

    /// Whether any session is subscribed to a plain channel one segment below `name`.
    pub(crate) fn has_names_below(&self, name: &str) -> bool {
        read(&self.index).below.contains_key(name)
    }

    fn route_keys(&self, name: &str, event: &Event, seq: Option<i64>, limit: usize, patterns: bool) -> usize {
        let mut queued = 0;
        let mut overflowed = Vec::new();
        {
            let index = read(&self.index);
            let mut groups: Vec<&Subscribers> = Vec::new();
            if patterns {
                channel::for_each_key(name, |key| groups.extend(index.keys.get(key)));
            } else {
                groups.extend(index.keys.get(name));
            }
            let fence = seq.map(|seq| (name, seq));
            let mut deliver = |session: &Arc<Session>| match session.push_seq(event, fence, limit) {
                Push::Queued => queued += 1,
                Push::Overflow => overflowed.push(Arc::clone(session)),
                Push::Closed | Push::Covered => {}
            };
            // Pushing may write to sinks in place.
            outside_io_budget(|| {
                if let [only] = groups.as_slice() {
                    only.values().for_each(&mut deliver);
                } else {
                    // Several keys matched: a session subscribed to `/a/b` and `/a/**` gets the event once.
                    let mut seen = HashSet::new();
                    for group in groups {
                        group.iter().filter(|(key, _)| seen.insert(**key)).for_each(|(_, s)| deliver(s));
                    }
                }
            });
        }
        for session in overflowed {
            tracing::debug!(client_id = %session.id, "bayeux queue full, dropping session");
            self.remove(&session, false);
        }
        queued
    }

    /// Whether nothing is subscribed to anything.
    #[cfg(test)]
    pub(crate) fn index_is_empty(&self) -> bool {
        let index = read(&self.index);
        index.keys.is_empty() && index.below.is_empty() && index.filtered.is_empty()
    }
}

fn too_many(name: &str) -> Error {
    Error::custom(403, [name], "Too many subscriptions")
}
