//! Derived resources with nested paths (docs/rest.md, "Nested resources"): rooms and their
//! messages, Gitter's own shape, and tasks two levels down under a string and a UUID key.

use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A chat room: the parent of [`Message`] when both are prepared on one store.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms")]
pub struct Room {
    /// Assigned by the store.
    #[live(id)]
    #[serde(default)]
    pub id: i64,
    /// The room's name.
    pub name: String,
}

/// A message in a room: partitioned by `room_id`.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms/{room_id}/messages")]
pub struct Message {
    /// Assigned by the store.
    #[live(id)]
    #[serde(default)]
    pub id: i64,
    /// The partition key, from the path.
    pub room_id: i64,
    /// What was said.
    pub text: String,
    /// Whether it is pinned.
    #[serde(default)]
    pub pinned: bool,
}

impl Message {
    /// A new message for `room`.
    pub fn new(room: i64, text: &str) -> Message {
        Message { id: 0, room_id: room, text: text.to_owned(), pinned: false }
    }
}

/// A task two levels down, under a string key and a UUID key.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/orgs/{org}/projects/{project_id}/tasks")]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Assigned by the store.
    #[live(id)]
    #[serde(default)]
    pub id: i64,
    /// The project, the second key.
    pub project_id: Uuid,
    /// The organisation, the first key.
    pub org: String,
    /// What to do.
    pub title: String,
}

/// A pin in a room: deleted with its room (`cascade`).
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms/{room_id}/pins", cascade)]
pub struct Pin {
    /// Assigned by the store.
    #[live(id)]
    #[serde(default)]
    pub id: i64,
    /// The room, from the path.
    pub room_id: i64,
    /// What is pinned.
    pub label: String,
}

/// A reaction to a message: a grandchild of [`Room`], deleted with its message (`cascade`).
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/rooms/{room_id}/messages/{message_id}/reactions", cascade)]
pub struct Reaction {
    /// Assigned by the store.
    #[live(id)]
    #[serde(default)]
    pub id: i64,
    /// The room, from the path.
    pub room_id: i64,
    /// The message, from the path.
    pub message_id: i64,
    /// The emoji.
    pub emoji: String,
}
