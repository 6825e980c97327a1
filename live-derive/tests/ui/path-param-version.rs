use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/rooms/{room_id}/revisions/{revision}/threads/{tags}/messages")]
struct Message {
    #[live(id)]
    id: i64,
    room_id: i64,
    #[live(version)]
    revision: i64,
    #[live(json)]
    tags: String,
    text: String,
}

fn main() {}
